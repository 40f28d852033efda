"""SFT through a real Lightning Trainer: the loss falls, a run resumes from last.ckpt, and the
exported Hugging Face directory reloads to the best checkpoint's weights."""

from __future__ import annotations

import csv

import pytest
import torch
from omegaconf import open_dict

from qstar import commands

TINY = [
    "model=tiny-gpt2",
    "model.arch.n_layer=1",
    "model.arch.n_embd=32",
    "model.arch.n_head=2",
    "split=val",  # 64 puzzles: small enough for a unit test
    "optimizer.batch_size=32",
    "optimizer.max_per_problem=4",
    "optimizer.lr=3e-3",
    "optimizer.warmup_steps=5",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
]


def train_losses(out):
    with open(out / "logs" / "metrics.csv") as f:
        return [(int(r["step"]), float(r["train/loss"])) for r in csv.DictReader(f) if r.get("train/loss")]


def test_sft_loss_falls_resumes_and_exports(compose, tmp_path):
    out = tmp_path / "run"
    cfg = compose("train", TINY + ["trainer.max_steps=40", f"out_dir={out}"])
    exported = commands.train(cfg)

    losses = train_losses(out)
    first, last = losses[0][1], sum(x for _, x in losses[-5:]) / 5
    assert last < 0.6 * first, losses

    # resume: a longer budget continues from last.ckpt instead of starting over
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 40
    cfg = compose("train", TINY + ["trainer.max_steps=50", f"out_dir={out}", "resume=true"])
    commands.train(cfg)
    steps = [s for s, _ in train_losses(out)]
    assert max(steps) >= 45 and torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 50

    # the exported directory is a plain HF checkpoint holding the best validation weights
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(exported).eval()
    tok = AutoTokenizer.from_pretrained(exported)
    best = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    fresh = AutoModelForCausalLM.from_pretrained(exported).eval()
    fresh.load_state_dict({k.removeprefix("model."): v for k, v in best.items()})
    ids = tok("Input: 4 9 10 13\n", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, fresh(ids).logits)
    assert (exported / "model.safetensors").exists()


def test_resume_without_a_run_directory_is_refused(compose):
    from qstar.errors import QstarError

    cfg = compose("train", TINY + ["resume=true"])
    with open_dict(cfg):
        cfg.out_dir = None
    with pytest.raises(QstarError, match="resume=true needs out_dir"):
        commands.train(cfg)


def test_right_paths_held_out_by_problem_keep_every_problem_on_one_side():
    from qstar_sft.train import hold_out

    pairs = [(f"puzzle {i}", f"path {j}") for i in range(40) for j in range(i % 3 + 1)]
    train, val = hold_out(pairs, 10.0, "problem", seed=0)
    assert sorted(train + val) == sorted(pairs)
    assert len({p for p, _ in val}) == 4 and not {p for p, _ in val} & {p for p, _ in train}
    # by path, a problem's paths land on both sides: the validation loss then rewards memorising
    train, val = hold_out(pairs, 10.0, "path", seed=0)
    assert len(val) == len(pairs) // 10 and {p for p, _ in val} & {p for p, _ in train}
    assert hold_out(pairs, 10.0, "path", seed=0) == (train, val)

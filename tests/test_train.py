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


def test_ema_exports_the_moving_average_of_the_weights_and_checkpoints_both(compose, tmp_path):
    from safetensors.torch import load_file

    def weights(steps, *extra):
        out = tmp_path / f"steps{steps}{'-ema' if extra else ''}"
        commands.train(compose("train", TINY + [f"trainer.max_steps={steps}", f"out_dir={out}", *extra]))
        return load_file(out / "model" / "model.safetensors")

    # no validation runs in two steps: the export is the end of training. After step 1 the average
    # is the weights (AveragedModel copies them), after step 2 it is d·w1 + (1 − d)·w2; step 1 of a
    # 2-step run is the 1-step run's (the same batch, rate, and dropout draws)
    w1, w2 = weights(1), weights(2)
    avg = weights(2, "trainer.ema_decay=0.75")
    assert w1.keys() == avg.keys()
    moved = [k for k in w1 if not torch.equal(w1[k], w2[k])]
    assert moved  # the second step changed the weights
    for k in w1:
        assert torch.allclose(avg[k], 0.75 * w1[k] + 0.25 * w2[k], atol=1e-6), k
    # the checkpoint keeps the live weights beside the average, so a resumed run continues both
    ckpt = torch.load(tmp_path / "steps2-ema" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert torch.equal(ckpt["current_model_state"][f"model.{moved[0]}"], w2[moved[0]])
    assert torch.equal(ckpt["state_dict"][f"model.{moved[0]}"], avg[moved[0]])


def test_ema_decay_outside_zero_to_one_is_one_line(compose, tmp_path):
    from qstar.errors import QstarError
    from qstar.training import TrainerConfig

    with pytest.raises(QstarError, match=r"trainer.ema_decay=1.0: the average's decay per optimizer step, in \[0, 1\)"):
        commands.train(compose("train", TINY + ["trainer.ema_decay=1.0", f"out_dir={tmp_path / 'run'}"]))
    assert not (tmp_path / "run").exists()  # refused before the run directory or its settings.json is written
    with pytest.raises(QstarError, match="trainer.ema_decay with trainer.strategy=fsdp: weight averaging needs whole parameters"):
        TrainerConfig(strategy="fsdp", ema_decay=0.99)


@pytest.mark.parametrize("order", ["shuffled", "grouped by length"])
def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_runs_weights(compose, tmp_path, monkeypatch, order):
    """The stateful loaders and the checkpointed RNG states: a run that crashed mid-epoch (its last
    checkpoint at step 4 of a 12-step epoch) and was resumed logs the same losses from there and
    ends with weights equal, bit for bit, to those of a run never interrupted, dropout on."""
    from qstar.lightning_parts import FinalCheckpoint

    args = TINY + ["model.arch.dropout=0.1", "optimizer.batch_size=16", "trainer.max_steps=24", "trainer.checkpoint_every_n_steps=4"]
    if order == "grouped by length":
        args.append("optimizer.group_by_length=true")
    commands.train(compose("train", args + [f"out_dir={tmp_path / 'whole'}"]))

    def crash(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 6:  # after the checkpoint of step 4, mid-epoch
            raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(FinalCheckpoint, "on_train_batch_start", crash, raising=False)
        with pytest.raises(RuntimeError, match="killed"):
            commands.train(compose("train", args + [f"out_dir={tmp_path / 'cut'}"]))
    cut = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    at_crash = torch.load(cut, map_location="cpu", weights_only=True)
    assert at_crash["global_step"] == 4 and at_crash["epoch"] == 0  # mid-epoch: the first epoch had not ended
    commands.train(compose("train", args + [f"out_dir={tmp_path / 'cut'}", "resume=true"]))

    whole, resumed = (
        torch.load(tmp_path / d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True) for d in ("whole", "cut")
    )
    assert whole["global_step"] == resumed["global_step"] == 24
    assert whole["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] >= 1  # and the runs went on past an epoch's end
    assert train_losses(tmp_path / "cut") == train_losses(tmp_path / "whole")
    for name, weight in whole["state_dict"].items():
        assert torch.equal(weight, resumed["state_dict"][name]), name


def test_a_kl_anchor_keeps_the_policy_near_its_start_and_stays_out_of_the_checkpoint(compose, tmp_path):
    """optimizer.kl_anchor=β: the same fine-tuning with a strong anchor ends nearer the start model
    (a smaller KL to it) than with a weak one, and the frozen anchor is not saved."""
    from qstar.errors import QstarError
    from qstar_sft import SFTConfig

    kls = {}
    for beta in (0.01, 10.0):
        out = tmp_path / f"beta-{beta}"
        commands.train(compose("train", TINY + ["trainer.max_steps=16", f"optimizer.kl_anchor={beta}", f"out_dir={out}"]))
        with open(out / "logs" / "metrics.csv") as f:
            kl = [float(r["train/kl"]) for r in csv.DictReader(f) if r.get("train/kl")]
        assert len(kl) == 16 and kl[0] < 1e-3  # the anchor is the model as training starts
        kls[beta] = sum(kl[-4:]) / 4
        ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert not any(k.startswith("ref.") for k in ckpt["state_dict"])
    assert kls[10.0] < 0.5 * kls[0.01], kls
    with pytest.raises(QstarError, match=r"optimizer.kl_anchor=-1.0: use 0 \(off\) or a positive weight of the KL term"):
        SFTConfig(kl_anchor=-1.0)


@pytest.mark.parametrize("optimizer", ["kl_anchor", "dpo"])
def test_the_frozen_start_copy_stays_out_of_checkpoints_yet_a_checkpoint_of_another_model_does_not_load(optimizer):
    """DPO's reference and the KL anchor are frozen copies of the start model, rebuilt on every run:
    a checkpoint leaves them out and reloads without them, but a checkpoint whose own keys do not fit
    the model is refused, never half-loaded."""
    from qstar.models import ArchConfig, build_causal_lm, build_number_tokenizer

    tok = build_number_tokenizer()
    arch = ArchConfig(n_layer=1, n_embd=16, n_head=2)

    def module():
        if optimizer == "dpo":
            from qstar_dpo import DPOConfig
            from qstar_dpo.train import DPOModule

            return DPOModule(build_causal_lm(tok, arch), DPOConfig())
        from qstar_sft import SFTConfig
        from qstar_sft.train import CausalLMModule

        return CausalLMModule(build_causal_lm(tok, arch), SFTConfig(kl_anchor=1.0))

    saved, fresh = module(), module()
    state = saved.state_dict()
    assert state and not any(k.startswith("ref.") for k in state)
    fresh.load_state_dict(state)
    for name, weight in fresh.state_dict().items():
        assert torch.equal(weight, state[name]), name
    assert not torch.equal(fresh.ref.transformer.wte.weight, fresh.model.transformer.wte.weight)  # the copy is of its own start
    with pytest.raises(RuntimeError, match=r"checkpoint does not fit the model: missing \[\], unexpected \['model.extra'\]"):
        fresh.load_state_dict({**state, "model.extra": torch.zeros(1)})
    first = next(iter(state))
    with pytest.raises(RuntimeError, match=rf"checkpoint does not fit the model: missing \['{first}'\]"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != first})

"""Every optimizer trains under Lightning DDP on two CPU processes (trainer=ddp-cpu, gloo) and
writes the same checkpoint and export as one process; on the same global batch, two processes
log the same loss and make the same parameter update as one (and as one with gradient
accumulation)."""

from __future__ import annotations

import json

import pytest
import torch
from test_train import TINY, train_losses

from qstar import commands
from qstar_game24 import Game24Task

pytestmark = pytest.mark.slow  # spawned worker processes: about 30 s per optimizer


@pytest.fixture(scope="module")
def base(tmp_path_factory, compose_module):
    tmp = tmp_path_factory.mktemp("ddp")
    commands.train(compose_module("train", TINY + ["trainer.max_steps=5", f"out_dir={tmp / 'base'}"]))
    task = Game24Task()
    records = []
    for problem in task.problems("val")[:24]:
        gold = task.gold_trajectories(problem)[0]
        records.append(
            {
                "prompt": task.prompt(problem),
                "completions": gold,
                "labels": [True] * len(gold),
                "soft_labels": [1.0] * len(gold),
                "node_ids": list(range(1, len(gold) + 1)),
                "problem_id": problem.id,
            }
        )
        records.append(
            {
                "prompt": task.prompt(problem),
                "completions": ["1+1=5 (left: 5)"],
                "labels": [False],
                "soft_labels": [0.0],
                "node_ids": [len(gold) + 1],
                "problem_id": problem.id,
            }
        )
    (tmp / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    # one-step records, two per problem (a right first step and a wrong one): every record is one
    # labelled step and every problem one preference pair, so each loss is a mean over examples
    one_step = [
        {
            **r,
            "completions": r["completions"][:1],
            "labels": r["labels"][:1],
            "soft_labels": r["soft_labels"][:1],
            "node_ids": r["node_ids"][:1],
        }
        for r in records[:8]
    ]
    (tmp / "one-step.jsonl").write_text("".join(json.dumps(r) + "\n" for r in one_step))
    # right paths for rft: the bundled policy searching four puzzles
    commands.search(compose_module("search", ["split=val", "limit=4", "progress=false", f"out_dir={tmp / 'search'}"]))
    (tmp / "trees.jsonl").write_text((tmp / "search" / "trees.jsonl").read_text())
    return tmp


@pytest.mark.parametrize("optimizer", ["ilql", "rft"])  # prm, orm, dpo: in the parity test below
def test_optimizer_trains_under_ddp_on_two_processes(base, compose_module, optimizer):
    out = base / optimizer
    data = base / ("trees.jsonl" if optimizer == "rft" else "labels.jsonl")
    cfg = compose_module(
        "train",
        [
            f"optimizer={optimizer}",
            f"model.name_or_path={base / 'base' / 'model'}",
            f"data={data}",
            "split=val",
            "optimizer.batch_size=8",
            "trainer=ddp-cpu",
            "trainer.max_steps=2",
            "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false",
            f"out_dir={out}",
        ],
    )
    exported = commands.train(cfg)
    assert torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 2
    assert (exported / "model.safetensors").is_file() and (exported / "config.json").is_file()
    if optimizer == "ilql":
        assert (exported / "ilql_heads.safetensors").is_file()
    else:  # the export holds the weights the workers trained (rank 0's best checkpoint), not the start
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(exported)
        best = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
        start = AutoModelForCausalLM.from_pretrained(base / "base" / "model").state_dict()
        for k, v in model.state_dict().items():
            assert torch.equal(v, best[f"model.{k}"]), k
        assert any(not torch.equal(v, start[k]) for k, v in model.state_dict().items())


def _run(base, compose_module, optimizer: str, name: str, overrides: list[str]):
    out = base / "parity" / optimizer / name
    commands.train(
        compose_module(
            "train",
            [
                f"optimizer={optimizer}",
                f"model.name_or_path={base / 'base' / 'model'}",
                f"data={base / 'one-step.jsonl'}",
                "optimizer.val_percent=0",
                "optimizer.warmup_steps=0",
                "optimizer.lr=1e-3",
                "trainer.max_steps=2",
                "trainer.log_every_n_steps=1",
                "trainer.enable_progress_bar=false",
                f"out_dir={out}",
                *overrides,
            ],
        )
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    assert (out / "model" / "model.safetensors").is_file() and (
        out / "model" / "config.json"
    ).is_file()  # the export, as one process writes it
    return ckpt["state_dict"], dict(train_losses(out))


@pytest.mark.parametrize("optimizer,examples", [("prm", 8), ("orm", 8), ("dpo", 4)])
def test_two_processes_match_one_on_the_same_global_batch(base, compose_module, optimizer, examples):
    """The whole training set is one global batch, so every sampler's order gives the same batch:
    DDP (2 × examples/2), one process (examples) and one process accumulating 2 × examples/2
    must log the same losses and end at the same weights after two optimizer steps."""
    half = examples // 2
    if optimizer in ("prm", "orm"):
        # dropout draws differ between processes: the reward head's is the only one these models have
        overrides = ["optimizer.head_dropout=0"]
    else:
        overrides = []
    ddp, ddp_loss = _run(base, compose_module, optimizer, "ddp", ["trainer=ddp-cpu", f"optimizer.batch_size={half}", *overrides])
    one, one_loss = _run(base, compose_module, optimizer, "one", [f"optimizer.batch_size={examples}", *overrides])
    acc, _ = _run(
        base, compose_module, optimizer, "accumulate", [f"optimizer.batch_size={half}", "trainer.accumulate_grad_batches=2", *overrides]
    )
    assert sorted(ddp_loss) == sorted(one_loss) == [0, 1]
    for step in (0, 1):
        assert ddp_loss[step] == pytest.approx(one_loss[step], rel=1e-4, abs=1e-6)
    assert one_loss[1] < one_loss[0]  # the update did something
    assert ddp.keys() == one.keys() == acc.keys()
    from safetensors.torch import load_file

    start = load_file(base / "base" / "model" / "model.safetensors")
    moved = 0.0
    for key, w in one.items():
        ref = start.get(key.removeprefix("model."))
        if ref is not None and ref.shape == w.shape:
            moved = max(moved, float((w - ref).abs().max()))
        for other in (ddp, acc):
            # Adam's first steps move each weight by about lr, whatever the gradient's size: the
            # runs agree to a small fraction of that
            torch.testing.assert_close(other[key], w, rtol=0, atol=1e-5)
    assert moved > 5e-4  # two steps at lr 1e-3 moved the weights


def test_torchrun_launch_trains_and_exports_once(base, tmp_path):
    """The cluster path: a launcher starts every rank itself (torchrun here, srun on SLURM) and
    Lightning joins them from the environment; the ranks train together and rank 0 alone exports."""
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "qstar.cli",
        "train",
        "optimizer=prm",
        f"model.name_or_path={base / 'base' / 'model'}",
        f"data={base / 'labels.jsonl'}",
        "split=val",
        "optimizer.batch_size=8",
        "trainer=ddp-cpu",
        "trainer.strategy=ddp",
        "trainer.max_steps=2",
        "trainer.enable_progress_bar=false",
        f"out_dir={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Starting with 2 processes" in proc.stdout + proc.stderr
    assert torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 2
    from qstar_rm.model import load_reward_model

    model, _ = load_reward_model(str(out / "model"))
    assert model.config.num_labels == 1

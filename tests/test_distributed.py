"""Every optimizer trains under Lightning DDP on two CPU processes (trainer=ddp-cpu, gloo) and
writes the same checkpoint and export as one process."""

from __future__ import annotations

import json

import pytest
import torch

from qstar import commands
from qstar_game24 import Game24Task

from test_train import TINY

pytestmark = pytest.mark.slow  # spawned worker processes: about 30 s per optimizer


@pytest.fixture(scope="module")
def base(tmp_path_factory, compose_module):
    tmp = tmp_path_factory.mktemp("ddp")
    commands.train(compose_module("train", TINY + ["trainer.max_steps=5", f"out_dir={tmp / 'base'}"]))
    task = Game24Task()
    records = []
    for problem in task.problems("val")[:24]:
        gold = task.gold_trajectories(problem)[0]
        records.append({"prompt": task.prompt(problem), "completions": gold, "labels": [True] * len(gold), "soft_labels": [1.0] * len(gold),
                        "node_ids": list(range(1, len(gold) + 1)), "problem_id": problem.id})
        records.append({"prompt": task.prompt(problem), "completions": ["1+1=5 (left: 5)"], "labels": [False], "soft_labels": [0.0],
                        "node_ids": [len(gold) + 1], "problem_id": problem.id})
    (tmp / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp


@pytest.mark.parametrize("optimizer", ["prm", "orm", "dpo", "ilql"])
def test_optimizer_trains_under_ddp_on_two_processes(base, compose_module, optimizer):
    out = base / optimizer
    cfg = compose_module("train", [f"optimizer={optimizer}", f"model.name_or_path={base / 'base' / 'model'}", f"data={base / 'labels.jsonl'}",
                                   "split=val", "optimizer.batch_size=8", "trainer=ddp-cpu", "trainer.max_steps=2",
                                   "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false", f"out_dir={out}"])
    exported = commands.train(cfg)
    assert torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 2
    assert (exported / "model.safetensors").is_file() and (exported / "config.json").is_file()
    if optimizer == "ilql":
        assert (exported / "ilql_heads.safetensors").is_file()

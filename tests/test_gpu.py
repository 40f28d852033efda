"""GPU paths (run with `pytest -m gpu` on a machine with CUDA)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from qstar_hf import HFExpander, HFExpanderConfig
from qstar_segmenters import NewlineSegmenter

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.fail("these tests need a CUDA device: run them only with -m gpu on a GPU machine")


def test_expander_on_cuda_proposes_what_the_cpu_does(policy_dir):
    prompts = ["Input: 4 9 10 13\n", "Input: 1 1 4 6\n4+1=5 (left: 1 5 6)\n"]
    seg = NewlineSegmenter()
    cpu = HFExpander(HFExpanderConfig(temperature=0.0), SimpleNamespace(name_or_path=str(policy_dir)), seg)
    gpu = HFExpander(HFExpanderConfig(temperature=0.0), SimpleNamespace(name_or_path=str(policy_dir), device="cuda"), seg)
    assert [g[0].text for g in cpu.expand(prompts, 1)[0]] == [g[0].text for g in gpu.expand(prompts, 1)[0]]


def test_sft_trains_on_the_gpu(compose, tmp_path):
    from qstar import commands

    cfg = compose(
        "train",
        [
            "trainer=gpu",
            "trainer.max_steps=20",
            "model.arch.n_layer=1",
            "model.arch.n_embd=32",
            "model.arch.n_head=2",
            "split=val",
            f"out_dir={tmp_path}",
        ],
    )
    exported = commands.train(cfg)
    assert (exported / "model.safetensors").exists()


from test_distributed import base  # noqa: E402,F401  (the tiny model, labels and trees those tests train on)

FSDP_DATA = {"sft": None, "prm": "labels.jsonl", "orm": "labels.jsonl", "dpo": "labels.jsonl", "ilql": "labels.jsonl", "rft": "trees.jsonl"}


@pytest.mark.parametrize("optimizer", list(FSDP_DATA))
def test_every_optimizer_trains_under_fsdp_and_exports_whole_weights(base, compose_module, optimizer):  # noqa: F811
    """Under FSDP each rank's parameters are shards after fit: the export must hold the full
    weights of the checkpoint it came from (the best validation one, else the last)."""
    from safetensors.torch import load_file

    from qstar import commands
    from qstar.training import submodule_state

    out = base / "fsdp" / optimizer
    data = [f"data={base / FSDP_DATA[optimizer]}"] if FSDP_DATA[optimizer] else []
    exported = commands.train(
        compose_module(
            "train",
            [
                f"optimizer={optimizer}",
                f"model.name_or_path={base / 'base' / 'model'}",
                *data,
                "split=val",
                "optimizer.batch_size=8",
                "trainer=fsdp",
                "trainer.devices=1",
                "trainer.max_steps=2",
                "trainer.enable_progress_bar=false",
                f"out_dir={out}",
            ],
        )
    )
    best = out / "checkpoints" / "best.ckpt"
    ckpt = torch.load(best if best.exists() else out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    trained = submodule_state(ckpt["state_dict"], "model.lm." if optimizer == "ilql" else "model.")
    weights = load_file(str(exported / "model.safetensors"))
    assert weights and set(weights) <= set(trained)
    for name, tensor in weights.items():
        assert tensor.shape == trained[name].shape and torch.equal(tensor, trained[name].to(tensor.dtype)), name
    if optimizer == "ilql":
        assert (exported / "ilql_heads.safetensors").is_file()


from test_reward_models import tiny_prm  # noqa: E402,F401  (a tiny PRM trained on CPU, exported)


def test_a_prm_threshold_is_scored_on_the_gpu_and_matches_the_cpu(tiny_prm, monkeypatch):  # noqa: F811
    """After a GPU run, the operating point is chosen on the GPU (where a large PRM must score):
    the same threshold and F1 as scoring on the CPU."""
    from qstar_rm import train
    from qstar_rm.data import read_examples, split_groups
    from qstar_rm.model import RewardModel

    _, val = split_groups(read_examples(str(tiny_prm.parents[1] / "labels.jsonl"), "soft"), 5.0, 0)
    devices = []
    inner = RewardModel.step_values
    monkeypatch.setattr(RewardModel, "step_values", lambda self, *a: (devices.append(self.device.type), inner(self, *a))[1])
    on_gpu = train.choose_threshold(tiny_prm, val)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    on_cpu = train.choose_threshold(tiny_prm, val)
    assert devices == ["cuda", "cpu"]
    assert on_gpu["threshold_f1"] == on_cpu["threshold_f1"] and on_gpu["threshold"] == pytest.approx(on_cpu["threshold"], abs=1e-4)

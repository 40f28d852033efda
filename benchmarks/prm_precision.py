"""The PRM stage in bf16 autocast (``trainer.precision=bf16-mixed``) against full precision
(``32-true``, the loop's setting): what lower-precision matrix products save on a CPU that has
bf16 instructions, and what they do to the trained PRM.

Both sides run the same ``qstar train optimizer=prm`` command line as the clean loop's PRM stage
(pooled states, hard targets, batches grouped by length, initialised from the round's policy) for
the same number of epochs (validated at each epoch's end), as whole processes, each side
``--runs`` times, alternating; the medians are compared, and each side's last validation loss and
AUROC are printed. Prints both times and 32-true / bf16-mixed (above 1: bf16 is faster). Run it alone on the machine, after
``recipes/loop_clean_grouped.sh`` (it reads that loop's round-3 labels and policy by default).

    python benchmarks/prm_precision.py [--epochs 1] [--runs 1] [--loop runs/loop-clean-grouped]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def train(loop: Path, epochs: int, precision: str, out: Path) -> tuple[float, dict[str, str]]:
    args = [
        "train",
        "optimizer=prm",
        "optimizer.target=hard",
        "optimizer.pool_states=true",
        "optimizer.group_by_length=true",
        f"model.name_or_path={loop / 'round-3/policy/model'}",
        f"data={loop / 'round-3/prm-data.jsonl'}",
        "trainer.enable_progress_bar=false",
        f"trainer.max_epochs={epochs}",
        "trainer.max_steps=-1",
        f"trainer.precision={precision}",
        f"out_dir={out}",
    ]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "qstar.cli", *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"qstar train failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    seconds = time.perf_counter() - t0
    with open(out / "logs/metrics.csv") as f:
        last = [r for r in csv.DictReader(f) if r["val/loss"]][-1]
    return seconds, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1, help="epochs per run over the round's labels")
    ap.add_argument("--runs", type=int, default=1, help="timed runs per side")
    ap.add_argument("--loop", type=Path, default=Path("runs/loop-clean-grouped"), help="a clean loop's directory")
    a = ap.parse_args()
    if not (a.loop / "round-3/prm-data.jsonl").is_file():
        sys.exit(f"{a.loop}/round-3/prm-data.jsonl does not exist: run recipes/loop_clean_grouped.sh or pass --loop")
    sides = ["32-true", "bf16-mixed"]
    times: dict[str, list[float]] = {k: [] for k in sides}
    last: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            for side in sides:
                seconds, last[side] = train(a.loop, a.epochs, side, Path(tmp) / f"{side}-{i}")
                times[side].append(seconds)
    full, bf16 = (statistics.median(times[k]) for k in sides)
    for side in sides:
        m = last[side]
        print(
            f"{side}: {statistics.median(times[side]):.1f} s for {a.epochs} epoch(s) (median of {a.runs}), "
            f"validation loss {float(m['val/loss']):.4f}, AUROC {float(m['val/auc']):.4f}"
        )
    print(f"32-true / bf16-mixed: {full / bf16:.2f}")


if __name__ == "__main__":
    main()

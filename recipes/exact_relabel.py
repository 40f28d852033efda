"""A label file with every step's label replaced by the task's exact one (an oracle: a diagnostic of
what a PRM of this size could learn from perfect labels on the same steps, never a learned figure,
never a loop's data). Writes a new file; the input is never changed.

    python recipes/exact_relabel.py runs/loop-clean-replay/round-3/prm-data.jsonl runs/clean-replay-prm-r3/exact-prm-data.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from label_agreement import exact

from qstar.files import atomic_write_text
from qstar.labels import read_label_records

if __name__ == "__main__":
    src, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if dest.exists():  # the input among them
        print(f"{dest} exists: pick another output (an input is never written over)", file=sys.stderr)
        sys.exit(2)
    out = []
    for r in read_label_records(src):
        gold = exact(r["prompt"], r["completions"])
        out.append(json.dumps({**r, "labels": gold, "soft_labels": [float(g) for g in gold], "labeler": {"name": "verifier"}}))
    atomic_write_text(dest, "\n".join(out) + "\n")
    print(f"{dest}: {len(out)} paths, exact labels")

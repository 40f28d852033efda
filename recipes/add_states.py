"""A copy of a Game of 24 label file written before ``qstar label`` wrote ``states``, with them added:
per step, the numbers it leaves (as ``qstar label`` writes them, JSON of ``Game24Task.state_key``),
or null for an illegal step, a dead end or an answer line. The states follow from the steps' text
alone (the task's rules, no model, no look-ahead), so the copy is what ``qstar label`` writes today
for the same trees, and ``optimizer.pool_states=true`` can read it. The input is never changed.

    python recipes/add_states.py runs/loop-clean-replay/round-1/label/labels.jsonl runs/x/labels.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pool_relabel import state_keys

from qstar.files import atomic_write_text
from qstar.labels import read_label_records

if __name__ == "__main__":
    src, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if dest.exists():  # the input among them
        print(f"{dest} exists: pick another output (an input is never written over)", file=sys.stderr)
        sys.exit(2)
    out = []
    for r in read_label_records(src):
        states = [None if key is None else json.dumps(key, default=str) for key in state_keys(r)]
        out.append(json.dumps({**r, "states": states}))
    atomic_write_text(dest, "\n".join(out) + "\n")
    print(f"{dest}: {len(out)} paths, states added")

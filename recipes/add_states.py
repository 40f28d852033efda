"""A copy of a Game of 24 label file written before ``qstar label`` wrote ``states``, with them added:
per step, the numbers it leaves (as ``qstar label`` writes them, JSON of ``Game24Task.state_key``),
or null for an illegal step, a dead end or an answer line. The states follow from the steps' text
alone (the task's rules, no model, no look-ahead), so the copy is what ``qstar label`` writes today
for the same trees, and ``optimizer.pool_states=true`` can read it. The input is never changed.

    python recipes/add_states.py runs/loop-clean-replay/round-1/label/labels.jsonl runs/x/labels.jsonl
"""

from __future__ import annotations

from label_agreement import rewrite_labels
from pool_relabel import with_states

if __name__ == "__main__":
    dest, out = rewrite_labels(lambda records: [with_states(r) for r in records])
    print(f"{dest}: {len(out)} paths, states added")

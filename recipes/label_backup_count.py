"""How many trained hard step labels the PRM's ``optimizer.backup=true`` turns positive: a step is
good when any later trained step of a path through it is (a rollout from the later step is a
completion of the earlier one). Reads label files with the PRM's own reader (each distinct step
once); loads no model.

    python recipes/label_backup_count.py runs/loop-clean-sample/round-3/prm-data.jsonl
"""

from __future__ import annotations

import sys

from qstar_rm.data import backed_up, read_stepwise

if __name__ == "__main__":
    for path in sys.argv[1:]:
        examples = read_stepwise(path, "hard")

        def count(exs):
            return sum(x for ex in exs for x, w in zip(ex.labels, ex.weights) if w > 0)

        steps = sum(w > 0 for ex in examples for w in ex.weights)
        before, after = count(examples), count(backed_up(examples))
        print(f"{path}: {steps} trained steps, {before:.0f} positive, {after:.0f} after the backup (+{after - before:.0f})")

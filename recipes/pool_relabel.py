"""A label file whose Monte-Carlo labels are pooled by task state: every labelled step that leaves
the same numbers (Game of 24's state, ``Game24Task.state_key``, as ``merge_states`` in the searches)
gets the mean of the rollout outcomes of every such step in the file, from any puzzle, path or round.
Whether 24 can still be reached depends only on the numbers left, so each visit's rollouts estimate
the same value, and pooling them is the transposition table of a tree search applied to the labels.
Only rollout outcomes are pooled: no look-ahead, no gold solution. Illegal steps, dead ends and
answer lines keep their own labels (the rules and the final-answer check). The hard label is the
pooled soft label > 0. Writes a new file; the input is never changed.

    python recipes/pool_relabel.py runs/loop-clean-replay/round-3/prm-data.jsonl runs/clean-replay-prm-r3/pooled-prm-data.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from label_agreement import TASK, problem_of

from qstar.files import atomic_write_text
from qstar.labels import read_label_records


def state_keys(record: dict) -> list:
    """Per step: the sorted numbers left after it, or None for an illegal step, a dead end or an answer."""
    problem = problem_of(record["prompt"])
    steps, keys = record["completions"], []
    for i, step in enumerate(steps):
        verdict = TASK.check_step(problem, steps[:i], step)
        legal_open = verdict.valid and not verdict.dead_end and not verdict.terminal
        keys.append(tuple(sorted(TASK.state_key(problem, steps[: i + 1]))) if legal_open else None)
    return keys


if __name__ == "__main__":
    src, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if dest.exists():  # the input among them
        print(f"{dest} exists: pick another output (an input is never written over)", file=sys.stderr)
        sys.exit(2)
    records = list(read_label_records(src))
    keys = [state_keys(r) for r in records]
    # one vote per labelled node: paths of one tree share their prefixes' nodes
    votes: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    for r, ks in zip(records, keys):
        for i, key in enumerate(ks):
            if key is not None:
                node = (r["problem_id"], tuple(r["completions"][: i + 1]), r["node_ids"][i], r["soft_labels"][i])
                votes[key][node] = r["soft_labels"][i]
    pooled = {key: sum(v.values()) / len(v) for key, v in votes.items()}
    out, changed = [], 0
    for r, ks in zip(records, keys):
        soft = [pooled[k] if k is not None else s for k, s in zip(ks, r["soft_labels"])]
        hard = [s > 0 for s in soft]
        changed += sum(h != old for h, old in zip(hard, r["labels"]))
        out.append(json.dumps({**r, "labels": hard, "soft_labels": soft}))
    atomic_write_text(dest, "\n".join(out) + "\n")
    print(f"{dest}: {len(out)} paths, {len(pooled)} states pooled, {changed} hard step labels changed")

"""A label file whose Monte-Carlo labels are pooled by task state: every labelled step that leaves
the same numbers (Game of 24's state, ``Game24Task.state_key``, as ``merge_states`` in the searches)
gets the mean of the rollout outcomes of every such step in the file, from any puzzle, path or round.
Whether 24 can still be reached depends only on the numbers left, so each visit's rollouts estimate
the same value, and pooling them is the transposition table of a tree search applied to the labels.
Only rollout outcomes are pooled: no look-ahead, no gold solution. Illegal steps, dead ends and
answer lines keep their own labels (the rules and the final-answer check). The hard label is the
pooled soft label > 0. The pooling is ``optimizer.pool_states``'s own (``qstar_rm.data.pool_by_state``), on
states added from the steps' text, so a label file written before ``qstar label`` wrote states
can be pooled too. Writes a new file; the input is never changed.

    python recipes/pool_relabel.py runs/loop-clean-replay/round-3/prm-data.jsonl runs/clean-replay-prm-r3/pooled-prm-data.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from label_agreement import TASK, problem_of, rewrite_labels

from qstar_rm.data import pool_by_state


def state_keys(record: dict) -> list:
    """Per step: the sorted numbers left after it, or None for an illegal step, a dead end or an answer."""
    problem = problem_of(record["prompt"])
    steps, keys = record["completions"], []
    for i, step in enumerate(steps):
        verdict = TASK.check_step(problem, steps[:i], step)
        legal_open = verdict.valid and not verdict.dead_end and not verdict.terminal
        keys.append(tuple(sorted(TASK.state_key(problem, steps[: i + 1]))) if legal_open else None)
    return keys


def with_states(record: dict) -> dict:
    """The record with ``states`` as ``qstar label`` writes them (``qstar.labels.step_state``)."""
    return {**record, "states": [None if key is None else json.dumps(key, default=str) for key in state_keys(record)]}


if __name__ == "__main__":
    stats = {}

    def pooled(records: list[dict]) -> list[dict]:
        rows = [(n, with_states(r)) for n, r in enumerate(records, 1)]
        values = pool_by_state(Path(sys.argv[1]), rows)
        out, changed = [], 0
        for (_, r), plain in zip(rows, records):
            soft = [values[k] if k is not None else s for k, s in zip(r["states"], r["soft_labels"])]
            hard = [s > 0 for s in soft]
            changed += sum(h != old for h, old in zip(hard, r["labels"]))
            out.append({**plain, "labels": hard, "soft_labels": soft})
        stats.update(states=len(values), changed=changed)
        return out

    dest, out = rewrite_labels(pooled)
    print(f"{dest}: {len(out)} paths, {stats['states']} states pooled, {stats['changed']} hard step labels changed")

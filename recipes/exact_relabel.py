"""A label file with every step's label replaced by the task's exact one (an oracle: a diagnostic of
what a PRM of this size could learn from perfect labels on the same steps, never a learned figure,
never a loop's data). Writes a new file; the input is never changed.

    python recipes/exact_relabel.py runs/loop-clean-replay/round-3/prm-data.jsonl runs/clean-replay-prm-r3/exact-prm-data.jsonl
"""

from __future__ import annotations

from label_agreement import exact, rewrite_labels


def relabel(records: list[dict]) -> list[dict]:
    out = []
    for r in records:
        gold = exact(r["prompt"], r["completions"])
        out.append({**r, "labels": gold, "soft_labels": [float(g) for g in gold], "labeler": {"name": "verifier"}})
    return out


if __name__ == "__main__":
    dest, out = rewrite_labels(relabel)
    print(f"{dest}: {len(out)} paths, exact labels")

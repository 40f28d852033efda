"""How well Monte-Carlo step labels agree with the exact ones (an oracle, used only to measure).

    python recipes/label_agreement.py runs/game24-rm/labels/labels.jsonl [more labels.jsonl ...]

For every distinct step prefix of each file: the soft label's AUROC against the exact label
(legal, and 24 still reachable after it; for an answer line, a right answer), overall and by
depth, with the hard label's false-negative and false-positive rates; and how many steps the
rules reject carry a positive label (none should: an illegal step is labelled 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from qstar.files import atomic_write_text
from qstar.labels import read_label_records
from qstar.metrics import auroc
from qstar_game24 import Game24Task

TASK = Game24Task()


def problem_of(prompt: str):
    """The puzzle a label record's prompt states (``Input: a b c d``)."""
    return TASK.parse_problem(prompt.split("Input:")[1].strip())


def rewrite_labels(transform: Callable[[list[dict]], list[dict]]) -> tuple[Path, list[dict]]:
    """``python recipes/<recipe>.py SRC DEST``: DEST gets ``transform`` of every record of SRC, written
    atomically; an existing DEST (the input among them) is refused with exit code 2, so an input
    is never written over. Returns DEST and the records written."""
    src, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if dest.exists():
        print(f"{dest} exists: pick another output (an input is never written over)", file=sys.stderr)
        sys.exit(2)
    out = transform(read_label_records(src))
    atomic_write_text(dest, "\n".join(json.dumps(r) for r in out) + "\n")
    return dest, out


def exact(prompt: str, steps: list[str]) -> list[bool]:
    """The task's exact judgement of each step prefix, as ``qstar_label.exact_label`` (labeler=verifier)
    gives it: illegal or dead end → False, an answer → whether it is right, else whether 24 is reachable."""
    problem = problem_of(prompt)
    out = []
    for i, step in enumerate(steps):
        verdict = TASK.check_step(problem, steps[:i], step)
        if not verdict.valid or verdict.dead_end:
            out.append(False)
        elif verdict.terminal:
            out.append(TASK.is_correct(problem, verdict.answer))
        else:
            out.append(TASK.solvable(problem, steps[: i + 1]))
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        seen: dict[tuple, tuple[float, bool, int]] = {}
        illegal: dict[tuple, float] = {}  # steps the rules reject → their soft label
        for r in read_label_records(path):
            problem = problem_of(r["prompt"])
            for i, (soft, gold) in enumerate(zip(r["soft_labels"], exact(r["prompt"], r["completions"]))):
                key = (r["problem_id"], tuple(r["completions"][: i + 1]))
                seen[key] = (soft, gold, i)
                if not TASK.check_step(problem, r["completions"][:i], r["completions"][i]).valid:
                    illegal[key] = soft
        soft, gold = [v[0] for v in seen.values()], [v[1] for v in seen.values()]
        overall = auroc(soft, gold)  # None when every step has one exact label
        print(
            f"{path}: {len(soft)} steps, exact positive {sum(gold) / len(gold):.3f}, AUROC {'n/a' if overall is None else f'{overall:.3f}'}"
        )
        print(f"  illegal steps: {len(illegal)}, with a positive label: {sum(s > 0 for s in illegal.values())}")
        for depth in sorted({v[2] for v in seen.values()}):
            rows = [v for v in seen.values() if v[2] == depth]
            pos = sum(g for _, g, _ in rows)
            if 0 < pos < len(rows):
                fn = sum(1 for s, g, _ in rows if g and s == 0) / pos
                fp = sum(1 for s, g, _ in rows if not g and s > 0) / (len(rows) - pos)
                print(
                    f"  depth {depth}: {len(rows)} steps, AUROC {auroc([s for s, _, _ in rows], [g for _, g, _ in rows]):.3f}, "
                    f"hard-label false negatives {fn:.3f}, false positives {fp:.3f}"
                )

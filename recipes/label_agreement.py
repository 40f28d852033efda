"""How well Monte-Carlo step labels agree with the exact ones (an oracle, used only to measure).

    python recipes/label_agreement.py runs/game24-rm/labels/labels.jsonl [more labels.jsonl ...]

For every distinct step prefix of each file: the soft label's AUROC against the exact label
(legal, and 24 still reachable after it; for an answer line, a right answer), overall and by
depth, with the hard label's false-negative and false-positive rates.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import torch
from torchmetrics.functional.classification import binary_auroc

from qstar_game24.arithmetic import check_step
from qstar_game24.game import check_answer, parse_puzzle, solvable


def exact(prompt: str, steps: list[str]) -> list[bool]:
    puzzle = parse_puzzle(prompt.split("Input:")[1].strip())
    state, ok, out = tuple(Fraction(x) for x in puzzle), True, []
    for step in steps:
        if ok and step.startswith("Answer"):
            ok = check_answer(puzzle, step)
        elif ok:
            verdict = check_step(state, step)
            ok = verdict.valid and solvable(verdict.left)
            state = verdict.left if verdict.valid else state
        out.append(ok)
    return out


def auroc(gold: list[bool], scores: list[float]) -> float:
    return float(binary_auroc(torch.tensor(scores, dtype=torch.float), torch.tensor([int(g) for g in gold])))


for path in sys.argv[1:]:
    seen: dict[tuple, tuple[float, bool, int]] = {}
    for line in open(path):
        r = json.loads(line)
        for i, (soft, gold) in enumerate(zip(r["soft_labels"], exact(r["prompt"], r["completions"]))):
            seen[(r["problem_id"], tuple(r["completions"][: i + 1]))] = (soft, gold, i)
    soft, gold = [v[0] for v in seen.values()], [v[1] for v in seen.values()]
    print(f"{path}: {len(soft)} steps, exact positive {sum(gold) / len(gold):.3f}, AUROC {auroc(gold, soft):.3f}")
    for depth in sorted({v[2] for v in seen.values()}):
        rows = [v for v in seen.values() if v[2] == depth]
        pos = sum(g for _, g, _ in rows)
        if 0 < pos < len(rows):
            fn = sum(1 for s, g, _ in rows if g and s == 0) / pos
            fp = sum(1 for s, g, _ in rows if not g and s > 0) / (len(rows) - pos)
            print(f"  depth {depth}: {len(rows)} steps, AUROC {auroc([g for _, g, _ in rows], [s for s, _, _ in rows]):.3f}, "
                  f"hard-label false negatives {fn:.3f}, false positives {fp:.3f}")

"""Where a PRM-guided tree search loses Game of 24 puzzles, judged afterwards by the task's exact
rules and solver (an oracle, used only to measure: nothing here reaches a search or a label).

    python recipes/prm_diagnosis.py runs/compare-test/tot-bfs.jsonl [...]

For each depth, over the steps the search scored whose earlier steps are legal: how well the
PRM's score tells legal steps from illegal ones (AUROC), how well it ranks the legal ones by
whether 24 can still be reached, and both together (the exact step label); and how well the
policy's own log-prob of the step tells legal from illegal. Then, per puzzle, the
first depth where no kept state can still reach 24: the policy proposed no good step there, or
it did and the ranking dropped them all.
"""

from __future__ import annotations

import sys
from collections import Counter

from qstar.commands import load_trees
from qstar.engine import Tree
from qstar.labels import exact_label
from qstar.metrics import auroc
from qstar_game24 import Game24Task
from qstar_segmenters import NewlineSegmenter

TASK = Game24Task()


def diagnose(path: str, scorer: str = "prm") -> None:
    rows, lost = [], Counter()
    for r in load_trees(path):
        tree = Tree.from_result(r, TASK, NewlineSegmenter())
        kids = tree.children
        judged: dict[int, tuple[bool, bool]] = {}  # id → (legal, good: the exact step label)
        for n in tree.nodes[1:]:
            s = tree.steps(n)
            v = TASK.check_step(r.problem, s[:-1], s[-1])
            legal, good = v.valid and not v.dead_end, exact_label(TASK, tree, n) == 1.0
            judged[n.id] = (legal, good)
            if TASK.state(r.problem, s[:-1]) is not None and scorer in n.scores:  # earlier steps legal
                rows.append((n.depth, n.scores[scorer], legal, good, n.logprob))
        frontier, verdict = [0], "a kept path reaches a right answer"
        for depth in range(1, TASK.max_depth + 1):
            cands = [c for p in frontier for c in kids.get(p, [])]
            if not any(judged[c][1] for c in cands):
                verdict = f"depth {depth}: no good step proposed" if cands else f"depth {depth}: nothing proposed"
                break
            kept = [c for c in cands if kids.get(c)] if depth < TASK.max_depth else cands
            if depth < TASK.max_depth and not any(judged[c][1] for c in kept):
                verdict = f"depth {depth}: good steps proposed, none kept"
                break
            frontier = kept
        lost[verdict] += 1
    print(path)
    for depth in sorted({d for d, *_ in rows}):
        at = [x for x in rows if x[0] == depth]
        legal = [x for x in at if x[2]]

        def fmt(scores, labels):
            value = auroc(scores, labels)
            return "  n/a" if value is None else f"{value:.3f}"

        print(
            f"  depth {depth}: {len(at)} steps, {len(at) - len(legal)} illegal or dead ends | legal vs not {fmt([x[1] for x in at], [x[2] for x in at])}"
            f" | reachable among legal {fmt([x[1] for x in legal], [x[3] for x in legal])} | exact label {fmt([x[1] for x in at], [x[3] for x in at])}"
            f" | policy log-prob: legal vs not {fmt([x[4] for x in at], [x[2] for x in at])}"
        )
    for verdict, count in sorted(lost.items()):
        print(f"  {count:3d} puzzles: {verdict}")


if __name__ == "__main__":
    for path in sys.argv[1:]:
        diagnose(path)

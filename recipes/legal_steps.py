"""Share of rule-legal steps in searched trees: every proposed step, and the steps of the chosen
paths, checked by the task's own rules. Evaluation only (the task's judgement never reaches a
search or a label here).

    python recipes/legal_steps.py runs/loop3-rft/round-1/eval-search/trees.jsonl [...]
"""

from __future__ import annotations

import sys

from qstar.commands import load_trees
from qstar.engine import Tree
from qstar_game24 import Game24Task
from qstar_segmenters import NewlineSegmenter


def legal_shares(path: str) -> tuple[float, float]:
    task = Game24Task()
    proposed, chosen = [0, 0], [0, 0]
    for r in load_trees(path):
        tree = Tree.from_result(r, task, NewlineSegmenter())
        on_path = set(r.path)
        for n in tree.nodes[1:]:
            s = tree.steps(n)
            ok = task.check_step(r.problem, s[:-1], s[-1]).valid
            proposed[0] += ok
            proposed[1] += 1
            if n.id in on_path:
                chosen[0] += ok
                chosen[1] += 1
    return proposed[0] / max(proposed[1], 1), chosen[0] / max(chosen[1], 1)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        p, c = legal_shares(path)
        print(f"{path}: legal proposed steps {p:.2f}, legal chosen-path steps {c:.2f}")

"""Share of rule-legal steps in searched trees: every proposed step, and the steps of the chosen
paths, checked by the task's own rules. Evaluation only (the task's judgement never reaches a
search or a label here).

    python recipes/legal_steps.py runs/loop3-rft/round-1/eval-search/trees.jsonl [...]
"""

from __future__ import annotations

import sys

from qstar.commands import load_trees
from qstar_game24 import Game24Task


def legal_shares(path: str) -> tuple[float, float]:
    task = Game24Task()
    proposed, chosen = [0, 0], [0, 0]
    for r in load_trees(path):
        by_id = {n.id: n for n in r.nodes}

        def steps(n):
            out = []
            while n.parent is not None:
                out.append(n.step)
                n = by_id[n.parent]
            return out[::-1]

        on_path = set(r.path)
        for n in r.nodes[1:]:
            s = steps(n)
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

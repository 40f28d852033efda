"""Right answers whose path does not lead to them, in a Game of 24 rollouts file (``qstar label
rollouts=true``): the Monte-Carlo labeler counts a rollout right when its answer line makes 24
from the puzzle's numbers, whether or not the rollout's own steps are legal and leave 24. Counts
the right answer leaves, those after an illegal step and those after a legal path that does not
leave 24. Checked by the task's rules alone (no look-ahead); loads no model.

    python recipes/answers_off_path.py runs/loop-clean-grouped/round-3/label/rollouts.jsonl [...]
"""

from __future__ import annotations

import sys
from fractions import Fraction

from qstar.engine import Tree
from qstar.runs import load_trees
from qstar_game24 import Game24Task
from qstar_segmenters import NewlineSegmenter


def off_path(path: str) -> tuple[int, int, int]:
    task = Game24Task()
    right = illegal = elsewhere = 0
    for r in load_trees(path):
        tree = Tree.from_result(r, task, NewlineSegmenter())
        for leaf in tree.nodes:
            if leaf.answer is None or not task.is_correct(r.problem, leaf.answer):
                continue
            state = task.state(r.problem, tree.steps(leaf)[:-1])  # the steps before the answer line
            right += 1
            illegal += state is None
            elsewhere += state is not None and state != (Fraction(24),)
    return right, illegal, elsewhere


if __name__ == "__main__":
    for path in sys.argv[1:]:
        right, illegal, elsewhere = off_path(path)
        print(
            f"{path}: {right:,} right answers; after an illegal step {illegal:,} ({illegal / right:.1%}); "
            f"after a legal path that does not leave 24 {elsewhere:,} ({elsewhere / right:.1%})"
        )

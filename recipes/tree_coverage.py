"""How many searched trees were solved, and how many hold a right path anywhere (graded afterwards
by the task's answer check: evaluation only; the search never saw it).

    python recipes/tree_coverage.py runs/loop-clean/round-*/eval-search/trees.jsonl
"""

from __future__ import annotations

import sys

from qstar.runs import right_in_tree
from qstar.tree import iter_results
from qstar_game24 import Game24Task

if __name__ == "__main__":
    task = Game24Task()
    for path in sys.argv[1:]:
        results = list(iter_results(path))
        solved = sum(bool(r.correct) for r in results)
        held = sum(right_in_tree(r, task) for r in results)
        print(f"{path}: {solved} solved, {held} with a right path in the tree, of {len(results)}")

"""How many searched trees were solved, how many hold a right path anywhere, and how many distinct
right paths whose every step keeps the rules (what ``rft optimizer.legal_steps=true`` trains on)
they hold, over how many puzzles — graded afterwards by the task's answer check: evaluation only;
the search never saw it. A file holding a puzzle more than once (a loop's joined rounds) counts
each distinct path of it once.

    python recipes/tree_coverage.py runs/loop-clean/round-*/eval-search/trees.jsonl
    python recipes/tree_coverage.py --puzzles-of runs/sample-vs-search/p0-n64/trees.jsonl runs/loop-clean/round-1/search/trees.jsonl

``--puzzles-of FILE`` counts only the puzzles FILE holds (the same puzzles, searched two ways).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from qstar.runs import right_in_tree
from qstar.tree import iter_results
from qstar_game24 import Game24Task
from qstar_sft import right_paths

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--puzzles-of", default=None)
    args = parser.parse_args()
    only = {r.problem.id for r in iter_results(args.puzzles_of)} if args.puzzles_of else None
    task = Game24Task()
    for path in args.trees:
        results = [r for r in iter_results(path) if only is None or r.problem.id in only]
        solved = sum(bool(r.correct) for r in results)
        held = sum(right_in_tree(r, task) for r in results)
        legal = defaultdict(set)
        for r in results:
            legal[r.problem.id] |= {tuple(p) for p in right_paths(r, task, legal_steps=True)}
        paths = sum(len(v) for v in legal.values())
        print(
            f"{path}: {solved} solved, {held} with a right path in the tree, of {len(results)}; "
            f"{paths} distinct legal right paths over {sum(bool(v) for v in legal.values())} puzzles"
        )

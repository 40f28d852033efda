"""Search ``a-star``: best-first search on f = g + λ·h with a learned (or rule) heuristic, after
Q* (Wang et al., 2024, "Q*: Improving Multi-step Reasoning for LLMs with Deliberative Planning")
and A* (Hart, Nilsson and Raphael, 1968).

A state is a node of the tree. Its f-value is ``g + lam * h`` where

- ``h`` is the scorer's estimate at the node: for a Monte-Carlo-trained PRM, the chance that the
  path still reaches a right answer (Q*'s Q-value of the last step); for the oracle verifier,
  exact reachability;
- ``g`` is the utility of the path so far: ``g=path`` folds the path's step scores with the
  scorer's aggregate (a PRM's min), ``g=logprob`` is the path's mean step log-probability under
  the policy, ``g=none`` is 0 (greedy best-first on h).

The open list is a priority queue on f (ties: the path's log-probability). Each request pops the
``parallel`` best open states and expands them with ``k`` proposals each; the children are scored
and pushed. A finished path is returned when it is *popped*, as in A*: only then is no open state
better. Two paths reaching the same task state (``task.state_key``) are merged: the one with the
higher f is kept. When a limit is reached the search is anytime: it returns the best finished
path found so far (by f).

Deviations: Q* maximises utility (f is a value, not a cost), so the queue pops the largest f; ``h``
is the scorer's estimate at the node itself rather than a max over next steps, which would cost an
expansion per state to compute. With ``parallel > 1`` the search is batched best-first (several
states per model call), which may expand states plain A* would not.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from qstar import hookimpl
from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.protocols import Expand, Score
from qstar.searching import check_depth, check_positive, scorer_name
from qstar.tree import Limits, Node

G_CHOICES = ("path", "logprob", "none")


@dataclass
class AStarConfig:
    name: str = "a-star"  # the registered name: search=a-star
    k: int = 8  # proposals per expanded state
    lam: float = 1.0  # λ: weight of the heuristic h in f = g + λ·h
    g: str = "path"  # path (the scorer's aggregate of the path's step scores) | logprob (mean step log-prob) | none
    parallel: int = 1  # open states popped per request (1 = textbook A*)
    max_depth: int = 0  # 0 = the task's max_depth
    prune: float = 0.0  # states scoring <= prune are never opened (a rule verifier's illegal step)
    merge_states: bool = True  # one open path per task state (task.state_key), the one with the higher f
    limits: Limits = field(
        default_factory=lambda: Limits(expansions=64)
    )  # per-problem budget (0 = none; default: 64 expansions); A* is anytime

    def __post_init__(self):
        check_positive("search.k", self.k)
        check_positive("search.parallel", self.parallel)
        check_depth(self.max_depth)
        if self.lam < 0:
            raise QstarError(f"search.lam={self.lam}: use a non-negative weight for the heuristic")
        if self.g not in G_CHOICES:
            raise QstarError(f"search.g={self.g!r}: choose path, logprob or none")


class AStar:
    name = "a-star"
    needs_scorer = True

    def __init__(self, cfg: AStarConfig):
        self.cfg = cfg

    def f(self, tree: Tree, node: Node, name: str) -> float:
        h = node.scores.get(name, 0.0)
        if self.cfg.g == "path":
            g = tree.path_score(node, scorer=name)
        elif self.cfg.g == "logprob":
            g = tree.path_logprob(node) / max(node.depth, 1)  # mean per step, so depth is not a penalty
        else:
            g = 0.0
        return g + self.cfg.lam * h

    def run(self, tree: Tree):
        cfg = self.cfg
        depth_limit = cfg.max_depth or tree.task.max_depth
        state_key = getattr(tree.task, "state_key", None) if cfg.merge_states else None
        tie = itertools.count()
        heap: list[tuple[float, float, int, Node, Any]] = []  # (-f, -path log-prob, tie, node, state key)
        best_f: dict = {}  # state key → the best f pushed for it
        goals: list[tuple[float, float, Node]] = []  # finished, answered paths seen (for the anytime answer)

        def push(node: Node, name: str) -> None:
            f = self.f(tree, node, name)
            lp = tree.path_logprob(node)
            key = None
            if node.terminal:
                if node.answer is None:
                    return  # a dead end or an unparsable step is never a goal
                goals.append((f, lp, node))
            elif state_key is not None:
                key = state_key(tree.problem, tree.steps(node))
                if key in best_f and best_f[key] >= f:
                    return
                best_f[key] = f
            heapq.heappush(heap, (-f, -lp, next(tie), node, key))

        expandable = [tree.root]
        while True:
            if tree.out_of_budget(cfg.limits):
                break
            expandable = [n for n in expandable if n.depth < depth_limit]
            if expandable:
                children = yield Expand(expandable, cfg.k)
                new = [c for group in children for c in group]
                if new:
                    scores = yield Score(new)
                    name = scorer_name(new)
                    for c, s in zip(new, scores):
                        if s > cfg.prune:
                            push(c, name)
            popped: list[Node] = []
            while heap and len(popped) < cfg.parallel:
                entry = heapq.heappop(heap)
                neg_f, _, _, node, key = entry
                if node.terminal:
                    if not popped:
                        tree.choose(node)  # the best open state is a finished path: A* is done
                        return
                    heapq.heappush(heap, entry)
                    break  # expand what was popped first; this goal waits at the top
                if key is not None and best_f[key] != -neg_f:
                    continue  # a better path to the same state was pushed after this one
                popped.append(node)
            if not popped:
                break  # nothing left to open
            expandable = popped
        if goals:  # anytime: the best finished path found so far
            tree.choose(max(goals, key=lambda t: (t[0], t[1]))[2])


@hookimpl
def qstar_register_searches(register):
    register("a-star", AStar, AStarConfig)

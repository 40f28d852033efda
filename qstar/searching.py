"""What the built-in searches share: ranking nodes by their scores, keeping one path per task
state, and the answered leaves a search may return.

A search returns only a finished path that states an answer (``terminal`` and ``answer`` set), or
nothing: never an unfinished candidate. When it stops at a limit (:class:`qstar.tree.Limits`), it
returns the best answered leaf it has found so far and the result's ``stopped`` names the limit.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from qstar.engine import AGGREGATES, Tree
from qstar.errors import QstarError
from qstar.protocols import Expand, Score
from qstar.tree import Limits, Node

RANKS = ("last", "path")


def scorer_name(nodes: Iterable[Node]) -> str | None:
    """The name of the scorer that scored these nodes (the first one found), or None."""
    for n in nodes:
        if n.scores:
            return next(iter(n.scores))
    return None


def score_of(tree: Tree, node: Node, name: str | None, rank: str = "last") -> float:
    """``last``: the node's own score; ``path``: its path's step scores folded by the scorer's
    aggregate (a PRM's min, say)."""
    if name is None:
        return 0.0
    return tree.path_score(node, scorer=name) if rank == "path" else node.scores.get(name, 0.0)


def rank_key(tree: Tree, node: Node, name: str | None, rank: str = "last") -> tuple[float, float]:
    """Sort key: the score, then the path's log-probability under the policy (ties go to the
    policy's own preference)."""
    return (score_of(tree, node, name, rank), tree.path_logprob(node))


def best(tree: Tree, nodes: list[Node], rank: str = "last") -> Node | None:
    name = scorer_name(nodes)
    return max(nodes, key=lambda n: rank_key(tree, n, name, rank), default=None)


def answered(nodes: Iterable[Node]) -> list[Node]:
    """The finished nodes that state an answer (a dead end or an unparsable step is not one)."""
    return [n for n in nodes if n.terminal and n.answer is not None]


def distinct_states(tree: Tree, ranked: list[Node], merge: bool = True) -> list[Node]:
    """``ranked`` with every node whose task state (``task.state_key``) an earlier node already
    holds left out; unchanged when the task has no state key or ``merge`` is off."""
    state_key = getattr(tree.task, "state_key", None)
    if not merge or state_key is None:
        return ranked
    seen, out = set(), []
    for n in ranked:
        key = state_key(tree.problem, tree.steps(n))
        if key not in seen:
            seen.add(key)
            out.append(n)
    return out


def keep_best_per_depth(
    tree: Tree, *, width: int, k: int, first_k: int, depth_limit: int, prune: float, rank: str, merge_states: bool, limits: Limits
):
    """The level-by-level search behind ``tot-bfs`` and ``beam`` (a generator: use ``yield from``):
    expand every node of the frontier (``first_k`` proposals at the root, ``k`` after), score the
    candidates, drop those scoring <= ``prune``, collect the answered finished ones, and keep the
    ``width`` best open ones (one per task state when ``merge_states``) as the next frontier.
    Stops at the depth limit, an empty frontier or a limit; returns the answered finished nodes."""
    frontier: list[Node] = [tree.root]
    finished: list[Node] = []
    for depth in range(depth_limit):
        if not frontier or tree.out_of_budget(limits):
            break
        children = yield Expand(frontier, first_k if depth == 0 else k)
        candidates = [c for group in children for c in group]
        if not candidates:
            break
        scores = yield Score(candidates)
        kept = [c for c, s in zip(candidates, scores) if s > prune]
        finished += answered(kept)  # an answer, not a dead end
        name = scorer_name(candidates)
        ranked = sorted((c for c in kept if not c.terminal), key=lambda n: rank_key(tree, n, name, rank), reverse=True)
        frontier = distinct_states(tree, ranked, merge_states)[:width]
    return finished


def check_positive(name: str, value: float) -> None:
    if value <= 0:
        raise QstarError(f"{name}={value}: must be a positive number")


def check_depth(value: int) -> None:
    if value < 0:
        raise QstarError(f"search.max_depth={value}: use 0 (the task's depth) or a positive depth")


def check_rank(value: str) -> None:
    if value not in RANKS:
        raise QstarError(f"search.rank={value!r}: choose last or path")


def check_aggregate(value: str) -> None:
    if value != "auto" and value not in AGGREGATES:
        raise QstarError(f"search.aggregate={value!r}: choose auto or one of {', '.join(AGGREGATES)}")


# --------------------------------------------------------------------------------- best-of-n selection

SELECTIONS = ("max", "majority", "weighted")


def check_selection(value: str) -> None:
    if value not in SELECTIONS:
        raise QstarError(f"search.select={value!r}: choose max, majority or weighted")


def select(tree: Tree, leaves: Sequence[Node], how: str, aggregate: str | None = None, scorer: str | None = None) -> Node | None:
    """The leaf best-of-n picks among ``leaves`` (their steps already scored unless ``how`` is
    ``majority``); also used to replay selections offline on subsets of one set of samples."""
    pool = finished = answered(leaves)
    if not pool:
        return None  # never an unfinished path
    lp = {leaf.id: tree.path_logprob(leaf) for leaf in pool}
    if how == "majority" or how == "weighted":
        votes: dict[str, float] = defaultdict(float)
        for leaf in finished:
            votes[leaf.answer] += 1.0 if how == "majority" else tree.path_score(leaf, aggregate, scorer)
        top = max(votes.values())
        pool = [leaf for leaf in finished if votes[leaf.answer] == top]
        return max(pool, key=lambda n: lp[n.id])
    return max(pool, key=lambda n: (tree.path_score(n, aggregate, scorer), lp[n.id]))

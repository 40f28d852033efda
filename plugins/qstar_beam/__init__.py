"""Searches ``beam`` and ``dvts``: step-level search guided by a step scorer, as compared at equal
compute by Snell et al. (2024, "Scaling LLM Test-Time Compute Optimally can be More Effective than
Scaling Model Parameters", Sec. 5.2) and Beeching et al. (2024, "Scaling test-time compute with
open models": diverse verifier tree search).

``beam``: sample ``beams × k`` first steps, keep the ``beams`` best by the scorer; then expand each
kept beam with ``k`` proposals, score the candidates and keep the ``beams`` best again, until every
path has finished or the depth is reached. Every finished, answered candidate is collected; the
answer is picked among them by ``select`` (best-of-n's rules: Snell et al. pick the final answer by
weighted best-of-N). Two paths that reach the same task state take one beam, not two (a small
sampled policy often proposes the same move twice).

``dvts``: the ``subtrees`` independent searches of DVTS: each starts at the root with its own
samples and at every depth continues from the best of its ``k`` proposals (a beam of one), so the
budget is spread over many different first steps instead of the few a shared beam keeps. The
answer is picked among the subtrees' finished paths by ``select``.

Deviation (both): proposals that are exact duplicates of a sibling are merged by the engine, so a
beam may get fewer than ``k`` distinct candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar import hookimpl
from qstar.engine import Tree
from qstar.protocols import Expand, Score
from qstar.searching import (
    answered,
    check_aggregate,
    check_depth,
    check_positive,
    check_rank,
    check_selection,
    keep_best_per_depth,
    rank_key,
    scorer_name,
    select,
)
from qstar.tree import Limits, Node


def _pick(tree: Tree, finished: list[Node], how: str, aggregate: str) -> None:
    tree.choose(select(tree, finished, how, None if aggregate == "auto" else aggregate))


@dataclass
class BeamConfig:
    name: str = "beam"  # the registered name: search=beam
    beams: int = 4  # N: paths kept at every depth
    k: int = 4  # M: proposals per kept path (the first step samples beams × k)
    max_depth: int = 0  # 0 = the task's max_depth
    prune: float = 0.0  # drop candidates scoring <= prune (a rule verifier's illegal step)
    rank: str = "last"  # last: a candidate's own score (Snell et al.'s PRM "last"); path: its path's steps folded by the scorer's aggregate
    merge_states: bool = True  # keep one path per task state (task.state_key)
    select: str = "weighted"  # the answer among finished paths: max | majority | weighted
    aggregate: str = "auto"  # path score for select: min | prod | mean | last; auto = the scorer's own
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        check_positive("search.beams", self.beams)
        check_positive("search.k", self.k)
        check_depth(self.max_depth)
        check_rank(self.rank)
        check_selection(self.select)
        check_aggregate(self.aggregate)


class Beam:
    name = "beam"
    needs_scorer = True

    def __init__(self, cfg: BeamConfig):
        self.cfg = cfg

    def run(self, tree: Tree):
        cfg = self.cfg
        finished = yield from keep_best_per_depth(  # N initial samples (beams × k), then M = k per beam
            tree,
            width=cfg.beams,
            k=cfg.k,
            first_k=cfg.k * cfg.beams,
            depth_limit=cfg.max_depth or tree.task.max_depth,
            prune=cfg.prune,
            rank=cfg.rank,
            merge_states=cfg.merge_states,
            limits=cfg.limits,
        )
        _pick(tree, finished, cfg.select, cfg.aggregate)


@dataclass
class DVTSConfig:
    name: str = "dvts"  # the registered name: search=dvts
    subtrees: int = 4  # N/M independent subtrees
    k: int = 4  # M: proposals per subtree per step
    max_depth: int = 0  # 0 = the task's max_depth
    prune: float = 0.0  # drop candidates scoring <= prune
    rank: str = "last"  # last | path, as in beam
    select: str = "weighted"  # the answer among the subtrees' finished paths: max | majority | weighted
    aggregate: str = "auto"  # path score for select; auto = the scorer's own
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        check_positive("search.subtrees", self.subtrees)
        check_positive("search.k", self.k)
        check_depth(self.max_depth)
        check_rank(self.rank)
        check_selection(self.select)
        check_aggregate(self.aggregate)


class DVTS:
    name = "dvts"
    needs_scorer = True

    def __init__(self, cfg: DVTSConfig):
        self.cfg = cfg

    def run(self, tree: Tree):
        cfg = self.cfg
        depth_limit = cfg.max_depth or tree.task.max_depth
        heads, finished = [tree.root] * cfg.subtrees, []  # each subtree's current node (its own samples)
        for _ in range(depth_limit):
            if not heads or tree.out_of_budget(cfg.limits):
                break
            children = yield Expand(heads, cfg.k)
            flat = [c for group in children for c in group]
            if not flat:
                break
            yield Score(flat)
            name = scorer_name(flat)
            nxt = []
            for group in children:
                alive = [c for c in group if c.scores.get(name, 0.0) > cfg.prune]
                top = max(alive, key=lambda n: rank_key(tree, n, name, cfg.rank), default=None)
                if top is None:
                    continue  # this subtree is finished without an answer
                if top.terminal:
                    finished += answered([top])
                else:
                    nxt.append(top)
            heads = nxt
        _pick(tree, finished, cfg.select, cfg.aggregate)


@hookimpl
def qstar_register_searches(register):
    register("beam", Beam, BeamConfig)
    register("dvts", DVTS, DVTSConfig)

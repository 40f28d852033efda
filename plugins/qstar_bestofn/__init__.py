"""Search ``best-of-n``: sample ``n`` whole solutions and pick one.

``select=max`` takes the path with the best aggregated step score (best-of-N with a verifier or
reward model, Cobbe et al., 2021; Lightman et al., 2023); ``select=majority`` takes the most
frequent final answer (self-consistency, Wang et al., 2023); ``select=weighted`` sums the path
scores of each answer (weighted majority, Li et al., 2023 / Uesato et al., 2022). Ties go to the
higher path log-probability. Only finished paths that state an answer are candidates: with none,
the search returns no answer rather than an unfinished path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar import hookimpl
from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.protocols import Rollout, Score
from qstar.searching import SELECTIONS, check_aggregate, check_selection, select  # noqa: F401 - shared with beam and compare
from qstar.tree import Limits, Node


@dataclass
class BestOfNConfig:
    name: str = "best-of-n"  # the registered name: search=best-of-n
    n: int = 16  # whole samples per problem
    select: str = "max"  # max | majority | weighted
    aggregate: str = "auto"  # path score from step scores: min | prod | mean | last; auto = the scorer's own (prm: min, orm: last)
    chunk: int = 0  # samples per request (0 = all n in one request); limits are checked between chunks
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        if self.n <= 0:
            raise QstarError(f"search.n={self.n}: must be a positive number of samples")
        if self.chunk < 0:
            raise QstarError(f"search.chunk={self.chunk}: use 0 (all n at once) or a positive number of samples")
        check_selection(self.select)
        check_aggregate(self.aggregate)


class BestOfN:
    name = "best-of-n"

    def __init__(self, cfg: BestOfNConfig):
        self.cfg = cfg
        self.needs_scorer = cfg.select != "majority"

    def run(self, tree: Tree):
        leaves: list[Node] = []
        chunk = self.cfg.chunk or self.cfg.n
        while len(leaves) < self.cfg.n and not tree.out_of_budget(self.cfg.limits):
            (got,) = yield Rollout([tree.root], min(chunk, self.cfg.n - len(leaves)))
            leaves += got
        if not leaves:
            return
        if self.cfg.select != "majority":
            steps = [n for leaf in leaves for n in tree.path(leaf)[1:]]
            yield Score(list({n.id: n for n in steps}.values()))
        aggregate = None if self.cfg.aggregate == "auto" else self.cfg.aggregate
        tree.choose(select(tree, leaves, self.cfg.select, aggregate))


@hookimpl
def qstar_register_searches(register):
    register("best-of-n", BestOfN, BestOfNConfig)

"""Search ``best-of-n``: sample ``n`` whole solutions and pick one.

``select=score`` takes the path with the best aggregated step score (best-of-N with a verifier
or reward model, Cobbe et al., 2021); ``select=majority`` takes the most frequent final answer
(self-consistency, Wang et al., 2023); ``select=weighted`` sums the path scores of each answer
(weighted majority, as in Li et al., 2023 / Uesato et al., 2022). Ties go to the higher
path log-probability.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from qstar import hookimpl
from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.protocols import Rollout, Score

AGGREGATES = {
    "last": lambda xs: xs[-1],
    "min": min,
    "mean": lambda xs: sum(xs) / len(xs),
    "prod": math.prod,
}


@dataclass
class BestOfNConfig:
    name: str = "best-of-n"  # the registered name: search=best-of-n
    n: int = 16  # whole samples per problem
    select: str = "score"  # score | majority | weighted
    aggregate: str = "min"  # path score from step scores: min | prod | mean | last

    def __post_init__(self):
        if self.n <= 0:
            raise QstarError(f"search.n={self.n}: must be a positive number of samples")
        if self.select not in ("score", "majority", "weighted"):
            raise QstarError(f"search.select={self.select!r}: choose score, majority or weighted")
        if self.aggregate not in AGGREGATES:
            raise QstarError(f"search.aggregate={self.aggregate!r}: choose one of {', '.join(AGGREGATES)}")


class BestOfN:
    name = "best-of-n"

    def __init__(self, cfg: BestOfNConfig):
        self.cfg = cfg
        self.needs_scorer = cfg.select != "majority"

    def run(self, tree: Tree):
        (leaves,) = yield Rollout([tree.root], self.cfg.n)
        if not leaves:
            return
        path_score = {}
        if self.cfg.select != "majority":
            steps = [n for leaf in leaves for n in tree.path(leaf)[1:]]
            unique = list({n.id: n for n in steps}.values())
            yield Score(unique)
            agg = AGGREGATES[self.cfg.aggregate]
            for leaf in leaves:
                scores = [next(iter(n.scores.values()), 0.0) for n in tree.path(leaf)[1:]]
                path_score[leaf.id] = agg(scores) if scores else 0.0
        lp = {leaf.id: tree.path_logprob(leaf) for leaf in leaves}
        if self.cfg.select == "score":
            tree.choose(max(leaves, key=lambda n: (path_score[n.id], lp[n.id])))
            return
        votes: dict[str, float] = defaultdict(float)
        for leaf in leaves:
            if leaf.answer is not None:
                votes[leaf.answer] += 1.0 if self.cfg.select == "majority" else path_score[leaf.id]
        if not votes:
            tree.choose(max(leaves, key=lambda n: lp[n.id]))
            return
        top = max(votes.values())
        winners = [leaf for leaf in leaves if leaf.answer is not None and votes[leaf.answer] == top]
        tree.choose(max(winners, key=lambda n: lp[n.id]))


@hookimpl
def qstar_register_searches(register):
    register("best-of-n", BestOfN, BestOfNConfig)

"""Search ``greedy-restart``: greedy descent on the scorer with restarts.

From the root, expand the current node (``k`` proposals), score the children and step to the best
one, until a terminal step. A terminal judged right (score ≥ ``accept``) ends the search; a wrong
terminal or a node with no live child is a failure, and the next attempt restarts from the best
not-yet-tried sibling seen so far (a best-first fallback), at most ``restarts`` times. The answer
is the best-scoring terminal reached.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.protocols import Expand, Score


@dataclass
class GreedyRestartConfig:
    name: str = "greedy-restart"  # the registered search name
    k: int = 8  # proposals sampled per expansion
    restarts: int = 4  # attempts after the first greedy descent fails
    accept: float = 1.0  # a terminal scoring at least this ends the search
    prune: float = 0.0  # children scoring at or below this are never stepped to

    def __post_init__(self):
        if self.k < 1 or self.restarts < 0:
            raise QstarError(f"search.k={self.k}, search.restarts={self.restarts}: need k ≥ 1 and restarts ≥ 0")


class GreedyRestart:
    name = "greedy-restart"
    needs_scorer = True  # qstar refuses `~scorer` with this search before loading a model

    def __init__(self, cfg: GreedyRestartConfig):
        self.cfg = cfg

    def run(self, tree: Tree):
        untried: list[tuple[float, int]] = []  # (-score, node id): siblings passed over, best first
        terminals, node = [], tree.root
        for _ in range(self.cfg.restarts + 1):
            while node is not None and not node.terminal:
                # An expansion may return fewer than k children: duplicate samples are merged.
                (children,) = yield Expand([node], self.cfg.k)
                scores = (yield Score(children)) if children else []
                live = sorted(
                    ((s, c) for s, c in zip(scores, children) if s > self.cfg.prune),
                    key=lambda sc: (-sc[0], -tree.path_logprob(sc[1])),
                )
                terminals += [(s, c) for s, c in live if c.terminal]
                if any(s >= self.cfg.accept for s, c in live if c.terminal):
                    break
                for s, c in live[1:]:
                    if not c.terminal:
                        heapq.heappush(untried, (-s, c.id))
                node = live[0][1] if live else None
            if any(s >= self.cfg.accept for s, _ in terminals) or not untried:
                break
            node = tree.nodes[heapq.heappop(untried)[1]]
        best = max(terminals, key=lambda sc: (sc[0], tree.path_logprob(sc[1])), default=None)
        tree.choose(best[1] if best else None)

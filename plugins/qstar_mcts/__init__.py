"""Search ``mcts``: Monte-Carlo tree search with PUCT selection (Silver et al., 2017, "Mastering
the game of Go without human knowledge", AlphaZero's variant), the policy's step probabilities as
priors and a scorer as the value function, as in LLM tree search (Feng et al., 2023, "Alphazero-like
Tree-Search can Guide Large Language Model Decoding and Training").

One simulation: from the root, repeatedly take the child maximising

    Q(s, a) + c_puct · P(s, a) · sqrt(N(s)) / (1 + N(s, a))

down to a leaf (a node not yet expanded, or a finished path). The leaf's value v is the scorer's
score of it (a PRM's estimate that the path still reaches a right answer; the verifier's rule or
exact judgement). A non-finished leaf is expanded: ``k`` proposals, their distinct steps become its
children with priors P ∝ exp(log-prob of the step) (the policy's probabilities renormalised over
what was sampled), and the children are scored so each has a value when it is reached. Then v is
backed up: every node on the path gets one more visit and its value becomes the mean of the values
backed up through it.

Batching: each request selects ``batch`` leaves, adding a virtual loss (``virtual_loss`` extra
visits of value 0) along each selected path, so the next selection in the batch goes elsewhere
(Chaslot et al., 2008, "Parallel Monte-Carlo Tree Search"); the leaves are expanded in one model
call and scored in one scorer call, then the virtual losses are removed and the real values backed
up.

The answer: follow the most-visited child from the root; if that ends on a finished path with an
answer, it is chosen, otherwise the answered finished path with the most visits (then the highest
value). A search never returns an unfinished path; at a limit it returns the best so far.

Deviation: an unvisited child's Q is its parent's current value (first-play urgency, as in Leela
Zero) instead of AlphaZero's 0: with values in [0, 1], Q = 0 would make every unvisited move look
like a certain loss next to a visited one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from qstar import hookimpl
from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.protocols import Expand, Score
from qstar.searching import check_depth, check_positive, scorer_name
from qstar.tree import Limits, Node


@dataclass
class MCTSConfig:
    name: str = "mcts"  # the registered name: search=mcts
    simulations: int = 32  # selection → expansion → backup rounds (root visits at the end)
    k: int = 8  # proposals when a leaf is expanded
    c_puct: float = 1.0  # exploration weight of the prior term
    batch: int = 4  # leaves selected per request (virtual loss spreads them)
    virtual_loss: float = 1.0  # extra visits of value 0 on a selected path until its value is backed up
    max_depth: int = 0  # 0 = the task's max_depth
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        check_positive("search.simulations", self.simulations)
        check_positive("search.k", self.k)
        check_positive("search.batch", self.batch)
        check_depth(self.max_depth)
        if self.c_puct < 0:
            raise QstarError(f"search.c_puct={self.c_puct}: use a non-negative exploration weight")
        if self.virtual_loss < 0:
            raise QstarError(f"search.virtual_loss={self.virtual_loss}: use 0 (off) or a positive number of visits")


class MCTS:
    name = "mcts"
    needs_scorer = True

    def __init__(self, cfg: MCTSConfig):
        self.cfg = cfg

    def run(self, tree: Tree):
        cfg = self.cfg
        depth_limit = cfg.max_depth or tree.task.max_depth
        prior: dict[int, float] = {}
        expanded: set[int] = set()
        virtual: dict[int, float] = defaultdict(float)  # node id → pending virtual visits
        done = 0

        def q(node: Node, parent: Node) -> float:
            n = node.visits + virtual[node.id]
            if n == 0:
                return parent.value  # first-play urgency: the parent's value
            return node.value * node.visits / n  # virtual visits count as losses (value 0)

        def leaf_path() -> list[Node]:
            path = [tree.root]
            node = tree.root
            while node.id in expanded and tree.children[node.id]:
                total = max(
                    node.visits + virtual[node.id], 1
                )  # the root's expansion counts as its first visit, so priors decide the first pick
                kids = tree.kids(node)
                node = max(
                    kids,
                    key=lambda c: (
                        q(c, node) + cfg.c_puct * prior[c.id] * math.sqrt(total) / (1 + c.visits + virtual[c.id]),
                        prior[c.id],
                        -c.id,
                    ),
                )
                path.append(node)
            return path

        def expand_requests(leaves: list[Node]):
            grow = [n for n in leaves if not n.terminal and n.depth < depth_limit and n.id not in expanded]
            grow = list({n.id: n for n in grow}.values())
            if not grow:
                return
            children = yield Expand(grow, cfg.k)
            for node, group in zip(grow, children):
                expanded.add(node.id)
                if group:
                    top = max(c.logprob for c in group)
                    weights = [math.exp(c.logprob - top) for c in group]
                    for c, w in zip(group, weights):
                        prior[c.id] = w / sum(weights)
            new = [c for group in children for c in group]
            if new:
                yield Score(new)

        # The root is expanded first (it has no value of its own: no step to score).
        yield from expand_requests([tree.root])
        name = scorer_name(tree.kids(tree.root))
        while done < cfg.simulations and tree.children[tree.root.id] and not tree.out_of_budget(cfg.limits):
            paths = []
            for _ in range(min(cfg.batch, cfg.simulations - done)):
                path = leaf_path()
                for n in path:
                    virtual[n.id] += cfg.virtual_loss
                paths.append(path)
            yield from expand_requests([p[-1] for p in paths])
            for path in paths:
                v = path[-1].scores.get(name, 0.0)
                for n in path:
                    virtual[n.id] -= cfg.virtual_loss
                    n.value += (v - n.value) / (n.visits + 1)  # running mean of the values backed up
                    n.visits += 1
            done += len(paths)
        tree.choose(self._answer(tree))

    @staticmethod
    def _answer(tree: Tree) -> Node | None:
        node = tree.root
        while tree.children[node.id]:
            node = max(tree.kids(node), key=lambda c: (c.visits, c.value, c.logprob))
            if node.visits == 0:
                break
        if node.terminal and node.answer is not None:
            return node
        finished = [n for n in tree.nodes if n.terminal and n.answer is not None]  # reached, or only proposed
        return max(finished, key=lambda n: (n.visits, n.value, max(n.scores.values(), default=0.0)), default=None)


@hookimpl
def qstar_register_searches(register):
    register("mcts", MCTS, MCTSConfig)

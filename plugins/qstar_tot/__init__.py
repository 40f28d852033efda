"""Tree-of-Thoughts searches (Yao et al., 2023, "Tree of Thoughts: Deliberate Problem Solving with
Large Language Models"): ``tot-bfs`` (Algorithm 1) and ``dfs`` (Algorithm 2).

Deviations from the paper. Both searches: a state is kept only if its score is above ``prune``
(a rule verifier's 0 means "illegal", and keeping an illegal state can never help), and equal
scores are ordered by the path's log-probability under the policy, so the policy's own
preference breaks the ties a coarse value (sure/likely/impossible, or a verifier) leaves.
BFS: two paths that reach the same state (``task.state_key``, e.g. the same numbers left) take one
of the ``breadth`` slots, not two — the paper's GPT-4 proposals rarely collide, a small sampled
policy's often do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar import hookimpl
from qstar.engine import Tree
from qstar.protocols import Expand, Score
from qstar.searching import answered, best, check_depth, check_positive, check_rank, keep_best_per_depth, rank_key, scorer_name
from qstar.tree import Limits


@dataclass
class TotBFSConfig:
    name: str = "tot-bfs"  # the registered name: search=tot-bfs
    breadth: int = 5  # b: states kept per depth (the paper's b = 5 for Game of 24)
    k: int = 40  # proposals sampled per state: a 2M-parameter policy needs many samples to cover
    # the few moves that still lead to 24 (the paper's GPT-4 lists them in one proposal prompt)
    max_depth: int = 0  # 0 = the task's max_depth
    prune: float = 0.0  # drop states scoring <= prune
    merge_states: bool = True  # keep one path per task state (task.state_key), so b slots hold b states
    rank: str = "last"  # last: a state's own score (the paper's value); path: its path's steps folded by the scorer's aggregate (PRM: min)
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        check_rank(self.rank)
        check_positive("search.breadth", self.breadth)
        check_positive("search.k", self.k)
        check_depth(self.max_depth)


class TotBFS:
    """Algorithm 1: at each depth expand every state of the frontier, score all candidates,
    keep the ``breadth`` best. The answer is the best-scoring terminal state reached."""

    name = "tot-bfs"
    needs_scorer = True

    def __init__(self, cfg: TotBFSConfig):
        self.cfg = cfg
        self.prunes_at = ("search.prune", cfg.prune)

    def run(self, tree: Tree):
        cfg = self.cfg
        finished = yield from keep_best_per_depth(
            tree,
            width=cfg.breadth,
            k=cfg.k,
            first_k=cfg.k,
            depth_limit=cfg.max_depth or tree.task.max_depth,
            prune=cfg.prune,
            rank=cfg.rank,
            merge_states=cfg.merge_states,
            limits=cfg.limits,
        )
        tree.choose(best(tree, finished, cfg.rank))


@dataclass
class DFSConfig:
    name: str = "dfs"  # the registered name: search=dfs
    k: int = 5  # proposals per state
    threshold: float = 0.0  # v_th: children scoring <= threshold are pruned (backtrack)
    accept: float = 1.0  # stop at the first terminal state scoring >= accept
    max_expansions: int = 100  # T: the step budget of the paper's DFS
    max_depth: int = 0  # 0 = the task's max_depth
    limits: Limits = field(default_factory=Limits)  # per-problem budget: generated_tokens, expansions, wall_time (0 = none)

    def __post_init__(self):
        check_positive("search.k", self.k)
        check_positive("search.max_expansions", self.max_expansions)
        check_depth(self.max_depth)


class DFS:
    """Algorithm 2: expand the most promising child first, prune children scoring at or below
    ``threshold`` and backtrack; stop at an accepted terminal state or after ``max_expansions``."""

    name = "dfs"
    needs_scorer = True

    def __init__(self, cfg: DFSConfig):
        self.cfg = cfg
        self.prunes_at = ("search.threshold", cfg.threshold)

    def run(self, tree: Tree):
        depth_limit = self.cfg.max_depth or tree.task.max_depth
        stack, expansions, terminals = [tree.root], 0, []
        while stack and expansions < self.cfg.max_expansions and not tree.out_of_budget(self.cfg.limits):
            node = stack.pop()
            if node.depth >= depth_limit:
                continue
            (children,) = yield Expand([node], self.cfg.k)
            expansions += 1
            if not children:
                continue
            scores = yield Score(children)
            name = scorer_name(children)
            alive = [c for c, s in zip(children, scores) if s > self.cfg.threshold]
            done = answered(alive)
            terminals += done
            accepted = [c for c in done if c.scores.get(name, 0.0) >= self.cfg.accept]
            if accepted:
                tree.choose(best(tree, accepted))
                return
            # push worst first so the best child is expanded next
            stack += sorted((c for c in alive if not c.terminal), key=lambda n: rank_key(tree, n, name))
        tree.choose(best(tree, answered(terminals)))


@hookimpl
def qstar_register_searches(register):
    register("tot-bfs", TotBFS, TotBFSConfig)
    register("dfs", DFS, DFSConfig)

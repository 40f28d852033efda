"""Labelers: step labels for searched trees, from AI feedback (process supervision without humans).

``mc-rollout`` follows Math-Shepherd (Wang et al., 2024, "Math-Shepherd: Verify and Reinforce LLMs
Step-by-step without Human Annotations", Sec. 3.2): from every step prefix, ``n`` completions are
rolled out by a policy; the soft label is the fraction whose final answer is right, the hard
label whether any is (their "hard estimation"). A terminal step needs no rollout: its label is
the task's final-answer check, and an illegal step's label is 0. Rollouts of every step of every
tree in flight go through the engine's batched calls, never a model call per step.

``verifier`` is the task's exact judgement (Game of 24: can 24 still be reached after this step):
the analogue of human gold labels, for *evaluating* reward models, never for training the
bundled one.
"""

from __future__ import annotations

from dataclasses import dataclass

from qstar import hookimpl
from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.labels import exact_label, perturb, records  # noqa: F401 - the label format lives in the core
from qstar.labels import verdict as _verdict
from qstar.protocols import Rollout
from qstar.seeding import stable_int


@dataclass
class MCRolloutConfig:
    name: str = "mc-rollout"  # the registered name: labeler=mc-rollout
    n: int = 8  # rollouts per step prefix (Math-Shepherd uses 8)
    max_paths: int = 0  # label the steps of at most this many root-to-leaf paths per tree (answered ones first); 0 = every path

    def __post_init__(self):
        if self.n < 1:
            raise QstarError(f"labeler.n={self.n}: must be at least 1 rollout per step")
        if self.max_paths < 0:
            raise QstarError(f"labeler.max_paths={self.max_paths}: use 0 (every path) or a positive number of paths per tree")


class MCRolloutLabeler:
    name = "mc-rollout"
    needs_policy = True  # its rollouts need the expander

    def __init__(self, cfg: MCRolloutConfig, task):
        self.cfg, self.task = cfg, task

    def run(self, tree: Tree):
        open_ = []
        for node in chosen_nodes(tree, self.cfg.max_paths):
            verdict = _verdict(tree, node)
            if not verdict.valid:
                tree.labels[node.id] = 0.0
            elif node.terminal:
                tree.labels[node.id] = 1.0 if self.task.is_correct(tree.problem, node.answer) else 0.0
            else:
                open_.append(node)
        if open_:
            leaves = yield Rollout(open_, self.cfg.n)
            for node, group in zip(open_, leaves):
                right = sum(self.task.is_correct(tree.problem, leaf.answer) for leaf in group)
                tree.labels[node.id] = right / len(group) if group else 0.0
        tree.choose(None)


@dataclass
class VerifierLabelConfig:
    name: str = "verifier"  # the registered name: labeler=verifier (exact: an oracle, for evaluation)


class VerifierLabeler:
    name = "verifier"
    needs_policy = False  # `qstar label` loads no model for it

    def __init__(self, cfg: VerifierLabelConfig, task):
        self.cfg, self.task = cfg, task
        if not hasattr(task, "solvable"):
            raise QstarError(f"labeler=verifier needs a task that can judge reachability; {task.name!r} cannot")

    def run(self, tree: Tree):
        for node in tree.nodes[1:]:
            tree.labels[node.id] = exact_label(self.task, tree, node)
        tree.choose(None)
        return
        yield  # a generator that needs no model call


def chosen_nodes(tree: Tree, max_paths: int) -> list:
    """The nodes on at most ``max_paths`` root-to-leaf paths of the tree (every node when 0): the
    leaves that state an answer first, then the others in an order fixed by the problem and node
    ids. A PRM trains on a sample of a large tree's paths; labelling the rest is wasted rollouts."""
    nodes = tree.nodes[1:]
    if not max_paths:
        return nodes
    parents = {n.parent for n in nodes}
    leaves = sorted((n for n in nodes if n.id not in parents), key=lambda n: (not n.terminal, stable_int(f"{tree.problem.id}/{n.id}")))
    keep: set[int] = set()
    for leaf in leaves[:max_paths]:
        keep.update(n.id for n in tree.path(leaf)[1:])
    return [n for n in nodes if n.id in keep]


@hookimpl
def qstar_register_labelers(register):
    register("mc-rollout", MCRolloutLabeler, MCRolloutConfig)
    register("verifier", VerifierLabeler, VerifierLabelConfig)

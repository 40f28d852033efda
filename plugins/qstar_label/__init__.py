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

import dataclasses
import random
from dataclasses import asdict, dataclass
from typing import Any

from qstar import hookimpl
from qstar.engine import Tree, stable_int
from qstar.errors import QstarError
from qstar.protocols import Rollout


@dataclass
class MCRolloutConfig:
    name: str = "mc-rollout"  # the registered name: labeler=mc-rollout
    n: int = 8  # rollouts per step prefix (Math-Shepherd uses 8)

    def __post_init__(self):
        if self.n < 1:
            raise QstarError(f"labeler.n={self.n}: must be at least 1 rollout per step")


def _verdict(tree: Tree, node):
    """The task's own check of a step, redone from its text: a tree searched in the learned
    setting records only whether each step parsed, never whether it was legal."""
    steps = tree.steps(node)
    return tree.task.check_step(tree.problem, steps[:-1], steps[-1])


def exact_label(task, tree: Tree, node) -> float:
    """The task's exact judgement of a step: 0 when illegal or a dead end, the final-answer check
    for a finished path, else whether the goal can still be reached (an oracle: for evaluation)."""
    verdict = _verdict(tree, node)
    if not verdict.valid or verdict.dead_end:
        return 0.0
    if node.terminal:
        return 1.0 if task.is_correct(tree.problem, node.answer) else 0.0
    return 1.0 if task.solvable(tree.problem, tree.steps(node)) else 0.0


class MCRolloutLabeler:
    name = "mc-rollout"
    needs_policy = True  # its rollouts need the expander

    def __init__(self, cfg: MCRolloutConfig, task):
        self.cfg, self.task = cfg, task

    def run(self, tree: Tree):
        open_ = []
        for node in tree.nodes[1:]:
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


def perturb(result, task, segmenter, k: int):
    """The searched tree with ``k`` perturbed siblings beside each of its legal steps: the task's
    ``perturb_step`` writes a plausible mistake (Game of 24: wrong arithmetic, a number that is not
    left, a wrong ``left:`` list), appended after the searched nodes, so ids from
    ``len(result.nodes)`` on are perturbations: more, and more varied, wrong steps for a reward
    model than the policy's own samples give. They are labelled by the labeler like any step, so
    an illegal one gets 0 from the rules, never from a look-ahead. (On the Game of 24 they did not
    teach the 2M-parameter PRM to catch the policy's own mistakes on new puzzles: see the
    README.) Seeded by the problem id: a rerun or resume adds the same siblings."""
    tree = Tree.from_result(result, task, segmenter)  # (qstar label refuses a task without perturb_step first)
    rng = random.Random(stable_int(f"perturb\x00{result.problem.id}"))
    for node in list(tree.nodes[1:]):
        steps = tree.steps(node)
        if not task.check_step(result.problem, steps[:-1], steps[-1]).valid:
            continue
        parent = tree.nodes[node.parent]
        taken = {tree.nodes[i].step for i in tree.children[parent.id]}
        for _ in range(k):
            for _attempt in range(4):  # a few draws for a sibling not already there
                step = task.perturb_step(result.problem, steps[:-1], steps[-1], rng)
                if step is not None and step not in taken:
                    taken.add(step)
                    tree.add(parent, step)
                    break
    return dataclasses.replace(result, nodes=tree.nodes)


def records(tree: Tree, original_size: int, labeler_cfg: Any, searched: int | None = None) -> list[dict[str, Any]]:
    """TRL's stepwise-supervision records, one per leaf of the searched tree (rollout nodes
    excluded): ``prompt``, ``completions`` (the steps), ``labels`` (hard: any rollout right), with
    the soft labels, node ids, problem id and labeler config alongside. ``searched``: node ids
    from it on are perturbations (``perturb``), flagged per step in ``perturbed``."""
    ids = range(1, original_size)
    has_child = {tree.nodes[i].parent for i in ids}
    leaves = [i for i in ids if i not in has_child]
    out = []
    for index, i in enumerate(leaves):
        path = [n for n in tree.path(tree.nodes[i])[1:]]
        soft = [tree.labels[n.id] for n in path]
        out.append(
            {
                "prompt": tree.task.prompt(tree.problem),
                "completions": [n.step for n in path],
                "labels": [s > 0 for s in soft],
                "soft_labels": soft,
                "problem_id": tree.problem.id,
                "node_ids": [n.id for n in path],
                "labeler": asdict(labeler_cfg) if labeler_cfg is not None else {},
                "path_index": index,  # this record is path `path_index` of the tree's `paths`
                "paths": len(leaves),
            }
        )
        if searched is not None:
            out[-1]["perturbed"] = [n.id >= searched for n in path]
    return out


@hookimpl
def qstar_register_labelers(register):
    register("mc-rollout", MCRolloutLabeler, MCRolloutConfig)
    register("verifier", VerifierLabeler, VerifierLabelConfig)

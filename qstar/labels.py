"""The step-label format, next to the tree format: TRL's stepwise-supervision records that
``qstar label`` writes and the PRM, DPO and ILQL trainers read, and the exact step judgement
used to evaluate reward models.

A record is one path of a searched tree: ``prompt``, ``completions`` (the step texts),
``labels`` (hard, booleans), ``soft_labels`` (Math-Shepherd's soft estimate in [0, 1]),
``node_ids``, ``problem_id``, ``labeler`` (its config), ``path_index`` and ``paths``; with
``qstar label perturb=k`` also ``perturbed`` (one flag per step).
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.seeding import stable_int


def verdict(tree: Tree, node):
    """The task's own check of a step, redone from its text: a tree searched in the learned
    setting records only whether each step parsed, never whether it was legal."""
    steps = tree.steps(node)
    return tree.task.check_step(tree.problem, steps[:-1], steps[-1])


def exact_label(task, tree: Tree, node) -> float:
    """The task's exact judgement of a step: 0 when illegal or a dead end, the final-answer check
    for a finished path, else whether the goal can still be reached (an oracle: for evaluation)."""
    verdict_ = verdict(tree, node)
    if not verdict_.valid or verdict_.dead_end:
        return 0.0
    if node.terminal:
        return 1.0 if task.is_correct(tree.problem, node.answer) else 0.0
    return 1.0 if task.solvable(tree.problem, tree.steps(node)) else 0.0


def perturb(result, task, segmenter, k: int):
    """The searched tree with ``k`` perturbed siblings beside each of its legal steps: the task's
    ``perturb_step`` writes a plausible mistake (Game of 24: wrong arithmetic, a number that is not
    left, a wrong ``left:`` list), appended after the searched nodes, so ids from
    ``len(result.nodes)`` on are perturbations: more, and more varied, wrong steps for a reward
    model than the policy's own samples give. They are labelled by the labeler like any step, so
    an illegal one gets 0 from the rules, never from a look-ahead. Seeded by the problem id: a rerun or resume adds the same siblings."""
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


def read_label_records(path: str | Path) -> list[dict]:
    """Every record of a ``labels.jsonl`` written by ``qstar label`` (the DPO and ILQL trainers' reader)."""
    path = Path(path)
    if not path.is_file():
        raise QstarError(f"data file {path} does not exist: pass data=<labels.jsonl written by qstar label>")
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise QstarError(f"{path}:{n}: not JSON; pass data=<labels.jsonl written by qstar label>") from None
        if not {"prompt", "completions", "soft_labels", "node_ids", "problem_id"} <= set(r):
            raise QstarError(
                f"{path}:{n}: not a step-label record (needs prompt, completions, soft_labels, node_ids, problem_id): write it with qstar label"
            )
        records.append(r)
    if not records:
        raise QstarError(f"data file {path} holds no step labels: pass data=<labels.jsonl written by qstar label>")
    return records

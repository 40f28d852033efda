"""The step-label format, next to the tree format: TRL's stepwise-supervision records that
``qstar label`` writes and the PRM, DPO and ILQL trainers read, and the exact step judgement
used to evaluate reward models.

A record is one path of a searched tree: ``prompt``, ``completions`` (the step texts),
``labels`` (hard, booleans), ``soft_labels`` (Math-Shepherd's soft estimate in [0, 1]),
``node_ids``, ``problem_id``, ``labeler`` (its config), ``path_index`` and ``paths``; for a task
that knows its states (``state_key``) also ``states``: per step, the state it leaves as text (JSON
of the task's key), or null for an illegal step, a dead end or an answer, so a PRM trainer can pool
the labels of one state (``optimizer.pool_states``); with ``qstar label perturb=k`` also
``perturbed`` (one flag per step).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from qstar.engine import Tree
from qstar.errors import QstarError
from qstar.seeding import stable_int
from qstar.tree import MAX_STEP_CHARS, DataError


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


def step_state(tree: Tree, node) -> str | None:
    """The state a step leaves, as text (the task's ``state_key`` as JSON, numbers that are not
    JSON numbers as their text): equal texts mean the same state. None for an illegal step, a
    dead end or an answer: the rules and the answer check judge those, not the state."""
    verdict_ = verdict(tree, node)
    if not verdict_.valid or verdict_.dead_end or verdict_.terminal:
        return None
    key = tree.task.state_key(tree.problem, tree.steps(node))
    return None if key is None else json.dumps(key, default=str)


def records(tree: Tree, original_size: int, labeler_cfg: Any, searched: int | None = None) -> list[dict[str, Any]]:
    """TRL's stepwise-supervision records, one per leaf of the searched tree (rollout nodes
    excluded): ``prompt``, ``completions`` (the steps), ``labels`` (hard: any rollout right), with
    the soft labels, node ids, problem id and labeler config alongside. ``searched``: node ids
    from it on are perturbations (``perturb``), flagged per step in ``perturbed``."""
    ids = range(1, original_size)
    has_child = {tree.nodes[i].parent for i in ids}
    # a labeler may label a sample of the paths (labeler.max_paths): a leaf whose path it left unlabelled has no record
    leaves = [i for i in ids if i not in has_child and all(n.id in tree.labels for n in tree.path(tree.nodes[i])[1:])]
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
        if callable(getattr(tree.task, "state_key", None)):
            out[-1]["states"] = [step_state(tree, n) for n in path]
        if searched is not None:
            out[-1]["perturbed"] = [n.id >= searched for n in path]
    return out


def iter_label_lines(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) of every non-blank line of a stepwise JSONL file: UTF-8, one JSON
    object a line; anything else is a :class:`DataError` naming ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise QstarError(f"data file {path} does not exist: pass data=<labels.jsonl written by qstar label>")
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{n}: not UTF-8; write the labels as UTF-8 JSON Lines") from None
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not JSON ({e.msg}); expected one stepwise record per line") from None
            if not isinstance(r, dict):
                raise DataError(f"{path}:{n}: a stepwise record is a JSON object, not {type(r).__name__}")
            yield n, r


def _unit(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and 0 <= x <= 1


def check_record(r: dict, where: str, qstar: bool = True) -> None:
    """Check one stepwise record (TRL's ``prompt``, ``completions``, ``labels``; with ``qstar``
    also ``soft_labels``, ``node_ids`` and ``problem_id`` as ``qstar label`` writes them): types,
    one label per step, labels in [0, 1]. ``where`` is ``file:line`` for the message."""
    # qstar's trainers read the soft labels and node ids (the hard labels are TRL's, derived from them)
    needed = ("prompt", "completions", "soft_labels", "node_ids", "problem_id") if qstar else ("prompt", "completions", "labels")
    if any(k not in r for k in needed):
        if qstar:
            raise DataError(f"{where}: not a step-label record (needs {', '.join(needed)}): write it with qstar label")
        raise DataError(f'{where}: a stepwise record needs "prompt", "completions" and "labels"')
    if not isinstance(r["prompt"], str):
        raise DataError(f'{where}: "prompt" must be text, not {type(r["prompt"]).__name__}')
    steps = r["completions"]
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise DataError(f'{where}: "completions" must be a list of step texts')
    long = next((i for i, s in enumerate(steps) if len(s) > MAX_STEP_CHARS), None)
    if long is not None:
        raise DataError(f"{where}: step {long} is {len(steps[long]):,} characters, more than any step qstar writes ({MAX_STEP_CHARS:,})")
    for key, ok in (("labels", lambda x: isinstance(x, bool) or _unit(x)), ("soft_labels", _unit), ("node_ids", lambda x: type(x) is int)):
        if key not in r or (key == "soft_labels" and r[key] is None and not qstar):
            continue
        value = r[key]
        if not isinstance(value, list) or len(value) != len(steps):
            raise DataError(f'{where}: "{key}" must be a list with one entry per step of "completions" ({len(steps)}): one label each')
        if not all(ok(x) for x in value):
            if key == "node_ids":
                raise DataError(f'{where}: "node_ids" must hold integers')
            raise DataError(f"{where}: {key} must lie in [0, 1] (booleans or numbers)")
    states = r.get("states")
    if states is not None and (not isinstance(states, list) or len(states) != len(steps)):
        raise DataError(
            f'{where}: "states" must be a list with one entry per step of "completions" ({len(steps)}): the state each step leaves'
        )
    if states is not None and not all(x is None or isinstance(x, str) for x in states):
        raise DataError(f'{where}: "states" must hold text (the state a step leaves) or null')
    if "problem_id" in r and (not isinstance(r["problem_id"], (str, int)) or isinstance(r["problem_id"], bool)):
        raise DataError(f'{where}: "problem_id" must be text')


def read_label_records(path: str | Path) -> list[dict]:
    """Every record of a ``labels.jsonl`` written by ``qstar label`` (the DPO and ILQL trainers'
    reader), each checked by :func:`check_record`."""
    records = []
    for n, r in iter_label_lines(path):
        check_record(r, f"{path}:{n}")
        records.append(r)
    if not records:
        raise QstarError(f"data file {path} holds no step labels: pass data=<labels.jsonl written by qstar label>")
    return records

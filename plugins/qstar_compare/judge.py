"""``qstar judge``: a reward model measured against the task's exact step labels, the field's way —
step AUROC and ProcessBench's first-error F1 (:mod:`qstar.metrics`). Evaluation only: the exact
labels are the task's look-ahead (Game of 24: can 24 still be reached after this step), which no
training stage ever reads.

``data=`` is a trees file (``qstar search``/``eval`` wrote it). Every step of every tree is scored
by ``scorer`` in its path context (one batched call); the AUROC is over those steps, the
first-error F1 over the tree's finished solutions (every distinct path that ends in an answer),
at ``threshold=`` or else the PRM's own operating point (chosen on the validation part of its
training labels when it was trained, never on what it is judged on) or else 0.5. Writes
``judge.json`` in ``out_dir``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig

from qstar.config import check_problem_selection
from qstar.engine import Tree, score_steps
from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.labels import exact_label
from qstar.metrics import auroc, first_error_f1
from qstar.plugins import Registry, make_plugin_manager
from qstar.runs import console, load_trees, output_dir


@dataclass
class JudgeConfig:
    task: Any = MISSING  # the task whose exact labels are the reference (task=<name>)
    segmenter: Any = MISSING  # what a step is (segmenter=<name>)
    scorer: Any = MISSING  # the judge under test (scorer=prm scorer.model=<dir>)
    data: Optional[str] = None  # trees.jsonl written by qstar search or eval
    threshold: Optional[float] = None  # below it a step is called wrong (first-error F1); null: the PRM's own (config.json), else 0.5
    limit: int = 0  # first N trees; 0 = all
    out_dir: Optional[str] = None  # judge.json; default: Hydra's run directory

    def __post_init__(self):
        check_problem_selection(self.limit, 1)
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise QstarError(f"threshold={self.threshold}: a score in (0, 1) below which a step is called wrong")


def judge(cfg: DictConfig, registry: Registry | None = None) -> dict[str, Any]:
    if not cfg.data:
        raise QstarError("qstar judge needs data=<trees.jsonl written by qstar search or eval>")
    registry = registry or Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    if not hasattr(task, "solvable"):
        raise QstarError(f"qstar judge measures against exact step labels; task {task.name!r} cannot judge reachability")
    segmenter = registry.build("segmenter", cfg.segmenter)
    results = load_trees(cfg.data)
    if cfg.limit:
        results = results[: cfg.limit]
    out = output_dir(cfg, "judge")
    scorer = registry.build("scorer", cfg.scorer, task)
    if cfg.threshold is not None:
        threshold, source = cfg.threshold, "threshold="
    elif getattr(scorer, "threshold", None) is not None:  # a PRM's own operating point, from its validation labels
        threshold, source = scorer.threshold, "the model's own"
    else:
        threshold, source = 0.5, "default"
    trees = [Tree.from_result(r, task, segmenter) for r in results]
    steps = [(t, n) for t in trees for n in t.nodes[1:]]
    scores = dict(zip(((id(t), n.id) for t, n in steps), score_steps(scorer, steps)))
    gold = {(id(t), n.id): exact_label(task, t, n) > 0 for t, n in steps}
    solutions, seen = [], set()
    for t in trees:
        for n in t.nodes[1:]:
            if not n.terminal or n.answer is None:
                continue
            ids = _path_ids(t, n)
            key = (t.problem.id, tuple(t.nodes[i].step for i in ids))
            if key in seen:
                continue
            seen.add(key)
            solutions.append(([scores[(id(t), i)] for i in ids], [gold[(id(t), i)] for i in ids]))
    legal = [bool(task.check_step(t.problem, t.steps(n)[:-1], n.step).valid) for t, n in steps]
    summary = {
        "data": str(cfg.data),
        "scorer": scorer.name,
        "trees": len(trees),
        "steps": len(steps),
        "step_auroc": auroc([scores[k] for k in gold], list(gold.values())),
        "first_error": {
            **first_error_f1(solutions, threshold),
            "threshold": threshold,
            "threshold_from": source,
            "solutions": len(solutions),
        },
        "reference": "exact step labels (the task's look-ahead): evaluation only",
        "legal_share": sum(legal) / len(legal) if legal else None,  # the policy's steps the task's rules accept
    }
    atomic_write_text(out / "judge.json", json.dumps(summary, indent=2) + "\n")
    fe = summary["first_error"]
    shown = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    console.print(
        f"{scorer.name} vs exact step labels: step AUROC {shown(summary['step_auroc'])} ({len(steps)} steps); "
        f"first-error F1 {shown(fe['f1'])} at threshold {threshold:.3g} ({source}; "
        f"accuracy {shown(fe['error_accuracy'])} on {fe['with_error']} solutions with an error, "
        f"{shown(fe['correct_accuracy'])} on {fe['without_error']} without)"
    )
    if legal:
        console.print(f"legal steps (the task's rules): {summary['legal_share']:.1%} of {len(legal)}")
    console.print(f"judge: {Path(out) / 'judge.json'}")
    return summary


def _path_ids(tree: Tree, node) -> list[int]:
    """The ids of the steps from the root's child down to ``node``."""
    ids = []
    while node.parent is not None:
        ids.append(node.id)
        node = tree.nodes[node.parent]
    return ids[::-1]

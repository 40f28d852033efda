"""The ``qstar compare`` command (a plugin of its own, registered through ``qstar_register_commands``):
the comparison of Lightman et al. (2023, "Let's Verify Step by Step", Fig. 3)
on a task split, in the *learned* setting.

Best-of-n as in the paper: ``max(ns)`` whole solutions are sampled per problem once, and each
n uses the first n of them (the paper subsamples one large pool the same way), selected by
majority vote, by the ORM (max, weighted) and by the PRM (max, weighted). The generated tokens
of a best-of-n row are those of its n samples. A step-level search (``tree_search``, default
``tot-bfs``) guided by the same PRM is run beside it. Nothing of the task's judgement reaches a
selection or the search; the task grades the chosen answers afterwards.

The reward models are also measured against the task's exact step labels (the verifier: an
oracle, used here only to evaluate): the PRM's step AUROC on every step the tree search judged,
and PRM and ORM AUROC on the finished samples (the steps where an ORM applies).

Outputs in ``out_dir``: ``samples.jsonl`` and ``<tree_search>.jsonl`` (trees, resumable),
``compare.json`` (every figure), ``compare.png`` (solve rate against generated tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from rich.table import Table

from qstar import hookimpl
from qstar.config import CommonConfig, check_problem_selection
from qstar.engine import Engine, Tree, score_steps
from qstar.errors import QstarError
from qstar.files import atomic_write_text, save_png
from qstar.labels import exact_label
from qstar.metrics import auroc
from qstar.plugins import Registry, make_plugin_manager
from qstar.runs import console, output_dir, progress, select_problems
from qstar.searching import select
from qstar.tree import ResultWriter, SearchResult

SELECTIONS = (  # (label, selection, scorer)
    ("majority", "majority", None),
    ("ORM max", "max", "orm"),
    ("ORM weighted", "weighted", "orm"),
    ("PRM max", "max", "prm"),
    ("PRM weighted", "weighted", "prm"),
)


def _searched(engine: Engine, search, problems, path: Path, progress) -> list[SearchResult]:
    with ResultWriter(path) as writer:
        todo = [p for p in problems if p.id not in writer.done]
        engine.run(search, todo, on_result=lambda r: (writer.write(r), progress()))
        return [writer.done[p.id] for p in problems]


def _plot(rows: list[dict[str, Any]], ns: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, _, _ in SELECTIONS:
        pts = [(r["generated_tokens_per_problem"], 100 * r["solve_rate"]) for r in rows if r["method"] == label]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"best-of-n, {label}")
    for r in rows:
        if r["n"] is None:
            ax.scatter(
                [r["generated_tokens_per_problem"]], [100 * r["solve_rate"]], marker="*", s=160, color="black", zorder=3, label=r["method"]
            )
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per problem (log scale; n = " + ", ".join(map(str, ns)) + ")")
    ax.set_ylabel("% solved")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path)


@dataclass
class CompareConfig(CommonConfig):
    expander: Any = MISSING  # the policy that samples solutions and proposes steps (expander=<name>)
    prm: Any = MISSING  # the process reward model, a scorer config (scorer@prm=<name>)
    orm: Any = MISSING  # the outcome reward model, a scorer config (scorer@orm=<name>)
    tree_search: Any = None  # the step-level search guided by the PRM (search@tree_search=<name>); null = none
    split: str = "test"  # the task split to compare on
    limit: int = 0  # first N problems of the split; 0 = all
    every: int = 1  # keep every Nth problem of the split, before limit
    ns: list = field(
        default_factory=lambda: [1, 4, 16, 64]
    )  # best-of-n sample counts (the largest is sampled, smaller ones use its first n)
    batch_problems: int = 16  # problems in lock-step, their requests batched together
    out_dir: Optional[str] = None  # samples, trees, compare.json and compare.png; default: Hydra's run directory
    progress: bool = True  # show progress bars

    def __post_init__(self):
        check_problem_selection(self.limit, self.every)
        if not self.ns or not all(isinstance(n, int) and n >= 1 for n in self.ns):
            raise QstarError(f"ns={self.ns}: list sample counts of at least 1, as in ns=[1,4,16,64]")
        if self.batch_problems < 1:
            raise QstarError(f"batch_problems={self.batch_problems}: must be at least 1")


def compare(cfg: DictConfig, registry: Registry | None = None) -> dict[str, Any]:
    if not cfg.ns or any(int(n) < 1 for n in cfg.ns):
        raise QstarError(f"ns={list(cfg.ns)}: list sample counts of at least 1, as in ns=[1,4,16,64]")
    ns = sorted({int(n) for n in cfg.ns})
    out = output_dir(cfg, "compare")
    registry = registry or Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    segmenter = registry.build("segmenter", cfg.segmenter)
    prm = registry.build("scorer", cfg.prm, task)
    orm = registry.build("scorer", cfg.orm, task)
    if prm.name == orm.name:
        raise QstarError(f"prm and orm are both scorer {prm.name!r}: give them different names (prm.name=prm orm.name=orm)")
    tree_search = registry.build("search", cfg.tree_search) if cfg.get("tree_search") else None
    expander = registry.build("expander", cfg.expander, cfg.model, segmenter)
    problems = select_problems(task, cfg)

    hook = registry.pm.hook
    rows: list[dict[str, Any]] = []
    with progress() as bar:
        step = bar.add_task(f"best-of-{ns[-1]} samples", total=len(problems), visible=cfg.progress)
        sampler = Engine(task, segmenter, expander, None, hook=hook, batch_problems=cfg.batch_problems, setting="learned")
        best_of_n = registry.build("search", {"name": "best-of-n", "n": ns[-1], "select": "majority"})
        samples = _searched(sampler, best_of_n, problems, out / "samples.jsonl", lambda: bar.advance(step))
        if tree_search is not None:
            step = bar.add_task(f"{tree_search.name} + {prm.name}", total=len(problems), visible=cfg.progress)
            engine = Engine(task, segmenter, expander, prm, hook=hook, batch_problems=cfg.batch_problems, setting="learned")
            searched = _searched(engine, tree_search, problems, out / f"{tree_search.name}.jsonl", lambda: bar.advance(step))

    # Score every step of every sample with both reward models (one batched call each).
    trees = [Tree.from_result(r, task, segmenter) for r in samples]
    leaves = [[t.nodes[i] for i in _leaf_ids(t)] for t in trees]
    steps = [(t, n) for t in trees for n in t.nodes[1:]]
    for scorer in (prm, orm):
        for (_, node), v in zip(steps, score_steps(scorer, steps)):
            node.scores[scorer.name] = v
    aggregate = {prm.name: prm.aggregate, orm.name: orm.aggregate}
    names = {"prm": prm.name, "orm": orm.name}
    for n in ns:
        for label, how, which in SELECTIONS:
            scorer = names.get(which) if which else None
            solved, tokens = 0, 0
            for tree, ls in zip(trees, leaves):
                pool = ls[:n]
                chosen = select(tree, pool, how, aggregate.get(scorer), scorer)
                solved += bool(chosen is not None and task.is_correct(tree.problem, chosen.answer))
                tokens += sum(leaf.num_tokens for leaf in pool)
            rows.append(_row(label, n, solved, len(trees), tokens / max(len(trees), 1)))
    if tree_search is not None:
        solved = sum(bool(r.correct) for r in searched)
        gen = sum(r.budget.generated_tokens for r in searched) / max(len(searched), 1)
        rows.append(_row(f"{tree_search.name} + {prm.name}", None, solved, len(searched), gen))

    # The reward models against the task's exact step labels (evaluation only).
    gold_of = _gold(task)
    aurocs: dict[str, Any] = {}
    if tree_search is not None:
        judged = [(t, n) for t in (Tree.from_result(r, task, segmenter) for r in searched) for n in t.nodes[1:] if prm.name in n.scores]
        aurocs["prm_steps_of_tree_search"] = {
            "auroc": auroc([n.scores[prm.name] for _, n in judged], [gold_of(t, n) for t, n in judged]),
            "steps": len(judged),
        }
    finished = [(t, leaf) for t, ls in zip(trees, leaves) for leaf in ls if leaf.terminal]
    gold = [gold_of(t, leaf) for t, leaf in finished]
    for key, name in names.items():
        aurocs[f"{key}_finished_samples"] = {"auroc": auroc([leaf.scores[name] for _, leaf in finished], gold), "steps": len(finished)}
    all_steps_gold = [gold_of(t, n) for t, n in steps]
    aurocs["prm_steps_of_samples"] = {"auroc": auroc([n.scores[prm.name] for _, n in steps], all_steps_gold), "steps": len(steps)}

    title = f"{task.name}/{cfg.split}, learned setting ({len(problems)} problems)"
    table = Table(title=title)
    for col in ("method", "n", "solved", "rate", "gen tokens / problem"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["method"],
            "" if r["n"] is None else str(r["n"]),
            f"{r['solved']}/{r['problems']}",
            f"{r['solve_rate']:.1%}",
            f"{r['generated_tokens_per_problem']:.0f}",
        )
    console.print(table)
    for key, v in aurocs.items():
        shown = "n/a (one class)" if v["auroc"] is None else f"{v['auroc']:.3f}"
        console.print(f"AUROC vs exact step labels, {key.replace('_', ' ')}: {shown} ({v['steps']} steps)")
    summary = {
        "setting": "learned",
        "split": cfg.split,
        "problems": len(problems),
        "rows": rows,
        "auroc": aurocs,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    atomic_write_text(out / "compare.json", json.dumps(summary, indent=2) + "\n")
    _plot(rows, ns, out / "compare.png", title)
    console.print(f"results: {out / 'compare.json'}, plot: {out / 'compare.png'}")
    return summary


def _row(method: str, n: int | None, solved: int, problems: int, tokens: float) -> dict[str, Any]:
    return {
        "method": method,
        "n": n,
        "solved": solved,
        "problems": problems,
        "solve_rate": solved / max(problems, 1),
        "generated_tokens_per_problem": tokens,
    }


def _leaf_ids(tree: Tree) -> list[int]:
    """The samples' leaves, in sampling order (each rollout is its own chain under the root)."""
    parents = {n.parent for n in tree.nodes[1:]}
    return [n.id for n in tree.nodes[1:] if n.id not in parents]


def _gold(task):
    """The task's exact label of a step (re-judged from its text: a tree searched in the learned
    setting stores only whether each step parsed), as a boolean."""
    if not hasattr(task, "solvable"):
        raise QstarError(f"qstar compare measures reward models against exact step labels; task {task.name!r} cannot judge reachability")
    return lambda tree, node: exact_label(task, tree, node) > 0


@hookimpl
def qstar_register_commands(register):
    register(
        "compare",
        compare,
        CompareConfig,
        help="best-of-n (majority, ORM, PRM) against PRM-guided search, learned setting (Lightman et al.): table, JSON, PNG",
    )
    from .judge import JudgeConfig, judge

    register(
        "judge",
        judge,
        JudgeConfig,
        help="a reward model against exact step labels (evaluation only): step AUROC and ProcessBench's first-error F1",
    )


@hookimpl
def qstar_config_searchpath():
    return "pkg://qstar_compare.conf"

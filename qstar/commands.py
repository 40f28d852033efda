"""The built-in commands: the work behind each, as a plain function of a composed config (tests
call them directly), registered through ``qstar_register_commands`` like any plugin's command.

Each takes ``(cfg, registry=None)``: the CLI hands in the registry it built once; a script may
leave it out. The helpers the commands share (console, progress, output directories, problem
selection, building a search) are in :mod:`qstar.runs`.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.table import Table
from rich.tree import Tree as RichTree

from qstar import hookimpl
from qstar import view as page
from qstar.comparison import run as run_comparison
from qstar.config import SCHEMAS
from qstar.engine import Engine
from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.labels import perturb, records
from qstar.merge import merge as merge_shards
from qstar.plugins import KINDS, Registry, make_plugin_manager
from qstar.runs import (  # noqa: F401
    TREES,
    Components,
    build,
    check_scorer,
    check_settings,
    console,
    load_trees,
    output_dir,
    progress,
    search_split,
    select_problems,
    settings_of_run,
    summarize,
)
from qstar.shards import in_shard, parse_shard, write_manifest
from qstar.tracking import open_tracker
from qstar.training import TrainContext, TrainerConfig, check_available
from qstar.tree import RecordWriter, ResultWriter, SearchResult

# --------------------------------------------------------------------------------- solve


def render_tree(tree_result: SearchResult, max_children: int = 6) -> RichTree:
    nodes = {n.id: n for n in tree_result.nodes}
    kids: dict[int, list] = {}
    for n in tree_result.nodes:
        if n.parent is not None:
            kids.setdefault(n.parent, []).append(n)
    chosen = set(tree_result.path)

    def label(n):
        score = " ".join(f"{k}={v:.2f}" for k, v in n.scores.items())
        if n.visits:  # MCTS statistics
            score += f" visits={n.visits} value={n.value:.2f}"
        text = n.step if n.parent is not None else tree_result.problem.question
        style = "bold green" if n.id in chosen else ("" if n.valid else "dim red")
        return f"[{style}]{text}[/]  [dim]{score}[/]" if style else f"{text}  [dim]{score}[/]"

    def add(widget, n):
        children = kids.get(n.id, [])
        shown = [c for c in children if c.valid or c.id in chosen]
        shown.sort(key=lambda c: (c.id not in chosen, -max(c.scores.values(), default=0.0)))
        for c in shown[:max_children]:
            add(widget.add(label(c)), c)
        hidden = len(children) - min(len(shown), max_children)
        if hidden:  # at the root too: a tree whose first steps were all invalid says so
            widget.add(f"[dim]… {hidden} more ({len(children) - len(shown)} invalid)[/]")

    top = RichTree(label(nodes[0]))
    add(top, nodes[0])
    return top


def path_line(result: SearchResult) -> str:
    """The chosen path on one line: steps joined by `` | `` (a step's own line breaks, as the
    newline before ``Answer:``, folded to spaces)."""
    return " | ".join(" ".join(s.split()) for s in result.path_steps()) or "(no answer)"


def budget_line(result: SearchResult, setting: str) -> str:
    b = result.budget
    return (
        f"budget: {b.expansions} expansions, {b.generated_tokens} generated tokens, "
        f"{b.prompt_tokens} prompt tokens, {b.scorer_calls} scorer calls, {b.wall_time:.2f}s, {setting} setting"
        + (f" (stopped at its {result.stopped} limit)" if result.stopped else "")
    )


def solve(cfg: DictConfig, registry: Registry | None = None) -> SearchResult:
    registry = registry or Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    problem = task.parse_problem(cfg.problem)  # bad input fails before the model loads
    c = build(cfg, registry, task)
    result = c.engine.solve(c.search, problem)
    if cfg.show_tree:
        console.print(render_tree(result))
    status = "correct" if result.correct else ("wrong" if result.answer else "no answer")
    console.print(f"[bold]{problem.question}[/] → {path_line(result)}", soft_wrap=True)
    console.print(f"answer: {result.answer}  ({status})")
    console.print(budget_line(result, c.engine.setting), soft_wrap=True)
    return result


# --------------------------------------------------------------------------------- search / eval


def search(cfg: DictConfig, registry: Registry | None = None, components: Components | None = None) -> list[SearchResult]:
    """``qstar search``: search every problem of ``cfg.split`` into ``<out_dir>/trees.jsonl``
    (resumable; see :func:`qstar.runs.search_split`), and ``results.json``: the solve rate, the
    budget and which problems' trees hold a right path (``covered``)."""
    registry = registry or (components.registry if components else Registry(make_plugin_manager()))
    results = search_split(cfg, components, registry)
    task = components.task if components else registry.build("task", cfg.task)
    summary = {**summarize(results, task), "config": OmegaConf.to_container(cfg, resolve=True)}
    atomic_write_text(output_dir(cfg, "search") / "results.json", json.dumps(summary, indent=2) + "\n")
    return results


def eval(cfg: DictConfig, registry: Registry | None = None) -> dict[str, Any]:  # noqa: A001 - the command's name
    if cfg.get("comparison") is not None:
        return run_comparison(cfg, registry)
    started = time.perf_counter()
    # the settings are checked before any model loads; an unreachable tracking store fails now, not after the search
    with settings_of_run(output_dir(cfg, "eval"), "search", cfg, work=(TREES,)):
        tracker = open_tracker(cfg.get("tracking"), output_dir(cfg, "eval"))
        c = build(cfg, registry)
        results = search_split(cfg, c)
    summary = summarize(results)
    summary["setting"] = c.engine.setting
    summary["elapsed"] = time.perf_counter() - started
    summary["config"] = OmegaConf.to_container(cfg, resolve=True)
    out = output_dir(cfg, "eval")
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    tracker.params(summary["config"])
    tracker.metrics({f"eval/{k}": v for k, v in summary.items()})
    tracker.close()

    scorer = cfg.scorer.name if cfg.get("scorer") else "no scorer"
    table = Table(title=f"{cfg.task.name}/{cfg.split}: {cfg.search.name} + {scorer}, {c.engine.setting} setting (per problem)")
    for col in ("solved", "rate", "gen tokens", "prompt tokens", "expansions", "scorer calls", "wall s"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{summary['solved']}/{summary['problems']}",
        f"{summary['solve_rate']:.1%}",
        f"{summary['generated_tokens_per_problem']:.0f}",
        f"{summary['prompt_tokens_per_problem']:.0f}",
        f"{summary['expansions_per_problem']:.1f}",
        f"{summary['scorer_calls_per_problem']:.1f}",
        f"{summary['wall_time_per_problem']:.2f}",
    )
    console.print(table)
    console.print(
        f"budget per problem: {summary['expansions_per_problem']:.1f} expansions, {summary['generated_tokens_per_problem']:.0f} generated tokens, "
        f"{summary['prompt_tokens_per_problem']:.0f} prompt tokens, {summary['scorer_calls_per_problem']:.1f} scorer calls, "
        f"{summary['wall_time_per_problem']:.2f}s, {c.engine.setting} setting",
        soft_wrap=True,
    )
    console.print(f"results: {out / 'results.json'}")
    return summary


# --------------------------------------------------------------------------------- label


def label(cfg: DictConfig, registry: Registry | None = None) -> Path:
    """Label every step of the trees in ``cfg.data``; TRL stepwise records go to
    ``<out_dir>/labels.jsonl`` one problem at a time, and a rerun skips the problems done."""
    if not cfg.data:
        raise QstarError("qstar label needs data=<trees.jsonl written by qstar search>")
    results = load_trees(cfg.data)
    if cfg.limit:
        results = results[: cfg.limit]
    out = output_dir(cfg, "label")
    with settings_of_run(out, "label", cfg, work=("labels.jsonl", "rollouts.jsonl")):
        return _label(cfg, registry, results, out)


def _label(cfg: DictConfig, registry: Registry | None, results: list, out: Path) -> Path:
    if cfg.get("shard"):
        write_manifest(out, "label", cfg, [r.problem.id for r in results])
        shard = parse_shard(cfg.shard)
        results = [r for r in results if in_shard(r.problem.id, shard)]
    registry = registry or Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    if cfg.perturb and not hasattr(task, "perturb_step"):
        raise QstarError(f"perturb={cfg.perturb}: task {task.name!r} has no perturb_step; use perturb=0")
    segmenter = registry.build("segmenter", cfg.segmenter)
    comp, labeler_cfg = registry.config("labeler", cfg.labeler)
    labeler = comp.factory(labeler_cfg, task)
    searched = {r.problem.id: len(r.nodes) for r in results}
    if cfg.perturb:
        results = [perturb(r, task, segmenter, cfg.perturb) for r in results]
    # rollouts=true: the grown trees too, each written before its labels (a tree with labels has its rollouts)
    grown = ResultWriter(out / "rollouts.jsonl") if cfg.get("rollouts") else contextlib.nullcontext()
    with RecordWriter(out / "labels.jsonl") as writer, grown as grown_writer:
        todo = [r for r in results if r.problem.id not in writer.done]
        if len(todo) < len(results):
            console.print(f"resuming: {len(results) - len(todo)} of {len(results)} trees already in {writer.path}")
        needs_model = getattr(labeler, "needs_policy", True) and todo
        expander = registry.build("expander", cfg.expander, cfg.model, segmenter) if needs_model else None
        engine = Engine(task, segmenter, expander, None, hook=registry.pm.hook, batch_problems=cfg.batch_problems)
        sizes = {r.problem.id: len(r.nodes) for r in todo}
        budget = {"expansions": 0, "generated_tokens": 0, "prompt_tokens": 0}
        # budget.json: what labelling the problems in labels.jsonl spent, kept with them one
        # problem at a time, so a resumed run adds to what the interrupted one recorded
        spent_file = out / "budget.json"
        spent = json.loads(spent_file.read_text()) if spent_file.exists() and writer.done else {}

        def done(tree):
            if grown_writer is not None and tree.problem.id not in grown_writer.done:
                grown_writer.write(tree.result(comp.name))  # its budget: what labelling the tree spent
            for key in budget:
                budget[key] += getattr(tree.budget, key)
                spent[key] = spent.get(key, 0) + getattr(tree.budget, key)
            writer.write(
                tree.problem.id, records(tree, sizes[tree.problem.id], labeler_cfg, searched[tree.problem.id] if cfg.perturb else None)
            )
            atomic_write_text(spent_file, json.dumps(spent) + "\n")
            bar.advance(task_id)

        with progress() as bar:
            task_id = bar.add_task(f"{comp.name} labels", total=len(results), completed=len(results) - len(todo), visible=cfg.progress)
            engine.label(labeler, todo, on_tree=done)
    console.print(
        f"labels: {out / 'labels.jsonl'} ({budget['expansions']} rollout prompts, "
        f"{budget['generated_tokens']} generated tokens, {budget['prompt_tokens']} prompt tokens)"
    )
    return out / "labels.jsonl"


# --------------------------------------------------------------------------------- train


def train(cfg: DictConfig, registry: Registry | None = None) -> Path:
    registry = registry or Registry(make_plugin_manager())
    optimizer = registry.build("optimizer", cfg.optimizer)
    if cfg.data and optimizer.data_kind == "trees":  # the whole file, before any model is built
        load_trees(cfg.data, unique=False)  # training may join several searches of a problem (qstar loop's rounds)
    task = registry.build("task", cfg.task)
    segmenter = registry.build("segmenter", cfg.segmenter)
    if cfg.resume and not cfg.get("out_dir"):
        raise QstarError("resume=true needs out_dir=<the run directory to continue>")
    # the trainer's settings are checked before the run directory and its settings.json are written:
    # a bad trainer.* value leaves nothing behind, from the command line or from Python
    trainer_cfg = TrainerConfig(**OmegaConf.to_container(cfg.trainer, resolve=True))
    check_available(trainer_cfg)  # before any Lightning output: a missing device is one line
    out = output_dir(cfg, "train")
    if cfg.resume and not (out / "checkpoints" / "last.ckpt").exists():
        raise QstarError(f"resume=true but {out / 'checkpoints' / 'last.ckpt'} does not exist: run once without resume first")
    if not cfg.resume and (out / "checkpoints" / "last.ckpt").exists():
        raise QstarError(
            f"out_dir={out} holds a training run (checkpoints/last.ckpt): add resume=true to continue it, or pick another out_dir"
        )
    # a resumed run may train longer, or elsewhere; a run refused before any training (no data=,
    # a bad data file) leaves no settings.json to refuse the corrected rerun
    with settings_of_run(out, "train", cfg, work=("checkpoints",), ignore=("out_dir", "resume", "trainer")):
        ctx = TrainContext(
            task=task,
            segmenter=segmenter,
            model=cfg.model,
            trainer=trainer_cfg,
            out_dir=out,
            resume=cfg.resume,
            seed=cfg.seed,
            data=cfg.data,
            split=cfg.split,
            val_split=cfg.val_split,
            config=OmegaConf.to_container(cfg, resolve=True),
        )
        exported = optimizer.fit(ctx)
    console.print(f"model: {exported}")
    return exported


# --------------------------------------------------------------------------------- view


def view(cfg: DictConfig, registry: Registry | None = None) -> Path:
    """Write the trees of ``cfg.data`` as one self-contained HTML page (see :mod:`qstar.view`)."""
    if not cfg.data:
        raise QstarError("qstar view needs a trees file: qstar view runs/<run>/trees.jsonl (or data=<file>)")
    results = load_trees(cfg.data)
    out = Path(cfg.out) if cfg.out else Path(cfg.data).with_suffix(".html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise QstarError(f"out={out}: the page is HTML; name it <something>.html")
    if out.resolve() == Path(cfg.data).resolve():  # a data file named *.html: the page would replace the trees
        raise QstarError(f"the page would overwrite its own data file {cfg.data}: pass out=<another name>.html")
    try:
        page.write(results, out, title=f"qstar trees: {Path(cfg.data).name}")
    except OSError as e:
        raise QstarError(f"cannot write out={out} ({e.strerror}): pick a writable path") from None
    console.print(f"page: {out} ({len(results)} trees; open it in a browser, it needs no network)")
    return out


# --------------------------------------------------------------------------------- plugins


def plugins(cfg: DictConfig, registry: Registry | None = None) -> Registry:
    registry = registry or Registry(make_plugin_manager())
    table = Table(title="qstar plugins")
    for col in ("kind", "name", "from"):
        table.add_column(col)
    for name, command in registry.commands.items():
        table.add_row("command", name, command.source)
    for kind in KINDS:
        for name in registry.names(kind):
            table.add_row(kind, name, registry.get(kind, name).source)
    console.print(table)
    return registry


def merge(cfg: DictConfig, registry: Registry | None = None) -> Path:
    """Join the outputs of ``shard=i/n`` runs (see :mod:`qstar.merge`)."""
    return merge_shards(cfg)


def run(name: str, cfg: DictConfig, registry: Registry | None = None) -> Any:
    """Run the command ``name`` — a built-in one or one a plugin registered — on a composed config."""
    registry = registry or Registry(make_plugin_manager())
    if name not in registry.commands:
        raise QstarError(f"unknown command {name!r}: choose one of {', '.join(registry.commands)}")
    return registry.commands[name].function(cfg, registry)


def compare(cfg: DictConfig, registry: Registry | None = None) -> dict[str, Any]:
    """``qstar compare`` (the ``qstar_compare`` plugin's command), run through the registry."""
    return run("compare", cfg, registry)


def loop(cfg: DictConfig, registry: Registry | None = None) -> list[dict[str, Any]]:
    """``qstar loop`` (the ``qstar_loop`` plugin's command), run through the registry."""
    return run("loop", cfg, registry)


HELP = {
    "solve": "search one problem; print the answer and the tree",
    "search": "search a task split; write trees (JSONL, resumable)",
    "eval": "search a split; print solve rate and budget, write trees and results.json",
    "train": "train a model with Lightning (optimizer=sft|...)",
    "label": "label every step of searched trees (labeler=mc-rollout|verifier; TRL stepwise JSONL, resumable)",
    "view": "write searched trees as one self-contained HTML page (qstar view trees.jsonl; no network)",
    "merge": "join the outputs of shard=i/n runs of one search, eval or label (checks they belong together)",
    "plugins": "list registered components and where they come from",
}
BUILTIN = {"solve": solve, "search": search, "eval": eval, "train": train, "label": label, "view": view, "merge": merge, "plugins": plugins}


@hookimpl
def qstar_register_commands(register):
    for name, function in BUILTIN.items():
        register(name, function, SCHEMAS[name], help=HELP[name])


__all__ = ["build", "compare", "eval", "label", "loop", "merge", "plugins", "run", "search", "solve", "summarize", "train", "view"]

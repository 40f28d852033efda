"""The work behind each command, as plain functions of a composed config (tests call them directly)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table
from rich.tree import Tree as RichTree

from qstar.engine import check_setting, Engine
from qstar.errors import QstarError
from qstar.plugins import KINDS, Registry, make_plugin_manager
from qstar.training import TrainContext, TrainerConfig, check_available
from qstar.tree import RecordWriter, ResultWriter, SearchResult, atomic_write_text, iter_results

console = Console()


@dataclass
class Components:
    registry: Registry
    task: Any
    segmenter: Any
    expander: Any
    scorer: Any
    search: Any
    engine: Engine


def build(cfg: DictConfig, registry: Registry | None = None, task: Any = None) -> Components:
    """Instantiate task, segmenter, scorer and search (cheap, validated first), then the expander."""
    registry = registry or Registry(make_plugin_manager())
    task = task or registry.build("task", cfg.task)
    segmenter = registry.build("segmenter", cfg.segmenter)
    scorer = registry.build("scorer", cfg.scorer, task) if cfg.get("scorer") else None
    search = registry.build("search", cfg.search)
    check_scorer(search, scorer)
    check_setting(cfg.setting, scorer)  # before the policy loads
    expander = registry.build("expander", cfg.expander, cfg.model, segmenter)
    engine = Engine(task, segmenter, expander, scorer, hook=registry.pm.hook, batch_problems=cfg.batch_problems, setting=cfg.setting)
    return Components(registry, task, segmenter, expander, scorer, search, engine)


def check_scorer(search: Any, scorer: Any) -> None:
    """Refuse a search that declares ``needs_scorer`` when no scorer is configured."""
    if scorer is None and getattr(search, "needs_scorer", False):
        raise QstarError(f"search {search.name!r} needs a scorer: add scorer=<name> (e.g. scorer=verifier)")


def load_trees(path: str) -> list[SearchResult]:
    """Every tree of a ``data=`` file, read (and so checked) to its last line."""
    if not Path(path).is_file():
        raise QstarError(f"data file {path} does not exist: pass data=<trees.jsonl written by qstar search>")
    results = list(iter_results(path))
    if not results:
        raise QstarError(f"data file {path} holds no trees: pass data=<trees.jsonl written by qstar search>")
    return results


def output_dir(cfg: DictConfig, command: str) -> Path:
    """The run directory: ``out_dir`` or Hydra's; created now, so a bad one fails before any work."""
    if cfg.get("out_dir"):
        out = Path(cfg.out_dir)
    else:
        try:
            from hydra.core.hydra_config import HydraConfig

            out = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # composed outside a Hydra run (tests): a fresh timestamped directory
            out = Path("runs") / command / time.strftime("%Y-%m-%d_%H-%M-%S")
    if out.exists() and not out.is_dir():
        raise QstarError(f"out_dir={out} is an existing file, not a directory: pick another out_dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise QstarError(f"cannot create out_dir={out} ({e.strerror}): pick a writable out_dir") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise QstarError(f"out_dir={out} is not writable: pick a writable out_dir")
    return out


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


def solve(cfg: DictConfig) -> SearchResult:
    registry = Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    problem = task.parse_problem(cfg.problem)  # bad input fails before the model loads
    c = build(cfg, registry, task)
    result = c.engine.solve(c.search, problem)
    if cfg.show_tree:
        console.print(render_tree(result))
    b = result.budget
    status = "correct" if result.correct else ("wrong" if result.answer else "no answer")
    console.print(f"[bold]{problem.question}[/] → {' | '.join(result.path_steps()) or '(no answer)'}")
    console.print(f"answer: {result.answer}  ({status})")
    console.print(
        f"budget: {b.expansions} expansions, {b.generated_tokens} generated tokens, "
        f"{b.prompt_tokens} prompt tokens, {b.scorer_calls} scorer calls, {b.wall_time:.2f}s"
        + (f" (stopped at its {result.stopped} limit)" if result.stopped else "")
    )
    return result


# --------------------------------------------------------------------------------- search / eval


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def select_problems(task, cfg: DictConfig, whole: bool = False) -> list:
    """The problems a command works on: every ``cfg.every``-th of ``cfg.split``, the first
    ``cfg.limit``, then this worker's ``shard=i/n`` of them (``whole``: before sharding)."""
    from qstar.shards import in_shard, parse_shard

    problems = task.problems(cfg.split)[:: cfg.every]
    problems = problems[: cfg.limit] if cfg.limit else problems
    shard = None if whole else parse_shard(cfg.get("shard"))
    return [p for p in problems if in_shard(p.id, shard)]


def search(cfg: DictConfig, components: Components | None = None) -> list[SearchResult]:
    """Search every problem of ``cfg.split``; trees go to ``<out_dir>/trees.jsonl`` as each
    finishes, and a rerun with the same ``out_dir`` skips the problems already there."""
    out = output_dir(cfg, "search")
    c = components or build(cfg)
    problems = select_problems(c.task, cfg)
    if cfg.get("shard"):  # what qstar merge checks the shards against
        from qstar.shards import write_manifest

        write_manifest(out, "eval" if "comparison" in cfg else "search", cfg, [p.id for p in select_problems(c.task, cfg, whole=True)])
    with ResultWriter(out / "trees.jsonl") as writer:
        todo = [p for p in problems if p.id not in writer.done]
        if len(todo) < len(problems):
            console.print(f"resuming: {len(problems) - len(todo)} of {len(problems)} problems already in {writer.path}")
        with _progress() as bar:
            task_id = bar.add_task(f"{c.search.name} on {c.task.name}/{cfg.split}", total=len(problems), completed=len(problems) - len(todo), visible=cfg.progress)
            c.engine.run(c.search, todo, on_result=lambda r: (writer.write(r), bar.advance(task_id)))
        results = [writer.done[p.id] for p in problems]
    console.print(f"trees: {out / 'trees.jsonl'}")
    return results


def summarize(results: list[SearchResult]) -> dict[str, Any]:
    n = max(len(results), 1)
    solved = sum(bool(r.correct) for r in results)
    per = lambda attr: sum(getattr(r.budget, attr) for r in results) / n  # noqa: E731
    return {
        "problems": len(results),
        "solved": solved,
        "solve_rate": solved / n,
        "generated_tokens_per_problem": per("generated_tokens"),
        "prompt_tokens_per_problem": per("prompt_tokens"),
        "expansions_per_problem": per("expansions"),
        "scorer_calls_per_problem": per("scorer_calls"),
        "wall_time_per_problem": per("wall_time"),
        "wall_time_total": sum(r.budget.wall_time for r in results),
    }


def eval(cfg: DictConfig) -> dict[str, Any]:  # noqa: A001 - the command's name
    if cfg.get("comparison") is not None:
        from qstar.comparison import run

        return run(cfg)
    started = time.perf_counter()
    c = build(cfg)
    results = search(cfg, c)
    summary = summarize(results)
    summary["setting"] = c.engine.setting
    summary["elapsed"] = time.perf_counter() - started
    summary["config"] = OmegaConf.to_container(cfg, resolve=True)
    out = output_dir(cfg, "eval")
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")

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
    console.print(f"results: {out / 'results.json'}")
    return summary


# --------------------------------------------------------------------------------- label


def label(cfg: DictConfig) -> Path:
    """Label every step of the trees in ``cfg.data``; TRL stepwise records go to
    ``<out_dir>/labels.jsonl`` one problem at a time, and a rerun skips the problems done."""
    if not cfg.data:
        raise QstarError("qstar label needs data=<trees.jsonl written by qstar search>")
    from qstar.shards import in_shard, parse_shard, write_manifest

    results = load_trees(cfg.data)
    if cfg.limit:
        results = results[: cfg.limit]
    out = output_dir(cfg, "label")
    if cfg.get("shard"):
        write_manifest(out, "label", cfg, [r.problem.id for r in results])
        shard = parse_shard(cfg.shard)
        results = [r for r in results if in_shard(r.problem.id, shard)]
    registry = Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    if cfg.perturb and not hasattr(task, "perturb_step"):
        raise QstarError(f"perturb={cfg.perturb}: task {task.name!r} has no perturb_step; use perturb=0")
    segmenter = registry.build("segmenter", cfg.segmenter)
    comp, labeler_cfg = registry.config("labeler", cfg.labeler)
    labeler = comp.factory(labeler_cfg, task)
    from qstar_label import perturb, records

    searched = {r.problem.id: len(r.nodes) for r in results}
    if cfg.perturb:
        results = [perturb(r, task, segmenter, cfg.perturb) for r in results]
    with RecordWriter(out / "labels.jsonl") as writer:
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
            for key in budget:
                budget[key] += getattr(tree.budget, key)
                spent[key] = spent.get(key, 0) + getattr(tree.budget, key)
            writer.write(tree.problem.id, records(tree, sizes[tree.problem.id], labeler_cfg, searched[tree.problem.id] if cfg.perturb else None))
            atomic_write_text(spent_file, json.dumps(spent) + "\n")
            bar.advance(task_id)

        with _progress() as bar:
            task_id = bar.add_task(f"{comp.name} labels", total=len(results), completed=len(results) - len(todo), visible=cfg.progress)
            engine.label(labeler, todo, on_tree=done)
    console.print(
        f"labels: {out / 'labels.jsonl'} ({budget['expansions']} rollout prompts, "
        f"{budget['generated_tokens']} generated tokens, {budget['prompt_tokens']} prompt tokens)"
    )
    return out / "labels.jsonl"


# --------------------------------------------------------------------------------- train


def train(cfg: DictConfig) -> Path:
    registry = Registry(make_plugin_manager())
    optimizer = registry.build("optimizer", cfg.optimizer)
    if cfg.data and getattr(optimizer, "data_kind", "trees") == "trees":  # the whole file, before any model is built
        load_trees(cfg.data)
    task = registry.build("task", cfg.task)
    segmenter = registry.build("segmenter", cfg.segmenter)
    if cfg.resume and not cfg.get("out_dir"):
        raise QstarError("resume=true needs out_dir=<the run directory to continue>")
    out = output_dir(cfg, "train")
    if cfg.resume and not (out / "checkpoints" / "last.ckpt").exists():
        raise QstarError(f"resume=true but {out / 'checkpoints' / 'last.ckpt'} does not exist: run once without resume first")
    trainer_cfg = TrainerConfig(**OmegaConf.to_container(cfg.trainer, resolve=True))
    check_available(trainer_cfg)  # before any Lightning output: a missing device is one line
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
    )
    exported = optimizer.fit(ctx)
    console.print(f"model: {exported}")
    return exported


# --------------------------------------------------------------------------------- compare


def compare(cfg: DictConfig) -> dict[str, Any]:
    """Best-of-n selections against a PRM-guided search, learned setting; see :mod:`qstar.compare`."""
    from qstar.compare import compare as run

    return run(cfg)


# --------------------------------------------------------------------------------- view


def view(cfg: DictConfig) -> Path:
    """Write the trees of ``cfg.data`` as one self-contained HTML page (see :mod:`qstar.view`)."""
    from qstar import view as page

    if not cfg.data:
        raise QstarError("qstar view needs a trees file: qstar view runs/<run>/trees.jsonl (or data=<file>)")
    results = load_trees(cfg.data)
    out = Path(cfg.out) if cfg.out else Path(cfg.data).with_suffix(".html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise QstarError(f"out={out}: the page is HTML; name it <something>.html")
    try:
        page.write(results, out, title=f"qstar trees: {Path(cfg.data).name}")
    except OSError as e:
        raise QstarError(f"cannot write out={out} ({e.strerror}): pick a writable path") from None
    console.print(f"page: {out} ({len(results)} trees; open it in a browser, it needs no network)")
    return out


# ------------------------------------------------------------------------------------ loop


def loop(cfg: DictConfig) -> list[dict[str, Any]]:
    """Rounds of search → label → train PRM → train policy → eval (see :mod:`qstar.loop`)."""
    from qstar.loop import DATA_OF, Loop

    if cfg.optimizer.name not in DATA_OF:  # before the run directory is made
        raise QstarError(f"optimizer={cfg.optimizer.name!r}: qstar loop trains the policy with one of {', '.join(DATA_OF)}")
    out = output_dir(cfg, "loop")
    with open_dict(cfg):
        cfg.out_dir = str(out)
    if cfg.shard is not None:  # a worker: its shards of the search and label stages only
        console.print(f"qstar loop worker shard={cfg.shard}: {Loop(cfg).run_worker()}")
        return []
    rows = Loop(cfg).run()
    table = Table(title=f"qstar loop: optimizer={cfg.optimizer.name}, {cfg.eval_split} split (greedy: no search; search: learned setting)")
    for col in ("round", "greedy pass@1", "search solved", "search tokens/problem", "train tokens", "wall s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["round"]), f"{100 * r['greedy_pass@1']:.0f}%", f"{100 * r['search_solve_rate']:.0f}%",
                      f"{r['search_generated_tokens_per_problem']:.0f}", str(r["train_tokens"]), f"{r['wall_time']:.0f}")
    console.print(table)
    console.print(f"rounds: {out / 'rounds.json'}, {out / 'rounds.png'}")
    return rows


# --------------------------------------------------------------------------------- plugins


def plugins(cfg: DictConfig) -> Registry:
    registry = Registry(make_plugin_manager())
    table = Table(title="qstar plugins")
    for col in ("kind", "name", "from"):
        table.add_column(col)
    for kind in KINDS:
        for name in registry.names(kind):
            table.add_row(kind, name, registry.get(kind, name).source)
    console.print(table)
    return registry



def merge(cfg: DictConfig) -> Path:
    """Join the outputs of ``shard=i/n`` runs (see :mod:`qstar.shards`)."""
    from qstar.shards import merge as merge_shards

    return merge_shards(cfg)


__all__ = ["build", "eval", "label", "merge", "plugins", "search", "solve", "summarize", "train", "view"]

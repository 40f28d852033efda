"""What the commands share: the console, progress bars, run directories, problem selection,
building a search's components, searching a split into a resumable trees file, and summaries.
Command plugins (``compare``, ``loop``, third-party ones) use these as the built-in commands do."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qstar.engine import Engine, check_setting
from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.plugins import Registry, make_plugin_manager
from qstar.shards import in_shard, parse_shard, write_manifest
from qstar.tree import ResultWriter, SearchResult, iter_results

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
    prunes_at, top = getattr(search, "prunes_at", None), getattr(scorer, "max_score", None)
    if prunes_at is not None and top is not None and prunes_at[1] >= top:
        option, value = prunes_at
        raise QstarError(f"{option}={value} drops every state: scorer {scorer.name!r} scores at most {top}; use a value below {top}")


def load_trees(path: str, unique: bool = True) -> list[SearchResult]:
    """Every tree of a ``data=`` file, read (and so checked) to its last line. ``unique``: a
    problem may appear once (one search's trees); training data may join several searches."""
    if not Path(path).is_file():
        raise QstarError(f"data file {path} does not exist: pass data=<trees.jsonl written by qstar search>")
    results = list(iter_results(path))
    if not results:
        raise QstarError(f"data file {path} holds no trees: pass data=<trees.jsonl written by qstar search>")
    seen: dict[str, int] = {}
    for i, r in enumerate(results if unique else [], 1):
        if r.problem.id in seen:
            raise QstarError(
                f"data file {path} holds problem {r.problem.id!r} twice (trees {seen[r.problem.id]} and {i}): "
                "pass one search's trees.jsonl (qstar merge joins shards of one run)"
            )
        seen[r.problem.id] = i
    return results


def first_difference(a: Any, b: Any, key: str = "") -> str | None:
    """The first dotted key where two config dicts differ (a key missing on one side reads as None), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=lambda k: (k != "name", str(k))):  # a component's name first: it tells the most
            d = first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
            if d:
                return d
        return None
    return None if a == b else key


def get_key(config: dict, dotted: str) -> Any:
    """``config``'s value at a dotted key (None where a part is missing)."""
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


SETTINGS = "settings.json"  # what a resumable command's out_dir was made with
TREES = "trees.jsonl"  # what qstar search and qstar eval write to their out_dir
# keys that change which problems a run covers or how it runs, never what it writes for a problem
NOT_SETTINGS = ("out_dir", "progress", "batch_problems", "split", "limit", "every", "exclude", "shard", "resume", "tracking")


def check_settings(out: Path, command: str, cfg: DictConfig, ignore: tuple[str, ...] = NOT_SETTINGS) -> None:
    """A resumable command keeps adding to what its ``out_dir`` holds, so a rerun must be the same
    run: the first run records its settings in ``<out_dir>/settings.json``; a later run whose
    settings differ is refused, naming the first key that differs (one ``out_dir`` never mixes the
    trees or labels of two configurations). Selecting more problems (``limit``, ``split``) is the
    same run, extended."""
    settings = {"command": command, **{k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in ignore}}
    path = out / SETTINGS
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise QstarError(
                f"{path} is not JSON: it records the settings of the run in out_dir; restore it or pick another out_dir"
            ) from None
        key = first_difference(old, settings)
        if key:
            raise QstarError(
                f"out_dir={out} holds a run with {key}={get_key(old, key)!r}, not {get_key(settings, key)!r}: "
                "rerun with the same settings to resume it, or pick another out_dir"
            )
        return
    atomic_write_text(path, json.dumps(settings, indent=1) + "\n")


@contextlib.contextmanager
def settings_of_run(
    out: Path, command: str, cfg: DictConfig, work: tuple[str, ...], ignore: tuple[str, ...] = NOT_SETTINGS
) -> Iterator[None]:
    """:func:`check_settings` for a command whose body follows in the ``with`` block. If the body
    fails before any of ``work`` (the files or directories that hold the command's output, such
    as ``trees.jsonl``) has content, a settings.json this run just wrote goes again: nothing in
    ``out`` was made with those settings, and they would refuse the corrected rerun (a model path
    that does not exist, a missing data file) into the same ``out_dir``."""
    fresh = not (out / SETTINGS).exists()
    check_settings(out, command, cfg, ignore)
    try:
        yield
    except BaseException:  # a refusal, a crash or Ctrl-C: the same holds for each
        if fresh and not any(_holds_work(out / name) for name in work):
            (out / SETTINGS).unlink(missing_ok=True)
        raise


def _holds_work(path: Path) -> bool:
    """Whether ``path`` holds output: a directory that exists, or a file with content."""
    return path.is_dir() or (path.is_file() and path.stat().st_size > 0)


def output_dir(cfg: DictConfig, command: str) -> Path:
    """The run directory: ``out_dir`` or Hydra's; created now, so a bad one fails before any work."""
    if cfg.get("out_dir"):
        out = Path(cfg.out_dir)
    else:
        try:
            out = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # composed outside a Hydra run (tests): a fresh timestamped directory
            out = Path("runs") / command / time.strftime("%Y-%m-%d_%H-%M-%S")
    return make_out_dir(out)


def make_out_dir(out: Path) -> Path:
    """Create ``out`` (and its parents) or say in one line why it cannot be the run's directory."""
    if out.exists() and not out.is_dir():
        raise QstarError(f"out_dir={out} is an existing file, not a directory: pick another out_dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise QstarError(f"cannot create out_dir={out} ({e.strerror}): pick a writable out_dir") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise QstarError(f"out_dir={out} is not writable: pick a writable out_dir")
    return out


def progress():
    """A rich progress bar on the shared console (description, bar, done/total, elapsed)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def select_problems(task, cfg: DictConfig, whole: bool = False) -> list:
    """The problems a command works on: every ``cfg.every``-th of ``cfg.split``, the first
    ``cfg.limit``, less the ids listed in ``cfg.exclude``, then this worker's ``shard=i/n`` of
    them (``whole``: before sharding)."""
    problems = task.problems(cfg.split)[:: cfg.every]
    problems = problems[: cfg.limit] if cfg.limit else problems
    if cfg.get("exclude"):
        left_out = {line.strip() for line in Path(cfg.exclude).read_text().splitlines() if line.strip()}
        problems = [p for p in problems if p.id not in left_out]
    shard = None if whole else parse_shard(cfg.get("shard"))
    return [p for p in problems if in_shard(p.id, shard)]


def search_split(cfg: DictConfig, components: Components | None = None, registry: Registry | None = None) -> list[SearchResult]:
    """Search every problem of ``cfg.split``; trees go to ``<out_dir>/trees.jsonl`` as each
    finishes, and a rerun with the same ``out_dir`` skips the problems already there."""
    out = output_dir(cfg, "search")
    with settings_of_run(out, "search", cfg, work=(TREES,)):
        c = components or build(cfg, registry)
        problems = select_problems(c.task, cfg)
        if cfg.get("shard"):  # what qstar merge checks the shards against
            write_manifest(out, "eval" if "comparison" in cfg else "search", cfg, [p.id for p in select_problems(c.task, cfg, whole=True)])
        return _search(cfg, c, problems, out)


def _search(cfg: DictConfig, c: Components, problems: list, out: Path) -> list[SearchResult]:
    with ResultWriter(out / TREES) as writer:
        todo = [p for p in problems if p.id not in writer.done]
        if len(todo) < len(problems):
            console.print(f"resuming: {len(problems) - len(todo)} of {len(problems)} problems already in {writer.path}")
        with progress() as bar:
            task_id = bar.add_task(
                f"{c.search.name} on {c.task.name}/{cfg.split}",
                total=len(problems),
                completed=len(problems) - len(todo),
                visible=cfg.progress,
            )
            c.engine.run(c.search, todo, on_result=lambda r: (writer.write(r), bar.advance(task_id)))
        results = [writer.done[p.id] for p in problems]
    console.print(f"trees: {out / 'trees.jsonl'}")
    return results


def summarize(results: list[SearchResult], task: Any = None) -> dict[str, Any]:
    """Solve rate and budget per problem; with ``task``, also the problems whose tree holds a
    right finished path anywhere (``covered``, graded after the search by the answer check)."""
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
        **(
            {"searched": [r.problem.id for r in results], "covered": [r.problem.id for r in results if right_in_tree(r, task)]}
            if task
            else {}
        ),
    }


def right_in_tree(result: SearchResult, task: Any) -> bool:
    """Whether some finished node of the tree states an answer the task accepts."""
    return any(n.terminal and n.answer is not None and task.is_correct(result.problem, n.answer) for n in result.nodes)

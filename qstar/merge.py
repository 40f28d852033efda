"""``qstar merge``: join the outputs of ``shard=i/n`` runs of one search, eval or label run.

It checks that the shards come from one run (one config, each shard of ``n`` once, every problem
of the selection exactly once; see :mod:`qstar.shards`) and writes the merged file in the
selection's order, as one worker would have.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.labels import check_record, iter_label_lines
from qstar.runs import console, load_trees, output_dir, summarize
from qstar.runs import first_difference as _first_difference
from qstar.runs import get_key as _get
from qstar.shards import MANIFEST, OUTPUT_OF, in_shard, parse_shard
from qstar.tree import DataError, iter_results


def merge(cfg: DictConfig) -> Path:
    """Join shard directories into ``cfg.out_dir``; refuses shards of different runs."""
    inputs = [Path(p) for p in (cfg.inputs or [])]
    if not inputs:
        raise QstarError("qstar merge needs inputs=[<shard dir>,...]: the out_dirs of runs made with shard=i/n")
    if cfg.get("out_dir") and any(Path(cfg.out_dir).resolve() == d.resolve() for d in inputs):
        raise QstarError(f"out_dir={cfg.out_dir} is one of the inputs: the merge would write over a shard; pick another out_dir")
    runs = [(d, _read_manifest(d)) for d in inputs]
    first_dir, first = runs[0]
    for d, run in runs[1:]:
        if run["command"] != first["command"]:
            raise QstarError(
                f"{d} holds qstar {run['command']} output and {first_dir} qstar {first['command']}: merge shards of one command"
            )
        key = _first_difference(first["config"], run["config"])
        if key:
            raise QstarError(
                f"shards differ in {key}: {_get(first['config'], key)!r} in {first_dir}, {_get(run['config'], key)!r} in {d}; merge only shards of one run"
            )
        if run["selection"] != first["selection"]:
            raise QstarError(f"{d} and {first_dir} were made from different problem selections: merge only shards of one run")
    shards = [parse_shard(run["shard"]) for _, run in runs]
    if any(s is None for s in shards):
        d = runs[shards.index(None)][0]
        raise QstarError(f"{d} was not made with shard=i/n: it holds the whole selection already")
    n = shards[0][1]
    seen: dict[int, Path] = {}
    for (d, _), (i, m) in zip(runs, shards):
        if m != n:
            raise QstarError(f"{d} is shard {i}/{m} but {first_dir} is one of {n}: merge shards of one split into n")
        if i in seen:
            raise QstarError(f"shard {i}/{n} is given twice ({seen[i]} and {d})")
        seen[i] = d
    missing = sorted(set(range(n)) - set(seen))
    if missing:
        raise QstarError(f"shard {missing[0]}/{n} is missing: pass its out_dir too (or run it with shard={missing[0]}/{n})")
    name = OUTPUT_OF[first["command"]]
    # qstar label rollouts=true also wrote the grown trees: joined like the labels, or not at all
    extra_files = [f for f in ("rollouts.jsonl",) if first["command"] == "label" and all((d / f).is_file() for d, _ in runs)]
    joined = {f: _join(runs, f, first["selection"], n, seen) for f in (name, *extra_files)}
    out = output_dir(cfg, "merge")
    for f, text in joined.items():
        atomic_write_text(out / f, text)
    atomic_write_text(out / MANIFEST, json.dumps({**first, "shard": None, "merged_from": [str(d) for d, _ in runs]}, indent=1) + "\n")
    if name == "trees.jsonl":
        summary = summarize(load_trees(out / name))
        atomic_write_text(out / "results.json", json.dumps({**summary, "config": first["config"]}, indent=2) + "\n")
        console.print(f"merged {n} shards: {summary['solved']}/{summary['problems']} solved")
    console.print(f"{name}: {out / name}")
    return out / name


def _join(runs: list, name: str, selection: list, n: int, seen: dict) -> str:
    """The shards' ``name`` files read through their format's reader, checked to cover the
    run's ``selection`` once, and joined in its order."""
    trees = name != "labels.jsonl"
    for d, _ in runs:  # every shard read through its format's reader before anything is written
        f = d / name
        if not f.is_file():
            continue
        try:
            if not trees:
                for n_line, record in iter_label_lines(f):
                    check_record(record, f"{f}:{n_line}")
            else:
                for _ in iter_results(f):
                    pass
        except DataError as e:  # a worker killed mid-write leaves a torn last line; its own rerun drops it
            raise QstarError(f"{e}; rerun that shard to repair it, then merge again") from None
    by_problem: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    for d, _ in runs:
        f = d / name
        lines = f.read_text().splitlines() if f.is_file() else []
        for n_line, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                pid = record["problem"]["id"] if trees else record["problem_id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                # a worker killed mid-write leaves a torn last line; its own rerun drops it
                raise QstarError(f"{f}:{n_line}: not a {name} record: rerun that shard to repair it, then merge again") from None
            if pid in where and where[pid] != d:
                raise QstarError(
                    f"problem {pid} is in two shards ({where[pid]} and {d}): they overlap; rerun them with one shard=i/{n} each"
                )
            where[pid] = d
            by_problem.setdefault(pid, []).append(line)
    for pid in selection:
        if pid not in by_problem:
            i = next(i for i in range(n) if in_shard(pid, (i, n)))
            raise QstarError(f"problem {pid} has no record in {seen[i]} (shard {i}/{n}): rerun that shard to finish it")
    extra = sorted(set(by_problem) - set(selection))
    if extra:
        raise QstarError(f"problem {extra[0]} in {where[extra[0]]} is not in the run's selection: merge only shards of one run")
    return "".join(line + "\n" for pid in selection for line in by_problem[pid])


def _read_manifest(d: Path) -> dict:
    """A shard's ``run.json``, checked: a JSON object naming a shardable command, its config and selection."""
    f = d / MANIFEST
    if not f.is_file():
        raise QstarError(f"{d} has no {MANIFEST}: merge the out_dirs of qstar search/eval/label runs made with shard=i/n")
    try:
        run = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise QstarError(f"{f} is not JSON: the shard's run record is damaged; rerun that shard into a fresh out_dir") from None
    if not isinstance(run, dict) or not {"command", "config", "selection", "shard"} <= set(run):
        raise QstarError(f"{f} is not a qstar run record (command, config, selection, shard): rerun that shard into a fresh out_dir")
    if run["command"] not in OUTPUT_OF:
        raise QstarError(f"{f} names command {run['command']!r}: merge joins the shards of {', '.join(OUTPUT_OF)} runs")
    if not isinstance(run["selection"], list) or not isinstance(run["config"], dict):
        raise QstarError(f"{f} is not a qstar run record (its selection or config is malformed): rerun that shard into a fresh out_dir")
    return run

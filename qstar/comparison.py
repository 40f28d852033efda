"""``qstar eval comparison=<preset>``: several search strategies × budgets on one split, in one or
more settings (oracle, rules, learned), compared at equal compute.

A preset (``conf/comparison/*.yaml``) names, per setting, the overrides that make it (the scorer)
and, per strategy, a search, fixed overrides and one override swept over values: each value is one
point of the strategy's curve. Every point is an ordinary search of the split (trees written and
resumable in ``<out_dir>/<setting>/<strategy>/<knob>-<value>/trees.jsonl``) whose *measured*
budget is reported: the x-axis is generated tokens actually spent per problem, whatever knob made
them. Outputs: a table, ``comparison.json`` (every point, its budget and its config) and
``comparison.png`` (solve rate against generated tokens, one curve per strategy, one panel per
setting).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from qstar.config import CONFIG_MODULE
from qstar.engine import Engine
from qstar.errors import QstarError
from qstar.files import atomic_write_text, save_png
from qstar.plugins import KINDS, Registry, make_plugin_manager
from qstar.runs import Components, check_scorer, console, output_dir, search_split, summarize
from qstar.tracking import open_tracker

GROUPS = (*KINDS, "model")  # overrides `group=name` pick a group option; dotted keys set a value


def group_node(command: str, group: str, name: str) -> DictConfig:
    """The config node ``group=name`` composes to (its YAML, as Hydra reads it)."""
    try:
        if GlobalHydra.instance().is_initialized():  # inside the running command
            return compose(config_name=command, overrides=[f"{group}={name}"])[group]
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            node = compose(config_name=command, overrides=[f"{group}={name}"])[group]
        GlobalHydra.instance().clear()
        return node
    except Exception as e:  # Hydra's MissingConfigException and friends: one line
        raise QstarError(f"comparison: cannot compose {group}={name} ({str(e).splitlines()[0]}); check the preset's overrides") from None


def apply(cfg: DictConfig, overrides: list[str], command: str = "eval") -> DictConfig:
    """A copy of ``cfg`` with ``overrides`` applied: ``group=name`` swaps in that group option,
    ``~group`` removes it (``~scorer``: majority vote needs none), ``a.b=value`` sets a value
    (read as YAML: numbers, booleans, lists)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for o in overrides:
        if str(o).startswith("~") and str(o)[1:] in GROUPS:  # ~scorer: no component of that kind
            out[str(o)[1:]] = None
            continue
        key, sep, value = str(o).partition("=")
        if not sep:
            raise QstarError(f"comparison: override {o!r} is not key=value")
        if key in GROUPS:
            out[key] = group_node(command, key, value)
        else:
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(out, parent) if parent else out
            if not isinstance(node, DictConfig) or leaf not in node:
                where = f"{parent} has" if parent else "the config has"
                raise QstarError(f"comparison: override {o!r}: {where} no key {leaf!r}; see `qstar eval --cfg job` for the keys")
            OmegaConf.update(out, key, yaml.safe_load(value))
    return out


def points(cfg: DictConfig) -> list[dict[str, Any]]:
    """Every (setting, strategy, value) of the comparison, with its composed config."""
    comp = cfg.comparison
    if not comp.settings:
        raise QstarError(f"comparison.settings is empty: name at least one of {', '.join(comp.scorers)}")
    unknown = [s for s in comp.settings if s not in comp.scorers]
    if unknown:
        raise QstarError(f"comparison.settings has {unknown[0]!r}, which comparison.scorers does not define: use {', '.join(comp.scorers)}")
    if not comp.strategies:
        raise QstarError("comparison.strategies is empty: name at least one strategy (see conf/comparison/game24.yaml)")
    out = []
    base = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "comparison"])
    for setting in comp.settings:
        for name, strategy in comp.strategies.items():
            if not strategy["values"]:
                raise QstarError(f"comparison.strategies.{name}.values is empty: list the values of {strategy.sweep} to run")
            for value in strategy["values"]:
                overrides = [*comp.scorers[setting], f"search={strategy.search}", *strategy.overrides, f"{strategy.sweep}={value}"]
                point = apply(base, overrides)
                point.setting = setting
                out.append(
                    {"setting": setting, "strategy": name, "sweep": strategy.sweep, "value": value, "overrides": overrides, "cfg": point}
                )
    return out


def run(cfg: DictConfig, registry: Registry | None = None) -> dict[str, Any]:
    out = output_dir(cfg, "eval")
    todo = points(cfg)
    tracker = open_tracker(cfg.get("tracking"), out)  # tracking.logger: an unreachable store fails before any search
    registry = registry or Registry(make_plugin_manager())
    task = registry.build("task", cfg.task)
    segmenter = registry.build("segmenter", cfg.segmenter)
    built = []
    for p in todo:  # every point's search and scorer is built (validated) before any model loads
        c = p["cfg"]
        scorer = registry.build("scorer", c.scorer, task) if c.get("scorer") else None
        s = registry.build("search", c.search)
        check_scorer(s, scorer)
        built.append((scorer, s))
    expanders: dict[str, Any] = {}
    rows = []
    for p, (scorer, s) in zip(todo, built):
        c = p["cfg"]
        key = OmegaConf.to_yaml(c.expander) + OmegaConf.to_yaml(c.model)
        if key not in expanders:
            expanders[key] = registry.build("expander", c.expander, c.model, segmenter)
        engine = Engine(
            task, segmenter, expanders[key], scorer, hook=registry.pm.hook, batch_problems=c.batch_problems, setting=p["setting"]
        )
        c.out_dir = str(out / p["setting"] / p["strategy"] / f"{p['sweep'].rsplit('.', 1)[-1]}-{p['value']}")
        console.print(f"[bold]{p['setting']}[/] {p['strategy']} {p['sweep']}={p['value']}")
        results = search_split(c, Components(registry, task, segmenter, expanders[key], scorer, s, engine))
        summary = summarize(results)
        rows.append(
            {
                "setting": p["setting"],
                "strategy": p["strategy"],
                "sweep": p["sweep"],
                "value": p["value"],
                **summary,
                "stopped": sum(r.stopped is not None for r in results),
                "overrides": p["overrides"],
            }
        )

    title = f"{cfg.task.name}/{cfg.split}: strategies at equal compute (per problem)"
    table = Table(title=title)
    for col in ("setting", "strategy", "knob", "solved", "rate", "gen tok", "prompt tok", "expans", "scored", "wall s"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["setting"],
            r["strategy"],
            f"{r['sweep'].rsplit('.', 1)[-1]}={r['value']}",
            f"{r['solved']}/{r['problems']}",
            f"{r['solve_rate']:.1%}",
            f"{r['generated_tokens_per_problem']:.0f}",
            f"{r['prompt_tokens_per_problem']:.0f}",
            f"{r['expansions_per_problem']:.1f}",
            f"{r['scorer_calls_per_problem']:.1f}",
            f"{r['wall_time_per_problem']:.2f}",
        )
    from rich.console import Console

    Console(width=max(console.width, 120)).print(table)  # ten columns: never cut to an 80-column pipe
    summary = {"split": cfg.split, "rows": rows, "config": OmegaConf.to_container(cfg, resolve=True)}
    atomic_write_text(out / "comparison.json", json.dumps(summary, indent=2) + "\n")
    # each curve's points in order along the sweep: <setting>/<strategy>/<metric> at step i
    tracker.params(summary["config"])
    along: dict[tuple[str, str], int] = {}
    for r in rows:
        i = along[r["setting"], r["strategy"]] = along.get((r["setting"], r["strategy"]), -1) + 1
        tracker.metrics({f"{r['setting']}/{r['strategy']}/{k}": v for k, v in r.items()}, step=i)
    tracker.close()
    plot(rows, out / "comparison.png", title)
    console.print(f"results: {out / 'comparison.json'}, plot: {out / 'comparison.png'}")
    return summary


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Solve rate against generated tokens per problem: one panel per setting, one curve per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    settings = list(dict.fromkeys(r["setting"] for r in rows))
    fig, axes = plt.subplots(1, len(settings), figsize=(5.6 * len(settings), 4.4), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for strategy in dict.fromkeys(r["strategy"] for r in rows):
            pts = sorted(
                (r["generated_tokens_per_problem"], 100 * r["solve_rate"])
                for r in rows
                if r["setting"] == setting and r["strategy"] == strategy
            )
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=strategy)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on a short log axis
        ax.set_xlabel("generated tokens per problem (measured; log scale)")
        ax.set_ylabel("% solved")
        ax.set_title(f"{setting} setting", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_png(fig, path)

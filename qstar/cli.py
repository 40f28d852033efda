"""``qstar <command> [hydra overrides]``: one entry point, one Hydra app per command.

Before Hydra runs, the overrides are composed — every combination of a ``-m`` sweep included — and
every component config is checked against its plugin's schema, so bad input ends with a one-line
error and exit status 2 instead of a traceback, whichever Hydra flags come with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import itertools
import os
import re
import sys
from pathlib import Path
from typing import Callable

import hydra
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qstar.config import CONFIG_MODULE, store_schemas
from qstar.errors import QstarError
from qstar.plugins import KINDS, Command, Registry, check_finite, make_plugin_manager
from qstar.runs import check_scorer, make_out_dir
from qstar.tree import DataError

EXTRA_COMPONENTS = {"prm": "scorer", "orm": "scorer", "tree_search": "search"}  # qstar compare
EXIT_USAGE = 2
MAX_SWEEP_CHECKS = 256  # sweep combinations composed up front; a larger sweep checks the first ones


def shorten(message: str, longest: int = 240) -> str:
    """One readable line: newlines folded, any run longer than ``longest`` characters (a
    10,000-digit number, say) cut to its ends. A file path, what the user must act on, stays whole
    up to ``longest``: 80 cut an ordinary temporary directory's paths."""
    message = " ".join(message.split())
    return re.sub(rf"\S{{{longest + 1},}}", lambda m: f"{m[0][:40]}…[{len(m[0])} characters]…{m[0][-10:]}", message)


def fail(message: str) -> None:
    print(f"qstar: error: {shorten(message)}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def usage(registry: Registry) -> str:
    lines = ["usage: qstar <command> [hydra overrides]", "", "commands:"]
    lines += [f"  {c.name:<8} {c.help}" for c in registry.commands.values()]
    lines += ["", "`qstar <command> --help` shows its config groups and options."]
    return "\n".join(lines)


# a full disk, a read-only file system, no permission: the output cannot be written
WRITE_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)


def write_error(e: OSError) -> None:
    """One line for an output that cannot be written; any other OSError is a bug and propagates."""
    if e.errno not in WRITE_ERRORS:
        raise e
    fail(
        f"cannot write {e.filename or 'the output'}: {e.strerror}; free space or pick a writable out_dir, then rerun (finished work is kept)"
    )


def _runner(command: Command, registry: Registry) -> Callable[[DictConfig], None]:
    def run(cfg: DictConfig) -> None:
        from transformers.utils import logging as hf_logging  # deferred: --help, --cfg and bad input never need it

        hf_logging.set_verbosity_error()  # keep the CLI's output to qstar's own lines
        try:
            command.function(cfg, registry)
        except (QstarError, DataError) as e:
            fail(str(e))
        except OSError as e:
            write_error(e)

    return run


def hydra_flags() -> argparse.ArgumentParser:
    """The flags Hydra's own command line takes (Hydra 1.3), so flags, their values and overrides
    are told apart before Hydra runs (``a=1 -m b=2,3`` as well as ``-m a=1 b=2,3``). Built here
    from Hydra's documented flags rather than from its private parser; ``tests/test_cli_errors.py``
    checks that the two still list the same options."""
    parser = argparse.ArgumentParser(add_help=False, prog="qstar")
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("--hydra-help", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"])
    parser.add_argument("--resolve", action="store_true")
    parser.add_argument("--package", "-p")
    parser.add_argument("--run", "-r", action="store_true")
    parser.add_argument("--multirun", "-m", action="store_true")
    parser.add_argument("--shell-completion", "-sc", action="store_true")
    parser.add_argument("--config-path", "-cp")
    parser.add_argument("--config-name", "-cn")
    parser.add_argument("--config-dir", "-cd")
    parser.add_argument("--experimental-rerun")
    parser.add_argument(
        "--info", "-i", const="all", nargs="?", choices=["all", "config", "defaults", "defaults-tree", "plugins", "searchpath"]
    )
    return parser


# ------------------------------------------------------------------------------- validation


def _sweep_combinations(overrides: list[str]) -> list[list[str]]:
    """Every job a ``-m`` sweep would run, as plain override lists (Hydra's basic sweeper expands
    the same cartesian product). Sweeps that cannot be enumerated here (glob) are left to Hydra."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    axes: list[list[str]] = []
    for o in parsed:
        if o.is_sweep_override() and o.is_discrete_sweep() and o.value_type.name != "GLOB_CHOICE_SWEEP":
            axes.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
        elif not o.is_sweep_override():
            axes.append([o.input_line])
    return [list(c) for c in itertools.islice(itertools.product(*axes), MAX_SWEEP_CHECKS)]


def _compose(command: str, overrides: list[str], hydra_config: bool = False) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=command, overrides=overrides, return_hydra_config=hydra_config)
    finally:
        GlobalHydra.instance().clear()


def _valid_keys(command: str, overrides: list[str], key: str, registry: Registry) -> tuple[str, str]:
    """(what the parent of ``key`` is, its valid keys), read from the composed config without the
    failing override: a component group lists its plugin's schema fields."""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    try:
        cfg = _compose(command, rest)
    except (HydraException, OmegaConfBaseException, ValueError):
        return parent or "the config", ""
    if parent in KINDS and OmegaConf.select(cfg, f"{parent}.name"):
        name = OmegaConf.select(cfg, f"{parent}.name")
        comp = registry.components[parent].get(name)
        if comp is not None and comp.schema is not None:
            return f"{parent} {name!r}", ", ".join(f.name for f in dataclasses.fields(comp.schema))
    node = OmegaConf.select(cfg, parent) if parent else cfg
    keys = ", ".join(str(k) for k in node.keys()) if isinstance(node, DictConfig) else ""
    return (parent or f"qstar {command}"), keys


def _validate(command: str, overrides: list[str], registry: Registry) -> None:
    """Compose the config of every job the overrides describe and check each component config
    against its plugin's schema, so bad input gets a clear one-line error before anything runs."""
    for o in overrides:
        if not o.isascii() and "'" not in o and '"' not in o:
            key, _, value = o.partition("=")
            fail(
                f"cannot read the override {o!r}: Hydra takes non-ASCII characters only inside quotes, "
                f"as in '{key}=\"{value}\"' (or fix the value)"
            )
    try:
        jobs = _sweep_combinations(overrides)
    except OverrideParseException as e:
        fail(
            f"cannot read the overrides ({' '.join(overrides)}): {str(e).splitlines()[0]}; "
            "quote values with spaces or special characters, as in 'problem=\"4 9 10 13\"'"
        )
    for job in jobs:
        try:
            cfg = _compose(command, job)
        except MissingConfigException as e:
            group = next((o.split("=", 1) for o in job if "=" in o and o.split("=", 1)[0].lstrip("+~") in KINDS), None)
            if group and f"{group[0].lstrip('+~')}/{group[1]}" in str(e):
                kind, name = group[0].lstrip("+~"), group[1]
                valid = ", ".join(sorted(set(registry.names(kind)) | set(e.options or [])))
                fail(f"unknown {kind} {name!r}: choose one of {valid}")
            other = next(
                (o.split("=", 1) for o in job if "=" in o and f"{o.split('=', 1)[0].lstrip('+~')}/{o.split('=', 1)[1]}" in str(e)), None
            )
            if other and e.options:  # model=, trainer=, experiment= …
                fail(f"unknown {other[0].lstrip('+~')} {other[1]!r}: choose one of {', '.join(sorted(e.options))}")
            fail(f"invalid override: {str(e).splitlines()[0]}")
        except ConfigCompositionException as e:
            first = str(e).splitlines()[0]
            if first.startswith("Could not override '"):
                key = first.split("'")[1]
                owner, keys = _valid_keys(command, job, key, registry)
                field = key.rsplit(".", 1)[-1]
                if field in keys.split(", "):  # a schema field its group YAML does not list
                    fail(
                        f"{owner} has option {field!r} but its YAML does not list it: set it with "
                        f"+{key}=... (plugin authors: list every option in the group's YAML)"
                    )
                hint = f" (valid keys: {keys})" if keys else ""
                fail(f"invalid override {key}: {owner} has no key {key.rsplit('.', 1)[-1]!r}{hint}; see `qstar {command} --cfg job`")
            fail(f"invalid override ({' '.join(job)}): {first}; see `qstar {command} --cfg job`")
        except (HydraException, OmegaConfBaseException, ValueError) as e:
            first = next((line for line in str(e).splitlines() if line.strip()), str(e))
            fail(f"invalid override ({' '.join(job)}): {first}; see `qstar {command} --cfg job`")
        for o in job:  # Hydra merges a dict value into the dict there: `key={}` would change nothing
            key, _, value = o.partition("=")
            if value.strip() == "{}" and not key.startswith(("+", "~")) and OmegaConf.select(cfg, key):
                fail(f"{key}={{}} changes nothing: Hydra merges a dict into {key}; drop entries with ~{key}.<name> instead")
        try:
            check_finite(OmegaConf.to_container(cfg, resolve=True), "")  # no NaN or infinity anywhere (model, trainer …)
            OmegaConf.to_object(cfg)  # the command's schema checks itself (model, trainer, limit …)
            for kind in KINDS:
                if cfg.get(kind) is not None:
                    registry.config(kind, cfg[kind])
            for key, kind in EXTRA_COMPONENTS.items():  # components kept under another key (scorer@prm)
                if cfg.get(key) is not None:
                    registry.config(kind, cfg[key])
            if cfg.get("search") is not None and cfg.get("scorer") is None:
                check_scorer(registry.build("search", cfg.search), None)
        except QstarError as e:
            fail(str(e))
        except (OmegaConfBaseException, ValueError) as e:
            fail(f"invalid config ({' '.join(job)}): {str(e).splitlines()[0]}; see `qstar {command} --cfg job`")


# ------------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        registry = Registry(make_plugin_manager())  # once per command: every step below shares it
    except QstarError as e:
        fail(str(e))
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(registry))
        return
    command, rest = argv[0], argv[1:]
    if command not in registry.commands:
        fail(f"unknown command {command!r}: choose one of {', '.join(registry.commands)}")
    if command == "view":  # `qstar view trees.jsonl`: a bare path is the data file
        rest = [a if a.startswith("-") or re.match(r"[+~]?[A-Za-z_][\w.@]*=", a) else f"data='{a}'" for a in rest]
    # Plugin config packages join Hydra's search path through a SearchPathPlugin, not a
    # `hydra.searchpath=` override: the path then holds for --help, --cfg and -m as well.
    store_schemas(registry)
    parser = hydra_flags()
    parser.error = lambda message: fail(f"{message}; see `qstar {command} --help`")  # type: ignore[method-assign]
    args = parser.parse_intermixed_args(rest)  # `a=1 -m b=2,3` as well as `-m a=1 b=2,3`
    if args.version:  # Hydra's own --version, which its argparse prints and exits on
        print(f"Hydra {hydra.__version__}")
        return
    if not (args.help or args.hydra_help or args.shell_completion):
        _validate(command, args.overrides, registry)
    flags = list(rest)
    for o in args.overrides:
        flags.remove(o)
    run_dir = [f"hydra.run.dir={o.split('=', 1)[1]}" for o in args.overrides if o.startswith("out_dir=")][-1:]
    if args.multirun or run_dir and run_dir[0].split("=", 1)[1].strip("'\" ") in ("", "null", "~"):
        run_dir = []
    just_show = args.help or args.hydra_help or args.shell_completion or args.cfg or args.info
    if run_dir and not just_show:  # created now: Hydra's own attempt would end in a traceback
        try:
            make_out_dir(Path(str(_compose(command, args.overrides).out_dir)))
        except QstarError as e:
            fail(str(e))
    if not run_dir and not os.access(os.getcwd(), os.W_OK) and not just_show:
        hydra_run = OmegaConf.to_container(_compose(command, args.overrides, hydra_config=True).hydra, resolve=False)
        if hydra_run["run"]["dir"] != "." or hydra_run["output_subdir"]:
            fail(
                f"the working directory {os.getcwd()} is not writable: pass out_dir=<a writable directory> (qstar {command} writes its run there)"
            )
    # With out_dir=, Hydra's run directory (and its .hydra record of the composed config) is out_dir:
    # nothing is written in the working directory, which may be read-only.
    sys.argv = [f"qstar {command}", *flags, *args.overrides, *run_dir]  # Hydra's argparse wants overrides last
    app = hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name=command)(
        _runner(registry.commands[command], registry)
    )
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises (rather than printing and exiting 1): a write error is caught here
    try:
        app()
    except OSError as e:  # Hydra's own .hydra files, written before the command runs
        write_error(e)


if __name__ == "__main__":
    main()

"""``qstar <command> [hydra overrides]``: one entry point, one Hydra app per command.

Before Hydra runs, the overrides are composed once so that bad input (an unknown plugin name, a
misspelled key) ends with a one-line error and exit status 2 instead of a traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

import hydra
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from qstar.config import store_schemas
from qstar.errors import QstarError
from qstar.plugins import KINDS, Registry, config_searchpaths, make_plugin_manager
from qstar.tree import DataError

COMMANDS: dict[str, str] = {
    "solve": "search one problem; print the answer and the tree",
    "search": "search a task split; write trees (JSONL, resumable)",
    "eval": "search a split; print solve rate and budget, write trees and results.json",
    "train": "train a model with Lightning (optimizer=sft|...)",
    "plugins": "list registered components and where they come from",
}
EXIT_USAGE = 2


def fail(message: str) -> None:
    print(f"qstar: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def usage() -> str:
    lines = ["usage: qstar <command> [hydra overrides]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    lines += ["", "`qstar <command> --help` shows its config groups and options."]
    return "\n".join(lines)


def _runner(command: str) -> Callable[[DictConfig], None]:
    from qstar import commands

    def run(cfg: DictConfig) -> None:
        try:
            getattr(commands, command)(cfg)
        except (QstarError, DataError) as e:
            fail(str(e))

    return run


def _validate(command: str, overrides: list[str], searchpath: list[str], registry: Registry) -> None:
    """Compose the config once so bad overrides get a clear one-line error."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="qstar.conf", version_base="1.3"):
            compose(config_name=command, overrides=overrides + searchpath)
    except MissingConfigException as e:
        group = next((o.split("=", 1) for o in overrides if "=" in o and o.split("=", 1)[0].lstrip("+~") in KINDS), None)
        if group and f"{group[0].lstrip('+~')}/{group[1]}" in str(e):
            kind, name = group[0].lstrip("+~"), group[1]
            valid = ", ".join(sorted(set(registry.names(kind)) | set(e.options or [])))
            fail(f"unknown {kind} {name!r}: choose one of {valid}")
        fail(f"invalid override: {str(e).splitlines()[0]}")
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        first = next((line for line in str(e).splitlines() if line.strip()), str(e))
        fail(f"invalid override ({' '.join(overrides)}): {first}; see `qstar {command} --cfg job`")
    finally:
        GlobalHydra.instance().clear()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        fail(f"unknown command {command!r}: choose one of {', '.join(COMMANDS)}")
    store_schemas()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # keep the CLI's output to qstar's own lines
    try:
        registry = Registry(make_plugin_manager())
    except QstarError as e:
        fail(str(e))
    searchpath = config_searchpaths(registry.pm)
    sp_override = [f"hydra.searchpath=[{','.join(searchpath)}]"] if searchpath else []
    hydra_flags = [a for a in rest if a.startswith("-")]
    overrides = [a for a in rest if not a.startswith("-")]
    if not hydra_flags:  # --help, --cfg, -m etc. are Hydra's own business
        _validate(command, overrides, sp_override, registry)
    sys.argv = [f"qstar {command}", *rest, *sp_override]
    app = hydra.main(version_base="1.3", config_path="conf", config_name=command)(_runner(command))
    app()


if __name__ == "__main__":
    main()

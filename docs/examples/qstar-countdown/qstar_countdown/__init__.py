"""qstar-countdown: the Countdown numbers puzzle as a qstar task, and a greedy search with restarts.

Everything reaches qstar through the hooks below, listed under the ``qstar`` entry-point group in
this package's ``pyproject.toml``; qstar itself is not edited.
"""

from __future__ import annotations

import qstar

from .command import CountdownStatsConfig, countdown_stats
from .optimizer import KeepConfig, KeepPolicy
from .search import GreedyRestart, GreedyRestartConfig
from .task import CountdownConfig, CountdownTask

__all__ = [
    "CountdownConfig",
    "CountdownStatsConfig",
    "CountdownTask",
    "GreedyRestart",
    "GreedyRestartConfig",
    "KeepConfig",
    "KeepPolicy",
    "countdown_stats",
]


@qstar.hookimpl
def qstar_register_tasks(register):
    register("countdown", CountdownTask, CountdownConfig)


@qstar.hookimpl
def qstar_register_searches(register):
    register("greedy-restart", GreedyRestart, GreedyRestartConfig)


@qstar.hookimpl
def qstar_register_optimizers(register):
    register("keep", KeepPolicy, KeepConfig)


@qstar.hookimpl
def qstar_register_commands(register):
    # its YAML is conf/countdown-stats.yaml; its schema goes to Hydra's ConfigStore as countdown-stats_schema
    register("countdown-stats", countdown_stats, CountdownStatsConfig, help="count the puzzles of a countdown split and show the first few")


@qstar.hookimpl
def qstar_config_searchpath():
    # conf/ must be a package (it has an __init__.py) for Hydra's pkg:// to find it
    return "pkg://qstar_countdown.conf"

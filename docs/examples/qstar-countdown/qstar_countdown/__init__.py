"""qstar-countdown: the Countdown numbers puzzle as a qstar task, and a greedy search with restarts.

Everything reaches qstar through the hooks below, listed under the ``qstar`` entry-point group in
this package's ``pyproject.toml``; qstar itself is not edited.
"""

from __future__ import annotations

import qstar

from .search import GreedyRestart, GreedyRestartConfig
from .task import CountdownConfig, CountdownTask

__all__ = ["CountdownConfig", "CountdownTask", "GreedyRestart", "GreedyRestartConfig"]


@qstar.hookimpl
def qstar_register_tasks(register):
    register("countdown", CountdownTask, CountdownConfig)


@qstar.hookimpl
def qstar_register_searches(register):
    register("greedy-restart", GreedyRestart, GreedyRestartConfig)


@qstar.hookimpl
def qstar_config_searchpath():
    # conf/ must be a package (it has an __init__.py) for Hydra's pkg:// to find it
    return "pkg://qstar_countdown.conf"

"""Command ``qstar countdown-stats``: how many puzzles a split holds, how many numbers they use,
and the first few — a small command a plugin adds through ``qstar_register_commands``.

The config schema is a dataclass (its YAML, ``conf/countdown-stats.yaml``, lists it first in its
defaults); the function receives the composed config and the registry the CLI built once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from qstar.errors import QstarError


@dataclass
class CountdownStatsConfig:
    task: Any = MISSING  # the task (task=countdown): its splits are counted
    split: str = "train"  # the split to count
    show: int = 3  # puzzles to print from the start of the split

    def __post_init__(self):
        if self.show < 0:
            raise QstarError(f"show={self.show}: use 0 (none) or a positive number of puzzles")


def countdown_stats(cfg, registry) -> dict[str, Any]:
    task = registry.build("task", cfg.task)
    problems = task.problems(cfg.split)
    sizes = Counter(len(p.metadata["numbers"]) for p in problems)
    print(f"{task.name}/{cfg.split}: {len(problems)} puzzles")
    for n, count in sorted(sizes.items()):
        print(f"  {n} numbers: {count}")
    for p in problems[: cfg.show]:
        print(f"  {p.question}")
    return {"puzzles": len(problems), "numbers": dict(sizes)}

"""Scorer ``verifier``: the task's rule checks as step scores.

An invalid step scores 0, a correct final answer 1, a wrong one 0, and a valid intermediate step
``intermediate`` (0.5 by default: "legal, outcome unknown"). With ``lookahead=true`` a valid
intermediate step scores 1 when the task's exact solver says the goal is still reachable and 0
otherwise — an oracle value, the rule-based counterpart of Tree-of-Thoughts' "sure/impossible"
value prompt; it needs a task with ``solvable(problem, steps)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.tree import Problem


@dataclass
class VerifierConfig:
    name: str = "verifier"
    intermediate: float = 0.5  # score of a legal step whose outcome is not known yet
    lookahead: bool = False  # exact reachability check (oracle value) instead of `intermediate`


class RuleVerifier:
    name = "verifier"

    def __init__(self, cfg: VerifierConfig, task):
        if cfg.lookahead and not hasattr(task, "solvable"):
            raise QstarError(f"scorer.lookahead=true needs a task with solvable(); {task.name!r} has none")
        self.cfg, self.task = cfg, task

    def score(self, problems: Sequence[Problem], paths: Sequence[Sequence[str]]) -> list[float]:
        return [self._score(p, list(steps)) for p, steps in zip(problems, paths)]

    def _score(self, problem: Problem, steps: list[str]) -> float:
        if not steps:
            return self.cfg.intermediate
        verdict = self.task.check_step(problem, steps[:-1], steps[-1])
        if not verdict.valid or verdict.dead_end:
            return 0.0
        if verdict.terminal:
            return 1.0 if verdict.correct else 0.0
        if self.cfg.lookahead:
            return 1.0 if self.task.solvable(problem, steps) else 0.0
        return self.cfg.intermediate


@hookimpl
def qstar_register_scorers(register):
    register("verifier", RuleVerifier, VerifierConfig)

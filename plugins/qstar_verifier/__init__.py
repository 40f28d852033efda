"""Scorer ``verifier``: the task's rule checks as step scores.

An illegal step scores 0, a correct final answer 1, a wrong one 0. A legal intermediate step
scores by the task's rules too: with ``lookahead=true`` (the default, for tasks that define
``solvable(problem, steps)``) 1 when the goal is still reachable from it and 0 when it is not —
the rule-based counterpart of Tree-of-Thoughts' "sure/likely/impossible" value prompt, exact and
nearly free for the Game of 24; with ``lookahead=false`` (or a task without ``solvable``) it
scores ``intermediate`` (0.5: "legal, outcome unknown") and only legality and answers are judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.tree import Problem


@dataclass
class VerifierConfig:
    name: str = "verifier"  # the registered name: scorer=verifier
    intermediate: float = 0.5  # score of a legal step whose outcome is not known yet
    lookahead: bool = True  # score legal steps by reachability when the task can decide it

    def __post_init__(self):
        if not 0 <= self.intermediate <= 1:
            raise QstarError(f"scorer.intermediate={self.intermediate}: scores are in [0, 1]")


class RuleVerifier:
    name = "verifier"
    max_score = 1.0
    learned = False  # the task's rules: the rules setting, or the oracle with lookahead

    def __init__(self, cfg: VerifierConfig, task):
        self.cfg, self.task = cfg, task
        self.lookahead = cfg.lookahead and hasattr(task, "solvable")

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
        if self.lookahead:
            return 1.0 if self.task.solvable(problem, steps) else 0.0
        return self.cfg.intermediate


@hookimpl
def qstar_register_scorers(register):
    register("verifier", RuleVerifier, VerifierConfig)

"""Task ``game24``: the Game of 24 with the Tree-of-Thoughts split (Yao et al., 2023).

The 1,362 puzzles are ranked by human solve time; the test split is rows 900–999 (the hard end,
as in the paper), validation every 20th of the remaining rows, train the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.protocols import StepVerdict
from qstar.tree import Problem

from . import game

TEST_ROWS = range(900, 1000)
VAL_EVERY = 20
SPLITS = ("train", "val", "test", "all")


@lru_cache(maxsize=1)
def puzzles() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("data/puzzles.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def split_rows(split: str) -> list[int]:
    n = len(puzzles())
    rest = [i for i in range(n) if i not in TEST_ROWS]
    if split == "test":
        return list(TEST_ROWS)
    if split == "val":
        return rest[::VAL_EVERY]
    if split == "train":
        val = set(rest[::VAL_EVERY])
        return [i for i in rest if i not in val]
    if split == "all":
        return list(range(n))
    raise QstarError(f"unknown split {split!r} for task game24: choose one of {', '.join(SPLITS)}")


@dataclass
class Game24Config:
    """Task options (none needed yet; the schema rejects misspelled keys)."""

    name: str = "game24"  # the registered task name


class Game24Task:
    name = "game24"
    max_depth = 4  # three combining steps + the answer line

    def __init__(self, cfg: Game24Config | None = None):
        self.cfg = cfg or Game24Config()

    # -- problems ---------------------------------------------------------------------------
    def problems(self, split: str) -> list[Problem]:
        return [self._problem(puzzles()[i], row=i) for i in split_rows(split)]

    def parse_problem(self, text: str) -> Problem:
        try:
            numbers = game.parse_puzzle(text)
        except game.PuzzleError as e:
            raise QstarError(str(e)) from None
        return self._problem(" ".join(map(str, numbers)))

    @staticmethod
    def _problem(text: str, row: int | None = None) -> Problem:
        numbers = game.parse_puzzle(text)
        meta = {"numbers": list(numbers)}
        if row is not None:
            meta["row"] = row
        return Problem(id=f"game24-{'-'.join(map(str, numbers))}", question=text, metadata=meta)

    def prompt(self, problem: Problem) -> str:
        return f"Input: {problem.question}\n"

    # -- rules ------------------------------------------------------------------------------
    def state(self, problem: Problem, previous: Sequence[str]) -> tuple[Fraction, ...] | None:
        state = tuple(Fraction(n) for n in problem.metadata["numbers"])
        for step in previous:
            check = game.check_step(state, step)
            if not check.valid:
                return None
            state = check.left
        return state

    def check_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        numbers = tuple(problem.metadata["numbers"])
        text = step.strip()
        if text.startswith(game.ANSWER_PREFIX):
            correct = game.check_answer(numbers, text)
            return StepVerdict(valid=correct, terminal=True, answer=game.answer_expression(text), correct=correct)
        if len(previous) >= self.max_depth - 1:
            return StepVerdict(valid=False, terminal=True)  # only an answer may follow three steps
        state = self.state(problem, previous)
        if state is None:
            return StepVerdict(valid=False, terminal=True)
        check = game.check_step(state, text)
        if not check.valid:
            return StepVerdict(valid=False, terminal=True)
        dead = len(check.left) == 1 and check.left[0] != game.TARGET
        return StepVerdict(valid=True, dead_end=dead)

    # -- parsing only (what a search sees in the learned setting) ------------------------------
    def parse_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        """Form only, no judgement: an answer line ends the path and states its expression; a
        step must have the form ``a+b=c (left: ...)``; neither arithmetic, nor the numbers used,
        nor the answer's value is checked."""
        text = step.strip()
        if text.startswith(game.ANSWER_PREFIX):
            answer = game.answer_expression(text)
            return StepVerdict(valid=bool(answer), terminal=True, answer=answer or None)
        if len(previous) >= self.max_depth - 1 or not game.STEP_RE.match(text):
            return StepVerdict(valid=False, terminal=True)
        return StepVerdict(valid=True)

    def parse_state(self, problem: Problem, steps: Sequence[str]):
        """The numbers the last step *claims* are left, as written (unchecked)."""
        if not steps:
            return tuple(sorted(problem.metadata["numbers"]))
        m = game.STEP_RE.match(steps[-1].strip())
        return ("?", steps[-1]) if m is None else ("left", len(steps), tuple(sorted(m["left"].split())))

    def state_key(self, problem: Problem, steps: Sequence[str]):
        """Paths that leave the same numbers are the same state (searches may merge them)."""
        return self.state(problem, steps)

    def solvable(self, problem: Problem, steps: Sequence[str]) -> bool:
        """Exact look-ahead: can the numbers left after ``steps`` still make 24?"""
        state = self.state(problem, steps)
        return state is not None and game.solvable(state)

    def perturb_step(self, problem: Problem, previous: Sequence[str], step: str, rng) -> str | None:
        """A plausible mistake in place of ``step`` (``qstar label perturb=k``); None when the
        path before it is not legal or the step does not parse."""
        state = self.state(problem, previous)
        return None if state is None else game.perturb_step(state, step, rng, game.TARGET)

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        return answer is not None and game.check_answer(tuple(problem.metadata["numbers"]), answer)

    def gold_trajectories(self, problem: Problem) -> list[list[str]]:
        return game.solve_all(tuple(problem.metadata["numbers"]))

    def random_legal_trajectories(self, problem: Problem, n: int, rng) -> list[list[str]]:
        """``n`` trajectories of random legal steps whose answer line states what they made,
        none of which reaches 24 (those are drawn again): data for a policy that knows the rules
        and the format but has never seen a solution."""
        out, tries = [], 0
        while len(out) < n and tries < 50 * n:
            tries += 1
            steps, value = game.RULES.random_trajectory(tuple(problem.metadata["numbers"]), rng)
            if value != 24:
                out.append(steps)
        return out


@hookimpl
def qstar_register_tasks(register):
    register("game24", Game24Task, Game24Config)

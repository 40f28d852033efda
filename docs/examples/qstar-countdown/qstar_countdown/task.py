"""Task ``countdown``: reach a target number from given numbers with + − × ÷, each number used at
most once (the numbers round of the Countdown game show, with small numbers).

The rules are qstar_game24's arithmetic-puzzle rules with this problem's target, imported, not
copied. A trajectory is Game-of-24 steps (``7*9=63 (left: 2 3 63)``); it ends as soon as a step
makes the target, and the answer is the expression those steps built. An ``Answer: <expr>=<target>``
line is accepted at any point too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from qstar.errors import QstarError
from qstar.protocols import StepVerdict
from qstar.tree import Problem
from qstar_game24.arithmetic import ANSWER_PREFIX, ArithmeticRules, PuzzleError

PROBLEM_RE = re.compile(r"^\s*(\d{1,6})\s+from\s+(.+)$")


@dataclass
class CountdownConfig:
    name: str = "countdown"  # the registered task name
    max_numbers: int = 6  # longest puzzle parse_problem accepts (the solver is exponential in it)
    target_in_prompt: bool = True  # false: the bare Game of 24 prompt, for qstar's bundled policy,
    # which never saw a target (the scorer alone then steers towards it)


class CountdownTask:
    name = "countdown"
    max_depth = 5  # steps in the longest trajectory: six numbers need at most five steps

    def __init__(self, cfg: CountdownConfig | None = None):
        self.cfg = cfg or CountdownConfig()
        if self.cfg.max_numbers < 2:
            raise QstarError(f"task.max_numbers={self.cfg.max_numbers}: a puzzle needs at least 2 numbers")
        self.max_depth = self.cfg.max_numbers - 1

    # -- problems -------------------------------------------------------------------------------
    def problems(self, split: str) -> list[Problem]:
        from . import puzzles  # imported here so `python -m qstar_countdown.puzzles` runs cleanly

        if split not in puzzles.SPLITS:
            raise QstarError(f"unknown split {split!r} for task countdown: choose one of {', '.join(puzzles.SPLITS)}")
        return [self.parse_problem(line) for line in puzzles.load(split)]

    def parse_problem(self, text: str) -> Problem:
        m = PROBLEM_RE.match(text)
        try:
            if m is None:
                raise PuzzleError("")
            target = int(m[1])
            numbers = ArithmeticRules(target=target, count=None, use_all=False).parse_puzzle(m[2])
            if len(numbers) > self.cfg.max_numbers:
                raise PuzzleError("")
        except PuzzleError:
            raise QstarError(
                f"malformed countdown problem {text!r}: expected '<target> from <numbers>' with "
                f"2 to {self.cfg.max_numbers} whole numbers, such as '63 from 2 3 7 9'"
            ) from None
        question = f"{target} from {' '.join(map(str, numbers))}"
        return Problem(
            id=f"countdown-{target}-from-{'-'.join(map(str, numbers))}",
            question=question,
            answer=str(target),
            metadata={"numbers": list(numbers), "target": target},
        )

    def prompt(self, problem: Problem) -> str:
        numbers = " ".join(map(str, problem.metadata["numbers"]))
        if not self.cfg.target_in_prompt:
            return f"Input: {numbers}\n"
        return f"Input: {numbers} target {problem.metadata['target']}\n"

    # -- rules ----------------------------------------------------------------------------------
    @staticmethod
    def rules(problem: Problem) -> ArithmeticRules:
        return ArithmeticRules(target=problem.metadata["target"], count=None, use_all=False)

    def check_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        rules, numbers = self.rules(problem), problem.metadata["numbers"]
        text = step.strip()
        if text.startswith(ANSWER_PREFIX):
            correct = rules.check_answer(numbers, text)
            return StepVerdict(valid=correct, terminal=True, answer=rules.answer_expression(text), correct=correct)
        items = rules.replay(numbers, [*previous, text])
        if items is None:
            return StepVerdict(valid=False, terminal=True)
        made = rules.check_step(tuple(v for v, _ in rules.replay(numbers, previous)), text).result
        if made == rules.target:
            expr = next(e for v, e in items if v == made)
            return StepVerdict(valid=True, terminal=True, answer=expr, correct=True)
        if len(items) == 1:  # one number left and it is not the target: nothing can follow
            return StepVerdict(valid=True, terminal=True, dead_end=True, correct=False)
        return StepVerdict(valid=True)

    def state_key(self, problem: Problem, steps: Sequence[str]):
        """The numbers left: paths that leave the same numbers are the same state."""
        items = self.rules(problem).replay(problem.metadata["numbers"], steps)
        return None if items is None else tuple(v for v, _ in items)

    def solvable(self, problem: Problem, steps: Sequence[str]) -> bool:
        """Exact look-ahead (an oracle): can the numbers left still make the target?"""
        state = self.state_key(problem, steps)
        return state is not None and self.rules(problem).solvable(state)

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        return answer is not None and self.rules(problem).check_answer(problem.metadata["numbers"], answer)

    def gold_trajectories(self, problem: Problem) -> list[list[str]]:
        """Every shortest way to the target (steps only: the last one makes it)."""
        solutions = self.rules(problem).solutions(problem.metadata["numbers"])
        shortest = min((len(s) for s, _ in solutions), default=0)
        return [steps for steps, _ in solutions if len(steps) == shortest]

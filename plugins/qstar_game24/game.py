"""Game of 24 rules: :class:`~qstar_game24.arithmetic.ArithmeticRules` with four numbers and
target 24, as module functions.

A trajectory follows the Tree-of-Thoughts format (Yao et al., 2023, "Tree of Thoughts: Deliberate
Problem Solving with Large Language Models", Sec. 4.1): three steps that each combine two of the
remaining numbers, then one answer line::

    Input: 4 9 10 13
    13-9=4 (left: 4 4 10)
    10-4=6 (left: 4 6)
    4*6=24 (left: 24)
    Answer: (10-(13-9))*4=24
"""

from __future__ import annotations

from fractions import Fraction

from .arithmetic import (  # noqa: F401 - re-exported: the step language is shared by the family
    ANSWER_PREFIX,
    OPS,
    STEP_RE,
    ArithmeticRules,
    PuzzleError,
    StepCheck,
    answer_expression,
    apply,
    check_step,
    fmt,
    fmt_left,
    fmt_operand,
    parse_num,
    perturb_step,
)

TARGET = Fraction(24)
RULES = ArithmeticRules(target=24, count=4, use_all=True)


def parse_puzzle(text: str) -> tuple[int, ...]:
    """``"4 9 10 13"`` → ``(4, 9, 10, 13)``; raises :class:`PuzzleError` with the fix."""
    return RULES.parse_puzzle(text)


def check_answer(puzzle: tuple[int, ...], line: str) -> bool:
    """True when ``line`` ("Answer: <expr>=24" or just "<expr>") uses each number once and makes 24."""
    return RULES.check_answer(puzzle, line)


def solve_all(puzzle: tuple[int, ...]) -> list[list[str]]:
    """All gold trajectories (steps + answer line), deduplicated, in a deterministic order."""
    return RULES.solve_all(puzzle)


def solvable(state: tuple[Fraction, ...]) -> bool:
    """Can the remaining numbers still make exactly 24? (exact search; used by the oracle value)."""
    return RULES.solvable(state)

"""Game of 24 rules with exact rational arithmetic.

A trajectory follows the Tree-of-Thoughts format (Yao et al., 2023, "Tree of Thoughts: Deliberate
Problem Solving with Large Language Models", Sec. 4.1): three steps that each combine two of the
remaining numbers, then one answer line::

    Input: 4 9 10 13
    13-9=4 (left: 4 4 10)
    10-4=6 (left: 4 6)
    4*6=24 (left: 24)
    Answer: (10-(13-9))*4=24

Fractions are written ``8/3`` in the ``left:`` list and ``(8/3)`` as an operand, so a step line
is never ambiguous. Subtraction results are non-negative (every solvable puzzle has such a
solution, and it keeps the step language small).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import combinations

TARGET = Fraction(24)
OPS = "+-*/"

_NUM = r"\d+(?:/\d+)?"
_OPERAND = r"\d+|\(\d+/\d+\)"
STEP_RE = re.compile(
    rf"^(?P<a>{_OPERAND})(?P<op>[-+*/])(?P<b>{_OPERAND})=(?P<c>{_NUM}) "
    rf"\(left: (?P<left>{_NUM}(?: {_NUM})*)\)$"
)
ANSWER_PREFIX = "Answer:"


class PuzzleError(ValueError):
    """A puzzle string that is not four numbers."""


def parse_puzzle(text: str) -> tuple[int, ...]:
    """``"4 9 10 13"`` → ``(4, 9, 10, 13)``; raises :class:`PuzzleError` with the fix."""
    parts = text.replace(",", " ").split()
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise PuzzleError(
            f"malformed Game of 24 problem {text!r}: expected four whole numbers such as '4 9 10 13'"
        )
    return tuple(sorted(int(p) for p in parts))


def fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def fmt_operand(x: Fraction) -> str:
    return fmt(x) if x.denominator == 1 else f"({fmt(x)})"


def parse_num(text: str) -> Fraction:
    return Fraction(text.strip("()"))


def fmt_left(numbers) -> str:
    return " ".join(fmt(x) for x in sorted(numbers))


def apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else None


# --------------------------------------------------------------------------- step checking


@dataclass(frozen=True)
class StepCheck:
    valid: bool
    left: tuple[Fraction, ...] = ()
    reason: str = ""


def check_step(state: tuple[Fraction, ...], step: str) -> StepCheck:
    """Is ``step`` a legal move from ``state`` with correct arithmetic and remaining numbers?"""
    m = STEP_RE.match(step.strip())
    if not m:
        return StepCheck(False, reason="not a step of the form 'a+b=c (left: ...)'")
    try:
        a, b, c = parse_num(m["a"]), parse_num(m["b"]), parse_num(m["c"])
        left = tuple(sorted(parse_num(x) for x in m["left"].split()))
    except ZeroDivisionError:
        return StepCheck(False, reason="a number with denominator 0")
    pool = Counter(state)
    for x in (a, b):
        if pool[x] <= 0:
            return StepCheck(False, reason=f"{fmt(x)} is not among the remaining numbers")
        pool[x] -= 1
    if apply(a, m["op"], b) != c:
        return StepCheck(False, reason="wrong arithmetic")
    if c < 0:
        return StepCheck(False, reason="negative intermediate result")
    pool[c] += 1
    if Counter(left) != +pool:
        return StepCheck(False, reason="wrong remaining numbers")
    return StepCheck(True, left=left)


# --------------------------------------------------------------------------- answer checking


def _eval(node: ast.AST) -> tuple[Fraction, list[int]]:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Fraction(node.value), [node.value]
    if isinstance(node, ast.BinOp):
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
        op = ops.get(type(node.op))
        if op is None:
            raise ValueError("only + - * / are allowed")
        (a, na), (b, nb) = _eval(node.left), _eval(node.right)
        value = apply(a, op, b)
        if value is None:
            raise ValueError("division by zero")
        return value, na + nb
    raise ValueError("not an arithmetic expression")


def check_answer(puzzle: tuple[int, ...], line: str) -> bool:
    """True when ``line`` ("Answer: <expr>=24" or just "<expr>") uses each number once and makes 24."""
    text = line.strip()
    if text.startswith(ANSWER_PREFIX):
        text = text[len(ANSWER_PREFIX):]
    expr, *claimed = [part.strip() for part in text.split("=")]
    if not expr or len(claimed) > 1 or (claimed and claimed[0] != "24"):
        return False  # "…=23" or "…=24.0" is a wrong claim even when the expression makes 24
    try:
        value, numbers = _eval(ast.parse(expr, mode="eval"))
    except (SyntaxError, ValueError, RecursionError):
        return False
    return value == TARGET and sorted(numbers) == sorted(puzzle)


def answer_expression(line: str) -> str | None:
    text = line.strip()
    if not text.startswith(ANSWER_PREFIX):
        return None
    return text[len(ANSWER_PREFIX):].split("=")[0].strip()


# --------------------------------------------------------------------------- brute-force solver


def _wrap(expr: str) -> str:
    return expr if expr.isdigit() else f"({expr})"


def _moves(items: tuple[tuple[Fraction, str], ...]):
    """Every legal step from ``items`` (value, expression) in canonical operand order."""
    for i, j in combinations(range(len(items)), 2):
        rest = items[:i] + items[i + 1 : j] + items[j + 1 :]
        (x, ex), (y, ey) = items[i], items[j]
        hi, lo = ((x, ex), (y, ey)) if x >= y else ((y, ey), (x, ex))
        candidates = [(hi, "+", lo), (hi, "*", lo), (hi, "-", lo), (hi, "/", lo)]
        if hi[0] != lo[0]:
            candidates.append((lo, "/", hi))
        for (a, ea), op, (b, eb) in candidates:
            c = apply(a, op, b)
            if c is None:
                continue
            step_lhs = f"{fmt_operand(a)}{op}{fmt_operand(b)}={fmt(c)}"
            yield step_lhs, rest + ((c, f"{_wrap(ea)}{op}{_wrap(eb)}"),)


def solve_all(puzzle: tuple[int, ...]) -> list[list[str]]:
    """All gold trajectories (steps + answer line), deduplicated, in a deterministic order."""
    start = tuple(sorted(((Fraction(n), str(n)) for n in puzzle), key=lambda t: t[0]))
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def rec(items, steps):
        if len(items) == 1:
            value, expr = items[0]
            if value == TARGET:
                traj = tuple(steps + [f"{ANSWER_PREFIX} {expr}=24"])
                if traj not in seen:
                    seen.add(traj)
                    out.append(list(traj))
            return
        for lhs, nxt in _moves(items):
            nxt = tuple(sorted(nxt, key=lambda t: t[0]))
            rec(nxt, steps + [f"{lhs} (left: {fmt_left(v for v, _ in nxt)})"])

    rec(start, [])
    return out


@lru_cache(maxsize=200_000)
def solvable(state: tuple[Fraction, ...]) -> bool:
    """Can the remaining numbers still make exactly 24? (exact search; used by the oracle value)."""
    if len(state) == 1:
        return state[0] == TARGET
    items = tuple((v, "") for v in state)
    return any(solvable(tuple(sorted(v for v, _ in nxt))) for _, nxt in _moves(items))

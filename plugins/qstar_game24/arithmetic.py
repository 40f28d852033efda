"""Rules of arithmetic puzzles: reach a target from given numbers with + − × ÷, exact arithmetic.

The Game of 24 is ``ArithmeticRules(target=24, count=4)``; other puzzles of the family reuse the
same step format, checker and solver with their own parameters — a countdown task, say, is
``ArithmeticRules(target=t, count=None, use_all=False)`` (any count of numbers, each used at most
once)::

    from qstar_game24.arithmetic import ArithmeticRules

A trajectory is a sequence of steps that each combine two of the remaining numbers, in the
Tree-of-Thoughts format (Yao et al., 2023, Sec. 4.1)::

    13-9=4 (left: 4 4 10)

Fractions are written ``8/3`` in the ``left:`` list and ``(8/3)`` as an operand, so a step line is
never ambiguous. Subtraction results are non-negative (every solvable puzzle has such a solution,
and it keeps the step language small). Arithmetic is exact (``fractions.Fraction``).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import combinations
from typing import Iterator, Sequence

OPS = "+-*/"
ANSWER_PREFIX = "Answer:"

_NUM = r"\d+(?:/\d+)?"
_OPERAND = r"\d+|\(\d+/\d+\)"
STEP_RE = re.compile(
    rf"^(?P<a>{_OPERAND})(?P<op>[-+*/])(?P<b>{_OPERAND})=(?P<c>{_NUM}) "
    rf"\(left: (?P<left>{_NUM}(?: {_NUM})*)\)$"
)
MAX_DIGITS = 6  # a puzzle number longer than this is refused, not searched


class PuzzleError(ValueError):
    """A puzzle string that is not the expected whole numbers."""


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


@dataclass(frozen=True)
class StepCheck:
    valid: bool
    left: tuple[Fraction, ...] = ()
    reason: str = ""
    result: Fraction | None = None  # the number the step made


def check_step(state: tuple[Fraction, ...], step: str) -> StepCheck:
    """Is ``step`` a legal move from ``state`` with correct arithmetic and remaining numbers?
    (The same for every target: a step never mentions it.)"""
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
    return StepCheck(True, left=left, result=c)


def perturb_step(state: tuple[Fraction, ...], step: str, rng, target: Fraction) -> str | None:
    """A plausible mistake in place of the legal ``step`` from ``state``, of the kinds a small
    policy makes: a wrong result (often the target itself), an operand that is not left, or a
    wrong ``left:`` list; an answer line gets one operator swapped. None when ``step`` does not
    parse. The result is usually illegal, not always: whoever labels it judges it."""
    text = step.strip()
    if text.startswith(ANSWER_PREFIX):
        ops = [i for i, ch in enumerate(text) if ch in OPS and i > len(ANSWER_PREFIX)]
        expr_end = text.find("=")
        ops = [i for i in ops if expr_end < 0 or i < expr_end]
        if not ops:
            return None
        i = rng.choice(ops)
        return text[:i] + rng.choice([o for o in OPS if o != text[i]]) + text[i + 1 :]
    m = STEP_RE.match(text)
    if m is None:
        return None
    a, b, c = parse_num(m["a"]), parse_num(m["b"]), parse_num(m["c"])
    op, left = m["op"], list(parse_num(x) for x in m["left"].split())
    kind = rng.choice(["result", "result", "target", "operand", "left"])
    if kind == "target" and c == target:  # the target claimed from other operands
        x = rng.choice([y for y in range(1, 14) if Fraction(y) not in (a, b)])
        a, b = (Fraction(x), b) if rng.random() < 0.5 else (a, Fraction(x))
        return f"{fmt_operand(a)}{op}{fmt_operand(b)}={fmt(c)} (left: {fmt_left(left)})"
    if kind == "target":
        new_c = target
    elif kind in ("result", "target"):
        others = [apply(a, o, b) for o in OPS if o != op]
        near = [c + d for d in (-2, -1, 1, 2)] + [c * 2, Fraction(rng.randint(1, 60))]
        new_c = rng.choice([x for x in others + near if x is not None and x >= 0 and x != c] or [c + 1])
    if kind in ("result", "target"):
        if c in left:
            left.remove(c)
        left.append(new_c)
        c = new_c
    elif kind == "operand":
        absent = [Fraction(x) for x in range(1, 14) if Fraction(x) not in state]
        x = rng.choice(absent)
        if rng.random() < 0.5:
            a = x
        else:
            b = x
        new_c = apply(a, op, b)
        if new_c is None or new_c < 0:
            return None
        if c in left:
            left.remove(c)
        left.append(new_c)
        c = new_c
    else:  # a wrong remaining list: one number changed, dropped or repeated
        others = [i for i, x in enumerate(left) if x != c] or list(range(len(left)))
        i = rng.choice(others)
        how = rng.choice(["change", "drop", "repeat"]) if len(left) > 1 else "change"
        if how == "change":
            left[i] = max(Fraction(1), left[i] + rng.choice([-2, -1, 1, 2, 3]))
        elif how == "drop":
            del left[i]
        else:
            left.append(left[i])
    out = f"{fmt_operand(a)}{op}{fmt_operand(b)}={fmt(c)} (left: {fmt_left(left)})"
    return None if out == text else out


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


def answer_expression(line: str) -> str | None:
    text = line.strip()
    if not text.startswith(ANSWER_PREFIX):
        return None
    return text[len(ANSWER_PREFIX) :].split("=")[0].strip()


def _wrap(expr: str) -> str:
    return expr if expr.isdigit() else f"({expr})"


def moves(items: tuple[tuple[Fraction, str], ...]) -> Iterator[tuple[str, Fraction, tuple[tuple[Fraction, str], ...]]]:
    """Every legal step from ``items`` ((value, expression) pairs) in canonical operand order:
    ``(step text before ' (left: …)', the number made, the items after the step)``."""
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
            lhs = f"{fmt_operand(a)}{op}{fmt_operand(b)}={fmt(c)}"
            nxt = tuple(sorted(rest + ((c, f"{_wrap(ea)}{op}{_wrap(eb)}"),), key=lambda t: t[0]))
            yield lhs, c, nxt


@dataclass(frozen=True)
class ArithmeticRules:
    """One puzzle family: ``target``, the ``count`` of numbers (``None``: any, at least two) and
    whether an answer must use every number (``use_all``) or each at most once."""

    target: int = 24
    count: int | None = 4
    use_all: bool = True

    # -- puzzles -------------------------------------------------------------------------------
    def parse_puzzle(self, text: str) -> tuple[int, ...]:
        """``"4 9 10 13"`` → ``(4, 9, 10, 13)`` (sorted); raises :class:`PuzzleError` with the fix."""
        parts = text.replace(",", " ").split()
        # str.isdigit() also accepts '²' and other digits int() refuses: check ASCII digits
        ok = all(p.isascii() and p.isdigit() and len(p) <= MAX_DIGITS for p in parts)
        if not ok or (self.count is not None and len(parts) != self.count) or len(parts) < 2:
            words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
            n = words.get(self.count, str(self.count)) if self.count else "two or more"
            raise PuzzleError(
                f"malformed {self.name} problem {text!r}: expected {n} whole numbers (at most {MAX_DIGITS} digits) such as '{self.example}'"
            )
        return tuple(sorted(int(p) for p in parts))

    @property
    def name(self) -> str:
        return "Game of 24" if (self.target, self.count, self.use_all) == (24, 4, True) else f"target-{self.target}"

    @property
    def example(self) -> str:
        return "4 9 10 13" if self.count in (4, None) else " ".join(str(i + 2) for i in range(self.count))

    # -- steps and answers ---------------------------------------------------------------------
    check_step = staticmethod(check_step)
    answer_expression = staticmethod(answer_expression)

    def replay(self, puzzle: Sequence[int], steps: Sequence[str]) -> tuple[tuple[Fraction, str], ...] | None:
        """The (value, expression) of every number left after ``steps``; ``None`` if one is illegal.
        The expression says how each number was made from the puzzle's, e.g. ``(13-9)``."""
        items = tuple(sorted(((Fraction(n), str(n)) for n in puzzle), key=lambda t: t[0]))
        for step in steps:
            m = STEP_RE.match(step.strip())
            check = check_step(tuple(v for v, _ in items), step)
            if m is None or not check.valid:
                return None
            a, b = parse_num(m["a"]), parse_num(m["b"])
            pool = list(items)
            ia = next(i for i, (v, _) in enumerate(pool) if v == a)
            ea = pool.pop(ia)[1]
            ib = next(i for i, (v, _) in enumerate(pool) if v == b)
            eb = pool.pop(ib)[1]
            items = tuple(sorted(pool + [(check.result, f"{_wrap(ea)}{m['op']}{_wrap(eb)}")], key=lambda t: t[0]))
        return items

    def check_answer(self, puzzle: Sequence[int], line: str) -> bool:
        """True when ``line`` ("Answer: <expr>=<target>" or just "<expr>") makes the target with
        the puzzle's numbers: each exactly once (``use_all``) or each at most once."""
        text = line.strip()
        if text.startswith(ANSWER_PREFIX):
            text = text[len(ANSWER_PREFIX) :]
        expr, *claimed = [part.strip() for part in text.split("=")]
        if not expr or len(claimed) > 1 or (claimed and claimed[0] != str(self.target)):
            return False  # "…=23" or "…=24.0" is a wrong claim even when the expression makes 24
        try:
            value, numbers = _eval(ast.parse(expr, mode="eval"))
        except (SyntaxError, ValueError, RecursionError):
            return False
        if value != self.target:
            return False
        if self.use_all:
            return sorted(numbers) == sorted(puzzle)
        return not Counter(numbers) - Counter(puzzle)

    def reached(self, state: Sequence[Fraction]) -> bool:
        """Is the puzzle done in ``state``: only the target left, or (``use_all=False``) the target made?"""
        if self.use_all:
            return len(state) == 1 and state[0] == self.target
        return self.target in state

    # -- solver ---------------------------------------------------------------------------------
    def solutions(self, puzzle: Sequence[int]) -> list[tuple[list[str], str]]:
        """Every step sequence that reaches the target (see :meth:`reached`), each with the
        expression it builds, deduplicated, in a deterministic order."""
        start = tuple(sorted(((Fraction(n), str(n)) for n in puzzle), key=lambda t: t[0]))
        out: list[tuple[list[str], str]] = []
        seen: set[tuple[tuple[str, ...], str]] = set()

        def rec(items, steps):
            values = [v for v, _ in items]
            if steps and self.reached(values):
                expr = next(e for v, e in items if v == self.target)
                if (tuple(steps), expr) not in seen:
                    seen.add((tuple(steps), expr))
                    out.append((list(steps), expr))
                return
            for lhs, _, nxt in moves(items):
                rec(nxt, steps + [f"{lhs} (left: {fmt_left(v for v, _ in nxt)})"])

        rec(start, [])
        return out

    def random_trajectory(self, puzzle: Sequence[int], rng) -> tuple[list[str], Fraction]:
        """Legal steps chosen uniformly at random until one number is left, then an answer line
        stating the expression built and the value it *actually* makes (``Answer: (4+9)*13-10=159``);
        returns the trajectory and that value. Teaches the format and the arithmetic, not the goal."""
        items = tuple(sorted(((Fraction(n), str(n)) for n in puzzle), key=lambda t: t[0]))
        steps: list[str] = []
        while len(items) > 1:
            lhs, _, items = rng.choice(list(moves(items)))
            steps.append(f"{lhs} (left: {fmt_left(v for v, _ in items)})")
        value, expr = items[0]
        return steps + [f"{ANSWER_PREFIX} {expr}={fmt(value)}"], value

    def solve_all(self, puzzle: Sequence[int]) -> list[list[str]]:
        """Gold trajectories: the steps of every solution, then ``Answer: <expr>=<target>``."""
        return [steps + [f"{ANSWER_PREFIX} {expr}={self.target}"] for steps, expr in self.solutions(puzzle)]

    def solvable(self, state: Sequence[Fraction]) -> bool:
        """Can the numbers left still reach the target? (exact search, cached)"""
        return _solvable(tuple(sorted(state)), Fraction(self.target), self.use_all)


@lru_cache(maxsize=200_000)
def _solvable(state: tuple[Fraction, ...], target: Fraction, use_all: bool) -> bool:
    if (len(state) == 1 or not use_all) and (state[0] == target if use_all else target in state):
        return True
    if len(state) == 1:
        return False
    items = tuple((v, "") for v in state)
    return any(_solvable(tuple(v for v, _ in nxt), target, use_all) for _, _, nxt in moves(items))

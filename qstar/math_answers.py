"""Final answers of math problems, shared by the math and gsm8k tasks: the content of the last
``\\boxed{}`` in a text, and answers compared by Hugging Face's math-verify (LaTeX → SymPy, then
string, numeric, symbolic, set, interval and matrix equality; ``verify`` in its grader).

math-verify's ``parse`` and ``verify`` bound their work with ``signal.alarm``, which only the main
thread may set; elsewhere they run without a time limit.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

BOXED = ("\\boxed", "\\fbox")
TIMEOUT_S = 5  # seconds math-verify may spend parsing or comparing one answer (main thread only)
SPACING = re.compile(r"(?<!\\)(?:\\left\b|\\right\b|\\[!,;: ])")  # not the row break \\ of a matrix
UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed 5``) in ``text``,
    nested braces kept; None when there is none or it is never closed (a step cut off mid-answer)."""
    start = max(text.rfind(cmd) for cmd in BOXED)
    if start < 0:
        return None
    rest = text[start + len(next(cmd for cmd in BOXED if text.startswith(cmd, start))) :]
    if not rest.lstrip().startswith("{"):  # \boxed 5: the token after the space
        token = re.match(r"\s+([^\s${}]+)", rest)
        return token[1] if token else None
    rest = rest.lstrip()
    depth = 0
    for i, ch in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return rest[1:i]
    return None


def canonical(answer: str) -> str:
    """An answer as stored and voted on: ``\\dfrac``/``\\tfrac`` as ``\\frac``, ``\\left``/``\\right``
    and LaTeX spacing dropped, whitespace collapsed, a trailing period removed. Equal strings are
    equal answers; different strings may still be (``verify`` decides that)."""
    text = SPACING.sub("", answer.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    return " ".join(text.split()).rstrip(".").strip()


def _timeout() -> int | None:
    return TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=8192)
def parse_answer(latex: str) -> tuple:
    """math-verify's reading of one answer (as a boxed answer or MATH's ``answer`` field holds it):
    its SymPy value(s) and the matched text; empty when it reads nothing. Math mode is added
    here (``$…$``): a bare ``\\boxed{10\\%}`` is read as text, ``$10\\%$`` as 10."""
    from math_verify import parse

    return tuple(parse(f"${UNESCAPED_DOLLAR.sub('', latex)}$", parsing_timeout=_timeout()))


def math_equal(answer: str | None, gold: str | None) -> bool:
    """Whether ``answer`` equals the reference ``gold`` by math-verify: ``\\frac12`` = ``0.5`` =
    ``\\dfrac{1}{2}``, ``[2, 5)`` = ``[2,5)`` but not ``(2,5)``, ``10\\text{ cm}`` = ``10``,
    ``30^\\circ`` = ``30``, ``(x+1)^2`` = ``x^2+2x+1``. When math-verify reads neither side, the
    canonical strings are compared."""
    if answer is None or gold is None or not answer.strip():
        return False
    g, a = parse_answer(gold), parse_answer(answer)
    if not g or not a:
        return not g and not a and canonical(answer) == canonical(gold)
    from math_verify import verify

    return bool(verify(list(g), list(a), timeout_seconds=_timeout()))


def latex_number(text: str) -> Fraction | None:
    """A number written in LaTeX (``\\frac{3}{4}``, ``18\\text{ dollars}``, ``\\$1,000``) as an
    exact fraction; None when math-verify reads no number (a symbol, a set, an expression)."""
    import sympy

    for value in parse_answer(text):
        if isinstance(value, sympy.Rational):  # Integer included
            return Fraction(int(value.p), int(value.q))
        if isinstance(value, sympy.Float):
            return Fraction(Decimal(str(value)))  # its decimal digits, not the binary float
    return None

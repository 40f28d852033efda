"""Final answers of math word problems: the reference after ``#### `` (GSM8K's format, commas
stripped) and a model's answer found in its prose, compared as exact numbers.

Where math-verify (:mod:`qstar.math_answers`) is at least as right, it does the work: a ``\\boxed{}``
answer is read whatever its content (``\\frac{3}{4}``, ``18\\text{ dollars}``, ``\\$1,000``), and a
number written in LaTeX is read by its parser. Two things stay hand-written, because math-verify
is less right for GSM8K there (tests/test_gsm8k.py has the cases):

- whether a step states a final answer at all, and which number: ``math_verify.parse`` always
  falls back to some number ("She sells 9 eggs for $2 each." → 2; "the answer is 5 and 6" → 6),
  so the phrase patterns below decide;
- the comparison: GSM8K answers are exact numbers, while ``math_verify.verify`` rounds to six
  decimals (0.1000001 = 0.1, 0.333333 = 1/3) and counts a symbol equal to itself (x = x).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from qstar.math_answers import canonical, last_boxed, latex_number

NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
HASHES = re.compile(r"####\s*(" + NUMBER + ")")
# The phrases a model states its final answer with, strongest first, after "#### N" and
# "\boxed{...}". Each takes the number the phrase introduces; prose around it is ignored.
ANSWER_PATTERNS = [
    re.compile(r"(?:final answer|the answer)\s*(?:is|:|=)?\s*[:=]?\s*(?:\*\*)?\s*(" + NUMBER + ")", re.IGNORECASE),
    re.compile(r"^\s*(?:\*\*)?answer(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*(" + NUMBER + ")", re.IGNORECASE | re.MULTILINE),
]
CALCULATOR_NOTE = re.compile(r"<<[^>]*>>")


def normalize(number: str) -> str | None:
    """``"$1,234.50"`` → ``"1234.5"``, ``"18.00"`` → ``"18"``, ``"1/3"`` → ``"1/3"``; None when it
    is not a number."""
    value = to_fraction(number)
    if value is None:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    return format(decimal.normalize(), "f") if Fraction(decimal) == value else f"{value.numerator}/{value.denominator}"


def to_fraction(text: str) -> Fraction | None:
    """A plain number (``"$1,234.50"``, ``"3/4"``) exactly, else one in LaTeX read by math-verify;
    None when it is not a number."""
    plain = text.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        if "/" in plain:
            num, den = plain.split("/", 1)
            return Fraction(Decimal(num)) / Fraction(Decimal(den)) if Decimal(den) != 0 else None
        return Fraction(Decimal(plain))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return latex_number(text)


def extract_answer(text: str) -> str | None:
    """The final answer a step states ("The answer is 18.", "\\boxed{18}", "#### 18", "Answer: 18"),
    normalized; None when the step states none. A boxed answer that is no number is kept as
    written (the path ends; it matches no reference)."""
    found = HASHES.findall(text)
    if found:
        return normalize(found[-1])
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return normalize(boxed) or canonical(boxed)
    for pattern in ANSWER_PATTERNS:
        found = pattern.findall(text)
        if found:
            return normalize(found[-1])
    return None


def reference_answer(solution: str) -> str:
    """The number after ``#### `` in a GSM8K solution, commas stripped."""
    if "####" not in solution:
        raise ValueError("a GSM8K answer ends with '#### <number>'")
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def same_number(a: str | None, b: str | None) -> bool:
    """Numeric equality (``"18"`` = ``"18.00"`` = ``"$18"``); False when either is not a number."""
    if a is None or b is None:
        return False
    x, y = to_fraction(a), to_fraction(b)
    return x is not None and y is not None and x == y


def solution_steps(solution: str) -> list[str]:
    """A GSM8K reference solution as steps: its lines without the calculator notes, then
    "The answer is N." (what a policy trained on them learns to end with)."""
    body, _, _ = solution.rpartition("####")
    steps = [CALCULATOR_NOTE.sub("", line).strip() for line in body.splitlines()]
    return [s for s in steps if s] + [f"The answer is {reference_answer(solution)}."]

"""Final answers of math word problems: the reference after ``#### `` (GSM8K's format, commas
stripped) and a model's answer found in its prose, compared as numbers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
# The patterns a model states its final answer with, strongest first. Each takes the number the
# phrase introduces; prose around it ("The answer is $18.", "\boxed{18}", "#### 18") is ignored.
ANSWER_PATTERNS = [
    re.compile(r"####\s*(" + NUMBER + ")"),
    re.compile(r"\\boxed\{\s*(" + NUMBER + r")\s*\}"),
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
    text = text.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(Decimal(num)) / Fraction(Decimal(den)) if Decimal(den) != 0 else None
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None


def extract_answer(text: str) -> str | None:
    """The final answer a step states ("The answer is 18.", "\\boxed{18}", "#### 18", "Answer: 18"),
    normalized; None when the step states none."""
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

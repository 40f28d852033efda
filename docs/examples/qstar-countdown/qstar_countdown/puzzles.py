"""A seeded generator of Countdown puzzles, and the shipped splits.

``python -m qstar_countdown.puzzles`` rewrites ``data/train.txt`` and ``data/test.txt`` exactly
(the same seed gives the same files). Each line is a problem: ``<target> from <numbers>``.
"""

from __future__ import annotations

import random
from fractions import Fraction
from importlib import resources
from pathlib import Path

from qstar_game24.arithmetic import ArithmeticRules

SEED = 0
SPLITS = {"train": 200, "val": 20, "test": 50}
NUMBERS = range(1, 14)  # the card values of the Game of 24, so its policy knows the numbers
TARGETS = range(10, 101)


def generate(n: int, rng: random.Random, exclude: set[str] = frozenset()) -> list[str]:
    """``n`` distinct solvable puzzles: 4 numbers from 1–13 and a target from 10–100 that is not
    one of them; the exact solver decides solvability."""
    out: list[str] = []
    while len(out) < n:
        numbers = sorted(rng.choice(NUMBERS) for _ in range(4))
        target = rng.choice(TARGETS)
        line = f"{target} from {' '.join(map(str, numbers))}"
        if target in numbers or line in exclude or line in out:
            continue
        rules = ArithmeticRules(target=target, count=None, use_all=False)
        if rules.solvable(tuple(Fraction(x) for x in numbers)):
            out.append(line)
    return out


def write_splits(folder: Path, seed: int = SEED) -> None:
    rng = random.Random(seed)
    seen: set[str] = set()
    for split, n in SPLITS.items():
        lines = generate(n, rng, exclude=seen)
        seen |= set(lines)
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")


def load(split: str) -> list[str]:
    text = resources.files(__package__).joinpath(f"data/{split}.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


if __name__ == "__main__":
    write_splits(Path(__file__).parent / "data")

"""Task ``math``: competition mathematics in LaTeX (MATH, Hendrycks et al., 2021), in the layout of
MATH-500, the 500-problem test subset of Lightman et al. (2023, "Let's Verify Step by Step") that
step-search papers report on.

Rows hold ``problem``, ``solution``, ``answer``, ``subject`` (MATH's ``type``), ``level`` and
``unique_id`` (the problem's id when present). By default the task reads 16 rows shipped in the
package, written for qstar in that layout (``data/README.md``); ``task.path`` reads a whole file
(MATH-500's ``test.jsonl``) or a directory in the Hub's layout (``<split>.jsonl`` or
``data/<split>-*.parquet``), through the ``datasets`` library (``reader.py``).

A step is a paragraph (``segmenter=paragraph``); a step holding ``\\boxed{...}`` ends the path and
the content of its last box is the answer. Answers are compared with math-verify
(:func:`qstar.math_answers.math_equal`): ``\\frac12``, ``0.5`` and ``\\dfrac{1}{2}`` are one answer.
Prose is not checked and there is no look-ahead, so ``scorer=verifier`` judges final answers only
(the *rules* setting); with a PRM, or with no scorer (majority vote), searches are *learned*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.math_answers import canonical, last_boxed, math_equal
from qstar.protocols import StepVerdict, graded
from qstar.seeding import stable_int
from qstar.tree import Problem

from .reader import check_row, load, read_rows

__all__ = ["MathConfig", "MathTask", "solution_steps"]

DEFAULT_PROMPT = (
    "Solve the math problem step by step. Write each step as a short paragraph, and put the final answer in \\boxed{}."
    "\n\nProblem: {question}"
)
SHIPPED = "data/test_sample.jsonl"


@dataclass
class MathConfig:
    name: str = "math"  # the registered task name
    path: Optional[str] = None  # a MATH JSONL/parquet file or dataset directory (None: the 16 sample rows shipped with qstar)
    prompt: str = DEFAULT_PROMPT  # the policy's instruction; {question} is replaced by the problem
    max_depth: int = 20  # paragraphs in a path at most (the boxed answer included)
    max_step_tokens: int = 256  # generation length of one step, read by the expanders' defaults
    max_rollout_tokens: int = 1024  # generation length of a whole remaining solution

    def __post_init__(self):
        if "{question}" not in self.prompt:
            raise QstarError("task.prompt must contain {question}: it is where the problem goes")
        if self.max_depth < 1:
            raise QstarError(f"task.max_depth={self.max_depth}: must be at least 1")


def solution_steps(solution: str, answer: str) -> list[str]:
    """A MATH reference solution as steps: its paragraphs, the one with the (first) ``\\boxed{}``
    and everything after it joined into the last step, so only the last step ends the path; a
    solution with no box gets "The final answer is $\\boxed{answer}$." as its last step."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", solution) if p.strip()]
    boxed = next((i for i, p in enumerate(paragraphs) if last_boxed(p) is not None), None)
    if boxed is None:
        return paragraphs + [f"The final answer is $\\boxed{{{answer}}}$."]
    return paragraphs[:boxed] + ["\n".join(paragraphs[boxed:])]


class MathTask:
    name = "math"

    def __init__(self, cfg: MathConfig | None = None):
        self.cfg = cfg or MathConfig()
        self.max_depth = self.cfg.max_depth

    # -- problems ---------------------------------------------------------------------------
    def problems(self, split: str) -> list[Problem]:
        if self.cfg.path is None:
            if split != "test":
                raise QstarError(
                    f"task math ships 16 sample rows of a test split only: use split=test, or task.path=<MATH file> for {split!r}"
                )
            with resources.as_file(resources.files(__package__).joinpath(SHIPPED)) as f:
                rows = [check_row(f"{f}: row {i + 1}", r) for i, r in enumerate(load(f))]
        else:
            rows = read_rows(Path(self.cfg.path).expanduser(), split)
        return [self._problem(r, r["unique_id"] or f"math-{split}-{i}") for i, r in enumerate(rows)]

    def parse_problem(self, text: str) -> Problem:
        """``test/17`` (row 17 of a split), a ``unique_id`` of the test split (``test/algebra/1.json``),
        or a problem in LaTeX; ``problem #### answer`` gives its reference answer."""
        text = text.strip()
        split, _, row = text.partition("/")
        if row.isdigit() and split.isalpha():
            problems = self.problems(split)
            if int(row) >= len(problems):
                raise QstarError(f"problem={text}: the {split} split has {len(problems)} rows (0–{len(problems) - 1})")
            return problems[int(row)]
        if text.endswith(".json") and not any(c.isspace() for c in text):
            found = [p for p in self.problems("test") if p.id == text]
            if not found:
                raise QstarError(f"problem={text}: no test problem has that unique_id; pass test/<row> or the problem's text")
            return found[0]
        question, _, answer = text.partition("####")
        if not question.strip():
            raise QstarError("problem= is empty: pass a problem (optionally 'problem #### answer') or test/<row>")
        return Problem(id=f"math-q-{stable_int(question.strip()) % 10**10}", question=question.strip(), answer=answer.strip() or None)

    @staticmethod
    def _problem(row: dict, pid: str) -> Problem:
        meta = {k: row[k] for k in ("solution", "level", "subject") if row[k] is not None}
        return Problem(id=pid, question=row["problem"], answer=row["answer"], metadata=meta)

    def prompt(self, problem: Problem) -> str:
        return self.cfg.prompt.replace("{question}", problem.question)

    # -- steps ------------------------------------------------------------------------------
    def parse_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        """A paragraph with a ``\\boxed{}`` answer ends the path; prose is not checked."""
        boxed = last_boxed(step)
        answer = canonical(boxed) if boxed is not None and boxed.strip() else None
        return StepVerdict(valid=bool(step.strip()), terminal=answer is not None, answer=answer)

    def check_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        return graded(self, problem, self.parse_step(problem, previous, step))

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        return math_equal(answer, problem.answer)

    def gold_trajectories(self, problem: Problem) -> list[list[str]]:
        solution = problem.metadata.get("solution")
        return [solution_steps(solution, problem.answer)] if solution and problem.answer else []


@hookimpl
def qstar_register_tasks(register):
    register("math", MathTask, MathConfig)

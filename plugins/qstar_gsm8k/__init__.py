"""Task ``gsm8k``: grade-school math word problems (Cobbe et al., 2021), reasoned in prose.

Problems come from GSM8K's JSONL (``{"question", "answer"}``, the answer ending ``#### N``): by
default the first 20 rows of the test split, shipped in the package; ``task.path`` reads a whole
file (``.../gsm8k/test.jsonl``) or a directory in the Hub dataset's layout (``<split>.jsonl``, or
``main/<split>-*.parquet``). A step is a paragraph (``segmenter=paragraph``); a step that states
a final answer ("The answer is 18.", "\\boxed{18}", "#### 18", "Answer: 18") ends the path, and
answers are compared as exact numbers (commas and dollar signs stripped, ``18.00`` = ``18``;
a number in LaTeX such as ``\\frac{3}{4}`` read by math-verify: ``answers.py`` says where and why).

There is no rule check of prose: every step is "valid", and no look-ahead exists, so the
``verifier`` scorer judges final answers only (the *rules* setting); with a PRM, or with no
scorer (majority vote), searches are in the *learned* setting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.protocols import StepVerdict, graded
from qstar.seeding import stable_int
from qstar.tree import Problem

from .answers import extract_answer, reference_answer, same_number, solution_steps

__all__ = ["GSM8KConfig", "GSM8KTask", "extract_answer", "same_number"]

DEFAULT_PROMPT = (
    "Solve the math word problem step by step. Write each step as a short paragraph, and end with "
    '"The answer is N." where N is a number.\n\nQuestion: {question}'
)


@dataclass
class GSM8KConfig:
    name: str = "gsm8k"  # the registered task name
    path: Optional[str] = None  # a GSM8K JSONL file or dataset directory (None: the 20 test rows shipped with qstar)
    prompt: str = DEFAULT_PROMPT  # the policy's instruction; {question} is replaced by the problem
    max_depth: int = 10  # paragraphs in a path at most (the answer included)
    max_step_tokens: int = 160  # generation length of one step, read by the expanders' defaults
    max_rollout_tokens: int = 512  # generation length of a whole remaining solution

    def __post_init__(self):
        if "{question}" not in self.prompt:
            raise QstarError("task.prompt must contain {question}: it is where the problem goes")
        if self.max_depth < 1:
            raise QstarError(f"task.max_depth={self.max_depth}: must be at least 1")


def _read_rows(path: Path, split: str) -> list[dict]:
    """The rows of ``split`` from a JSONL file (its name must start with the split), or from a
    directory holding ``<split>.jsonl`` or the Hub's ``main/<split>-*.parquet``."""
    if path.is_dir():
        candidates = [path / f"{split}.jsonl", *sorted(path.glob(f"main/{split}-*.parquet")), *sorted(path.glob(f"{split}-*.parquet"))]
        files = [f for f in candidates if f.is_file()]
        if not files:
            raise QstarError(
                f"task.path={path} has no {split}.jsonl or main/{split}-*.parquet: point it at a GSM8K file or dataset directory"
            )
    elif path.is_file():
        if not path.name.startswith(split):
            raise QstarError(
                f"task.path={path} holds the {path.name.split('.')[0].split('-')[0]!r} split, not {split!r}: pass split=<that split> or another file"
            )
        files = [path]
    else:
        raise QstarError(f"task.path={path} does not exist: point it at GSM8K's test.jsonl or a dataset directory")
    rows: list[dict] = []
    for f in files:
        rows += _read_parquet(f) if f.suffix == ".parquet" else _read_jsonl(f)
    if not rows:
        raise QstarError(f"task.path={path} holds no {split} rows: point it at a GSM8K file with questions in it")
    return rows


def _check_row(where: str, row) -> dict:
    """One GSM8K row as read from any file: text question and answer, the answer ending ``#### N``."""
    if not isinstance(row, dict):
        raise QstarError(f'{where}: a GSM8K row is a JSON object {{"question", "answer"}}, not {type(row).__name__}')
    missing = [k for k in ("question", "answer") if k not in row]
    if missing:
        raise QstarError(f'{where}: a GSM8K row needs "question" and "answer" (missing {", ".join(missing)})')
    for key in ("question", "answer"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise QstarError(f'{where}: "{key}" must be non-empty text, not {type(row[key]).__name__} {str(row[key])[:40]!r}')
    if not re.search(r"####\s*-?[\d,]*\.?\d", row["answer"]):
        raise QstarError(f'{where}: the answer does not end with "#### <number>" (GSM8K\'s format): {row["answer"][-40:]!r}')
    return {"question": row["question"], "answer": row["answer"]}


def _read_jsonl(f: Path) -> list[dict]:
    rows = []
    with f.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise QstarError(f"{f}:{n}: not UTF-8 text; GSM8K files are UTF-8 JSONL") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise QstarError(f'{f}:{n}: not JSON; GSM8K rows are {{"question", "answer"}} lines') from None
            rows.append(_check_row(f"{f}:{n}", row))
    return rows


def _read_parquet(f: Path) -> list[dict]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(f)
    except (pyarrow.ArrowException, OSError):
        raise QstarError(f"{f}: not a parquet file: pass the Hub's main/<split>-*.parquet or a JSONL file") from None
    missing = [c for c in ("question", "answer") if c not in schema.names]
    if missing:
        raise QstarError(
            f"{f}: no {', '.join(missing)} column (it has {', '.join(schema.names) or 'none'}): GSM8K's parquet holds question and answer"
        )
    table = pq.read_table(f, columns=["question", "answer"])
    return [_check_row(f"{f}: row {i}", row) for i, row in enumerate(table.to_pylist())]


class GSM8KTask:
    name = "gsm8k"

    def __init__(self, cfg: GSM8KConfig | None = None):
        self.cfg = cfg or GSM8KConfig()
        self.max_depth = self.cfg.max_depth

    # -- problems ---------------------------------------------------------------------------
    def problems(self, split: str) -> list[Problem]:
        if self.cfg.path is None:
            if split != "test":
                raise QstarError(f"task gsm8k ships 20 rows of the test split only: use split=test, or task.path=<GSM8K dir> for {split!r}")
            text = resources.files(__package__).joinpath("data/test_sample.jsonl").read_text()
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = _read_rows(Path(self.cfg.path).expanduser(), split)
        return [self._problem(r["question"], r["answer"], f"gsm8k-{split}-{i}") for i, r in enumerate(rows)]

    def parse_problem(self, text: str) -> Problem:
        """``test/17`` (row 17 of a split), or a question; ``question #### 18`` gives its answer."""
        split, _, row = text.strip().partition("/")
        if row.isdigit() and split.isalpha():
            problems = self.problems(split)
            if int(row) >= len(problems):
                raise QstarError(f"problem={text}: the {split} split has {len(problems)} rows (0–{len(problems) - 1})")
            return problems[int(row)]
        question, _, answer = text.partition("####")
        if not question.strip():
            raise QstarError("problem= is empty: pass a question (optionally 'question #### answer') or test/<row>")
        gold = answer.strip().replace(",", "") or None
        return Problem(id=f"gsm8k-q-{stable_int(question.strip()) % 10**10}", question=question.strip(), answer=gold)

    @staticmethod
    def _problem(question: str, solution: str, pid: str) -> Problem:
        return Problem(id=pid, question=question, answer=reference_answer(solution), metadata={"solution": solution})

    def prompt(self, problem: Problem) -> str:
        return self.cfg.prompt.replace("{question}", problem.question)

    # -- steps ------------------------------------------------------------------------------
    def parse_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        """A paragraph that states a final answer ends the path; prose is not checked."""
        answer = extract_answer(step)
        return StepVerdict(valid=bool(step.strip()), terminal=answer is not None, answer=answer)

    def check_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict:
        return graded(self, problem, self.parse_step(problem, previous, step))

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        return same_number(answer, problem.answer)

    def gold_trajectories(self, problem: Problem) -> list[list[str]]:
        solution = problem.metadata.get("solution")
        return [solution_steps(solution)] if solution else []


@hookimpl
def qstar_register_tasks(register):
    register("gsm8k", GSM8KTask, GSM8KConfig)

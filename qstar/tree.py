"""The tree format every qstar tool reads: problems, nodes, the budget spent, search results.

A :class:`SearchResult` is one JSON object per line (JSON Lines) carrying ``schema_version``.
``save → load → save`` is byte-identical: fields are written in declaration order and floats use
Python's shortest round-trip ``repr``.
"""

from __future__ import annotations

import abc
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

from qstar.errors import QstarError
from qstar.files import atomic_write_text, umask  # noqa: F401 - re-exported: the tree format's writers use them

SCHEMA_VERSION = 1


class DataError(ValueError):
    """A malformed data file; the message names ``file:line``."""


@dataclass
class Problem:
    id: str
    question: str
    answer: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Node:
    """One reasoning step. The root (``parent is None``) holds no step text."""

    id: int
    parent: int | None
    step: str = ""
    depth: int = 0
    num_tokens: int = 0  # generated tokens of this step
    logprob: float = 0.0  # sum of token log-probs of this step under the policy
    scores: dict[str, float] = field(default_factory=dict)
    value: float = 0.0  # MCTS mean value / search-specific value
    visits: int = 0
    terminal: bool = False
    answer: str | None = None  # extracted final answer when terminal
    valid: bool = True  # the task's rule check of this step


@dataclass
class Budget:
    """Compute spent by one search, so strategies can be compared compute-matched."""

    expansions: int = 0  # nodes expanded (one prompt sent to the policy for k proposals)
    generated_tokens: int = 0
    prompt_tokens: int = 0  # prompt tokens the policy processed (not re-counted when cached)
    scorer_calls: int = 0  # steps or paths scored, once per model that scored them (an ensemble of 3 PRMs: 3 a step)
    wall_time: float = 0.0  # seconds

    def add(self, other: "Budget") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


LIMITED = ("generated_tokens", "expansions", "wall_time")  # the Budget fields a search may be limited in


@dataclass
class Limits:
    """A search's per-problem limits on its :class:`Budget` (0 = no limit). A search checks them
    before each request it makes; the request that crosses a limit completes (a model call is
    not cut short), so the spent budget may pass a limit by at most one request's worth. When a
    limit is reached the search stops and returns the best finished answer so far, and
    ``SearchResult.stopped`` names the limit."""

    generated_tokens: int = 0  # tokens the policy generated for this problem
    expansions: int = 0  # prompts sent to the policy (one per expanded node or rollout root)
    wall_time: float = 0.0  # seconds of this problem's share of the batched calls

    def __post_init__(self):
        for name in LIMITED:
            if getattr(self, name) < 0:
                raise QstarError(f"search.limits.{name}={getattr(self, name)}: use 0 (no limit) or a positive limit")

    def reached(self, budget: Budget) -> str | None:
        """The first limit ``budget`` has reached, or None."""
        for name in LIMITED:
            limit = getattr(self, name)
            if limit and getattr(budget, name) >= limit:
                return name
        return None


@dataclass
class SearchResult:
    problem: Problem
    nodes: list[Node]
    answer: str | None = None
    path: list[int] = field(default_factory=list)  # node ids root → chosen leaf
    correct: bool | None = None
    budget: Budget = field(default_factory=Budget)
    search: str = ""
    schema_version: int = SCHEMA_VERSION
    stopped: str | None = None  # the limit that ended the search (generated_tokens | expansions | wall_time); None: it ran to its end

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchResult":
        if not isinstance(d, dict):
            raise DataError(f"expected a JSON object, got {type(d).__name__}")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        d = dict(d)
        if not isinstance(d.get("problem"), dict) or not isinstance(d.get("nodes"), list) or not isinstance(d.get("budget"), dict):
            raise DataError('a tree record needs "problem" (an object), "nodes" (a list) and "budget" (an object)')
        d["problem"] = Problem(**d["problem"])
        d["nodes"] = [Node(**n) if isinstance(n, dict) else n for n in d["nodes"]]
        d["budget"] = Budget(**d["budget"])
        result = cls(**d)
        _check_structure(result)
        if any(
            v < 0
            for v in (result.budget.expansions, result.budget.generated_tokens, result.budget.prompt_tokens, result.budget.scorer_calls)
        ):
            raise DataError("negative counts in budget")
        return result

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def path_steps(self) -> list[str]:
        by_id = {n.id: n for n in self.nodes}
        return [by_id[i].step for i in self.path if by_id[i].parent is not None]


# A step is one reasoning step (a line, a paragraph): a longer "step" is a damaged or foreign file,
# and would be tokenized whole and cut at the model's context without a word.
MAX_STEP_CHARS = 20_000


def _check_structure(result: "SearchResult") -> None:
    """A tree as qstar writes it: node ``i`` has id ``i``; node 0, the root, alone has no parent;
    every other node's parent comes before it (so no cycle, one root, unique ids); the path runs
    from the root down parent links. Checked when a record is read, before any command walks it."""
    p = result.problem
    if not isinstance(p.id, str) or not isinstance(p.question, str):
        raise DataError("problem.id and problem.question must be strings")
    if not result.nodes:
        raise DataError("the tree has no nodes (not even its root)")
    for i, n in enumerate(result.nodes):
        if not isinstance(n, Node):
            raise DataError(f"node {i} is not an object")
        if type(n.id) is not int or n.id != i:
            raise DataError(f"node {i} has id {n.id!r}: node ids must be 0, 1, 2 … in order")
        if i == 0 and n.parent is not None:
            raise DataError("node 0 (the root) has a parent")
        if i > 0 and not (type(n.parent) is int and 0 <= n.parent < i):
            raise DataError(f"node {i} has parent {n.parent!r}: a node's parent must be an earlier node (one root, no cycle)")
        if not isinstance(n.step, str):
            raise DataError(f"node {i}'s step is {type(n.step).__name__}, not text")
        if len(n.step) > MAX_STEP_CHARS:
            raise DataError(f"node {i}'s step is {len(n.step):,} characters, more than any step qstar writes ({MAX_STEP_CHARS:,})")
        if not isinstance(n.scores, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in n.scores.values()):
            raise DataError(f"node {i}'s scores must map names to numbers")
    path = result.path
    if not isinstance(path, list):
        raise DataError("the path must be a list of node ids")
    bad = next((i for i in path if not (type(i) is int and 0 <= i < len(result.nodes))), None)
    if bad is not None:
        raise DataError(f"the path names node {bad!r}, which is not in nodes")
    if path and (path[0] != 0 or any(result.nodes[b].parent != a for a, b in zip(path, path[1:]))):
        raise DataError("the path does not run from the root down parent links")


def load_results(path: str | os.PathLike) -> list[SearchResult]:
    return list(iter_results(path))


def iter_results(path: str | os.PathLike) -> Iterator[SearchResult]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}:{lineno}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                    "pass a trees JSONL written by qstar search"
                ) from None
            if not line.strip():
                continue
            try:
                yield SearchResult.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, KeyError, ValueError) as e:
                raise DataError(f"{path}:{lineno}: malformed tree record ({str(e)[:200]})") from None


def save_results(path: str | os.PathLike, results: Iterable[SearchResult]) -> None:
    atomic_write_text(path, "".join(r.to_json() + "\n" for r in results))


class _AppendOnlyJsonl(abc.ABC):
    """An append-only JSONL file for long runs: ``_recover`` reads what a previous run finished
    (and may drop a torn tail), then each ``_append`` is flushed and fsynced as it is written."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._f = open(self.path, "a", encoding="utf-8")

    @abc.abstractmethod
    def _recover(self) -> None:
        """Read what a previous run finished (the subclass knows its record format)."""

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{self.path}: not UTF-8 text (byte offset {e.start}); fix or move the file to resume") from None

    def _append(self, text: str) -> None:
        self._f.write(text)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ResultWriter(_AppendOnlyJsonl):
    """Append-only JSONL writer for long runs: each record is flushed and fsynced as it finishes,
    and a torn last line (from a crash mid-write) is dropped on reopen so a rerun resumes cleanly."""

    def __init__(self, path: str | os.PathLike):
        self.done: dict[str, SearchResult] = {}
        super().__init__(path)

    def _recover(self) -> None:
        """Load finished records; drop only a torn last line (no newline: the write was cut short).
        Any other unreadable line is an error and the file is left untouched."""
        text = self._read()
        lines = text.split("\n")
        complete, torn = lines[:-1], lines[-1]
        for lineno, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                r = SearchResult.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, KeyError, ValueError) as e:
                raise DataError(f"{self.path}:{lineno}: malformed tree record ({str(e)[:200]}); fix or move the file to resume") from None
            self.done[r.problem.id] = r
        if torn:
            atomic_write_text(self.path, "".join(line + "\n" for line in complete))

    def write(self, result: SearchResult) -> None:
        self._append(result.to_json() + "\n")
        self.done[result.problem.id] = result


class RecordWriter(_AppendOnlyJsonl):
    """Append-only JSONL of per-problem record groups (step labels, say), resumable like
    :class:`ResultWriter`: a problem's records are written and fsynced together, each carrying
    ``problem_id``, ``path_index`` and ``paths``; on reopen, a torn last line and the records of
    a problem whose group is incomplete are dropped, so a rerun redoes exactly that problem."""

    def __init__(self, path: str | os.PathLike):
        self.done: set[str] = set()
        super().__init__(path)

    def _recover(self) -> None:
        text = self._read()
        lines = text.split("\n")[:-1]  # the part after the last newline is torn
        keep: list[str] = []
        group: list[str] = []
        for lineno, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                pid, index, paths = rec["problem_id"], int(rec["path_index"]), int(rec["paths"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise DataError(f"{self.path}:{lineno}: malformed record ({str(e)[:200]}); fix or move the file to resume") from None
            group = group + [line] if index > 0 else [line]
            if index == paths - 1:
                keep += group
                self.done.add(pid)
                group = []
        if len(keep) != len(lines) or text and not text.endswith("\n"):
            atomic_write_text(self.path, "".join(line + "\n" for line in keep))

    def write(self, problem_id: str, records: list[dict[str, Any]]) -> None:
        if records:
            self._append("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self.done.add(problem_id)

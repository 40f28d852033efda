"""The one reader of MATH files: JSONL (MATH-500's ``test.jsonl``) or parquet (the Hub's
``data/<split>-*.parquet``), loaded with the ``datasets`` library and checked row by row where
they enter, so a malformed file stops with one line naming the file, the row and the fix."""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

from qstar.errors import QstarError

REQUIRED = ("problem", "answer")
LAYOUT = "MATH-500's test.jsonl or the Hub's data/<split>-*.parquet"


def split_files(path: Path, split: str) -> list[Path]:
    """The files holding ``split``: ``path`` itself (named after the split, or inside a folder
    named after it), or, in a directory, ``<split>.jsonl`` or the Hub's parquet shards."""
    if path.is_dir():
        candidates = [
            path / f"{split}.jsonl",
            *sorted(path.glob(f"data/{split}-*.parquet")),  # push_to_hub's layout
            *sorted(path.glob(f"{split}-*.parquet")),
            *sorted(path.glob(f"default/{split}/*.parquet")),  # the Hub's parquet conversion
        ]
        files = [f for f in candidates if f.is_file()]
        if not files:
            raise QstarError(
                f"task.path={path} has no {split}.jsonl or data/{split}-*.parquet: point it at a MATH file or dataset directory"
            )
        return files
    if path.is_file():
        named = path.name.split(".")[0].split("-")[0]
        if not path.name.startswith(split) and path.parent.name != split:
            raise QstarError(f"task.path={path} holds the {named!r} split, not {split!r}: pass split={named} or a file named {split}.jsonl")
        return [path]
    raise QstarError(f"task.path={path} does not exist: point it at {LAYOUT}, or a directory holding it")


def read_rows(path: Path, split: str) -> list[dict]:
    """Every row of ``split`` under ``path``, checked: text ``problem`` and ``answer``, optional
    ``solution``, ``level``, ``subject`` (MATH's ``type``) and ``unique_id``."""
    rows: list[dict] = []
    for f in split_files(path, split):
        rows += [check_row(f"{f}: row {i + 1}", row) for i, row in enumerate(load(f))]
    if not rows:
        raise QstarError(f"task.path={path} holds no {split} rows: point it at a MATH file with problems in it ({LAYOUT})")
    ids = [r["unique_id"] for r in rows if r["unique_id"] is not None]
    if len(set(ids)) < len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise QstarError(f"task.path={path}: unique_id {twice!r} appears twice; every problem needs its own id")
    return rows


def load(f: Path) -> list[dict]:
    """The rows of one file as the ``datasets`` library reads them (into memory, no cache left)."""
    import datasets
    import pyarrow

    parquet = f.suffix == ".parquet"
    reader = datasets.Dataset.from_parquet if parquet else datasets.Dataset.from_json
    with _quiet(datasets), tempfile.TemporaryDirectory(prefix="qstar-math-") as cache:
        try:
            table = reader(str(f), cache_dir=cache, keep_in_memory=True)
            rows = table.to_list()  # text is decoded here: a file that is not UTF-8 fails now
        except (datasets.exceptions.DatasetsError, pyarrow.ArrowException, ValueError, StopIteration) as e:
            if parquet:
                raise QstarError(f"{f}: not a parquet file: pass {LAYOUT}") from None
            problem = _first_bad_line(f)
            if problem == "":  # blank lines only: no rows
                return []
            reason = str(e.__cause__ or e).splitlines()[0][:120]
            raise QstarError(problem or f"{f}: cannot be read as JSON Lines ({reason}): pass {LAYOUT}") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise QstarError(
            f"{f}: no {', '.join(missing)} column (it has {', '.join(table.column_names) or 'none'}): a MATH file needs problem and answer ({LAYOUT})"
        )
    return rows


def check_row(where: str, row: dict) -> dict:
    """One row as the task keeps it; a one-line error naming ``where`` when it is malformed."""
    for key in REQUIRED:
        value = row.get(key)
        if key == "answer" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a column of whole-number answers is read as numbers
        if not isinstance(value, str) or not value.strip():
            raise QstarError(f'{where}: "{key}" must be non-empty text, not {type(value).__name__} {str(value)[:40]!r}')
        row[key] = value
    solution = row.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise QstarError(f'{where}: "solution" must be text, not {type(solution).__name__}')
    uid = row.get("unique_id")
    return {
        "problem": row["problem"],
        "answer": row["answer"],
        "solution": solution or None,
        "level": row.get("level"),
        "subject": row.get("subject") or row.get("type"),  # MATH-500 says subject, MATH says type
        "unique_id": str(uid) if uid not in (None, "") else None,
    }


def _first_bad_line(f: Path) -> str | None:
    """Why a JSON Lines file did not load, at its first bad line; "" when it holds no rows at all,
    None when every line is a JSON object (the fault is across rows)."""
    seen = False
    with f.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                return f"{f}:{n}: not UTF-8 text; MATH files are UTF-8 JSON Lines"
            if not line.strip():
                continue
            seen = True
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                return f'{f}:{n}: not JSON; a MATH row is one JSON object per line, {{"problem": ..., "answer": ...}}'
            if not isinstance(row, dict):
                return f'{f}:{n}: a MATH row is a JSON object {{"problem": ..., "answer": ...}}, not {type(row).__name__}'
    return None if seen else ""


@contextmanager
def _quiet(datasets):
    """No progress bars and no error logs of the library's own: the one-line error says it all."""
    bars = datasets.is_progress_bar_enabled()
    level = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)
        if bars:
            datasets.enable_progress_bars()

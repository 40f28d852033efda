"""Every name on docs/reference/api.md exists, so removing public API fails a test."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "api.md"
NAME = re.compile(r"`(qstar(?:\.\w+)+)`")
REQUIRED = {
    "qstar.hookimpl",
    "qstar.protocols.Task",
    "qstar.protocols.Search",
    "qstar.protocols.Expand",
    "qstar.protocols.Score",
    "qstar.protocols.Rollout",
    "qstar.protocols.StepVerdict",
    "qstar.tree.Node",
    "qstar.tree.SearchResult",
    "qstar.engine.Tree",
    "qstar.errors.QstarError",
}


def listed() -> list[str]:
    return sorted(set(NAME.findall(PAGE.read_text(encoding="utf-8"))))


def resolve(dotted: str):
    """Import the longest importable module prefix, then follow attributes (dataclass fields too)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif dataclasses.is_dataclass(obj) and attr in {f.name for f in dataclasses.fields(obj)}:
                obj = next(f for f in dataclasses.fields(obj) if f.name == attr)
            else:
                raise AttributeError(f"{'.'.join(parts[: parts.index(attr)])} has no attribute {attr!r}")
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_page_lists_names():
    assert len(listed()) >= len(REQUIRED)  # guards the test below against checking nothing


@pytest.mark.parametrize("dotted", listed())
def test_listed_name_resolves(dotted):
    try:
        resolve(dotted)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"docs/reference/api.md lists `{dotted}`, which does not resolve: {e}")


def test_required_names_are_listed():
    missing = REQUIRED - set(listed())
    assert not missing, f"docs/reference/api.md does not list {sorted(missing)}"


def test_every_protocol_export_is_listed():
    from qstar import protocols

    missing = {f"qstar.protocols.{name}" for name in protocols.__all__} - set(listed())
    assert not missing, f"qstar.protocols.__all__ has names docs/reference/api.md does not list: {sorted(missing)}"

"""Every hook a plugin author can implement is documented: in docs/reference/hooks.md and in its docstring."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from qstar import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference" / "hooks.md"


def _specs() -> dict[str, object]:
    """The functions of qstar.hookspecs marked with ``@qstar.hookspec``."""
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if getattr(fn, "qstar_spec", None) is not None}


SPECS = _specs()


def _sections() -> dict[str, str]:
    """``## <name>`` heading → the text up to the next ``## `` heading (code blocks ignored)."""
    sections: dict[str, str] = {}
    current, in_code = None, False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("## "):
            current = line[3:].strip().strip("`")
            sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_hookspecs_are_found():
    # guards the tests below against silently checking nothing
    assert "qstar_register_tasks" in SPECS
    assert "qstar_on_search_end" in SPECS
    assert len(SPECS) >= 9


def test_docs_file_exists():
    assert DOC.is_file(), f"{DOC} is missing"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_section_in_docs(name):
    sections = _sections()
    assert name in sections, f"docs/reference/hooks.md has no '## {name}' section"
    body = sections[name]
    for param in _params(SPECS[name]):
        assert f"`{param}`" in body, f"docs/reference/hooks.md section '## {name}' does not describe parameter {param!r}"
    assert "```python" in body, f"docs/reference/hooks.md section '## {name}' has no example"
    assert name in body.split("```python", 1)[1], f"the example in '## {name}' does not implement {name}"


def test_docs_do_not_describe_hooks_that_do_not_exist():
    hook_like = {s for s in _sections() if re.fullmatch(r"qstar_\w+", s)}
    stale = hook_like - set(SPECS)
    assert not stale, f"docs/reference/hooks.md documents hooks that are not in qstar.hookspecs: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_docstring_has_params_and_example(name):
    doc = inspect.getdoc(SPECS[name]) or ""
    assert doc, f"hookspec {name} has no docstring"
    for param in _params(SPECS[name]):
        assert f":param {param}:" in doc, f"hookspec {name}'s docstring lacks ':param {param}:'"
    assert "Example" in doc, f"hookspec {name}'s docstring lacks an Example"


def test_python_examples_in_docs_parse():
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        ast.parse(block)  # a SyntaxError names the offending line

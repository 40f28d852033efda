"""The recipes that reproduce the results pages still start: every Python recipe's imports resolve
(a recipe that imported a helper a refactor renamed failed before doing anything), every shell
recipe parses, and every recipe has its row in recipes/README.md."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
PYTHON = sorted(RECIPES.glob("*.py"))
SHELL = sorted(RECIPES.glob("*.sh"))


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: p.name)
def test_a_python_recipes_imports_resolve(path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPES))  # a recipe imports its neighbours, as `python recipes/x.py` lets it
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module != "__future__":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{path.name}:{node.lineno}: {node.module} has no {alias.name}"
                )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


@pytest.mark.parametrize("path", SHELL, ids=lambda p: p.name)
def test_a_shell_recipe_parses(path: Path):
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_recipe_has_a_row_in_the_recipes_readme():
    readme = (RECIPES / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PYTHON + SHELL if f"[`{p.name}`]({p.name})" not in readme]
    assert not missing, f"recipes/README.md has no row for {missing}"

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


def test_pool_relabel_gives_steps_that_leave_the_same_numbers_one_label(tmp_path: Path):
    import json
    import sys

    def rec(puzzle: str, steps: list[str], soft: list[float]) -> dict:
        pid = "game24-" + puzzle.replace(" ", "-")
        return {"prompt": f"Input: {puzzle}\n", "completions": steps, "labels": [s > 0 for s in soft], "soft_labels": soft,
                "problem_id": pid, "node_ids": list(range(1, len(steps) + 1)), "path_index": 0, "paths": 1}  # fmt: skip

    src, dest = tmp_path / "labels.jsonl", tmp_path / "pooled.jsonl"
    records = [
        rec("1 1 11 11", ["11+1=12 (left: 1 11 12)"], [0.5]),
        rec("2 1 11 10", ["10+2=12 (left: 1 11 12)", "12*2=24 (left: 1 11 24)"], [0.0, 0.0]),  # the second step is illegal
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    before = src.read_bytes()
    run = subprocess.run([sys.executable, str(RECIPES / "pool_relabel.py"), str(src), str(dest)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    first, second = (json.loads(line) for line in dest.read_text().splitlines())
    assert first["soft_labels"] == [0.25] and first["labels"] == [True]
    assert second["soft_labels"] == [0.25, 0.0] and second["labels"] == [True, False]  # the rules still say illegal
    assert src.read_bytes() == before
    again = subprocess.run([sys.executable, str(RECIPES / "pool_relabel.py"), str(src), str(dest)], capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.strip() == f"{dest} exists: pick another output (an input is never written over)"


def test_add_states_writes_the_states_qstar_label_writes(tmp_path: Path):
    import json
    import sys

    steps = ["11+1=12 (left: 1 11 12)", "12*2=24 (left: 1 11 24)"]  # the second step is illegal
    record = {"prompt": "Input: 1 1 11 11\n", "completions": steps, "labels": [True, False], "soft_labels": [0.5, 0.0],
              "problem_id": "game24-1-1-11-11", "node_ids": [1, 2], "path_index": 0, "paths": 1}  # fmt: skip
    src, dest = tmp_path / "labels.jsonl", tmp_path / "with-states.jsonl"
    src.write_text(json.dumps(record) + "\n")
    before = src.read_bytes()
    run = subprocess.run([sys.executable, str(RECIPES / "add_states.py"), str(src), str(dest)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (out,) = (json.loads(line) for line in dest.read_text().splitlines())
    assert out == {**record, "states": ['["1", "11", "12"]', None]}  # the format of tests/test_label.py's states
    assert src.read_bytes() == before
    again = subprocess.run([sys.executable, str(RECIPES / "add_states.py"), str(src), str(dest)], capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.strip() == f"{dest} exists: pick another output (an input is never written over)"

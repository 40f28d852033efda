"""The core's layers: ``qstar/`` never imports a ``qstar_*`` plugin, its modules import each other
without a cycle, and a function-level import defers a heavy dependency, never dodges a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "qstar"
# dependencies worth deferring: importing any of them costs seconds or pulls a GPU runtime
HEAVY = (
    "torch",
    "transformers",
    "lightning",
    "vllm",
    "matplotlib",
    "torchmetrics",
    "tokenizers",
    "safetensors",
    "pyarrow",
    "datasets",
    "math_verify",
    "sympy",
    "openai",
    "tensorboard",
    "mlflow",
)


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(CORE.glob("*.py")):
        name = "qstar" if path.stem == "__init__" else f"qstar.{path.stem}"
        out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


def imported(node: ast.AST) -> list[str]:
    """The absolute module names an import statement names (``from qstar import view`` → qstar.view)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return []


def imports(tree: ast.Module, known: set[str]) -> tuple[set[str], list[tuple[int, str]]]:
    """(modules imported at module level or anywhere, [(line, module) of function-level imports])."""
    everywhere: set[str] = set()
    deferred: list[tuple[int, str]] = []
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        targets = {_module(name, known) for name in imported(node)}
        everywhere |= targets
        if id(node) not in top and not _in_type_checking(tree, node):
            deferred += [(node.lineno, t) for t in sorted(targets)]
    return everywhere, deferred


def _module(name: str, known: set[str]) -> str:
    """``qstar.tree.atomic_write_text`` → ``qstar.tree``: the module of an imported name."""
    parent = name.rsplit(".", 1)[0]
    return name if name in known or parent not in known else parent


def _in_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            if any(n is node for n in ast.walk(stmt)):
                return True
    return False


def heavy_at_top(tree: ast.Module) -> bool:
    return any(name.split(".")[0] in HEAVY for stmt in tree.body for name in imported(stmt))


MODULES = modules()
KNOWN = set(MODULES)


def test_the_core_imports_no_plugin():
    bad = [f"{m}: {name}" for m, tree in MODULES.items() for name in imports(tree, KNOWN)[0] if name.split(".")[0].startswith("qstar_")]
    assert not bad, "the core must not import a plugin package (move what plugins share into qstar/): " + "; ".join(bad)


def test_the_core_has_no_import_cycle():
    graph = {m: {d for d in imports(tree, KNOWN)[0] if d in KNOWN and d != m} for m, tree in MODULES.items()}
    graph["qstar"] = set()  # the package root is imported by everyone (hookimpl); it imports no module of ours
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                pytest.fail("import cycle in the core: " + " → ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_function_level_imports_only_defer_heavy_dependencies():
    """A qstar module imported inside a function is allowed only when it pulls a heavy dependency
    in at its top (``qstar.lightning_parts`` brings Lightning): otherwise the import belongs at the
    top of the file, and if that makes a cycle, the cycle is the bug."""
    bad = []
    for m, tree in MODULES.items():
        for line, name in imports(tree, KNOWN)[1]:
            if name in KNOWN and not heavy_at_top(MODULES[name]):
                bad.append(f"{m}:{line} imports {name} inside a function")
    assert not bad, "; ".join(bad)


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The walk itself: a plugin import, a cycle and a deferred light import are all seen."""
    a = ast.parse("import qstar_hf\nfrom qstar import b\ndef f():\n    from qstar.c import x\n")
    found, deferred = imports(a, {"qstar", "qstar.b", "qstar.c"})
    assert "qstar_hf" in found and "qstar.b" in found
    assert deferred == [(4, "qstar.c")]
    assert heavy_at_top(ast.parse("import torch\n")) and not heavy_at_top(ast.parse("import json\n"))


def test_building_the_registry_imports_no_heavy_dependency():
    """Every command builds the plugin registry first; `qstar --help`, `--cfg job` and every one-line
    error need nothing more. So no built-in plugin may import torch, transformers or Lightning when
    it is loaded: they load when a model does."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from qstar.plugins import Registry, make_plugin_manager\n"
        "Registry(make_plugin_manager())\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", (
        f"importing the plugins loaded {proc.stdout.strip()}: import them inside the functions that need them"
    )

"""Every capability the engine and the commands look up is declared in ``qstar/protocols.py``,
and a scorer that does not say whether it is learned is refused when it registers."""

from __future__ import annotations

import ast
from pathlib import Path

import pluggy
import pytest

import qstar
from qstar import protocols
from qstar.errors import QstarError
from qstar.plugins import Registry, make_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
# the engine, the core commands and the command plugins: whatever they look up on a component
LOOKERS = [
    *sorted((ROOT / "qstar").glob("*.py")),
    ROOT / "plugins" / "qstar_loop" / "__init__.py",
    ROOT / "plugins" / "qstar_compare" / "__init__.py",
]
# attributes looked up on things that are not components
NOT_CAPABILITIES = {
    "__name__": "a plugin module's name (qstar plugins)",
    "full_key": "OmegaConf's exception attribute",
    "rank": "Lightning's rank_zero_only.rank",
    "n_positions": "a transformers config",
    "max_position_embeddings": "a transformers config",
    "hf_quantizer": "a transformers model's GGUF mark (qstar.models' dequantized cache)",
    "config": "a transformers model's config (qstar.models' dequantized cache)",
}


def declared() -> set[str]:
    tree = ast.parse((ROOT / "qstar" / "protocols.py").read_text(encoding="utf-8"))
    names = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                names.add(stmt.target.id)
            elif isinstance(stmt, ast.FunctionDef):
                names.add(stmt.name)
    return names | {name for attrs in protocols.OPTIONAL.values() for name in attrs}


def looked_up(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                out.append((node.lineno, node.args[1].value))
    return out


def test_every_capability_looked_up_is_declared():
    known = declared()
    missing = [
        f"{p.relative_to(ROOT)}:{line} looks up {name!r}"
        for p in LOOKERS
        for line, name in looked_up(p)
        if name not in known and name not in NOT_CAPABILITIES
    ]
    assert not missing, "declare these in qstar/protocols.py (a protocol member or OPTIONAL): " + "; ".join(missing)


def test_the_scan_sees_a_lookup(tmp_path):
    f = tmp_path / "x.py"
    f.write_text('def f(task):\n    return getattr(task, "secret_oracle", None) or hasattr(task, "solvable")\n')
    assert looked_up(f) == [(2, "secret_oracle"), (2, "solvable")]
    assert "secret_oracle" not in declared() and "solvable" in declared()


class Undeclared:
    """A third-party PRM that forgot to say it is learned."""

    name = "forgetful"

    def __init__(self, cfg, task):
        pass

    def score(self, problems, paths):
        return [0.5] * len(paths)


class Plugin:
    @qstar.hookimpl
    def qstar_register_scorers(self, register):
        register("forgetful", Undeclared)


def test_a_scorer_without_the_learned_flag_is_refused_when_it_registers():
    pm = make_plugin_manager()
    plugin = Plugin()
    pm.register(plugin)
    try:
        with pytest.raises(QstarError) as e:
            Registry(pm)
    finally:
        pm.unregister(plugin)
    assert str(e.value).startswith("scorer 'forgetful' (")
    assert "does not say whether it is learned: give its class the attribute learned = True" in str(e.value)


def test_the_engine_refuses_an_undeclared_scorer_it_is_handed_directly():
    from qstar.engine import setting_of

    with pytest.raises(QstarError, match="does not say whether it is learned"):
        setting_of(Undeclared(None, None))


def test_every_builtin_scorer_declares_it():
    registry = Registry(make_plugin_manager())
    for name in registry.names("scorer"):
        assert isinstance(registry.get("scorer", name).factory.learned, bool), name
    assert isinstance(pluggy.PluginManager, type)

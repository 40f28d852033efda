"""The plugin manager factory and the component registry built from the registration hooks."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import pluggy
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qstar import hookspecs
from qstar.errors import QstarError, UnknownComponentError

KINDS = ("task", "segmenter", "expander", "scorer", "search", "optimizer", "labeler")
_HOOK = {
    "task": "qstar_register_tasks",
    "segmenter": "qstar_register_segmenters",
    "expander": "qstar_register_expanders",
    "scorer": "qstar_register_scorers",
    "search": "qstar_register_searches",
    "optimizer": "qstar_register_optimizers",
    "labeler": "qstar_register_labelers",
}


def make_plugin_manager(load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A fresh manager: the specs, every plugin of the ``qstar`` entry-point group (built-ins
    included, registered exactly as a third-party package is), then a check for misspelled hooks."""
    pm = pluggy.PluginManager("qstar")
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        pm.load_setuptools_entrypoints("qstar")
    pm.check_pending()
    return pm


@dataclass
class Command:
    """A ``qstar <name>`` command a plugin contributed through ``qstar_register_commands``."""

    name: str
    function: Callable[..., Any]  # function(cfg, registry): the work, on the composed config
    schema: type | None  # the command's top-level config dataclass (stored as ``<name>_schema``)
    help: str  # one line for ``qstar --help``
    source: str  # the distribution (or module) that registered it


COMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")


def _undeclared_learned(factory: Callable[..., Any]) -> bool:
    """A scorer factory (its class, or a function carrying the attribute) that does not say
    whether it is a learned judge: the setting guard must never have to guess."""
    return not isinstance(getattr(factory, "learned", None), bool)


@dataclass
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    schema: type | None
    source: str  # the distribution (or module) that registered it


class Registry:
    """Every registered component, by kind and name."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.commands: dict[str, Command] = {}
        for impl in pm.hook.qstar_register_commands.get_hookimpls():
            self._register_commands(impl)
        for kind in KINDS:
            hook = getattr(pm.hook, _HOOK[kind])
            for impl in hook.get_hookimpls():
                source = self._source(impl.plugin)

                def register(name, factory, config_schema=None, _kind=kind, _source=source):
                    if name in self.components[_kind]:
                        prev = self.components[_kind][name].source
                        raise QstarError(f"{_kind} {name!r} is registered twice ({prev} and {_source})")
                    if _kind == "scorer" and _undeclared_learned(factory):
                        raise QstarError(
                            f"scorer {name!r} ({_source}) does not say whether it is learned: give its class the attribute "
                            "learned = True (a trained judge: PRM, ORM, LLM value) or learned = False (rules only)"
                        )
                    self.components[_kind][name] = Component(_kind, name, factory, config_schema, _source)

                impl.function(register)

    def _register_commands(self, impl) -> None:
        source = self._source(impl.plugin)

        def register(name, function, schema=None, help=""):
            if not isinstance(name, str) or not COMMAND_NAME.match(name):
                raise QstarError(f"command name {name!r} ({source}): use lower-case letters, digits, - and _, starting with a letter")
            if name in self.commands:
                raise QstarError(f"command {name!r} is registered twice ({self.commands[name].source} and {source})")
            self.commands[name] = Command(name, function, schema, help, source)

        impl.function(register)

    def _source(self, plugin) -> str:
        for p, dist in self.pm.list_plugin_distinfo():
            if p is plugin:
                return f"{dist.project_name} {dist.version}"
        return getattr(plugin, "__name__", repr(plugin))

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str) -> Component:
        try:
            return self.components[kind][name]
        except KeyError:
            valid = ", ".join(self.names(kind)) or "(none registered)"
            raise UnknownComponentError(f"unknown {kind} {name!r}: choose one of {valid}") from None

    def config(self, kind: str, node: DictConfig | dict | None) -> tuple[Component, Any]:
        """Look up ``node.name`` and validate the rest of ``node`` against the component's schema."""
        if isinstance(node, DictConfig):  # resolve ${...} against the whole config first
            node = OmegaConf.to_container(node, resolve=True)
        node = OmegaConf.create({} if node is None else node)
        name = node.get("name")
        if not name:
            raise QstarError(f"{kind} config has no 'name': pick one with {kind}=<name>")
        comp = self.get(kind, name)
        if comp.schema is None:
            return comp, node
        try:
            merged = OmegaConf.merge(OmegaConf.structured(comp.schema), node)
            obj = OmegaConf.to_object(merged)
            check_finite(obj, kind)
            return comp, obj
        except OmegaConfBaseException as e:
            msg = str(e).splitlines()[0]
            key = getattr(e, "full_key", None)
            where = f"{kind}.{key}: " if key and key not in msg else ""
            fields = ", ".join(f.name for f in dataclasses.fields(comp.schema))
            raise QstarError(f"bad {kind} config for {name!r}: {where}{msg} (valid keys: {fields})") from None

    def build(self, kind: str, node, *args) -> Any:
        comp, cfg = self.config(kind, node)
        return comp.factory(cfg, *args)


def check_finite(obj: Any, where: str) -> None:
    """Refuse NaN and infinity in every float of a validated config (dataclasses and containers,
    nested): ``expander.temperature=inf`` or ``search.lam=nan`` would otherwise run and mean
    nothing. The one check every config goes through."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise QstarError(f"{where}={obj}: use a finite number")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            check_finite(getattr(obj, f.name), f"{where}.{f.name}" if where else f.name)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{where}[{i}]")


def config_searchpaths(pm: pluggy.PluginManager) -> list[str]:
    return [p for p in pm.hook.qstar_config_searchpath() if p]

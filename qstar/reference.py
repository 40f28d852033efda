"""The config reference page, generated from the schema dataclasses themselves.

Every field's description is the trailing ``# comment`` on its line in the source (the house
style is ``field: type = default  # why``), plus any comment-only lines directly below it, so
the page cannot drift from the code::

    python -m qstar.reference > docs/reference/config.md

Only components registered by the qstar distribution itself are listed: third-party plugins
installed next to qstar do not change the page.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
from typing import Any

from omegaconf import MISSING as OMEGACONF_MISSING

from qstar.config import ModelConfig
from qstar.models import ArchConfig
from qstar.plugins import KINDS, Registry, make_plugin_manager
from qstar.tracking import TrackingConfig
from qstar.training import TrainerConfig

GENERATE = "python -m qstar.reference > docs/reference/config.md"


@dataclasses.dataclass
class FieldDoc:
    name: str
    type: str  # the annotation as written in the source
    default: str  # markdown
    description: str  # from the source comments; "" when the field has none


# --------------------------------------------------------------------------------- reading


def _class_fields_source(cls: type) -> dict[str, tuple[str, str]]:
    """Field name → (annotation as written, description) for the fields ``cls`` itself declares."""
    src = textwrap.dedent(inspect.getsource(cls))
    classdef = ast.parse(src).body[0]
    trailing: dict[int, str] = {}  # line → comment after code on that line
    comment_only: dict[int, str] = {}  # line → comment that is the whole line
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            line = tok.start[0]
            text = tok.string.lstrip("#").strip()
            (trailing if line in code_lines else comment_only)[line] = text
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    out: dict[str, tuple[str, str]] = {}
    for stmt in classdef.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        parts = [trailing[line] for line in range(stmt.lineno, stmt.end_lineno + 1) if line in trailing]
        line = stmt.end_lineno + 1
        while line in comment_only:  # a long comment continues on comment-only lines below
            parts.append(comment_only[line])
            line += 1
        out[stmt.target.id] = (ast.unparse(stmt.annotation), " ".join(p for p in parts if p))
    return out


def _declaring_class(schema: type, name: str) -> type:
    for cls in schema.__mro__:
        if name in cls.__dict__.get("__annotations__", {}):
            return cls
    raise LookupError(f"{schema.__name__}.{name}: no class in its MRO declares it")


def _format_default(f: dataclasses.Field, anchors: dict[type, str]) -> str:
    if f.default is not dataclasses.MISSING:
        value: Any = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return f"[`{cls.__name__}`](#{anchors[cls]})" if cls in anchors else f"`{cls.__name__}()`"
    if isinstance(value, str) and value == OMEGACONF_MISSING:
        return "required"
    if value is None or isinstance(value, (bool, str, dict, list)):
        return f"`{json.dumps(value)}`"  # as YAML and Hydra overrides write it: null, true, "hf"
    return f"`{value!r}`"


def schema_fields(schema: type, anchors: dict[type, str] | None = None) -> list[FieldDoc]:
    """Every field of the dataclass ``schema`` (inherited ones included), in declaration order."""
    anchors = anchors or {}
    cache: dict[type, dict[str, tuple[str, str]]] = {}
    docs = []
    for f in dataclasses.fields(schema):
        owner = _declaring_class(schema, f.name)
        if owner not in cache:
            cache[owner] = _class_fields_source(owner)
        annotation, description = cache[owner][f.name]
        docs.append(FieldDoc(f.name, annotation, _format_default(f, anchors), description))
    return docs


def builtin_components() -> list[tuple[str, str, type | None]]:
    """(kind, name, config schema) of every component the qstar distribution registers itself."""
    registry = Registry(make_plugin_manager())
    out = []
    for kind in KINDS:
        for name in registry.names(kind):
            comp = registry.get(kind, name)
            if comp.source.startswith("qstar "):
                out.append((kind, name, comp.schema))
    return out


def builtin_commands() -> list[tuple[str, type | None]]:
    """(name, config schema) of every command the qstar distribution registers itself."""
    registry = Registry(make_plugin_manager())
    return [(c.name, c.schema) for c in registry.commands.values() if c.source.startswith("qstar ")]


def documented_schemas() -> list[tuple[str, type]]:
    """(title, schema) of every schema on the page, in page order."""
    out = [(f"qstar {command}", schema) for command, schema in builtin_commands() if schema is not None]
    out += [("model", ModelConfig), ("model.arch", ArchConfig), ("trainer", TrainerConfig), ("tracking", TrackingConfig)]
    out += [(f"{kind} {name}", schema) for kind, name, schema in builtin_components() if schema is not None]
    return out


# --------------------------------------------------------------------------------- writing


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: type, anchors: dict[type, str]) -> list[str]:
    fields = schema_fields(schema, anchors)
    if not fields:
        return ["No options.", ""]
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for f in fields:
        lines.append(f"| `{f.name}` | `{_cell(f.type)}` | {f.default} | {_cell(f.description)} |")
    return lines + [""]


def _qualname(schema: type) -> str:
    return f"{schema.__module__}.{schema.__qualname__}"


def config_reference() -> str:
    """The whole ``docs/reference/config.md`` page (markdown)."""
    anchors = {ModelConfig: "model", ArchConfig: "model-arch", TrainerConfig: "trainer", TrackingConfig: "tracking"}
    out = [
        "# Config reference",
        "",
        f"<!-- Generated by `{GENERATE}`; edit the field comments in the source, not this page. -->",
        "",
        "Every command composes its configuration from a *schema* — a dataclass stored in Hydra's",
        "ConfigStore — and the YAML files of the `conf/` tree (installed as the package `qstar.conf`).",
        "A key that the schema does not declare is an error, not a silently ignored typo. Set a field",
        "on the command line with `field=value`, a component's with `<kind>.<field>=value`",
        "(`search.k=8`), and pick a component with `<kind>=<name>` (`search=dfs`).",
        "",
        "The defaults below are the schemas' own. The YAML file of a config group may set other",
        "values (for example `conf/expander/hf.yaml` sets `seed: ${seed}`); `qstar <command> --cfg job`",
        "prints the configuration a run would use. *required* means the value comes from the",
        "command's YAML defaults list (a config group), not from the schema.",
        "",
        "## Commands",
        "",
    ]
    for command, schema in builtin_commands():
        if schema is None:
            continue
        out += [f"### qstar {command} {{#qstar-{command}}}", "", f"`{_qualname(schema)}`", ""]
        out += _table(schema, anchors)
    out += [
        "### model {#model}",
        "",
        f"`{_qualname(ModelConfig)}` — the `model` node every command shares; `model=<name>` picks a",
        "file of `conf/model/`.",
        "",
        *_table(ModelConfig, anchors),
        "### model.arch {#model-arch}",
        "",
        f"`{_qualname(ArchConfig)}` — the architecture `qstar train` builds when `model.name_or_path`",
        "is null (`model=tiny-gpt2`).",
        "",
        *_table(ArchConfig, anchors),
        "### trainer {#trainer}",
        "",
        f"`{_qualname(TrainerConfig)}` — passed to `lightning.Trainer` by `qstar train`;",
        "`trainer=cpu|ddp-cpu|gpu|ddp|fsdp` picks a file of `conf/trainer/`.",
        "",
        *_table(TrainerConfig, anchors),
        "### tracking {#tracking}",
        "",
        f"`{_qualname(TrackingConfig)}` — where `qstar eval` and `qstar loop` also write their tables",
        "(TensorBoard or MLflow, through Lightning's loggers); `qstar train` has the same fields under",
        "`trainer.` (see `qstar.tracking`).",
        "",
        *_table(TrackingConfig, anchors),
        "## Components",
        "",
        "The components qstar itself registers, by kind (`qstar plugins` lists every installed one,",
        "third-party plugins included). Each table is the schema its plugin registered.",
        "",
    ]
    components = builtin_components()
    for kind in KINDS:
        mine = [(name, schema) for k, name, schema in components if k == kind]
        if not mine:
            continue
        out += [f"### {kind}", ""]
        for name, schema in mine:
            out += [f"#### {kind}={name} {{#{kind}-{name}}}", ""]
            if schema is None:
                out += ["Registered without a config schema.", ""]
                continue
            out += [f"`{_qualname(schema)}`", ""]
            out += _table(schema, anchors)
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(config_reference())

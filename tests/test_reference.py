"""The config reference documents every option, and the committed page is the generated one."""

from __future__ import annotations

from pathlib import Path

import pytest

from qstar.reference import GENERATE, builtin_components, config_reference, documented_schemas, schema_fields

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "config.md"


def _schema_params():
    return [pytest.param(schema, id=title.replace(" ", "-")) for title, schema in documented_schemas()]


def test_every_builtin_component_is_on_the_page():
    kinds = {kind for kind, _, _ in builtin_components()}
    assert {"task", "segmenter", "expander", "scorer", "search", "optimizer"} <= kinds
    text = config_reference()
    for kind, name, _ in builtin_components():
        assert f"#### {kind}={name} " in text


@pytest.mark.parametrize("schema", _schema_params())
def test_every_field_has_a_description(schema):
    missing = [f.name for f in schema_fields(schema) if not f.description]
    assert not missing, f"{schema.__module__}.{schema.__qualname__}: fields without a `# comment` on their line: {', '.join(missing)}"


def test_descriptions_join_continuation_comment_lines():
    from qstar_tot import TotBFSConfig

    k = next(f for f in schema_fields(TotBFSConfig) if f.name == "k")
    assert k.description.startswith("proposals sampled per state")
    assert k.description.endswith("in one proposal prompt)")  # the comment-only line below it


def test_committed_page_is_up_to_date():
    stale = PAGE.read_text(encoding="utf-8") != config_reference()
    assert not stale, f"docs/reference/config.md is stale: regenerate with {GENERATE}"

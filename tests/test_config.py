"""Every YAML option of every config group composes and validates against its plugin's schema."""

from __future__ import annotations

from importlib import resources

import pytest
from omegaconf import OmegaConf

from qstar.plugins import KINDS, Registry, make_plugin_manager

CONF = resources.files("qstar.conf")
COMMAND_OF = {"optimizer": "train", "trainer": "train", "labeler": "label"}
# presets: a group option that is another option with some values changed (its YAML's defaults list)
PRESETS = {"prm-prior": ("prm", {"policy_weight": 0.5, "aggregate": "prod"}), "tot-bfs-path": ("tot-bfs", {"rank": "path"})}


def options(group: str) -> list[str]:
    return sorted(p.name[:-5] for p in CONF.joinpath(group).iterdir() if p.name.endswith(".yaml"))


@pytest.fixture(scope="module")
def registry():
    return Registry(make_plugin_manager())


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in (*KINDS, "model", "trainer", "experiment") if CONF.joinpath(g).is_dir() for o in options(g)],
)
def test_every_group_option_composes_and_validates(compose, registry, group, option):
    command = COMMAND_OF.get(group, "train" if group in ("experiment", "optimizer") else "solve")
    cfg = compose(command, [f"{group}={option}"])
    node = cfg[group] if group in cfg else None
    if group in KINDS:
        comp, validated = registry.config(group, node)
        name, changed = PRESETS.get(option, (option, {}))
        assert comp.name == node.name == name
        assert validated is not None
        assert all(getattr(validated, k) == v for k, v in changed.items()), validated
    elif group == "experiment":
        assert cfg.out_dir and cfg.trainer.max_steps >= 1000
    else:
        OmegaConf.to_object(node)  # typed schema: converts without error


@pytest.mark.parametrize("command", ["solve", "search", "eval", "train", "plugins"])
def test_commands_compose_with_defaults(compose, command):
    cfg = compose(command)
    assert OmegaConf.is_config(cfg)


def test_misspelled_key_in_a_group_yaml_is_an_error(registry):
    from qstar.errors import QstarError

    with pytest.raises(QstarError, match="bad search config for 'tot-bfs'.*breadht"):
        registry.config("search", {"name": "tot-bfs", "breadht": 3})


def test_every_registered_component_has_a_yaml_option(registry):
    for kind in KINDS:
        assert set(registry.names(kind)) <= set(options(kind)), kind


def test_every_group_yaml_lists_every_option_of_its_schema(registry):
    """Only keys a group's YAML lists can be overridden without a leading ``+``."""
    import dataclasses

    import yaml

    for kind in KINDS:
        for name in registry.names(kind):
            comp = registry.get(kind, name)
            if comp.schema is None or not comp.source.startswith("qstar "):
                continue
            listed = set(yaml.safe_load(CONF.joinpath(kind, f"{name}.yaml").read_text()) or {}) - {"defaults"}  # Hydra's, not an option
            fields = {f.name for f in dataclasses.fields(comp.schema)}
            assert listed == fields, f"conf/{kind}/{name}.yaml: missing {sorted(fields - listed)}, unknown {sorted(listed - fields)}"

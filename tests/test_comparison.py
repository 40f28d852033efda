"""``qstar eval comparison=<preset>``: the points a preset makes, and bad presets refused in one line."""

from __future__ import annotations

import pytest

from conftest import run_cli
from qstar.comparison import points
from qstar.errors import QstarError


def test_a_preset_makes_one_search_per_setting_strategy_and_value(compose):
    cfg = compose("eval", ["comparison=game24", "comparison.settings=[rules,learned]", "split=val", "limit=3"])
    pts = points(cfg)
    per_setting = sum(len(s["values"]) for s in cfg.comparison.strategies.values())
    assert len(pts) == 2 * per_setting
    beam = [p for p in pts if p["setting"] == "rules" and p["strategy"] == "beam"]
    assert [p["cfg"].search.beams for p in beam] == list(cfg.comparison.strategies.beam["values"])
    assert all(p["cfg"].search.name == "beam" and p["cfg"].search.k == 4 for p in beam)
    assert all(p["cfg"].scorer.name == "verifier" and p["cfg"].scorer.lookahead is False for p in beam)
    astar = [p for p in pts if p["setting"] == "learned" and p["strategy"] == "a-star"]
    assert [p["cfg"].search.limits.expansions for p in astar] == [4, 8, 16, 32]
    assert all(p["cfg"].scorer.name == "prm" and p["cfg"].split == "val" and p["cfg"].limit == 3 for p in astar)
    assert "comparison" not in pts[0]["cfg"]  # a point is an ordinary eval config


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["comparison.settings=[exact]"],
            "comparison.settings has 'exact', which comparison.scorers does not define: use learned, rules, oracle",
        ),
        (["comparison.strategies.beam.values=[]"], "comparison.strategies.beam.values is empty: list the values of search.beams to run"),
        (
            ["comparison.strategies.beam.sweep=search.width"],
            "comparison: override 'search.width=1': search has no key 'width'; see `qstar eval --cfg job` for the keys",
        ),
    ],
)
def test_bad_presets_are_refused(compose, overrides, message):
    cfg = compose("eval", ["comparison=game24", *overrides])
    with pytest.raises(QstarError) as e:
        points(cfg)
    assert str(e.value) == message


def test_a_bad_point_fails_before_any_model_loads(tmp_path):
    proc = run_cli("eval", "comparison=game24", "comparison.strategies.beam.values=[0]", f"out_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qstar: error: search.beams=0: must be a positive number"
    assert not list(tmp_path.rglob("trees.jsonl"))


def test_an_unknown_search_in_a_preset_is_named(tmp_path):
    proc = run_cli("eval", "comparison=game24", "comparison.strategies.beam.search=bean", f"out_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.startswith("qstar: error: comparison: cannot compose search=bean")

"""A search strategy from a separate package joins through the entry-point group and its own
Hydra config — no qstar file changes."""

from __future__ import annotations

import json

from conftest import run_cli

PLUGIN = '''
from dataclasses import dataclass

import qstar
from qstar.protocols import Expand, Score


@dataclass
class GreedyConfig:
    name: str = "greedy-step"
    k: int = 4


class Greedy:
    """Expand the current node, move to its best-scoring child, until a terminal step."""

    name = "greedy-step"

    def __init__(self, cfg):
        self.cfg = cfg

    def run(self, tree):
        node = tree.root
        while not node.terminal:
            (children,) = yield Expand([node], self.cfg.k)
            if not children:
                break
            scores = yield Score(children)
            node = max(zip(scores, children), key=lambda sc: sc[0])[1]
        tree.choose(node)


@qstar.hookimpl
def qstar_register_searches(register):
    register("greedy-step", Greedy, GreedyConfig)


@qstar.hookimpl
def qstar_config_searchpath():
    return "pkg://qstar_throwaway.conf"
'''


def install_throwaway(site):
    pkg = site / "qstar_throwaway"
    (pkg / "conf" / "search").mkdir(parents=True)
    (pkg / "__init__.py").write_text(PLUGIN)
    (pkg / "conf" / "__init__.py").write_text("")
    (pkg / "conf" / "search" / "greedy-step.yaml").write_text("name: greedy-step\nk: 3\n")
    dist = site / "qstar_throwaway-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qstar-throwaway\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[qstar]\nthrowaway = qstar_throwaway\n")


def test_third_party_search_runs_by_name(tmp_path):
    site = tmp_path / "site"
    install_throwaway(site)
    env = {"PYTHONPATH": str(site)}

    listing = run_cli("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "greedy-step" in line)
    assert "qstar-throwaway 0.1" in row

    out = tmp_path / "run"
    proc = run_cli("search", "search=greedy-step", "split=val", "limit=2", f"out_dir={out}", "progress=false", env=env)
    assert proc.returncode == 0, proc.stderr
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert [t["search"] for t in trees] == ["greedy-step", "greedy-step"]
    for t in trees:
        root_children = [n for n in t["nodes"] if n["parent"] == 0]
        assert 1 <= len(root_children) <= 3  # k=3 from the plugin's own YAML
        assert t["budget"]["expansions"] >= 1

    # without the package on the path the name is unknown, and the error says which names exist
    missing = run_cli("solve", "search=greedy-step")
    assert missing.returncode == 2
    assert "unknown search 'greedy-step'" in missing.stderr

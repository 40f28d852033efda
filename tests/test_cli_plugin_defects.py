"""The CLI stays right when a third-party plugin contributes config: each test here failed before
its fix (the search-path override broke `--cfg job` after overrides, `--help` hid plugin options,
unknown group keys got no list of valid keys, `-m` skipped validation, solve's tree hid invalid
first steps)."""

from __future__ import annotations

import pytest
from test_cli_errors import assert_one_line_error
from test_third_party_plugin import install_throwaway

from conftest import run_cli


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    install_throwaway(site)
    return {"PYTHONPATH": str(site)}


def test_cfg_job_after_overrides_with_a_plugin_searchpath(env):
    proc = run_cli("solve", "problem=1 5 5 5", "--cfg", "job", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "problem: 1 5 5 5" in proc.stdout


def test_help_lists_options_contributed_by_plugins(env):
    proc = run_cli("solve", "--help", env=env)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("search: "))
    assert line == "search: a-star, beam, best-of-n, dfs, dvts, greedy-step, mcts, tot-bfs, tot-bfs-path"


@pytest.mark.parametrize("override", ["search.no_such_key=1", "+search.no_such_key=1"])
def test_unknown_key_in_a_group_names_the_valid_keys(override):
    proc = run_cli("solve", override)
    assert_one_line_error(proc, "no_such_key", "valid keys: name, breadth, k, max_depth, prune, merge_states")


def test_unknown_key_of_a_plugin_component_names_its_keys(env):
    proc = run_cli("solve", "search=greedy-step", "search.kk=3", env=env)
    assert_one_line_error(proc, "search 'greedy-step' has no key 'kk'", "valid keys: name, k")


@pytest.mark.parametrize(
    "sweep,needles",
    [
        (["search.breadth=3,wide"], ["'wide'", "search.breadth"]),
        (["search=tot-bfs,beem"], ["unknown search 'beem'", "a-star, beam, best-of-n, dfs, dvts, mcts, tot-bfs"]),
        (["search.breadht=1,2"], ["search.breadht", "valid keys"]),
        (["search=dfs,best-of-n", "search.breadth=2"], ["breadth"]),  # breadth is tot-bfs's, not dfs's
    ],
)
def test_every_sweep_job_is_validated_before_anything_runs(sweep, needles, tmp_path):
    proc = run_cli("eval", "-m", *sweep, "limit=1", f"hydra.sweep.dir={tmp_path}/sweep")
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "sweep").exists()  # no job started


def test_cfg_job_with_a_bad_override_is_a_one_line_error():
    proc = run_cli("solve", "search.k=many", "--cfg", "job")
    assert_one_line_error(proc, "search.k", "many")


def test_solve_tree_counts_invalid_first_steps_at_the_root():
    from rich.console import Console

    from qstar.commands import render_tree
    from qstar.tree import Node, Problem, SearchResult

    nodes = [Node(id=0, parent=None)] + [Node(id=i, parent=0, step=f"bad {i}", depth=1, valid=False, terminal=True) for i in (1, 2, 3)]
    result = SearchResult(problem=Problem(id="p", question="4 9 10 13"), nodes=nodes)
    console = Console(width=80, record=True)
    console.print(render_tree(result))
    text = console.export_text()
    assert "4 9 10 13" in text
    assert "… 3 more (3 invalid)" in text

"""Bad input ends with one line naming the problem and the fix, exit status 2, no traceback."""

from __future__ import annotations

import pytest

from conftest import run_cli


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("qstar: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_plugin_name_lists_the_valid_ones():
    proc = run_cli("solve", "search=beem")
    assert_one_line_error(proc, "unknown search 'beem'", "a-star, beam, best-of-n, dfs, dvts, mcts, tot-bfs")


def test_malformed_problem():
    proc = run_cli("solve", "problem=4 9 x 13")
    assert_one_line_error(proc, "malformed Game of 24 problem '4 9 x 13'", "four whole numbers")


def test_missing_model_path(tmp_path):
    proc = run_cli("solve", f"model.name_or_path={tmp_path}/no-such-model")
    assert_one_line_error(proc, "no-such-model", "save_pretrained")


def test_a_long_path_in_an_error_is_shown_whole(tmp_path):
    """The path is what the user must act on: a deep one (170–200 characters) is not cut."""
    data = tmp_path / "trees.jsonl"
    while len(str(data)) < 170:
        data = data.parent / "a-directory-of-runs" / data.name
    proc = run_cli("view", f"data={data}")
    assert_one_line_error(proc, f"data file {data} does not exist")


def test_invalid_override_key():
    proc = run_cli("solve", "search.breadht=3")
    assert_one_line_error(proc, "search.breadht", "--cfg job")


def test_invalid_override_value_names_the_valid_keys():
    proc = run_cli("solve", "search.breadth=wide")
    assert_one_line_error(proc, "'wide'", "breadth")


def test_unknown_command():
    proc = run_cli("sovle")
    assert_one_line_error(proc, "unknown command 'sovle'", "solve")


def test_malformed_data_line_names_file_and_line(tmp_path):
    from qstar.tree import Node, Problem, SearchResult

    good = SearchResult(problem=Problem(id="p", question="1 2 3 4"), nodes=[Node(id=0, parent=None)])
    data = tmp_path / "trees.jsonl"
    data.write_text(good.to_json() + "\n" + "{not json\n")
    proc = run_cli("train", f"data={data}", f"out_dir={tmp_path}/run", "trainer.max_steps=1")
    assert_one_line_error(proc, f"{data}:2")


def test_missing_data_file(tmp_path):
    proc = run_cli("train", f"data={tmp_path}/nope.jsonl", f"out_dir={tmp_path}/run")
    assert_one_line_error(proc, "nope.jsonl", "does not exist")


@pytest.mark.parametrize("args", [["--help"], []])
def test_help_exits_zero(args):
    proc = run_cli(*args) if args else run_cli()
    assert proc.returncode == 0
    assert "solve" in proc.stdout


def test_the_cli_knows_hydras_flags():
    """qstar tells Hydra's flags from overrides with a parser of its own (no private Hydra API at
    run time); this test is the one place that reads Hydra's private parser, to catch a Hydra
    release that adds or renames a flag."""
    from hydra._internal.utils import get_args_parser

    from qstar.cli import hydra_flags

    def options(parser):
        return {(tuple(sorted(a.option_strings)), a.nargs, tuple(a.choices or ())) for a in parser._actions if a.option_strings}

    assert options(hydra_flags()) == options(get_args_parser())

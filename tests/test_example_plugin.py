"""The example third-party package (docs/examples/qstar-countdown), pip-installed non-editable,
reaches qstar through the real entry-point machinery: plugins, solve, --cfg job, --help, its tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

EXAMPLE = ROOT / "docs" / "examples" / "qstar-countdown"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``pip install`` (not editable) of a copy of the example into a throwaway site dir."""
    tmp = tmp_path_factory.mktemp("countdown")
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (target / "qstar_countdown" / "__init__.py").is_symlink()
    assert (target / "qstar_countdown" / "conf" / "search" / "greedy-restart.yaml").is_file()  # package data shipped
    return target


def cli(site, *args, cwd=None):
    return run_cli(*args, env={"PYTHONPATH": str(site)}, cwd=cwd)


def test_plugins_lists_the_package_as_the_source(site):
    proc = cli(site, "plugins")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[2].strip(): line for line in proc.stdout.splitlines() if line.count("│") >= 3}
    assert "qstar-countdown 0.1.0" in rows["countdown"]
    assert "qstar-countdown 0.1.0" in rows["greedy-restart"]


def test_solve_a_countdown_puzzle_with_the_plugin_search(site, tmp_path):
    # The bundled policy knows Game of 24 prompts only; with the target left out of the prompt it
    # proposes legal steps and the verifier's exact look-ahead (oracle setting) steers.
    proc = cli(
        site,
        "solve",
        "task=countdown",
        "task.target_in_prompt=false",
        "problem=24 from 13 10 9 4",
        "search=greedy-restart",
        "search.k=40",
        "scorer=verifier",
        "scorer.lookahead=true",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "24 from 4 9 10 13 →" in proc.stdout
    assert "(correct)" in proc.stdout


def test_cfg_job_after_overrides_shows_the_plugin_yaml(site, tmp_path):
    proc = cli(site, "solve", "task=countdown", "search=greedy-restart", "problem=63 from 2 3 7 9", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: greedy-restart" in proc.stdout and "restarts: 4" in proc.stdout  # from the package's YAML
    assert "target_in_prompt" not in proc.stdout or "name: countdown" in proc.stdout


def test_help_lists_the_plugin_options_under_their_groups(site, tmp_path):
    proc = cli(site, "solve", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    groups = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if line.startswith(("search: ", "task: ")))
    assert "greedy-restart" in groups["search"].split(", ") and "tot-bfs" in groups["search"].split(", ")
    assert "countdown" in groups["task"].split(", ") and "game24" in groups["task"].split(", ")


def test_a_bad_plugin_option_is_a_one_line_error(site, tmp_path):
    proc = cli(site, "solve", "task=countdown", "search=greedy-restart", "search.restart=2", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "valid keys: name, k, restarts, accept, prune" in proc.stderr
    bad = cli(site, "solve", "task=countdown", "problem=63 from 2 x", cwd=tmp_path)
    assert bad.returncode == 2 and "expected '<target> from <numbers>'" in bad.stderr


def test_the_package_own_tests_pass_against_the_installed_copy(site, tmp_path):
    tests = tmp_path / "tests"
    shutil.copytree(EXAMPLE / "tests", tests)
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "passed" in proc.stdout


def test_the_package_adds_a_command_of_its_own(site, tmp_path):
    listed = cli(site, "--help", cwd=tmp_path)
    assert listed.returncode == 0 and "countdown-stats  count the puzzles of a countdown split" in listed.stdout.replace(
        "countdown-stats ", "countdown-stats  ", 1
    )
    proc = cli(site, "countdown-stats", "split=test", "show=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("countdown/test: ") and lines[0].endswith(" puzzles")
    assert sum(int(x.split(": ")[1]) for x in lines[1:] if "numbers: " in x) == int(lines[0].split(": ")[1].split()[0])
    assert len([x for x in lines if " from " in x]) == 2
    help_ = cli(site, "countdown-stats", "--help", cwd=tmp_path)
    assert help_.returncode == 0 and "countdown-stats" in help_.stdout and "task: " in help_.stdout
    job = cli(site, "countdown-stats", "split=val", "--cfg", "job", cwd=tmp_path)
    assert job.returncode == 0 and "split: val" in job.stdout and "name: countdown" in job.stdout
    bad = cli(site, "countdown-stats", "show=-1", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr == "qstar: error: show=-1: use 0 (none) or a positive number of puzzles\n"


@pytest.mark.slow  # one loop round: search, label, PRM, the keep policy, two evaluations (about a minute)
def test_a_third_party_policy_optimizer_runs_a_loop_round(site, tmp_path):
    out = tmp_path / "loop"
    proc = cli(
        site,
        "loop",
        "rounds=1",
        "optimizer=keep",
        "train_every=100",
        "train_limit=2",
        "label_n=1",
        "prm_steps=2",
        "eval_limit=1",
        'search_overrides=["search.k=4","search.breadth=2"]',
        f"out_dir={out}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    rounds = json.loads((out / "rounds.json").read_text())
    assert rounds["optimizer"] == "keep" and [r["round"] for r in rounds["rounds"]] == [0, 1]
    # the policy was handed the round's trees and exported unchanged
    assert "data=" in (out / "round-1" / "policy" / "log.txt").read_text()
    from safetensors.torch import load_file

    from qstar.models import resolve_path

    kept = load_file(out / "round-1" / "policy" / "model" / "model.safetensors")
    start = load_file(Path(resolve_path("pkg://qstar_game24/p0")) / "model.safetensors")
    assert kept.keys() == start.keys() and all(kept[k].equal(start[k]) for k in start)
    refused = cli(site, "loop", "rounds=1", "optimizer=prm", f"out_dir={tmp_path / 'other'}", cwd=tmp_path)
    assert refused.returncode == 2 and "one of dpo, ilql, keep, rft, sft" in refused.stderr

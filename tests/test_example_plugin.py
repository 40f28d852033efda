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
        capture_output=True, text=True, timeout=300,
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
    proc = cli(site, "solve", "task=countdown", "task.target_in_prompt=false", "problem=24 from 13 10 9 4",
               "search=greedy-restart", "search.k=40", cwd=tmp_path)
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
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tests)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "passed" in proc.stdout

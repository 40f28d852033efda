"""``qstar view``: one self-contained HTML page, opened in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_search import GOLD, SCRIPT, ScriptedExpander, engine

from conftest import run_cli
from qstar.tree import save_results
from qstar_game24 import Game24Task
from qstar_mcts import MCTS, MCTSConfig
from qstar_tot import TotBFS, TotBFSConfig

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "runs" / "test-artifacts" / "viewer.png"  # kept after the run: look at it


def _browser() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("QSTAR_REQUIRE_BROWSER"):
            pytest.fail("QSTAR_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium)")
    return exe


def _chromium(*args: str, tmp: Path) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1200,900",
    ]
    out = subprocess.run([_browser(), *flags, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture
def trees_file(tmp_path):
    task = Game24Task()
    eng, _ = engine(ScriptedExpander(SCRIPT))
    first = eng.solve(TotBFS(TotBFSConfig(breadth=2, k=5)), task.parse_problem("4 9 10 13"))
    eng, _ = engine(ScriptedExpander(SCRIPT))
    second = eng.solve(MCTS(MCTSConfig(simulations=24, k=5)), task.parse_problem("4 9 10 13"))
    second.problem.id, second.problem.question = "second", "4 9 10 13 (mcts)"
    path = tmp_path / "trees.jsonl"
    save_results(path, [first, second])
    return path


def test_the_page_shows_the_tree_and_the_answer_in_a_real_browser(trees_file, tmp_path):
    proc = run_cli("view", str(trees_file))
    assert proc.returncode == 0, proc.stderr
    page = trees_file.with_suffix(".html")
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\(", text)  # nothing outside the file is loaded

    dom = _chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    for step in GOLD:  # the chosen path is open, so every step of it is rendered
        assert step.replace("<", "&lt;") in dom
    assert "(10-(13-9))*4" in dom and "(correct)" in dom
    assert "verifier=1" in dom  # the scores are shown
    assert '<option value="1">2. 4 9 10 13 (mcts)' in dom  # the problem picker lists both trees

    second = _chromium("--dump-dom", page.as_uri() + "#1", tmp=tmp_path)
    assert "visits=24" in second  # the MCTS tree: the root's visits are the simulations
    assert "mcts: " in second

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _chromium(f"--screenshot={SCREENSHOT}", page.as_uri() + "#1", tmp=tmp_path)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_step_cannot_break_out_of_the_page(tmp_path):
    from qstar import view
    from qstar.tree import Node, Problem, SearchResult

    evil = SearchResult(problem=Problem(id="x", question="</script><script>alert(1)</script>"), nodes=[Node(id=0, parent=None)])
    text = view.render([evil])
    assert text.count("</script>") == 2  # the page's own two script elements, nothing from the data


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "qstar view needs a trees file: qstar view runs/<run>/trees.jsonl (or data=<file>)"),
        (("missing.jsonl",), "data file missing.jsonl does not exist: pass data=<trees.jsonl written by qstar search>"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    proc = run_cli("view", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == f"qstar: error: {message}"


def test_out_must_be_html(trees_file, tmp_path):
    proc = run_cli("view", str(trees_file), f"out={tmp_path / 'page.txt'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"qstar: error: out={tmp_path / 'page.txt'}: the page is HTML; name it <something>.html"

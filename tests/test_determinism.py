"""A problem's tree depends on (seed, problem id) alone: not on which problems share its batch,
the ``limit``, ``batch_problems`` or a kill-and-resume — with the batched model calls kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from qstar import commands


def tree_of(result) -> str:
    """The tree as JSON, wall time left out, log-probs and scores rounded: a batch of another width
    pads rows differently, which moves a log-prob or a PRM score by ~1e-6 (float summation order),
    never a token."""
    d = result.to_dict()
    d["budget"].pop("wall_time")
    for n in d["nodes"]:
        n["logprob"] = round(n["logprob"], 4)
        n["scores"] = {k: round(v, 4) for k, v in n["scores"].items()}
    return json.dumps(d, sort_keys=True)


@pytest.fixture(scope="module")
def components(policy_dir):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from qstar.config import CONFIG_MODULE, store_schemas

    store_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name="search", overrides=["search.k=8", "search.breadth=2"])
    GlobalHydra.instance().clear()
    return commands.build(cfg)


def test_a_problem_tree_does_not_depend_on_its_batch(components):
    c = components
    problems = c.task.problems("val")[:6]
    calls = []
    real_expand = c.expander.expand
    c.expander.expand = lambda prompts, k, seeds=None: calls.append(len(prompts)) or real_expand(prompts, k, seeds=seeds)
    try:
        c.engine.batch_problems = 6
        together = c.engine.run(c.search, problems)
        batched_calls = len(calls)
        c.engine.batch_problems = 2
        in_pairs = c.engine.run(c.search, problems[::-1])[::-1]  # other order, other partners
        c.engine.batch_problems = 1
        alone = [c.engine.solve(c.search, problems[3])]
    finally:
        c.expander.expand = real_expand
    assert batched_calls <= 4 and max(calls[:batched_calls]) > 1  # still one call for the whole frontier
    assert [tree_of(r) for r in together] == [tree_of(r) for r in in_pairs]
    assert tree_of(alone[0]) == tree_of(together[3])
    assert len({len(r.nodes) for r in together}) > 1  # the trees differ from each other: real sampling


@pytest.mark.slow  # a whole search killed mid-way and resumed (about 20 s)
def test_a_killed_and_resumed_search_writes_the_same_trees(tmp_path):
    args = ["search", "split=val", "limit=6", "batch_problems=2", "search.k=8", "search.breadth=2", "progress=false"]
    whole = run_cli(*args, f"out_dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    exe = Path(sys.executable).with_name("qstar")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(exe), *args, f"out_dir={out}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trees = out / "trees.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (trees.exists() and trees.read_text().count("\n") >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = trees.read_text().count("\n")
    assert 2 <= partial < 6, partial  # killed mid-run
    resumed = run_cli(*args, f"out_dir={out}")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout

    def by_id(path):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for r in rows:
            r["budget"].pop("wall_time")
            for n in r["nodes"]:
                n["logprob"] = round(n["logprob"], 4)
        return {r["problem"]["id"]: r for r in rows}

    assert by_id(trees) == by_id(tmp_path / "whole" / "trees.jsonl")

"""shard=i/n splits a split over workers without overlap; qstar merge joins the shards into what one
worker writes, and refuses shards that are not one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from qstar.shards import in_shard, parse_shard
from qstar.tree import load_results

SEARCH = ["split=val", "limit=9", "search=best-of-n", "search.n=4", "scorer=verifier", "progress=false"]


def qstar(*args: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("qstar")
    return subprocess.Popen(
        [str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )


def trees_and_logprobs(path: Path) -> tuple[list[dict], list[float]]:
    """The records without their wall times, and every node's log-prob apart: a problem's samples
    do not depend on which problems shared its batch, but a batch of another size pads and sums
    in another order, so a log-prob may differ in its sixth digit."""
    records, logprobs = [], []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        r["budget"].pop("wall_time")
        logprobs += [node.pop("logprob") for node in r["nodes"]]
        records.append(r)
    return records, logprobs


def test_shards_partition_the_problems():
    ids = [f"game24-{i}" for i in range(300)]
    owners = [[i for i in range(3) if in_shard(pid, (i, 3))] for pid in ids]
    assert all(len(o) == 1 for o in owners)  # every problem in exactly one shard
    sizes = [sum(o == [i] for o in owners) for i in range(3)]
    assert min(sizes) > 70  # and the hash spreads them
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) is None


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shards")
    procs = [qstar("search", *SEARCH, f"shard={i}/3", f"out_dir={tmp / f's{i}'}") for i in range(3)]
    procs.append(qstar("search", *SEARCH, f"out_dir={tmp / 'one'}"))
    for p in procs:  # three shard workers and one whole run, in parallel processes
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    return tmp


def test_three_parallel_shards_merge_into_the_one_worker_run(searched):
    counts = [len((searched / f"s{i}" / "trees.jsonl").read_text().splitlines()) for i in range(3)]
    assert sum(counts) == 9 and all(c < 9 for c in counts)
    proc = run_cli("merge", f"inputs=[{','.join(str(searched / f's{i}') for i in (2, 0, 1))}]", f"out_dir={searched / 'merged'}")
    assert proc.returncode == 0, proc.stderr
    merged, merged_logprobs = trees_and_logprobs(searched / "merged" / "trees.jsonl")
    one, one_logprobs = trees_and_logprobs(searched / "one" / "trees.jsonl")
    assert merged == one  # the same problems in the same order, the same steps, scores and budgets
    assert merged_logprobs == pytest.approx(one_logprobs, abs=1e-4)
    results = json.loads((searched / "merged" / "results.json").read_text())
    assert results["problems"] == 9


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "shard 1/3 is missing: pass its out_dir too (or run it with shard=1/3)"),
        ("twice", "shard 0/3 is given twice ({s0} and {s0})"),
        ("config", "shards differ in search.n: 4 in {s0}, 5 in {other}; merge only shards of one run"),
        ("unfinished", "problem {pid} has no record in {s1} (shard 1/3): rerun that shard to finish it"),
        ("whole", "{one} has no run.json: merge the out_dirs of qstar search/eval/label runs made with shard=i/n"),
        ("torn", "{s1}/trees.jsonl:{last}: malformed tree record (*); rerun that shard to repair it, then merge again"),
    ],
)
def test_merge_refuses_what_is_not_one_run(searched, tmp_path, case, message):
    import shutil

    s0, s1, s2 = (searched / f"s{i}" for i in range(3))
    fmt = {"s0": s0, "s1": s1, "one": searched / "one", "other": tmp_path / "other"}
    if case == "missing":
        inputs = [s0, s2]
    elif case == "twice":
        inputs = [s0, s0, s1, s2]
    elif case == "config":  # a shard made with another search.n
        other = tmp_path / "other"
        shutil.copytree(s1, other)
        run = json.loads((other / "run.json").read_text())
        run["config"]["search"]["n"] = 5
        (other / "run.json").write_text(json.dumps(run))
        inputs = [s0, other, s2]
    elif case == "unfinished":  # shard 1 lost its last problem (a crashed worker)
        cut = tmp_path / "s1"
        shutil.copytree(s1, cut)
        lines = (cut / "trees.jsonl").read_text().splitlines()
        (cut / "trees.jsonl").write_text("\n".join(lines[:-1]) + "\n")
        fmt["s1"], fmt["pid"] = cut, json.loads(lines[-1])["problem"]["id"]
        inputs = [s0, cut, s2]
    elif case == "torn":  # a worker killed mid-write
        cut = tmp_path / "s1"
        shutil.copytree(s1, cut)
        text = (cut / "trees.jsonl").read_text()
        (cut / "trees.jsonl").write_text(text[: len(text) - 40])
        fmt["s1"], fmt["last"] = cut, len(text.splitlines())
        inputs = [s0, cut, s2]
    else:
        inputs = [searched / "one", s0]
    proc = run_cli("merge", f"inputs=[{','.join(map(str, inputs))}]", f"out_dir={tmp_path / 'merged'}")
    assert proc.returncode == 2
    head, star, tail = ("qstar: error: " + message.format(**fmt)).partition("(*)")  # (*): the reader's own detail
    got = proc.stderr.strip()
    assert (got.startswith(head) and got.endswith(tail)) if star else got == head, got


@pytest.mark.slow  # four more label processes
def test_label_shards_merge_into_the_one_worker_labels(searched, tmp_path):
    trees = searched / "one" / "trees.jsonl"
    procs = [
        qstar(
            "label", f"data={trees}", "labeler=verifier", "rollouts=true", f"shard={i}/3", f"out_dir={tmp_path / f'l{i}'}", "progress=false"
        )
        for i in range(3)
    ]
    procs.append(qstar("label", f"data={trees}", "labeler=verifier", "rollouts=true", f"out_dir={tmp_path / 'one'}", "progress=false"))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    proc = run_cli("merge", f"inputs=[{','.join(str(tmp_path / f'l{i}') for i in range(3))}]", f"out_dir={tmp_path / 'merged'}")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged" / "labels.jsonl").read_text() == (tmp_path / "one" / "labels.jsonl").read_text()
    # rollouts=true: the labelled trees are joined too, in the run's order (the budget is each shard's own: its wall time differs)
    merged, one = (load_results(tmp_path / d / "rollouts.jsonl") for d in ("merged", "one"))
    assert [(r.problem.id, [n.step for n in r.nodes]) for r in merged] == [(r.problem.id, [n.step for n in r.nodes]) for r in one]

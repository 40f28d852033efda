"""No finished work is lost or mixed: a page never replaces its trees, a merge never writes into
one of its shards, and a rerun into an out_dir with other settings is refused with its files
untouched (search, label and train alike)."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import run_cli

SEARCH = ["search", "split=val", "limit=1", "search=tot-bfs", "search.k=4", "search.breadth=2", "progress=false"]


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qstar: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "search"
    first = run_cli(*SEARCH, f"out_dir={out}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    trees = (out / "trees.jsonl").read_bytes()
    assert json.loads((out / "settings.json").read_text())["search"]["k"] == 4

    more = run_cli(*SEARCH[:2], "limit=2", *SEARCH[3:], f"out_dir={out}", cwd=tmp_path)  # more problems: the same run, extended
    assert more.returncode == 0 and "resuming: 1 of 2" in more.stdout, more.stderr
    grown = (out / "trees.jsonl").read_bytes()
    assert grown.startswith(trees) and grown.count(b"\n") == 2

    other = run_cli(*SEARCH[:-3], "search.k=8", *SEARCH[-2:], f"out_dir={out}", cwd=tmp_path)
    line = _one_line(other)
    assert f"out_dir={out} holds a run with search.k=4, not 8" in line and "pick another out_dir" in line
    assert (out / "trees.jsonl").read_bytes() == grown

    # eval resumes a search's out_dir (same trees), but not with another scorer
    judged = run_cli("eval", *SEARCH[1:], f"out_dir={out}", "scorer=prm", cwd=tmp_path)
    assert "holds a run with scorer.aggregate='prod', not 'min'" in _one_line(judged)

    labels = tmp_path / "labels"
    common = ["label", f"data={out / 'trees.jsonl'}", "labeler=verifier", "progress=false", f"out_dir={labels}"]
    assert run_cli(*common, cwd=tmp_path).returncode == 0
    written = (labels / "labels.jsonl").read_bytes()
    relabel = run_cli(*common, "labeler=mc-rollout", cwd=tmp_path)
    assert "holds a run with labeler.name='verifier', not 'mc-rollout'" in _one_line(relabel)
    assert (labels / "labels.jsonl").read_bytes() == written


def test_train_into_a_run_with_a_checkpoint_needs_resume(tmp_path):
    run = tmp_path / "train"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"a finished run's checkpoint")
    proc = run_cli("train", "optimizer=prm", "data=labels.jsonl", f"out_dir={run}", cwd=tmp_path)
    assert "holds a training run (checkpoints/last.ckpt): add resume=true" in _one_line(proc)
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"a finished run's checkpoint"


def test_view_and_merge_never_write_over_their_inputs(tmp_path):
    from qstar.tree import Node, Problem, SearchResult

    record = SearchResult(problem=Problem(id="p", question="4 9 10 13"), nodes=[Node(id=0, parent=None)]).to_json() + "\n"
    data = tmp_path / "trees.html"  # a trees file whose name ends .html: the page's default name is its own
    data.write_text(record)
    assert "overwrite its own data file" in _one_line(run_cli("view", str(data), cwd=tmp_path))
    assert data.read_text() == record

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "trees.jsonl").write_text(record)
    proc = run_cli("merge", f"inputs=[{a},{b}]", f"out_dir={a}", cwd=tmp_path)
    assert f"out_dir={a} is one of the inputs" in _one_line(proc)
    assert (a / "trees.jsonl").read_text() == record and sorted(p.name for p in a.iterdir()) == ["trees.jsonl"]


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB file system of its own (tmpfs), to fill and to make read-only: needs mount rights."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True)


BEST_OF = ["search", "split=val", "search=best-of-n", "search.n=8", "scorer=verifier", "progress=false"]


@pytest.mark.slow  # two searches of 40 puzzles and a third to compare (about 30 s)
def test_a_full_disk_is_one_line_and_the_rerun_finishes_the_run(small_disk, tmp_path):
    (small_disk / "fill").write_bytes(b"\0" * 200 * 1024)
    out = small_disk / "out"
    full = run_cli(*BEST_OF, "limit=40", f"out_dir={out}", cwd=tmp_path)
    assert "No space left on device; free space or pick a writable out_dir, then rerun" in _one_line(full)
    text = (out / "trees.jsonl").read_text() if (out / "trees.jsonl").exists() else ""
    done = text[: text.rfind("\n") + 1].splitlines()  # whole lines; a torn last one is dropped by the rerun
    assert len(done) < 40
    (small_disk / "fill").unlink()
    rerun = run_cli(*BEST_OF, "limit=40", f"out_dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    trees = (out / "trees.jsonl").read_text().splitlines()
    assert trees[: len(done)] == done and len(trees) == 40  # what was written stays; the rest is added
    alone = run_cli(*BEST_OF, "limit=40", f"out_dir={tmp_path / 'alone'}", cwd=tmp_path)
    assert [json.loads(t)["path"] for t in trees] == [
        json.loads(t)["path"] for t in (tmp_path / "alone" / "trees.jsonl").read_text().splitlines()
    ]
    assert alone.returncode == 0


def test_a_read_only_working_directory_needs_only_a_writable_out_dir(small_disk, tmp_path):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    ok = run_cli(*BEST_OF, "limit=1", f"out_dir={tmp_path / 'out'}", cwd=small_disk)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / ".hydra" / "config.yaml").is_file()  # the composed config is kept with the run
    refused = run_cli(*BEST_OF, "limit=1", cwd=small_disk)
    assert f"the working directory {small_disk} is not writable: pass out_dir=" in _one_line(refused)


def test_a_run_refused_before_any_output_leaves_nothing_to_refuse_its_corrected_rerun(tmp_path):
    """search, eval and label record their settings first; a run refused before it wrote a tree or
    a label (here: a model path that does not exist) takes them back, so the fixed command runs."""
    missing = "model.name_or_path=/nonexistent/policy"
    for command, out in (("search", tmp_path / "search"), ("eval", tmp_path / "eval")):
        bad = run_cli(command, *SEARCH[1:], missing, f"out_dir={out}", cwd=tmp_path)
        assert "/nonexistent/policy" in _one_line(bad)
        assert not (out / "settings.json").exists()
        fixed = run_cli(command, *SEARCH[1:], f"out_dir={out}", cwd=tmp_path)
        assert fixed.returncode == 0, fixed.stderr
        assert (out / "trees.jsonl").read_text().count("\n") == 1

    labels = tmp_path / "labels"
    common = [
        "label",
        f"data={tmp_path / 'search' / 'trees.jsonl'}",
        "labeler=mc-rollout",
        "labeler.n=1",
        "labeler.max_paths=1",
        "progress=false",
    ]
    bad = run_cli(*common, missing, f"out_dir={labels}", cwd=tmp_path)
    assert "/nonexistent/policy" in _one_line(bad)
    assert not (labels / "settings.json").exists()
    fixed = run_cli(*common, f"out_dir={labels}", cwd=tmp_path)
    assert fixed.returncode == 0 and (labels / "labels.jsonl").read_text().count("\n") == 1, fixed.stderr


@pytest.mark.parametrize(("written", "kept"), [("", False), ('{"a tree": 1}\n', True)])
def test_settings_stay_once_the_run_has_written_output(tmp_path, written, kept):
    from omegaconf import OmegaConf

    from qstar.runs import settings_of_run

    cfg = OmegaConf.create({"search": {"k": 4}})
    with pytest.raises(KeyboardInterrupt), settings_of_run(tmp_path, "search", cfg, work=("trees.jsonl",)):
        (tmp_path / "trees.jsonl").write_text(written)  # opened (empty) or holding a finished tree
        raise KeyboardInterrupt
    assert (tmp_path / "settings.json").exists() == kept

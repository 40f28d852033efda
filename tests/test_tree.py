"""The tree format: JSON Lines of SearchResults that round-trip byte for byte, clear errors on bad
files, and a crash-safe append-only writer."""

from __future__ import annotations

import json
import os

import pytest

from qstar.tree import (
    SCHEMA_VERSION,
    Budget,
    DataError,
    Node,
    Problem,
    ResultWriter,
    SearchResult,
    atomic_write_text,
    iter_results,
    load_results,
    save_results,
)


def make_result(pid: str = "game24-4-9-10-13", correct: bool | None = True) -> SearchResult:
    nodes = [
        Node(id=0, parent=None),
        Node(
            id=1,
            parent=0,
            step="13-9=4 (left: 4 4 10)",
            depth=1,
            num_tokens=12,
            logprob=-(0.1 + 0.2),  # 0.30000000000000004: must survive exactly
            scores={"verifier": 0.5, "prm": 1 / 3},
            value=0.1 + 0.2,
            visits=3,
        ),
        Node(
            id=2,
            parent=1,
            step="10−4=6 → «six» 🎲 (left: 4 6)",  # non-ASCII text
            depth=2,
            num_tokens=7,
            logprob=-1e-300,
            scores={"verifier": 0.0},
            valid=False,
        ),
        Node(
            id=3,
            parent=1,
            step="Answer: (10-4)*(13-9)=24",
            depth=2,
            num_tokens=15,
            logprob=-2.5,
            scores={"verifier": 1.0, "prm": 0.9999999999999999},
            value=1.0,
            visits=1,
            terminal=True,
            answer="(10-4)*(13-9)",
        ),
    ]
    return SearchResult(
        problem=Problem(
            id=pid,
            question="4 9 10 13",
            answer=None,
            metadata={"numbers": [4, 9, 10, 13], "row": 900, "note": 'é\n"quoted"', "nested": {"x": [1.5, None]}},
        ),
        nodes=nodes,
        answer="(10-4)*(13-9)",
        path=[0, 1, 3],
        correct=correct,
        budget=Budget(expansions=2, generated_tokens=34, prompt_tokens=100, scorer_calls=3, wall_time=0.1 + 0.7),
        search="tot-bfs",
    )


def test_save_load_save_is_byte_identical_and_lossless(tmp_path):
    originals = [make_result(), make_result("game24-1-1-4-6", correct=None), make_result("p3", correct=False)]
    originals[1].nodes = originals[1].nodes[:1]  # a tree with only its root
    originals[1].path = []
    originals[1].answer = None

    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    save_results(first, originals)
    loaded = load_results(first)
    save_results(second, loaded)

    assert first.read_bytes() == second.read_bytes()
    assert loaded == originals
    assert loaded[0].nodes[1].value == 0.1 + 0.2
    assert loaded[0].nodes[0].parent is None
    assert loaded[0].nodes[2].step == "10−4=6 → «six» 🎲 (left: 4 6)"
    assert loaded[0].path_steps() == ["13-9=4 (left: 4 4 10)", "Answer: (10-4)*(13-9)=24"]


def test_file_is_json_lines_with_schema_version(tmp_path):
    path = tmp_path / "r.jsonl"
    save_results(path, [make_result(), make_result("p2")])
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 2 and text.endswith("\n")
    for line in lines:
        assert json.loads(line)["schema_version"] == SCHEMA_VERSION
    assert "🎲" in text  # written as UTF-8, not \\u escapes
    assert list(json.loads(lines[0])) == ["problem", "nodes", "answer", "path", "correct", "budget", "search", "schema_version", "stopped"]


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    r = make_result()
    path.write_text("\n" + r.to_json() + "\n\n", encoding="utf-8")
    assert load_results(path) == [r]


@pytest.mark.parametrize(
    "bad",
    [
        '{"problem": {"id": "x"',  # truncated JSON
        "not json at all",
        "{}",  # no schema_version
        json.dumps({"schema_version": SCHEMA_VERSION}),  # no fields
        None,  # a node with an unknown field, filled in below
    ],
)
def test_malformed_second_line_names_file_and_line(tmp_path, bad):
    good = make_result()
    if bad is None:
        d = good.to_dict()
        d["nodes"][0]["colour"] = "red"
        bad = json.dumps(d)
    path = tmp_path / "r.jsonl"
    path.write_text(good.to_json() + "\n" + bad + "\n" + good.to_json() + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_results(path)
    assert f"{path}:2" in str(exc.value)
    # iterating lazily yields the good first record before failing
    it = iter_results(path)
    assert next(it) == good
    with pytest.raises(DataError, match=":2"):
        next(it)


@pytest.mark.parametrize("bad", ["[1, 2]", "null", '"a string"', "42"])
def test_non_object_json_line_is_a_data_error(tmp_path, bad):
    path = tmp_path / "r.jsonl"
    path.write_text(make_result().to_json() + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=":2"):
        load_results(path)


def test_unsupported_schema_version_is_rejected(tmp_path):
    d = make_result().to_dict()
    d["schema_version"] = 99
    with pytest.raises(DataError, match="99"):
        SearchResult.from_dict(d)
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps(d) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_results(path)
    assert "99" in str(exc.value) and f"{path}:1" in str(exc.value)


def test_result_writer_drops_a_torn_last_line_and_resumes(tmp_path):
    path = tmp_path / "runs" / "trees.jsonl"  # parent directory is created
    r1, r2, r3 = make_result("p1"), make_result("p2", correct=False), make_result("p3")
    with ResultWriter(path) as w:
        assert w.done == {}
        w.write(r1)
        w.write(r2)
    # simulate a crash halfway through writing the third record
    torn = r3.to_json()[: len(r3.to_json()) // 2]
    with open(path, "a", encoding="utf-8") as f:
        f.write(torn)

    with ResultWriter(path) as w:
        assert set(w.done) == {"p1", "p2"}
        assert w.done["p2"] == r2
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n")
        assert text.splitlines() == [r1.to_json(), r2.to_json()]
        w.write(r3)

    assert load_results(path) == [r1, r2, r3]
    assert path.read_text(encoding="utf-8").count("\n") == 3
    with ResultWriter(path) as w:
        assert set(w.done) == {"p1", "p2", "p3"}
    assert load_results(path) == [r1, r2, r3]


def test_result_writer_flushes_each_record(tmp_path):
    path = tmp_path / "trees.jsonl"
    w = ResultWriter(path)
    try:
        w.write(make_result("p1"))
        # readable by another process before close
        assert [r.problem.id for r in load_results(path)] == ["p1"]
    finally:
        w.close()


def test_result_writer_does_not_delete_complete_records_it_cannot_read(tmp_path):
    path = tmp_path / "trees.jsonl"
    future = make_result("p2").to_dict()
    future["schema_version"] = 99
    content = make_result("p1").to_json() + "\n" + json.dumps(future) + "\n" + make_result("p3").to_json() + "\n"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=":2"):
        ResultWriter(path).close()
    assert path.read_text(encoding="utf-8") == content


def test_atomic_write_text_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old\n")
    atomic_write_text(path, "new ✓\n")
    assert path.read_text(encoding="utf-8") == "new ✓\n"
    assert os.listdir(tmp_path) == ["out.txt"]

    save_results(tmp_path / "r.jsonl", [make_result()])
    assert sorted(os.listdir(tmp_path)) == ["out.txt", "r.jsonl"]


def test_atomic_write_text_failure_keeps_old_content_and_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(TypeError):
        atomic_write_text(path, 123)  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_budget_add():
    a = Budget(expansions=1, generated_tokens=10, prompt_tokens=5, scorer_calls=2, wall_time=0.5)
    a.add(Budget(expansions=2, generated_tokens=1, prompt_tokens=0, scorer_calls=1, wall_time=0.25))
    assert a == Budget(expansions=3, generated_tokens=11, prompt_tokens=5, scorer_calls=3, wall_time=0.75)


def test_a_record_written_before_limits_existed_still_loads():
    d = json.loads(SearchResult(problem=Problem(id="p", question="1 2 3 4"), nodes=[Node(id=0, parent=None)]).to_json())
    del d["stopped"]
    assert SearchResult.from_dict(d).stopped is None

"""The search / eval / solve / plugins commands, called as plain functions of a composed config."""

from __future__ import annotations

import json

from conftest import run_cli
from qstar import commands
from qstar.tree import load_results
from qstar_game24 import Game24Task


def test_search_writes_trees_and_a_rerun_resumes(compose, tiny_model_dir, tmp_path):
    out = tmp_path / "search"
    overrides = [
        f"model.name_or_path={tiny_model_dir}",
        "split=val",
        "limit=3",
        f"out_dir={out}",
        "search.breadth=2",
        "search.k=2",
        "expander.max_step_tokens=8",
        "progress=false",
    ]
    first = commands.search(compose("search", overrides))
    lines = (out / "trees.jsonl").read_text().splitlines()
    assert len(lines) == 3 and [r.problem.id for r in first] == [json.loads(x)["problem"]["id"] for x in lines]

    # simulate a crash: the third record was cut off mid-write
    (out / "trees.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:50])
    again = commands.search(compose("search", overrides))
    reloaded = load_results(out / "trees.jsonl")
    assert [r.problem.id for r in reloaded] == [r.problem.id for r in first]
    assert (out / "trees.jsonl").read_text().splitlines()[:2] == lines[:2]  # finished work untouched
    assert [r.to_json() for r in again[:2]] == lines[:2]

    # exclude= leaves the listed problems out, and is the same run extended (no settings clash)
    (tmp_path / "done.txt").write_text(f"{first[1].problem.id}\n")
    fewer = commands.search(compose("search", [*overrides, "limit=4", f"exclude={tmp_path / 'done.txt'}"]))
    assert [r.problem.id for r in fewer] == [first[0].problem.id, first[2].problem.id, Game24Task().problems("val")[3].id]


def test_eval_reports_what_the_trees_say(compose, policy_dir, tmp_path):
    out = tmp_path / "eval"
    cfg = compose("eval", ["split=val", "limit=4", f"out_dir={out}", "progress=false"])
    summary = commands.eval(cfg)
    trees = load_results(out / "trees.jsonl")
    saved = json.loads((out / "results.json").read_text())
    assert saved["solved"] == summary["solved"] == sum(bool(t.correct) for t in trees)
    assert saved["problems"] == 4
    assert saved["generated_tokens_per_problem"] == sum(t.budget.generated_tokens for t in trees) / 4
    assert summary["solved"] >= 3  # the bundled policy is good on these easy validation puzzles
    task = Game24Task()
    for t in trees:  # the verdict stored in a tree is the task's own check of its answer
        assert t.correct == task.is_correct(t.problem, t.answer)


def test_solve_cli_prints_a_correct_answer(policy_dir):
    proc = run_cli("solve")
    assert proc.returncode == 0, proc.stderr
    assert "(correct)" in proc.stdout
    answer = next(line for line in proc.stdout.splitlines() if line.startswith("answer:"))
    expr = answer.split()[1]
    from qstar_game24 import game

    assert game.check_answer((4, 9, 10, 13), expr)


def test_plugins_lists_every_builtin_with_its_distribution():
    proc = run_cli("plugins")
    assert proc.returncode == 0
    for kind, name in [
        ("task", "game24"),
        ("segmenter", "newline"),
        ("expander", "hf"),
        ("scorer", "verifier"),
        ("search", "tot-bfs"),
        ("search", "dfs"),
        ("search", "best-of-n"),
        ("optimizer", "sft"),
    ]:
        row = next(line for line in proc.stdout.splitlines() if f" {name} " in line)
        assert kind in row and "qstar 0.1.0" in row


def test_multirun_sweeps_strategies_and_cfg_job_prints_the_config(tiny_model_dir, tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "eval",
        "-m",
        "search=tot-bfs,best-of-n",
        f"model.name_or_path={tiny_model_dir}",
        "split=val",
        "limit=1",
        "expander.max_step_tokens=8",
        "expander.max_rollout_tokens=16",
        "progress=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr
    saved = [json.loads((sweep / str(i) / "results.json").read_text()) for i in (0, 1)]
    assert [s["config"]["search"]["name"] for s in saved] == ["tot-bfs", "best-of-n"]

    shown = run_cli("solve", "search=dfs", "--cfg", "job")
    assert shown.returncode == 0 and "name: dfs" in shown.stdout and "max_expansions: 100" in shown.stdout

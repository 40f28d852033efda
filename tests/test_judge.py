"""Judging the judge: step AUROC and ProcessBench's first-error F1 against exact step labels
(evaluation only), ``qstar judge`` on a searched trees file, and the loop's per-round measures."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from qstar.metrics import auroc, first_error_f1, first_error_threshold


def test_first_error_f1_is_the_harmonic_mean_of_the_two_accuracies():
    solutions = [
        ([0.9, 0.2, 0.8], [True, False, False]),  # the first error named exactly
        ([0.9, 0.9], [True, False]),  # an error missed
        ([0.9, 0.1, 0.9], [True, True, False]),  # an error named too early
        ([0.9, 0.9], [True, True]),  # a right solution called right
    ]
    got = first_error_f1(solutions)
    assert got["error_accuracy"] == pytest.approx(1 / 3) and got["correct_accuracy"] == 1.0
    assert got["f1"] == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert (got["with_error"], got["without_error"]) == (3, 1)
    # a judge that calls every step right finds no error: F1 0, however many right solutions it passes
    lenient = first_error_f1([([1.0] * len(g), g) for _, g in solutions])
    assert lenient["f1"] == 0.0 and lenient["correct_accuracy"] == 1.0
    assert first_error_f1([([0.9], [True])])["f1"] is None  # no solution with an error: undefined


def test_the_chosen_threshold_names_first_errors_where_0_5_calls_everything_wrong():
    # a PRM fitted to labels that are mostly 0: it ranks right (wrong steps lowest) but never reaches 0.5
    solutions = [
        ([0.20, 0.04, 0.03], [True, False, False]),
        ([0.03, 0.02], [False, False]),
        ([0.25, 0.18, 0.30], [True, True, True]),
        ([0.15, 0.21], [True, True]),
    ]
    assert first_error_f1(solutions, 0.5)["f1"] == 0.0  # every right solution called wrong
    threshold, f1 = first_error_threshold(solutions)
    assert 0.04 < threshold <= 0.15 and f1 == 1.0 == first_error_f1(solutions, threshold)["f1"]
    assert first_error_threshold([([0.9, 0.8], [True, True])]) is None  # no solution with an error: undefined


def test_auroc_ranks_and_is_undefined_on_one_class():
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auroc([0.3, 0.2], [True, True]) is None


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("judge") / "search"
    args = [
        "search",
        "split=val",
        "limit=3",
        "search=best-of-n",
        "search.n=8",
        "expander.temperature=1.5",
        "scorer=verifier",
        "progress=false",
    ]
    proc = run_cli(*args, f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr
    return out


def test_search_records_which_trees_hold_a_right_path(searched):
    from qstar.tree import load_results
    from qstar_game24 import Game24Task

    results = json.loads((searched / "results.json").read_text())
    task, trees = Game24Task(), load_results(searched / "trees.jsonl")
    right = [t.problem.id for t in trees if any(n.terminal and task.is_correct(t.problem, n.answer) for n in t.nodes)]
    assert results["searched"] == [t.problem.id for t in trees] and results["covered"] == right
    assert right  # the bundled policy solves some of 3 validation puzzles in 8 hot samples, and errs in others


def test_the_oracle_judges_itself_perfectly_and_a_prm_gets_figures(searched, tmp_path):
    data = f"data={searched / 'trees.jsonl'}"
    proc = run_cli("judge", data, "scorer=verifier", "scorer.lookahead=true", f"out_dir={tmp_path / 'oracle'}")
    assert proc.returncode == 0, proc.stderr
    oracle = json.loads((tmp_path / "oracle" / "judge.json").read_text())
    # the look-ahead verifier's scores are the exact labels: every ranking and every first error right
    assert oracle["step_auroc"] == 1.0
    assert oracle["first_error"]["error_accuracy"] == 1.0 and oracle["first_error"]["correct_accuracy"] == 1.0
    assert oracle["first_error"]["solutions"] == oracle["first_error"]["with_error"] + oracle["first_error"]["without_error"] > 0
    assert 0 < oracle["legal_share"] <= 1

    proc = run_cli("judge", data, "scorer=prm", f"out_dir={tmp_path / 'prm'}")
    assert proc.returncode == 0, proc.stderr
    prm = json.loads((tmp_path / "prm" / "judge.json").read_text())
    assert prm["steps"] == oracle["steps"] and prm["legal_share"] == oracle["legal_share"]
    assert 0.5 < prm["step_auroc"] < 1.0  # the bundled PRM ranks steps, imperfectly
    # the bundled PRM stores no operating point: ProcessBench's 0.5; threshold= overrides any
    assert (prm["first_error"]["threshold"], prm["first_error"]["threshold_from"]) == (0.5, "default")
    assert "first-error F1" in proc.stdout and "step AUROC" in proc.stdout


def test_the_loop_joins_every_rounds_policy_data_and_counts_coverage(compose, tmp_path):
    from qstar_loop import Loop

    for r, (pid, covered) in enumerate((("a", ["a"]), ("b", [])), 1):
        d = tmp_path / f"round-{r}" / "search"
        d.mkdir(parents=True)
        (d / "trees.jsonl").write_text(f'{{"problem": "{pid}"}}\n')
        (d / "results.json").write_text(json.dumps({"searched": ["a", "b"], "covered": covered}))
    plain = Loop(compose("loop", [f"out_dir={tmp_path}", "optimizer=rft"]))
    assert plain.policy_data(2) == tmp_path / "round-2" / "search" / "trees.jsonl"
    kept = Loop(compose("loop", [f"out_dir={tmp_path}", "optimizer=rft", "policy_keep_rounds=true", "policy_from=start"]))
    joined = kept.policy_data(2)
    assert joined.read_text().splitlines() == ['{"problem": "a"}', '{"problem": "b"}']
    assert kept.coverage(2) == {"covered": 1, "searched": 2}

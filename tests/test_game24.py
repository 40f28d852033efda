"""The Game of 24 task as a user meets it: splits, problem parsing, step and answer checks, and
the brute-force solver that produces the gold trajectories."""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import combinations_with_replacement

import pytest

from qstar.errors import QstarError
from qstar_game24 import Game24Task, game, puzzles

F = Fraction


@pytest.fixture(scope="module")
def task() -> Game24Task:
    return Game24Task()


def state(*xs) -> tuple[Fraction, ...]:
    return tuple(sorted(F(x) for x in xs))


# --------------------------------------------------------------------------------------- splits


def test_data_file_has_1362_puzzles_of_four_numbers():
    ps = puzzles()
    assert len(ps) == 1362
    assert all(len(p.split()) == 4 for p in ps)


def test_test_split_is_rows_900_to_999(task):
    test = task.problems("test")
    assert len(test) == 100
    assert test[0].question == "4 5 6 10"
    assert test[0].id == "game24-4-5-6-10"
    assert test[0].metadata == {"numbers": [4, 5, 6, 10], "row": 900}
    assert [p.metadata["row"] for p in test] == list(range(900, 1000))
    assert [p.question for p in test] == list(puzzles()[900:1000])


def test_splits_are_disjoint_and_cover_every_puzzle(task):
    rows = {s: [p.metadata["row"] for p in task.problems(s)] for s in ("train", "val", "test")}
    for s, r in rows.items():
        assert len(r) == len(set(r)), f"{s} has duplicate rows"
    assert not set(rows["train"]) & set(rows["val"])
    assert not set(rows["train"]) & set(rows["test"])
    assert not set(rows["val"]) & set(rows["test"])
    assert set().union(*rows.values()) == set(range(1362))
    assert sum(map(len, rows.values())) == 1362
    assert [p.metadata["row"] for p in task.problems("all")] == list(range(1362))
    # validation is a small held-out slice, not the bulk of the data
    assert 0 < len(rows["val"]) < len(rows["train"])


def test_problem_ids_are_unique(task):
    ids = [p.id for p in task.problems("all")]
    assert len(ids) == len(set(ids))


def test_unknown_split_lists_the_valid_ones(task):
    with pytest.raises(QstarError) as exc:
        task.problems("nope")
    msg = str(exc.value)
    assert "nope" in msg
    for s in ("train", "val", "test", "all"):
        assert s in msg


# ------------------------------------------------------------------------------ parse_problem


@pytest.mark.parametrize("text", ["4 9 x 13", "4 9 10", "4 9 10 13 2", "", "4 9 10 1.5", "4 9 -10 13"])
def test_parse_problem_rejects_malformed_input(task, text):
    with pytest.raises(QstarError, match="expected four whole numbers"):
        task.parse_problem(text)


def test_parse_problem_sorts_the_numbers(task):
    p = task.parse_problem("13 4 10 9")
    assert p.metadata["numbers"] == [4, 9, 10, 13]
    assert p.question == "4 9 10 13"
    assert p.id == "game24-4-9-10-13"
    assert task.parse_problem(" 4, 9, 10, 13 ").metadata["numbers"] == [4, 9, 10, 13]


def test_prompt_format(task):
    assert task.prompt(task.parse_problem("4 9 10 13")) == "Input: 4 9 10 13\n"


# -------------------------------------------------------------------------------- step checker


def test_correct_step_is_valid():
    check = game.check_step(state(4, 9, 10, 13), "13-9=4 (left: 4 4 10)")
    assert check.valid
    assert check.left == state(4, 4, 10)


def test_left_list_order_does_not_matter():
    assert game.check_step(state(4, 9, 10, 13), "13-9=4 (left: 10 4 4)").valid


@pytest.mark.parametrize(
    "step, why",
    [
        ("13-9=5 (left: 4 5 10)", "wrong arithmetic"),
        ("13-7=6 (left: 4 6 10)", "7 is not available"),
        ("13-13=0 (left: 0 4 9 10)", "13 used twice but there is one"),
        ("13-9=4 (left: 4 10)", "a number missing from the remaining list"),
        ("13-9=4 (left: 4 4 10 13)", "a used number still in the remaining list"),
        ("13-9=4 (left: 4 4 11)", "wrong remaining number"),
        ("9-13=-4 (left: -4 4 10)", "negative result"),
        ("13 - 9 = 4 (left: 4 4 10)", "not in the step format"),
        ("13-9=4", "no remaining list"),
        ("Answer: (10-4)*(13-9)=24", "an answer line is not a step"),
        ("", "empty"),
    ],
)
def test_bad_steps_are_invalid(step, why):
    assert not game.check_step(state(4, 9, 10, 13), step).valid, why


def test_negative_result_is_invalid_even_when_written_as_a_number():
    # the step grammar has no minus sign, so "9-13" can never produce a legal line
    for c in ("4", "0", "22"):
        assert not game.check_step(state(4, 9, 10, 13), f"9-13={c} (left: {c} 4 10)").valid


def test_division_by_zero_is_invalid():
    s = game.check_step(state(4, 4, 9, 10), "4-4=0 (left: 0 9 10)")
    assert s.valid
    assert not game.check_step(s.left, "9/0=0 (left: 0 10)").valid


def test_fraction_steps():
    s0 = state(3, 3, 8, 8)
    first = game.check_step(s0, "8/3=8/3 (left: 3 8 8/3)")
    assert first.valid
    assert first.left == (F(8, 3), F(3), F(8))
    second = game.check_step(first.left, "3-(8/3)=1/3 (left: 1/3 8)")
    assert second.valid
    assert second.left == (F(1, 3), F(8))
    third = game.check_step(second.left, "8/(1/3)=24 (left: 24)")
    assert third.valid and third.left == (F(24),)
    # a fraction operand must be parenthesised, and must be the exact value
    assert not game.check_step(first.left, "3-8/3=1/3 (left: 1/3 8)").valid
    assert not game.check_step(first.left, "3-(8/5)=7/5 (left: 7/5 8)").valid
    assert not game.check_step(s0, "8/3=2.67 (left: 3 8 2.67)").valid


def test_task_check_step_plain_step(task):
    p = task.parse_problem("4 9 10 13")
    v = task.check_step(p, [], "13-9=4 (left: 4 4 10)")
    assert v.valid and not v.terminal and not v.dead_end
    bad = task.check_step(p, [], "13-9=5 (left: 4 5 10)")
    assert not bad.valid


def test_task_check_step_after_an_invalid_history_is_invalid(task):
    p = task.parse_problem("4 9 10 13")
    assert not task.check_step(p, ["13-9=5 (left: 4 5 10)"], "10-4=6 (left: 5 6)").valid


def test_only_an_answer_may_follow_three_steps(task):
    p = task.parse_problem("4 9 10 13")
    three = ["13-9=4 (left: 4 4 10)", "10-4=6 (left: 4 6)", "4*6=24 (left: 24)"]
    for i in range(3):
        assert task.check_step(p, three[:i], three[i]).valid
    more = task.check_step(p, three, "24-0=24 (left: 24)")
    assert not more.valid
    assert more.terminal
    ans = task.check_step(p, three, "Answer: (10-4)*(13-9)=24")
    assert ans.valid and ans.terminal and ans.correct
    assert ans.answer == "(10-4)*(13-9)"
    wrong = task.check_step(p, three, "Answer: (10-4)*(13-9)+1=24")
    assert not wrong.valid and wrong.terminal and not wrong.correct


def test_last_number_not_24_is_a_dead_end(task):
    p = task.parse_problem("4 9 10 13")
    two = ["13-9=4 (left: 4 4 10)", "10-4=6 (left: 4 6)"]
    dead = task.check_step(p, two, "6+4=10 (left: 10)")
    assert dead.valid and dead.dead_end
    alive = task.check_step(p, two, "6*4=24 (left: 24)")
    assert alive.valid and not alive.dead_end and not alive.terminal


# ------------------------------------------------------------------------------ answer checker

P = (4, 9, 10, 13)


def test_correct_answer():
    assert game.check_answer(P, "Answer: (10-4)*(13-9)=24")
    assert game.check_answer(P, "(10-4)*(13-9)")  # the bare expression also works
    assert game.check_answer(P, "Answer: (13-9)*(10-4) = 24")


@pytest.mark.parametrize(
    "line, why",
    [
        ("Answer: (10-4)*(10-4)=24", "a number used twice, another left out"),
        ("Answer: (10-4)*4=24", "a number left out"),
        ("Answer: (10-4)*(13-9)*1=24", "an extra number"),
        ("Answer: 4*9-13=23", "result 23 and a number missing"),
        ("Answer: (13-10)*9-4=23", "result 23"),
        ("Answer: (13-10)*9-4=24", "result 23 though the line claims 24"),
        ("Answer: 9+13+4-10+1=24", "an extra 1"),
        ("Answer: (10.0-4)*(13-9)=24", "a float literal"),
        ("Answer: 24.0", "a float answer"),
        ("Answer: 24", "just the target"),
        ("Answer: 10/(13-9-4)*9=24", "division by zero"),
        ("Answer: __import__('os')", "a function call"),
        ("Answer: __import__('os').system('echo pwned')=24", "code"),
        ("Answer: (10-4)**(13-9)=24", "an operator that is not + - * /"),
        ("Answer: (10-4)*(13-9", "a syntax error"),
        ("Answer: ", "empty"),
        ("Answer: =24", "empty expression"),
        ("Answer: True*24", "a boolean"),
    ],
)
def test_wrong_answers_are_rejected(line, why):
    assert not game.check_answer(P, line), why


def test_answer_claiming_a_wrong_result_is_rejected():
    assert not game.check_answer(P, "Answer: (10-4)*(13-9)=23")


def test_the_23_expression_is_well_formed():
    # guard for the parametrised case above: it is rejected for its value, not its form
    assert eval("(13-10)*9-4") == 23


def test_answer_uses_exact_rational_arithmetic():
    assert game.check_answer((3, 3, 8, 8), "Answer: 8/(3-8/3)=24")
    assert game.check_answer((3, 3, 8, 8), "Answer: 8/(3-(8/3))=24")
    # float arithmetic gets this wrong, so a float-based checker would reject it
    assert 8 / (3 - 8 / 3) != 24
    assert game.check_answer((1, 5, 5, 5), "Answer: 5*(5-1/5)=24")
    assert not game.check_answer((3, 3, 8, 8), "Answer: 8/(3-3/8)=24")


def test_task_is_correct(task):
    p = task.parse_problem("4 9 10 13")
    assert task.is_correct(p, "(10-4)*(13-9)")
    assert not task.is_correct(p, "(10-4)*(13-10)")
    assert not task.is_correct(p, None)


# ------------------------------------------------------------------------- brute-force solver


def _sample(n: int = 40) -> list:
    """~n puzzles spread over the whole ranked list (train, val and test rows), plus row 900."""
    all_problems = Game24Task().problems("all")
    step = len(all_problems) // n
    picked = all_problems[::step]
    return picked + [all_problems[900], all_problems[-1]]


SAMPLE = _sample()


def test_sample_spans_the_whole_list():
    rows = [p.metadata["row"] for p in SAMPLE]
    assert min(rows) == 0 and max(rows) == 1361
    assert any(r < 900 for r in rows) and any(900 <= r < 1000 for r in rows) and any(r >= 1000 for r in rows)


@pytest.mark.parametrize("problem", SAMPLE, ids=lambda p: f"row{p.metadata['row']}")
def test_gold_trajectories_replay_through_the_checker(task, problem):
    golds = task.gold_trajectories(problem)
    assert golds, f"{problem.question} has no gold trajectory"
    assert len({tuple(g) for g in golds}) == len(golds), "duplicates"
    assert task.solvable(problem, [])
    for traj in golds:
        assert len(traj) == task.max_depth
        for i, step in enumerate(traj[:-1]):
            v = task.check_step(problem, traj[:i], step)
            assert v.valid and not v.terminal and not v.dead_end, (traj, step)
            assert task.solvable(problem, traj[: i + 1]), (traj, step)
        final = task.check_step(problem, traj[:-1], traj[-1])
        assert final.valid and final.terminal and final.correct, traj
        assert task.is_correct(problem, final.answer)


def test_gold_trajectories_are_deterministic(task):
    p = task.parse_problem("4 9 10 13")
    assert task.gold_trajectories(p) == task.gold_trajectories(task.parse_problem("13 10 9 4"))
    assert [
        "13-9=4 (left: 4 4 10)",
        "10-4=6 (left: 4 6)",
        "6*4=24 (left: 24)",
        "Answer: (10-4)*(13-9)=24",
    ] in task.gold_trajectories(p)


def test_gold_trajectory_with_fractions():
    golds = game.solve_all((3, 3, 8, 8))
    assert golds
    for traj in golds:
        assert game.check_answer((3, 3, 8, 8), traj[-1])
    assert any("(8/3)" in step for traj in golds for step in traj)


def _reachable(values: tuple[Fraction, ...]) -> bool:
    """Independent reference: every ordered pair, every op, no negative results (the task's rule)."""
    if len(values) == 1:
        return values[0] == 24
    n = len(values)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a, b = values[i], values[j]
            rest = tuple(values[k] for k in range(n) if k not in (i, j))
            results = [a + b, a * b, a - b]
            if b != 0:
                results.append(a / b)
            for c in results:
                if c >= 0 and _reachable(rest + (c,)):
                    return True
    return False


def test_solvable_agrees_with_solve_all_and_a_reference():
    rng = random.Random(24)
    multisets = list(combinations_with_replacement(range(1, 14), 4))
    picked = rng.sample(multisets, 30) + [(1, 1, 1, 1), (1, 1, 1, 2), (3, 3, 8, 8), (1, 5, 5, 5)]
    seen_unsolvable = seen_solvable = False
    for nums in picked:
        s = state(*nums)
        expected = _reachable(s)
        assert game.solvable(s) == expected, nums
        assert (len(game.solve_all(nums)) > 0) == expected, nums
        seen_solvable |= expected
        seen_unsolvable |= not expected
    assert seen_solvable and seen_unsolvable


def test_solvable_after_a_step(task):
    p = task.parse_problem("4 9 10 13")
    assert task.solvable(p, ["13-9=4 (left: 4 4 10)"])
    assert not task.solvable(p, ["13+10=23 (left: 4 9 23)", "23+9=32 (left: 4 32)"])
    assert not task.solvable(p, ["13-9=5 (left: 4 5 10)"])  # an illegal history


def test_unsolvable_puzzle_has_no_trajectories(task):
    assert game.solve_all((1, 1, 1, 1)) == []
    assert not game.solvable(state(1, 1, 1, 1))
    p = task.parse_problem("1 1 1 1")
    assert task.gold_trajectories(p) == []
    assert not task.solvable(p, [])


@pytest.mark.parametrize("step", ["4*6=24/0 (left: 24/0)", "9-5=4 (left: 4 4 13/0)", "13-(9/0)=4 (left: 4 4 10)"])
def test_a_zero_denominator_is_an_invalid_step_not_a_crash(step):
    state = tuple(Fraction(n) for n in (4, 5, 9, 13)) if "9-5" in step else tuple(Fraction(n) for n in (4, 6))
    assert not game.check_step(state, step).valid

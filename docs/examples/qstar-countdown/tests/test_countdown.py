"""The countdown plugin as its users meet it: shipped splits, rules, solver, and the search."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qstar.engine import Engine
from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal
from qstar_countdown import CountdownTask, GreedyRestart, GreedyRestartConfig, puzzles


@pytest.fixture(scope="module")
def task():
    return CountdownTask()


def test_generator_reproduces_the_shipped_splits(tmp_path):
    puzzles.write_splits(tmp_path)
    shipped = Path(puzzles.__file__).parent / "data"
    for split in puzzles.SPLITS:
        assert (tmp_path / f"{split}.txt").read_text() == (shipped / f"{split}.txt").read_text(), split


def test_splits_are_disjoint_and_every_puzzle_is_solved_by_its_gold(task):
    seen = set()
    for split, n in puzzles.SPLITS.items():
        problems = task.problems(split)
        assert len(problems) == n
        ids = {p.id for p in problems}
        assert not ids & seen, split
        seen |= ids
    for p in random.Random(0).sample(task.problems("train"), 20):
        gold = task.gold_trajectories(p)
        assert gold, p.question
        for traj in gold:
            verdicts = [task.check_step(p, traj[:i], s) for i, s in enumerate(traj)]
            assert all(v.valid for v in verdicts)
            assert verdicts[-1].terminal and verdicts[-1].correct
            assert task.is_correct(p, verdicts[-1].answer)


def test_a_step_that_makes_the_target_ends_the_trajectory(task):
    p = task.parse_problem("63 from 9 7 3 2")
    assert p.question == "63 from 2 3 7 9" and p.metadata == {"numbers": [2, 3, 7, 9], "target": 63}
    v = task.check_step(p, [], "9*7=63 (left: 2 3 63)")
    assert v.valid and v.terminal and v.correct and v.answer == "9*7"
    # numbers left over are allowed: each is used at most once, not exactly once
    assert task.is_correct(p, "9*7") and task.is_correct(p, "Answer: (9-2)*(3*3)=63") is False
    two = task.check_step(p, ["7+2=9 (left: 3 9 9)"], "9*9=81 (left: 3 81)")
    assert two.valid and not two.terminal
    assert task.check_step(p, [], "Answer: 7*9=63").correct
    assert not task.check_step(p, [], "Answer: 7*9=24").valid  # a wrong claim
    assert not task.check_step(p, [], "9*8=72 (left: 2 3 72)").valid  # 8 is not a number


def test_the_lookahead_knows_when_the_target_is_out_of_reach(task):
    p = task.parse_problem("63 from 2 3 7 9")
    assert task.solvable(p, [])
    assert not task.solvable(p, ["9-7=2 (left: 2 2 3)"])


@pytest.mark.parametrize("text", ["63 from 2", "from 2 3", "63 from 2 x 9", "63 2 3 7 9", "1 from 1 2 3 4 5 6 7"])
def test_malformed_problems_say_what_is_expected(task, text):
    with pytest.raises(QstarError, match="expected '<target> from <numbers>'"):
        task.parse_problem(text)


class Scripted:
    """An expander that proposes fixed steps per prompt (this test is about the search, not a model)."""

    def __init__(self, table):
        self.table = table

    def expand(self, prompts, k):
        out = [[Proposal(s, 3, -1.0) for s in self.table.get(p.count("\n"), [])[:k]] for p in prompts]
        return out, ExpandStats(generated_tokens=0, prompt_tokens=[1] * len(prompts))


class Segmenter:
    delimiter = "\n"

    def join(self, prompt, steps):
        return prompt + "".join(s + "\n" for s in steps)


def test_greedy_restart_backtracks_to_the_best_untried_sibling(task):
    from qstar_verifier import RuleVerifier, VerifierConfig

    p = task.parse_problem("63 from 2 3 7 9")
    # depth 1: a dead end scoring 0 first, a live step; the live step's children all fail,
    # so the search restarts from the other live sibling and finds 7*9.
    table = {
        1: ["9+7=16 (left: 2 3 16)", "2+3=5 (left: 5 7 9)", "3-2=1 (left: 1 7 9)"],
        2: ["7*9=63 (left: 1 63)"],
    }
    engine = Engine(task, Segmenter(), Scripted(table), RuleVerifier(VerifierConfig(lookahead=True), task))
    result = engine.solve(GreedyRestart(GreedyRestartConfig(k=3, restarts=2)), p)
    assert result.correct and result.answer == "7*9"
    steps = result.path_steps()
    assert steps == ["3-2=1 (left: 1 7 9)", "7*9=63 (left: 1 63)"]
    assert result.budget.expansions == 3  # root, the failed greedy child, the restarted sibling

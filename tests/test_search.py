"""The search strategies do what their papers say, shown on scripted proposals (exact control over
what the policy offers), and the engine batches many problems into one model call."""

from __future__ import annotations

from collections import Counter

import pytest

from qstar.engine import Engine
from qstar.protocols import ExpandStats, Proposal
from qstar_bestofn import BestOfN, BestOfNConfig
from qstar_game24 import Game24Task
from qstar_segmenters import NewlineSegmenter
from qstar_tot import DFS, DFSConfig, TotBFS, TotBFSConfig
from qstar_verifier import RuleVerifier, VerifierConfig

GOLD = ["13-9=4 (left: 4 4 10)", "10-4=6 (left: 4 6)", "6*4=24 (left: 24)", "Answer: (10-(13-9))*4=24"]
DEAD = ["4+9=13 (left: 10 13 13)", "13+13=26 (left: 10 26)", "26-10=16 (left: 16)"]
INVALID = "4+9=14 (left: 10 13 14)"

# prefix of steps → proposals (text, log-prob). The dead branch is the policy's favourite.
SCRIPT = {
    (): [(DEAD[0], -0.1), (INVALID, -0.05), (GOLD[0], -2.0)],
    (DEAD[0],): [(DEAD[1], -0.1)],
    (DEAD[0], DEAD[1]): [(DEAD[2], -0.1)],
    (GOLD[0],): [(GOLD[1], -0.3), ("10+4=14 (left: 4 14)", -0.4)],
    (GOLD[0], GOLD[1]): [(GOLD[2], -0.1)],
    (GOLD[0], GOLD[1], GOLD[2]): [(GOLD[3], -0.1)],
    (GOLD[0], "10+4=14 (left: 4 14)"): [("14+4=18 (left: 18)", -0.1)],
}


class ScriptedExpander:
    """Implements the Expander protocol from a table; counts its batched calls."""

    def __init__(self, script, rollouts=None):
        self.script, self.rollouts, self.calls = script, rollouts or {}, []

    @staticmethod
    def _steps(prompt):
        return tuple(NewlineSegmenter().split(prompt)[1:])

    def expand(self, prompts, k):
        self.calls.append(("expand", len(prompts)))
        out = [[Proposal(t, 5, lp) for t, lp in self.script.get(self._steps(p), [])][:k] for p in prompts]
        return out, ExpandStats(sum(5 * len(g) for g in out), [len(p) for p in prompts])

    def rollout(self, prompts, k):
        self.calls.append(("rollout", len(prompts)))
        out = [[Proposal(t, 20, lp) for t, lp in self.rollouts[self._steps(p)]][:k] for p in prompts]
        return out, ExpandStats(sum(20 * len(g) for g in out), [len(p) for p in prompts])


def engine(expander, lookahead=False, batch_problems=16):
    task = Game24Task()
    scorer = RuleVerifier(VerifierConfig(lookahead=lookahead), task)
    return Engine(task, NewlineSegmenter(), expander, scorer, batch_problems=batch_problems), task


def test_tot_bfs_keeps_the_b_best_and_never_expands_illegal_states():
    expander = ScriptedExpander(SCRIPT)
    eng, task = engine(expander)
    result = eng.solve(TotBFS(TotBFSConfig(breadth=2, k=5)), task.parse_problem("4 9 10 13"))
    assert result.correct and result.path_steps() == GOLD
    by_id = {n.id: n for n in result.nodes}
    invalid = [n for n in result.nodes if not n.valid]
    assert [n.step for n in invalid] == [INVALID]
    assert not any(n.parent == invalid[0].id for n in result.nodes)
    # depth by depth, at most `breadth` states were expanded
    expanded = Counter(by_id[n.parent].depth for n in result.nodes if n.parent is not None)
    assert all(count <= 2 * 5 for count in expanded.values())
    assert result.budget.expansions == 1 + 2 + 2 + 1  # root; 2 kept; 2 kept (one dies at 18); answer
    assert result.budget.generated_tokens == 5 * (len(result.nodes) - 1)


def test_tot_bfs_with_breadth_one_follows_the_policy_into_the_dead_end():
    eng, task = engine(ScriptedExpander(SCRIPT))
    result = eng.solve(TotBFS(TotBFSConfig(breadth=1, k=5)), task.parse_problem("4 9 10 13"))
    assert result.answer is None and result.correct is False


def test_oracle_value_rescues_breadth_one():
    eng, task = engine(ScriptedExpander(SCRIPT), lookahead=True)
    result = eng.solve(TotBFS(TotBFSConfig(breadth=1, k=5)), task.parse_problem("4 9 10 13"))
    assert result.correct and result.path_steps() == GOLD


def test_dfs_backtracks_out_of_the_dead_branch():
    eng, task = engine(ScriptedExpander(SCRIPT))
    result = eng.solve(DFS(DFSConfig(k=5)), task.parse_problem("4 9 10 13"))
    assert result.correct and result.path_steps() == GOLD
    steps = {n.step for n in result.nodes}
    assert DEAD[2] in steps  # it went down the favourite branch first …
    assert result.budget.expansions == 1 + 2 + 1 + 1 + 1  # … then backtracked: root, dead×2, gold×3


def test_dfs_stops_at_its_expansion_budget():
    eng, task = engine(ScriptedExpander(SCRIPT))
    result = eng.solve(DFS(DFSConfig(k=5, max_expansions=2)), task.parse_problem("4 9 10 13"))
    assert result.budget.expansions == 2 and result.answer is None


ROLLOUTS = {
    (): [
        ("\n".join(DEAD) + "\nAnswer: 4+9+10+13=24", -0.5),  # wrong (makes 36)
        ("\n".join(GOLD), -3.0),  # right but unlikely
        ("\n".join(DEAD) + "\nAnswer: 4+9+10+13=24", -0.6),
    ]
}


@pytest.mark.parametrize("select,correct", [("max", True), ("majority", False), ("weighted", True)])
def test_best_of_n_selection_rules(select, correct):
    eng, task = engine(ScriptedExpander({}, ROLLOUTS))
    result = eng.solve(BestOfN(BestOfNConfig(n=3, select=select)), task.parse_problem("4 9 10 13"))
    assert result.correct is correct
    if select == "majority":  # two samples say 4+9+10+13: majority trusts the count
        assert result.answer == "4+9+10+13"
    assert result.budget.generated_tokens == 60 and result.budget.expansions == 1


def test_engine_batches_the_frontiers_of_many_problems_into_one_call():
    problems = ["4 9 10 13"] * 3
    expander = ScriptedExpander(SCRIPT)
    eng, task = engine(expander, batch_problems=3)
    results = eng.run(TotBFS(TotBFSConfig(breadth=2, k=5)), [task.parse_problem(p) for p in problems])
    assert all(r.correct for r in results)
    # four depths → four generate calls for all three problems together
    assert [n for _, n in expander.calls] == [3, 6, 6, 3]
    one_at_a_time = ScriptedExpander(SCRIPT)
    eng1, _ = engine(one_at_a_time, batch_problems=1)
    eng1.run(TotBFS(TotBFSConfig(breadth=2, k=5)), [task.parse_problem(p) for p in problems])
    assert len(one_at_a_time.calls) == 12


def test_bundled_policy_solves_the_default_puzzle_with_the_shipped_defaults(compose, policy_dir):
    from qstar import commands

    result = commands.solve(compose("solve", ["show_tree=false"]))
    assert result.correct, result.path_steps()
    assert Game24Task().is_correct(result.problem, result.answer)
    # duplicate samples are merged into one node, but their tokens were generated and are charged
    assert result.budget.generated_tokens >= sum(n.num_tokens for n in result.nodes) > 0
    assert result.budget.scorer_calls == sum(bool(n.scores) for n in result.nodes)


def test_observer_hooks_see_every_expansion_and_every_finished_search():
    import qstar
    from qstar.plugins import make_plugin_manager

    class Recorder:
        def __init__(self):
            self.expanded, self.finished = [], []

        @qstar.hookimpl
        def qstar_on_expand(self, problems, nodes, children):
            self.expanded.append(sum(map(len, children)))

        @qstar.hookimpl
        def qstar_on_search_end(self, result):
            self.finished.append(result.problem.id)

    pm = make_plugin_manager(load_entrypoints=False)
    recorder = Recorder()
    pm.register(recorder)
    try:
        task = Game24Task()
        scorer = RuleVerifier(VerifierConfig(), task)
        eng = Engine(task, NewlineSegmenter(), ScriptedExpander(SCRIPT), scorer, hook=pm.hook)
        results = eng.run(TotBFS(TotBFSConfig(breadth=2, k=5)), [task.parse_problem("4 9 10 13")] * 2)
    finally:
        pm.unregister(recorder)
    assert recorder.finished == [r.problem.id for r in results]
    assert sum(recorder.expanded) == sum(len(r.nodes) - 1 for r in results)

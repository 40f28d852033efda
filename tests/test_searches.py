"""Beam, DVTS, A* and MCTS against exact ground truth, on scripted and random Game of 24 trees,
and every search under limits: a chosen path is always finished and answered, and a search
that stops at a limit says which."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_search import DEAD, GOLD, SCRIPT, ScriptedExpander

from qstar.engine import Engine, stable_int
from qstar.protocols import ExpandStats, Proposal
from qstar.tree import LIMITED, Limits
from qstar_astar import AStar, AStarConfig
from qstar_beam import DVTS, Beam, BeamConfig, DVTSConfig
from qstar_bestofn import BestOfN, BestOfNConfig
from qstar_game24 import Game24Task
from qstar_mcts import MCTS, MCTSConfig
from qstar_segmenters import NewlineSegmenter
from qstar_tot import DFS, DFSConfig, TotBFS, TotBFSConfig
from qstar_verifier import RuleVerifier, VerifierConfig

DEAD0 = DEAD[0]

TASK = Game24Task()
PUZZLE = "4 9 10 13"


def _engine(expander, scorer=None, lookahead=True, batch_problems=16):
    scorer = scorer or RuleVerifier(VerifierConfig(lookahead=lookahead), TASK)
    return Engine(TASK, NewlineSegmenter(), expander, scorer, batch_problems=batch_problems)


def _expanded(result):
    """The ids of the nodes that have children (were expanded)."""
    return {n.parent for n in result.nodes if n.parent is not None}


# ------------------------------------------------------------------------------ A*


def test_a_star_with_a_perfect_heuristic_expands_only_the_solution_path():
    result = _engine(ScriptedExpander(SCRIPT)).solve(AStar(AStarConfig(k=5)), TASK.parse_problem(PUZZLE))
    assert result.correct and result.path_steps() == GOLD
    assert _expanded(result) == set(result.path[:-1])  # the root and the three states on the path
    assert result.budget.expansions == 4 and result.stopped is None


def test_a_star_without_look_ahead_still_finds_the_answer_by_best_first_order():
    # rules only: every legal step scores 0.5, so f ties and the policy's log-probs order the queue:
    # the favourite dead branch is opened first, then the search backs off to the right one
    result = _engine(ScriptedExpander(SCRIPT), lookahead=False).solve(AStar(AStarConfig(k=5)), TASK.parse_problem(PUZZLE))
    assert result.correct and result.path_steps() == GOLD
    assert _expanded(result) > set(result.path[:-1])


def test_a_star_is_anytime_at_its_expansion_limit():
    search = AStar(AStarConfig(k=5, limits=Limits(expansions=2)))
    result = _engine(ScriptedExpander(SCRIPT)).solve(search, TASK.parse_problem(PUZZLE))
    assert result.stopped == "expansions" and result.budget.expansions == 2
    assert result.answer is None  # no finished path yet: nothing unfinished is returned


# ------------------------------------------------------------------------------ MCTS


def _check_backup(result, simulations):
    """Visits sum to the simulations, and every node's value is the mean of the leaf values
    backed up through it: a node was the leaf of (its visits − its children's visits)
    simulations, each backing up its own score."""
    nodes = {n.id: n for n in result.nodes}
    kids = {i: [n for n in result.nodes if n.parent == i] for i in nodes}
    root = nodes[0]
    assert root.visits == simulations
    assert sum(c.visits for c in kids[0]) == simulations

    def leaf_sum(node):  # Σ over simulations through node of the leaf's value
        as_leaf = node.visits - sum(c.visits for c in kids[node.id])
        assert as_leaf >= 0
        own = as_leaf * next(iter(node.scores.values())) if as_leaf else 0.0
        return own + sum(leaf_sum(c) for c in kids[node.id])

    for n in result.nodes:
        if n.visits:
            assert n.value == pytest.approx(leaf_sum(n) / n.visits)


@pytest.mark.parametrize("batch", [1, 4])
def test_mcts_visits_and_backed_up_values_are_exact(batch):
    search = MCTS(MCTSConfig(simulations=24, k=5, batch=batch))
    result = _engine(ScriptedExpander(SCRIPT), lookahead=False).solve(search, TASK.parse_problem(PUZZLE))
    _check_backup(result, 24)
    assert result.correct and result.path_steps() == GOLD


def test_mcts_values_by_hand_on_the_scripted_tree():
    # rules scores: legal steps 0.5, the illegal first step 0. Priors ∝ exp(log-prob):
    # INVALID e^-0.05, DEAD[0] e^-0.1, GOLD[0] e^-2 → 0.478, 0.455, 0.068.
    # sim 1: no visits yet, Q = FPU = 0 for all, U = c·P → INVALID; backs up 0.
    # sim 2: INVALID 0 + 0.478/2 = 0.239 < DEAD[0] FPU 0 + 0.455/1 → DEAD[0]; backs up 0.5.
    search = MCTS(MCTSConfig(simulations=2, k=5, batch=1))
    result = _engine(ScriptedExpander(SCRIPT), lookahead=False).solve(search, TASK.parse_problem(PUZZLE))
    nodes = {n.step: n for n in result.nodes}
    assert (nodes[""].visits, nodes[""].value) == (2, 0.25)
    assert (nodes[SCRIPT[()][1][0]].visits, nodes[SCRIPT[()][1][0]].value) == (1, 0.0)
    assert (nodes[DEAD0].visits, nodes[DEAD0].value) == (1, 0.5)
    assert nodes[GOLD[0]].visits == 0
    assert result.answer is None  # two simulations reach no finished path


@pytest.mark.parametrize("virtual_loss,visits", [(1.0, [1, 1, 0]), (0.0, [2, 0, 0])])
def test_mcts_batches_leaves_with_virtual_loss(virtual_loss, visits):
    # one batch of two leaves: with a virtual loss the second selection avoids the first one's
    # path (INVALID, then DEAD[0]); without it, both pick the same leaf
    expander = ScriptedExpander(SCRIPT)
    search = MCTS(MCTSConfig(simulations=2, k=5, batch=2, virtual_loss=virtual_loss))
    result = _engine(expander, lookahead=False).solve(search, TASK.parse_problem(PUZZLE))
    nodes = {n.step: n for n in result.nodes}
    assert [nodes[s].visits for s in (SCRIPT[()][1][0], DEAD0, GOLD[0])] == visits
    assert len(expander.calls) == 1 + (virtual_loss > 0)  # the root; then one call for the batch's one unfinished leaf
    _check_backup(result, 2)


# ------------------------------------------------------------------------------ beam, DVTS


def test_beam_keeps_exactly_n_beams_and_samples_n_times_m_first_steps():
    expander = RandomExpander(seed=3)
    result = _engine(expander, lookahead=False).solve(Beam(BeamConfig(beams=3, k=4)), TASK.parse_problem("1 2 3 4"))
    by_depth: dict[int, int] = {}
    nodes = {n.id: n for n in result.nodes}
    for i in _expanded(result):
        by_depth[nodes[i].depth] = by_depth.get(nodes[i].depth, 0) + 1
    assert by_depth[0] == 1 and by_depth[1] == 3 and by_depth[2] == 3  # N kept at every depth
    assert expander.ks[:2] == [12, 4]  # N·M first steps, then M per beam


def test_dvts_grows_independent_subtrees():
    expander = RandomExpander(seed=5)
    result = _engine(expander, lookahead=False).solve(DVTS(DVTSConfig(subtrees=3, k=4)), TASK.parse_problem("1 2 3 4"))
    nodes = {n.id: n for n in result.nodes}
    assert expander.calls[0] == 3  # the root once per subtree, each with its own samples
    for i in _expanded(result) - {0}:  # one expanded node per subtree per depth
        assert sum(1 for j in _expanded(result) - {0} if nodes[j].depth == nodes[i].depth) <= 3
    assert result.answer is None or result.nodes[result.path[-1]].terminal


def test_beam_and_dvts_solve_the_scripted_puzzle_with_the_oracle():
    for search in (Beam(BeamConfig(beams=1, k=5)), DVTS(DVTSConfig(subtrees=1, k=5))):
        result = _engine(ScriptedExpander(SCRIPT)).solve(search, TASK.parse_problem(PUZZLE))
        assert result.correct and result.path_steps() == GOLD


# ------------------------------------------------------------------------------ every search, random trees


class RandomExpander:
    """Proposes random legal Game of 24 steps (plus the gold step where the path is on a gold
    solution, and an illegal step now and then), a random answer line at the end; deterministic
    in (seed, prompt, stream key)."""

    def __init__(self, seed: int):
        self.seed, self.calls, self.ks = seed, [], []

    def _pool(self, prompt: str, rng: random.Random) -> list[str]:
        lines = NewlineSegmenter().split(prompt)
        problem, steps = TASK.parse_problem(lines[0].removeprefix("Input: ")), lines[1:]
        golds = [g[len(steps)] for g in TASK.gold_trajectories(problem) if g[: len(steps)] == steps and len(g) > len(steps)]
        state = TASK.state(problem, steps)
        pool = golds[:1] + ["1+1=3 (left: 3)"]
        if state is not None and len(state) == 1:
            pool.append("Answer: 1+2+3+4=24")
        elif state is not None:
            for _ in range(4):
                i, j = rng.sample(range(len(state)), 2)
                a, b = state[i], state[j]
                rest = [x for t, x in enumerate(state) if t not in (i, j)]
                op, c = rng.choice([("+", a + b), ("*", a * b), ("-", abs(a - b))])
                a, b = (a, b) if op != "-" or a >= b else (b, a)
                fmt = lambda x: str(x.numerator) if x.denominator == 1 else str(x)  # noqa: E731
                left = " ".join(fmt(x) for x in sorted([*rest, Fraction(c)]))
                pool.append(f"{fmt(a)}{op}{fmt(b)}={fmt(Fraction(c))} (left: {left})")
        return pool

    def _sample(self, prompt, k, key):
        rng = random.Random(stable_int(f"{self.seed}/{prompt}/{key}"))
        pool = self._pool(prompt, rng)
        return [Proposal(step, 5, -rng.uniform(0.1, 3.0)) for step in (rng.choice(pool) for _ in range(k))]

    def expand(self, prompts, k, seeds=None):
        self.calls.append(len(prompts))
        self.ks.append(k)
        seeds = seeds or [0] * len(prompts)
        out = [self._sample(p, k, s) for p, s in zip(prompts, seeds)]
        return out, ExpandStats(sum(5 * len(g) for g in out), [len(p) for p in prompts])

    def rollout(self, prompts, k, seeds=None):
        seeds = seeds or [0] * len(prompts)
        out = []
        for p, s in zip(prompts, seeds):
            samples = []
            for i in range(k):
                text, steps, lp = p, [], 0.0
                for _ in range(4):
                    (x,) = self._sample(text, 1, (s, i, len(steps)))
                    steps.append(x.text)
                    lp += x.logprob
                    text = NewlineSegmenter().join(p, steps)
                    if x.text.startswith("Answer") or x.text.startswith("1+1=3"):
                        break
                samples.append(Proposal("\n".join(steps), 5 * len(steps), lp))
            out.append(samples)
        return out, ExpandStats(sum(x.num_tokens for g in out for x in g), [len(p) for p in prompts])


class HashScorer:
    """A scorer with arbitrary but fixed scores in [0, 1] (a stand-in for a noisy PRM)."""

    name = "hash"
    learned = True
    aggregate = "min"

    def score(self, problems, paths):
        return [stable_int("/".join([p.id, *steps])) % 1000 / 999 for p, steps in zip(problems, paths)]


SEARCHES = {
    "tot-bfs": lambda lim: TotBFS(TotBFSConfig(breadth=2, k=4, limits=lim)),
    "dfs": lambda lim: DFS(DFSConfig(k=3, max_expansions=20, limits=lim)),
    "best-of-n": lambda lim: BestOfN(BestOfNConfig(n=6, chunk=2, select="weighted", limits=lim)),
    "beam": lambda lim: Beam(BeamConfig(beams=2, k=3, limits=lim)),
    "dvts": lambda lim: DVTS(DVTSConfig(subtrees=2, k=3, limits=lim)),
    "a-star": lambda lim: AStar(AStarConfig(k=3, parallel=2, limits=lim)),
    "mcts": lambda lim: MCTS(MCTSConfig(simulations=10, k=3, batch=3, limits=lim)),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SEARCHES)),
    seed=st.integers(0, 10_000),
    tokens=st.sampled_from([0, 10, 40, 200]),
    expansions=st.sampled_from([0, 1, 3, 8]),
    learned=st.booleans(),
)
def test_every_search_returns_a_finished_answer_or_says_it_ran_out(name, seed, tokens, expansions, learned):
    limits = Limits(generated_tokens=tokens, expansions=expansions)
    scorer = HashScorer() if learned else RuleVerifier(VerifierConfig(lookahead=False), TASK)
    eng = _engine(RandomExpander(seed), scorer)
    result = eng.run(SEARCHES[name](limits), [TASK.parse_problem(p) for p in ("1 2 3 4", "4 9 10 13")])
    for r in result:
        if r.path:
            leaf = {n.id: n for n in r.nodes}[r.path[-1]]
            assert leaf.terminal and leaf.answer is not None and r.answer == leaf.answer
        assert r.stopped in (None, *LIMITED)
        if r.stopped:
            assert getattr(r.budget, r.stopped) >= getattr(limits, r.stopped) > 0


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_identical_seeds_give_identical_trees(name):
    def run(batch_problems):
        eng = _engine(RandomExpander(7), HashScorer(), batch_problems=batch_problems)
        results = eng.run(SEARCHES[name](Limits()), [TASK.parse_problem(p) for p in ("1 2 3 4", "4 9 10 13", "2 3 5 12")])
        for r in results:
            r.budget.wall_time = 0.0  # the only field that may differ
        return [r.to_json() for r in results]

    first = run(3)
    assert run(3) == first
    assert run(1) == first  # nor does a problem's tree depend on its batch


def test_a_limit_in_generated_tokens_stops_every_search_with_the_best_so_far():
    for name, make in SEARCHES.items():
        eng = _engine(RandomExpander(11), HashScorer())  # every step parses: no search runs out of work first
        (r,) = eng.run(make(Limits(generated_tokens=1)), [TASK.parse_problem("1 2 3 4")])
        assert r.stopped == "generated_tokens", name
        assert 0 < r.budget.generated_tokens, name
        assert math.isfinite(r.budget.wall_time)

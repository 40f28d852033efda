"""`qstar label`: Math-Shepherd Monte-Carlo step labels and exact verifier labels for searched
trees, written in TRL's stepwise format and resumable like `qstar search`."""

from __future__ import annotations

import json

import pytest

from qstar.engine import Engine
from qstar.protocols import ExpandStats, Proposal
from qstar.tree import DataError, Node, RecordWriter, SearchResult
from qstar_game24 import Game24Task
from qstar_label import MCRolloutConfig, MCRolloutLabeler, VerifierLabelConfig, VerifierLabeler, records
from qstar_segmenters import NewlineSegmenter

TASK = Game24Task()
P = TASK.parse_problem("4 9 10 13")
A = "13-9=4 (left: 4 4 10)"  # 24 still reachable
B = "10-4=6 (left: 6 9 13)"  # reachable too: 6*(13-9)
BAD = "13-9=5 (left: 4 5 10)"  # wrong arithmetic
ANSWER = "Answer: (10-4)*(13-9)=24"
# last line of a prompt → (a right completion, a legal but wrong one, right ones out of 4)
SCRIPT = {
    A: ("10-4=6 (left: 4 6)\n4*6=24 (left: 24)\n" + ANSWER, "10+4=14 (left: 4 14)\n14-4=10 (left: 10)\nAnswer: 10=24", 3),
    B: ("13-9=4 (left: 4 6)\n6*4=24 (left: 24)\n" + ANSWER, "13+9=22 (left: 6 22)\n22-6=16 (left: 16)\nAnswer: 13+9-(10-4)=24", 1),
    "10-4=6 (left: 4 6)": ("4*6=24 (left: 24)\n" + ANSWER, "", 4),
    "4*6=24 (left: 24)": (ANSWER, "", 4),
}


def hand_made_tree() -> SearchResult:
    nodes = [Node(id=0, parent=None)]
    for i, step in enumerate([A, B, BAD], 1):
        v = TASK.check_step(P, [], step)
        nodes.append(Node(id=i, parent=0, step=step, depth=1, valid=v.valid, terminal=v.terminal))
    # a finished path under A
    for j, step in enumerate(["10-4=6 (left: 4 6)", "4*6=24 (left: 24)", "Answer: (10-4)*(13-9)=24"], 4):
        prev = [n.step for n in nodes[1:2]] + [s.step for s in nodes[4:j]]
        v = TASK.check_step(P, prev, step)
        nodes.append(Node(id=j, parent=1 if j == 4 else j - 1, step=step, depth=j - 2, valid=v.valid, terminal=v.terminal, answer=v.answer))
    return SearchResult(problem=P, nodes=nodes, search="by hand")


class ScriptedRollouts:
    """Rollouts with scripted outcomes (``SCRIPT``): 3 right of 4 after A, 1 of 4 after B, all
    right deeper down; every scripted step is legal, so only the final answer decides."""

    def __init__(self):
        self.calls = []

    def rollout(self, prompts, k, seeds=None):
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            right, wrong, n_right = SCRIPT[p.rstrip("\n").split("\n")[-1]]
            texts = [right] * n_right + [wrong] * (k - n_right)
            out.append([Proposal(t, 10, -1.0) for t in texts[:k]])
        return out, ExpandStats(generated_tokens=10 * k * len(prompts), prompt_tokens=[5] * len(prompts))


def test_mc_rollout_labels_are_the_fraction_of_right_rollouts():
    expander = ScriptedRollouts()
    engine = Engine(TASK, NewlineSegmenter(), expander, None, batch_problems=4)
    result = hand_made_tree()
    (tree,) = engine.label(MCRolloutLabeler(MCRolloutConfig(n=4), TASK), [result])
    assert tree.labels == {1: 0.75, 2: 0.25, 3: 0.0, 4: 1.0, 5: 1.0, 6: 1.0}
    rollout_leaves = [n for n in tree.nodes[len(result.nodes) :] if n.terminal]
    assert len(rollout_leaves) == 4 * 4  # the rollouts really ran through the task's rules
    assert expander.calls == [4]  # one batched call for every open step (A, B and two under A)
    assert tree.budget.expansions == 4 and tree.budget.generated_tokens == 4 * 4 * 10
    recs = records(tree, len(result.nodes), MCRolloutConfig(n=4))
    by_path = {tuple(r["node_ids"]): r for r in recs}
    assert set(by_path) == {(2,), (3,), (1, 4, 5, 6)}  # one record per leaf of the searched tree
    full = by_path[(1, 4, 5, 6)]
    assert full["prompt"] == "Input: 4 9 10 13\n"
    assert full["completions"][0] == A and full["soft_labels"] == [0.75, 1.0, 1.0, 1.0]
    assert full["labels"] == [True, True, True, True]
    assert by_path[(2,)]["labels"] == [True] and by_path[(2,)]["soft_labels"] == [0.25]  # hard = any right
    assert by_path[(3,)]["labels"] == [False]
    assert {r["paths"] for r in recs} == {3} and sorted(r["path_index"] for r in recs) == [0, 1, 2]
    # the numbers each step leaves, for pooling by state; none for an illegal step or the answer line
    assert full["states"] == ['["4", "4", "10"]', '["4", "6"]', '["24"]', None]
    assert by_path[(2,)]["states"] == ['["6", "9", "13"]'] and by_path[(3,)]["states"] == [None]


def test_mc_rollout_batches_the_steps_of_many_trees_in_one_call():
    expander = ScriptedRollouts()
    engine = Engine(TASK, NewlineSegmenter(), expander, None, batch_problems=8)
    trees = engine.label(MCRolloutLabeler(MCRolloutConfig(n=2), TASK), [hand_made_tree() for _ in range(3)])
    assert expander.calls == [12] and len(trees) == 3


def test_max_paths_labels_only_the_chosen_paths_answered_ones_first():
    expander = ScriptedRollouts()
    engine = Engine(TASK, NewlineSegmenter(), expander, None)
    (tree,) = engine.label(MCRolloutLabeler(MCRolloutConfig(n=4, max_paths=1), TASK), [hand_made_tree()])
    # of the leaves B, BAD and the answer, the answer's path: A, its two steps and the answer line
    assert tree.labels == {1: 0.75, 4: 1.0, 5: 1.0, 6: 1.0}
    assert expander.calls == [3]  # rollouts for the three open steps of that path, none for B
    (rec,) = records(tree, 7, MCRolloutConfig(max_paths=1))
    assert rec["node_ids"] == [1, 4, 5, 6] and rec["soft_labels"] == [0.75, 1.0, 1.0, 1.0] and rec["paths"] == 1


def test_verifier_labels_are_the_exact_reachability():
    engine = Engine(TASK, NewlineSegmenter(), None, None)
    (tree,) = engine.label(VerifierLabeler(VerifierLabelConfig(), TASK), [hand_made_tree()])
    assert tree.labels == {1: 1.0, 2: 1.0, 3: 0.0, 4: 1.0, 5: 1.0, 6: 1.0}


def test_an_interrupted_label_file_resumes_at_the_unfinished_problem(tmp_path):
    path = tmp_path / "labels.jsonl"
    rec = lambda pid, i, n: json.dumps({"problem_id": pid, "path_index": i, "paths": n, "labels": []})  # noqa: E731
    complete = [rec("a", 0, 2), rec("a", 1, 2)]
    path.write_text("\n".join(complete + [rec("b", 0, 3), rec("b", 1, 3)]) + "\n" + rec("b", 2, 3)[:10])
    with RecordWriter(path) as w:
        assert w.done == {"a"}
        w.write("b", [json.loads(rec("b", i, 3)) for i in range(3)])
    lines = path.read_text().splitlines()
    assert lines[:2] == complete and [json.loads(x)["path_index"] for x in lines[2:]] == [0, 1, 2]
    with RecordWriter(path) as w:
        assert w.done == {"a", "b"}
    path.write_text(rec("a", 0, 1) + "\nnot json\n")
    with pytest.raises(DataError, match=r"labels.jsonl:2"):
        RecordWriter(path)


def test_label_command_writes_trl_records_and_a_rerun_skips_finished_trees(compose, tmp_path):
    from qstar import commands
    from qstar.tree import save_results

    data = tmp_path / "trees.jsonl"
    save_results(data, [hand_made_tree()])
    out = tmp_path / "labels"
    cfg = compose("label", [f"data={data}", "labeler=verifier", f"out_dir={out}", "progress=false"])
    path = commands.label(cfg)
    first = path.read_text()
    recs = [json.loads(x) for x in first.splitlines()]
    assert {"prompt", "completions", "labels"} <= set(recs[0]) and len(recs) == 3
    spent = (out / "budget.json").read_text()
    assert json.loads(spent) == {"expansions": 0, "generated_tokens": 0, "prompt_tokens": 0}  # exact labels: no model
    assert commands.label(cfg).read_text() == first  # resumed: nothing redone, nothing duplicated
    assert (out / "budget.json").read_text() == spent


def test_verifier_labels_a_legal_dead_step_0():
    dead = "13+9=22 (left: 4 10 22)"
    result = SearchResult(problem=P, nodes=[Node(id=0, parent=None), Node(id=1, parent=0, step=dead, depth=1)])
    (tree,) = Engine(TASK, NewlineSegmenter(), None, None).label(VerifierLabeler(VerifierLabelConfig(), TASK), [result])
    assert tree.labels == {1: 0.0}


def test_perturbed_steps_are_well_formed_mistakes_the_rules_reject():
    import random

    from qstar_game24 import game

    rng = random.Random(0)
    path = ["13-9=4 (left: 4 4 10)", "10-4=6 (left: 4 6)", "4*6=24 (left: 24)", ANSWER]
    drawn = []
    for i, step in enumerate(path):
        for _ in range(100):
            bad = TASK.perturb_step(P, path[:i], step, rng)
            if bad is not None:
                assert bad != step
                if i < 3:
                    assert game.STEP_RE.match(bad), bad  # a step the PRM reads like the policy's own
                drawn.append((path[:i], bad))
    assert len(drawn) >= 380
    illegal = [not TASK.check_step(P, prev, bad).valid for prev, bad in drawn]
    assert sum(illegal) / len(illegal) > 0.95
    claims = [bad for prev, bad in drawn if len(prev) == 2]
    assert any(c.endswith("=24 (left: 24)") for c in claims)  # the deceptive "24" at the last step
    assert TASK.perturb_step(P, [BAD], "10-5=5 (left: 5 10)", rng) is None  # after an illegal step: nothing


def test_label_perturb_adds_labelled_mistakes_beside_each_legal_step(compose, tmp_path):
    from qstar import commands
    from qstar.tree import save_results

    data = tmp_path / "trees.jsonl"
    save_results(data, [hand_made_tree()])
    cfg = compose("label", [f"data={data}", "labeler=verifier", f"out_dir={tmp_path / 'plain'}", "progress=false"])
    plain = [json.loads(x) for x in commands.label(cfg).read_text().splitlines()]
    out = tmp_path / "perturbed"
    cfg = compose("label", [f"data={data}", "labeler=verifier", "perturb=2", f"out_dir={out}", "progress=false"])
    text = commands.label(cfg).read_text()
    recs = [json.loads(x) for x in text.splitlines()]
    searched = [r for r in recs if not any(r["perturbed"])]
    assert [(r["completions"], r["soft_labels"]) for r in searched] == [(r["completions"], r["soft_labels"]) for r in plain]
    perturbed = [r for r in recs if r["perturbed"][-1]]
    assert len(perturbed) == 2 * 5  # two beside each of the 5 legal steps (BAD is not perturbed)
    for r in perturbed:
        prev, bad = r["completions"][:-1], r["completions"][-1]
        assert not any(r["perturbed"][:-1])  # a mistake sits on a searched, legal path
        assert r["soft_labels"][-1] == (1.0 if TASK.check_step(P, prev, bad).valid else 0.0)
    assert commands.label(cfg).read_text() == text  # a rerun adds the same siblings: nothing redone


def test_label_perturb_needs_a_task_that_can_perturb(tmp_path):
    import subprocess
    import sys

    from qstar.tree import save_results

    data = tmp_path / "trees.jsonl"
    save_results(data, [hand_made_tree()])
    run = subprocess.run(
        [sys.executable, "-m", "qstar.cli", "label", f"data={data}", "task=gsm8k", "perturb=1", f"out_dir={tmp_path / 'x'}"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "qstar: error: perturb=1: task 'gsm8k' has no perturb_step; use perturb=0"


def test_label_rollouts_true_keeps_the_grown_trees_and_their_right_rollouts_are_right_paths(compose, policy_dir, tmp_path):
    from qstar import commands
    from qstar.runs import load_trees
    from qstar.tree import save_results
    from qstar_sft import right_paths

    data = tmp_path / "trees.jsonl"
    searched = hand_made_tree()
    save_results(data, [searched])
    out = tmp_path / "labels"
    cfg = compose("label", [f"data={data}", "labeler.n=4", "rollouts=true", f"out_dir={out}", "progress=false"])
    labels = [json.loads(x) for x in commands.label(cfg).read_text().splitlines()]
    (grown,) = load_trees(out / "rollouts.jsonl")
    # the searched nodes first, unchanged; then the rollouts, step by step
    assert [(n.parent, n.step) for n in grown.nodes[: len(searched.nodes)]] == [(n.parent, n.step) for n in searched.nodes]
    rollouts = grown.nodes[len(searched.nodes) :]
    assert len(rollouts) > 4 * 2 and all(n.id >= len(searched.nodes) for n in rollouts)
    # a first step labelled right has a rollout that reaches 24 from it: a right path rft trains on
    paths = right_paths(grown, TASK, legal_steps=True)
    right_first = {r["completions"][0] for r in labels if r["soft_labels"][0] > 0}
    assert right_first and right_first <= {p[0] for p in paths}
    assert len(paths) > len(right_paths(searched, TASK, legal_steps=True))
    before = (out / "rollouts.jsonl").read_text()
    commands.label(cfg)  # a rerun: nothing redone, nothing added
    assert (out / "rollouts.jsonl").read_text() == before

"""Offline RL from trees: the start policy's data (random legal trajectories, no solution),
step-level preference pairs from labelled siblings, DPO through a real Lightning Trainer, and
rejection-sampling fine-tuning on the right paths of searched trees."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
import torch
from test_train import TINY, train_losses

from qstar import commands
from qstar.errors import QstarError
from qstar_dpo import step_pairs
from qstar_game24 import Game24Task
from qstar_game24.arithmetic import _eval, answer_expression
from qstar_sft import right_paths


def test_random_legal_trajectories_are_legal_state_what_they_make_and_never_reach_24():
    task = Game24Task()
    for problem in task.problems("val")[:20]:
        trajectories = task.random_legal_trajectories(problem, 8, random.Random(problem.id))
        assert len(trajectories) == 8
        assert trajectories == task.random_legal_trajectories(problem, 8, random.Random(problem.id))
        for steps in trajectories:
            for i, step in enumerate(steps[:-1]):
                assert task.check_step(problem, steps[:i], step).valid, steps
            *_, answer = steps
            expr, stated = answer.removeprefix("Answer: ").split("=")
            value, numbers = _eval(__import__("ast").parse(expr, mode="eval"))
            assert sorted(numbers) == sorted(problem.metadata["numbers"])
            assert value == Fraction(stated) != 24
            assert not task.is_correct(problem, answer_expression(answer))


def record(pid, steps, labels, ids):
    return {
        "prompt": f"Input: {pid}\n",
        "completions": steps,
        "labels": [x > 0 for x in labels],
        "soft_labels": labels,
        "node_ids": ids,
        "problem_id": pid,
    }


def test_step_pairs_take_the_best_sibling_against_each_worse_one():
    records = [
        record("p", ["a", "b"], [0.9, 1.0], [1, 4]),
        record("p", ["a", "c"], [0.9, 0.5], [1, 5]),
        record("p", ["x"], [0.2], [2]),
        record("p", ["y"], [0.8], [3]),
        record("q", ["z"], [0.5], [1]),  # an only child: no pair
    ]
    pairs = step_pairs(records, "\n", margin=0.25, max_pairs_per_prefix=4)
    got = {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs}
    assert got == {
        ("Input: p\n", "a\n", "x\n"),  # root's children: a 0.9, x 0.2, y 0.8 (y is within the margin)
        ("Input: p\na\n", "b\n", "c\n"),  # below a: b 1.0 against c 0.5
    }
    assert step_pairs(records, "\n", margin=0.25, max_pairs_per_prefix=1)  # capped, still one per prefix
    assert step_pairs(records, "\n", margin=0.95) == []


def test_dpo_starts_at_log2_its_loss_falls_and_the_policy_prefers_chosen_steps(compose, tmp_path):
    # a tiny policy, then pairs where a legal step beats an illegal one at the same prefix
    base = tmp_path / "base"
    commands.train(compose("train", TINY + ["trainer.max_steps=20", f"out_dir={base}"]))
    task = Game24Task()
    records = []
    for i, problem in enumerate(task.problems("val")[:24]):
        good = task.gold_trajectories(problem)[0][0]
        records.append(record(problem.id, [good], [1.0], [1]))
        records.append(record(problem.id, ["1+1=5 (left: 5)"], [0.0], [2]))
    for r, problem in zip(records, [p for p in task.problems("val")[:24] for _ in range(2)]):
        r["prompt"] = task.prompt(problem)
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "dpo"
    cfg = compose(
        "train",
        [
            "optimizer=dpo",
            "optimizer.rpo_alpha=0",
            f"model.name_or_path={base / 'model'}",
            f"data={data}",
            f"out_dir={out}",
            "split=val",
            "optimizer.lr=3e-3",
            "optimizer.batch_size=8",
            "optimizer.warmup_steps=2",
            "trainer.max_steps=30",
            "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false",
        ],
    )
    exported = commands.train(cfg)
    losses = train_losses(out)
    assert losses[0][1] == pytest.approx(0.6931, abs=1e-3)  # policy = reference: -log σ(0)
    assert sum(x for _, x in losses[-5:]) / 5 < 0.5 * losses[0][1], losses
    assert len((out / "pairs.jsonl").read_text().splitlines()) == 24

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qstar_dpo import collate, encode_pair, step_logprobs

    tok = AutoTokenizer.from_pretrained(exported)
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    batch = collate([encode_pair(tok, p, 128) for p in pairs], tok.pad_token_id)
    with torch.no_grad():
        before = step_logprobs(AutoModelForCausalLM.from_pretrained(base / "model").eval(), batch)
        after = step_logprobs(AutoModelForCausalLM.from_pretrained(exported).eval(), batch)
    margin_before = (before[0::2] - before[1::2]).mean()
    margin_after = (after[0::2] - after[1::2]).mean()
    assert margin_after > margin_before + 1.0


def chain(steps: list[str]) -> list:
    """The root and one path of ``steps`` below it, the last step a finished answer."""
    from qstar.tree import Node

    last = len(steps) - 1
    return [Node(id=0, parent=None)] + [
        Node(id=i + 1, parent=i, step=s, depth=i + 1, terminal=i == last, answer=answer_expression(s) if i == last else None)
        for i, s in enumerate(steps)
    ]


def test_right_paths_are_every_distinct_right_leaf(compose, tmp_path):
    from qstar.tree import Node, SearchResult

    task = Game24Task()
    problem = task.parse_problem("4 9 10 13")
    steps = task.gold_trajectories(problem)[0]
    nodes = chain(steps)  # one right path
    wrong = "Answer: 4+9+10+13=24"  # a wrong claim below the same prefix
    nodes.append(Node(id=len(nodes), parent=len(steps) - 1, step=wrong, depth=len(steps), terminal=True, answer=answer_expression(wrong)))
    result = SearchResult(problem=problem, nodes=nodes, answer=None, path=[], correct=False)
    assert right_paths(result, task) == [steps]


def test_a_right_answer_after_wrong_arithmetic_is_a_right_path_unless_legal_steps():
    from qstar.tree import SearchResult

    task = Game24Task()
    problem = task.parse_problem("4 9 10 13")
    # wrong arithmetic (13-9=6), then a 4 that is not left; the answer's expression is right all the same
    steps = ["13-9=6 (left: 4 6 10)", "10-4=6 (left: 6 6)", "6*4=24 (left: 24)", "Answer: (10-(13-9))*4=24"]
    assert task.is_correct(problem, answer_expression(steps[-1]))
    result = SearchResult(problem=problem, nodes=chain(steps), answer=None, path=[], correct=True)
    assert right_paths(result, task) == [steps]  # the outcome check alone (the default)
    assert right_paths(result, task, legal_steps=True) == []  # every step must keep the rules (optimizer.legal_steps=true)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["optimizer=dpo", "model.name_or_path=pkg://qstar_game24/policy"],
            "optimizer=dpo needs data=<labels.jsonl written by qstar label> (sibling steps with labels)",
        ),
        (["optimizer=dpo", "data=x.jsonl"], "optimizer=dpo fine-tunes a policy: set model.name_or_path (e.g. pkg://qstar_game24/policy)"),
        (["optimizer=rft"], "optimizer.source=right-paths needs data=<trees.jsonl written by qstar search>"),
        (["optimizer=dpo", "optimizer.beta=0"], "optimizer.beta=0.0: must be positive"),
    ],
)
def test_offline_rl_bad_input_is_one_line(compose, tmp_path, overrides, message):
    with pytest.raises(QstarError) as e:
        commands.train(compose("train", overrides + [f"out_dir={tmp_path}", "split=val"]))
    assert str(e.value) == message


def right_paths_context(tmp_path):
    """A training context whose data= trees hold four gold paths of each of three puzzles, all right."""
    from qstar.training import TrainContext
    from qstar.tree import SearchResult
    from qstar_segmenters import NewlineSegmenter

    task = Game24Task()
    trees = tmp_path / "trees.jsonl"
    with trees.open("w") as f:
        for text in ("4 9 10 13", "1 1 4 6", "2 3 4 5"):
            problem = task.parse_problem(text)
            for steps in task.gold_trajectories(problem)[:4]:
                f.write(SearchResult(problem=problem, nodes=chain(steps), answer=None, path=[], correct=True).to_json() + "\n")
    return TrainContext(task=task, segmenter=NewlineSegmenter(), model=None, trainer=None, out_dir=tmp_path, data=str(trees))


def test_replay_adds_random_legal_trajectories_of_every_train_puzzle_to_training_only(tmp_path):
    from qstar.models import build_number_tokenizer
    from qstar_sft import RFTConfig
    from qstar_sft.train import StepDataModule

    ctx = right_paths_context(tmp_path)
    task = ctx.task
    sets = {}
    for replay in (0, 2):
        data = StepDataModule(ctx, RFTConfig(replay_legal=replay), build_number_tokenizer(), 128)
        data.setup()
        sets[replay] = data
    puzzles = len(task.problems("train"))
    assert len(sets[2].train_set) == len(sets[0].train_set) + 2 * puzzles  # two per train puzzle, beside the right paths
    assert sets[2].val_set == sets[0].val_set  # validation stays on the held-out right paths
    # what is replayed keeps the rules at every step and never reaches 24: no solution shown
    for steps in task.random_legal_trajectories(task.parse_problem("4 9 10 13"), 4, random.Random(0)):
        problem = task.parse_problem("4 9 10 13")
        assert all(task.check_step(problem, steps[:i], steps[i]).valid for i in range(len(steps) - 1))
        assert not task.is_correct(problem, answer_expression(steps[-1]))
    with pytest.raises(QstarError, match="optimizer.replay_legal=-1"):
        RFTConfig(replay_legal=-1)


def test_policy_batches_grouped_by_length_pad_less_and_still_see_every_trajectory_once_an_epoch(tmp_path):
    from qstar.models import build_number_tokenizer
    from qstar_sft import RFTConfig
    from qstar_sft.train import StepDataModule

    ctx = right_paths_context(tmp_path)
    padded = {}
    for grouped in (False, True):
        # the loop's policy data: right paths beside replayed legal trajectories of every length
        data = StepDataModule(ctx, RFTConfig(replay_legal=2, batch_size=16, group_by_length=grouped), build_number_tokenizer(), 128)
        data.setup()
        torch.manual_seed(0)
        loader = data.train_dataloader()
        assert sorted(loader.sampler) == list(range(len(data.train_set)))
        padded[grouped] = sum(b["input_ids"].numel() for b in loader)
    real = sum(len(d["input_ids"]) for d in data.train_set)
    assert real <= padded[True] < 0.9 * padded[False]

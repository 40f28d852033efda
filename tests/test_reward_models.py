"""Process and outcome reward models: the data readers, training with Lightning (a loss that
falls on real PRM800K rows), exact export → reload, batched scoring without rescoring, the
aggregations, and the learned setting's blinding."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from qstar.engine import BlindTask, Engine, Tree
from qstar.errors import QstarError
from qstar.protocols import Score
from qstar.tree import DataError
from qstar_game24 import Game24Task
from qstar_rm import RewardScorer, RewardScorerConfig
from qstar_rm.data import read_examples, read_prm800k_parquet, read_prm800k_records, read_stepwise, split_groups
from qstar_segmenters import NewlineSegmenter

FIXTURES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "prm800k"  # real PRM800K rows, shared with the tutorial
TINY = ["model.arch.n_layer=1", "model.arch.n_embd=32", "model.arch.n_head=2"]


def game24_labels(path: Path, puzzles=("4 9 10 13", "1 1 4 6", "2 3 4 5", "1 2 3 4", "3 3 8 8", "5 5 5 1")) -> Path:
    """Hand-made stepwise records: gold paths (every step good) and paths whose first step is
    illegal (labelled 0 from there), two per problem, sharing node ids like `qstar label` output."""
    task = Game24Task()
    with path.open("w") as f:
        for text in puzzles:
            problem = task.parse_problem(text)
            gold = task.gold_trajectories(problem)[0]
            bad = ["1+1=3 (left: 3 3 3)", *gold[1:]]
            for index, (steps, labels, ids) in enumerate([(gold, [1.0] * 4, [1, 2, 3, 4]), (bad, [0.0] * 4, [5, 6, 7, 8])]):
                f.write(
                    json.dumps(
                        {
                            "prompt": task.prompt(problem),
                            "completions": steps,
                            "labels": [x > 0 for x in labels],
                            "soft_labels": labels,
                            "problem_id": problem.id,
                            "node_ids": ids,
                            "path_index": index,
                            "paths": 2,
                        }
                    )
                    + "\n"
                )
    return path


@pytest.fixture(scope="module")
def tiny_prm(tmp_path_factory) -> Path:
    """A one-layer PRM trained for a few steps on hand-made Game of 24 labels, exported."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from qstar import commands
    from qstar.config import CONFIG_MODULE, store_schemas

    root = tmp_path_factory.mktemp("prm")
    data = game24_labels(root / "labels.jsonl")
    store_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(
            "train",
            [
                "optimizer=prm",
                f"data={data}",
                f"out_dir={root / 'run'}",
                *TINY,
                "trainer.max_steps=40",
                "trainer.enable_progress_bar=false",
                "optimizer.lr=3e-3",
                "optimizer.batch_size=4",
                "trainer.log_every_n_steps=1",
            ],
        )
    GlobalHydra.instance().clear()
    return commands.train(cfg)


# ----------------------------------------------------------------------------------- readers


def test_stepwise_reader_weights_a_step_shared_by_two_paths_once(tmp_path):
    path = tmp_path / "labels.jsonl"
    rows = [
        {
            "prompt": "Input: 1 2 3 4\n",
            "completions": ["a", "b"],
            "labels": [True, False],
            "soft_labels": [0.5, 0.0],
            "problem_id": "p",
            "node_ids": [1, 2],
        },
        {
            "prompt": "Input: 1 2 3 4\n",
            "completions": ["a", "c"],
            "labels": [True, True],
            "soft_labels": [0.5, 1.0],
            "problem_id": "p",
            "node_ids": [1, 3],
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    soft = read_stepwise(path)
    assert [e.labels for e in soft] == [[0.5, 0.0], [0.5, 1.0]]
    assert [e.weights for e in soft] == [[1.0, 1.0], [0.0, 1.0]]  # step "a" counted once
    assert [e.labels for e in read_stepwise(path, "hard")] == [[1.0, 0.0], [1.0, 1.0]]


def pooled_rows() -> list[dict]:
    """Two puzzles whose first steps leave the same numbers (rollouts: 2 of 4 right, 0 of 4), one
    illegal second step, and a path of the first tree sharing its first node."""
    a, b = "11+1=12 (left: 1 11 12)", "10+2=12 (left: 1 11 12)"
    state = '["1", "11", "12"]'
    return [
        {"prompt": "Input: 1 1 11 11\n", "completions": [a], "labels": [True], "soft_labels": [0.5], "problem_id": "p",
         "node_ids": [1], "states": [state]},
        {"prompt": "Input: 1 1 11 11\n", "completions": [a, "12*1=12 (left: 11 12)"], "labels": [True, False],
         "soft_labels": [0.5, 0.0], "problem_id": "p", "node_ids": [1, 2], "states": [state, '["11", "12"]']},
        {"prompt": "Input: 2 1 11 10\n", "completions": [b, "12*2=24 (left: 1 11 24)"], "labels": [False, False],
         "soft_labels": [0.0, 0.0], "problem_id": "q", "node_ids": [1, 2], "states": [state, None]},
    ]  # fmt: skip


def test_pool_states_gives_every_step_that_leaves_a_state_the_mean_of_its_visits(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pooled_rows()))
    soft = read_stepwise(path, "soft", pool_states=True)
    # the shared first node of puzzle p votes once: (0.5 + 0.0) / 2; the illegal step keeps its 0
    assert [e.labels for e in soft] == [[0.25], [0.25, 0.0], [0.25, 0.0]]
    assert [e.weights for e in soft] == [[1.0], [0.0, 1.0], [1.0, 1.0]]  # each step still trained on once
    assert [e.labels for e in read_stepwise(path, "hard", pool_states=True)] == [[1.0], [1.0, 0.0], [1.0, 0.0]]
    assert [e.labels for e in read_stepwise(path, "hard")] == [[1.0], [1.0, 0.0], [0.0, 0.0]]  # unpooled: as labelled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.pop("states"),
            'labels.jsonl:1: optimizer.pool_states needs each step\'s state and soft label ("states", "soft_labels"): '
            "label the trees with qstar label (it writes them for a task with a state_key), or drop optimizer.pool_states",
        ),
        (lambda r: r.update(states=[1]), 'labels.jsonl:1: "states" must hold text (the state a step leaves) or null'),
        (
            lambda r: r.update(states=[]),
            'labels.jsonl:1: "states" must be a list with one entry per step of "completions" (1): the state each step leaves',
        ),
    ],
)
def test_pool_states_on_labels_without_good_states_names_the_line_and_the_fix(tmp_path, change, message):
    rows = pooled_rows()
    change(rows[0])
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("train", "optimizer=prm", "optimizer.pool_states=true", f"data={path}", f"out_dir={tmp_path / 'run'}", *TINY)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"qstar: error: {path.parent}/{message}"]


def test_pool_states_needs_a_prm_and_qstar_labels(tmp_path):
    proc = run_cli("train", "optimizer=orm", "optimizer.pool_states=true", *TINY)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "qstar: error: optimizer.pool_states pools step labels by state: it needs a step-level model, optimizer=prm"
    ]
    with pytest.raises(QstarError, match="^optimizer.pool_states pools the labels of qstar label's files by state: .* is PRM800K"):
        read_examples(FIXTURES / "prm800k_phase1_test_rows.parquet", pool_states=True)


def test_prm800k_raw_record_follows_the_chosen_completions_to_the_rated_mistake():
    (example,) = read_prm800k_records(FIXTURES / "prm800k_phase2_test_example_record.json")
    raw = json.loads((FIXTURES / "prm800k_phase2_test_example_record.json").read_text())
    steps = raw["label"]["steps"]
    assert example.prompt == raw["question"]["problem"] + "\n"
    assert len(example.steps) == len(steps) == 7
    assert example.steps[0] == steps[0]["completions"][steps[0]["chosen_completion"]]["text"]
    # finish_reason "found_error": the last step has no chosen completion and is rated -1 → negative
    assert steps[-1]["chosen_completion"] is None and example.labels[-1] == 0.0
    ratings = [s["completions"][s["chosen_completion"]]["rating"] for s in steps[:-1]]
    assert example.labels[:-1] == [1.0 if r == 1 else 0.0 for r in ratings]
    neutral_ok = read_prm800k_records(FIXTURES / "prm800k_phase2_test_example_record.json", positive=(0, 1))[0]
    assert neutral_ok.labels[:-1] == [1.0 if r in (0, 1) else 0.0 for r in ratings]


def test_prm800k_parquet_rows_train_only_their_rated_step():
    examples = read_prm800k_parquet(FIXTURES / "prm800k_phase1_test_rows.parquet")
    assert len(examples) == 44  # 48 rows, 4 unrated
    assert sum(e.labels[-1] for e in examples) == 15  # rating +1 rows
    assert all(e.weights == [0.0] * (len(e.steps) - 1) + [1.0] for e in examples)
    train, val = split_groups(examples, 50.0, seed=0)
    assert {e.group for e in train}.isdisjoint({e.group for e in val})


@pytest.mark.parametrize(
    "content,message",
    [
        ("not json\n", "labels.jsonl:1: not JSON"),
        ('{"prompt": "x"}\n', 'labels.jsonl:1: a stepwise record needs "prompt", "completions" and "labels"'),
        ('{"prompt": "x", "completions": ["a"], "labels": [true, false]}\n', "one label each"),
        ('{"prompt": "x", "completions": ["a"], "labels": [true], "soft_labels": [2.0]}\n', "labels must lie in [0, 1]"),
        ("", "no stepwise records"),
    ],
)
def test_bad_label_files_name_the_line_and_the_problem(tmp_path, content, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_examples(path)


def test_backup_makes_a_step_good_when_a_later_step_of_its_path_is(tmp_path):
    from qstar_rm.data import backed_up

    path = tmp_path / "labels.jsonl"
    rows = [  # step b's own rollouts all failed, but one from c (later on b's path) reached 24
        {"prompt": "Input: 1 2 3 4\n", "completions": ["a", "b", "c"], "labels": [True, False, True], "problem_id": "p"},
        {"prompt": "Input: 1 2 3 4\n", "completions": ["a", "d", "e"], "labels": [True, False, False], "problem_id": "p"},
        # f is trained on this path (its first), and g, later on f's second path, is right
        {"prompt": "Input: 1 2 3 4\n", "completions": ["f", "h"], "labels": [False, False], "problem_id": "q"},
        {"prompt": "Input: 1 2 3 4\n", "completions": ["f", "g"], "labels": [False, True], "problem_id": "q"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = read_stepwise(path, "hard")
    assert [e.weights for e in examples] == [[1.0, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0], [0.0, 1.0]]
    assert [e.labels for e in backed_up(examples)] == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    assert [e.labels for e in examples] == [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]  # the read examples stay as read
    proc = run_cli("train", "optimizer=prm", "optimizer.backup=true", f"data={path}")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "qstar: error: optimizer.backup=true backs up hard labels along each path: add optimizer.target=hard"
    )


def test_sibling_pairs_rank_the_two_best_children_of_a_parent_against_the_two_worst(tmp_path):
    from qstar_rm.data import sibling_pairs

    path = tmp_path / "labels.jsonl"
    p = "Input: 1 2 3 4\n"
    rows = [  # five first steps of one problem (soft labels 1, .75, .5, .25, 0); then b's children c and d
        *(
            {"prompt": p, "completions": [step], "labels": [x > 0.5], "soft_labels": [x], "problem_id": "p"}
            for step, x in zip("aebfg", (0.5, 1, 0, 0.25, 0.75))
        ),
        {"prompt": p, "completions": ["b", "c"], "labels": [False, True], "soft_labels": [0.0, 1.0], "problem_id": "p"},
        {"prompt": p, "completions": ["b", "d"], "labels": [False, False], "soft_labels": [0.0, 0.0], "problem_id": "p"},
        {"prompt": p, "completions": ["z"], "labels": [True], "soft_labels": [1.0], "problem_id": "q"},  # an only child: no pair
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = sibling_pairs(read_stepwise(path, "soft"))
    assert [(good.steps, bad.steps) for good, bad in pairs] == [
        (["e"], ["f"]),
        (["e"], ["b"]),
        (["g"], ["f"]),
        (["g"], ["b"]),  # best 1, .75 against worst .25, 0
        (["b", "c"], ["b", "d"]),  # b's children share b
    ]
    assert all(e.weights == [0.0] * (len(e.steps) - 1) + [1.0] for pair in pairs for e in pair)  # each trains its last step only
    assert len(sibling_pairs(read_stepwise(path, "hard"))) == 5  # hard: 1 1 0 0 0, e and g against b and f; c against d


def test_pairwise_prm_learns_to_rank_the_legal_first_step_above_the_illegal_sibling(tmp_path, compose):
    from qstar import commands

    data = game24_labels(tmp_path / "labels.jsonl")  # per problem: a gold first step and an illegal one, siblings
    cfg = compose(
        "train",
        [
            "optimizer=prm",
            "optimizer.pairwise=1.0",
            f"data={data}",
            f"out_dir={tmp_path / 'run'}",
            *TINY,
            "trainer.max_steps=40",
            "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false",
            "optimizer.lr=3e-3",
            "optimizer.batch_size=4",
            "optimizer.warmup_steps=0",
        ],
    )
    commands.train(cfg)
    with open(tmp_path / "run" / "logs" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/pair_loss")]
    pair_losses = [float(r["train/pair_loss"]) for r in rows]
    assert len(pair_losses) == 40 and sum(pair_losses[-5:]) / 5 < 0.5 * pair_losses[0]
    assert float(rows[-1]["train/pair_accuracy"]) == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimizer=orm", "optimizer.pairwise=1.0"], "optimizer.pairwise ranks sibling steps: it needs a step-level model, optimizer=prm"),
        (
            ["optimizer=prm", "optimizer.pairwise=-1"],
            "optimizer.pairwise=-1.0: use 0 (pointwise BCE only) or a positive weight of the sibling ranking loss",
        ),
        (
            ["optimizer=prm", "optimizer.pairwise=1.0"],
            "optimizer.pairwise: no two sibling steps (the same steps before them) with different labels in the training data: "
            "label trees that branch (qstar search, then qstar label), or set optimizer.pairwise=0",
        ),
    ],
)
def test_pairwise_without_siblings_or_on_an_orm_is_one_line_exit_2(tmp_path, args, message):
    path = tmp_path / "labels.jsonl"  # two problems, one path each: no siblings
    path.write_text(
        "".join(
            json.dumps({"prompt": f"Input: {q}\n", "completions": ["a", "b"], "labels": [True, False], "problem_id": q}) + "\n"
            for q in ("p", "q")
        )
    )
    proc = run_cli("train", *args, f"data={path}", f"out_dir={tmp_path / 'run'}", *TINY, "trainer.max_steps=1")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == f"qstar: error: {message}"


def test_train_prm_without_data_is_one_line_exit_2_and_leaves_no_settings(tmp_path):
    result = run_cli("train", "optimizer=prm", "trainer.max_steps=1", f"out_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "qstar: error: optimizer=prm learns from step labels: pass data=<labels.jsonl from qstar label, or a PRM800K .parquet/.json>"
    ]
    # nothing recorded that would refuse the corrected rerun (data=...) into the same out_dir
    assert not (tmp_path / "run" / "settings.json").exists()


# ---------------------------------------------------------------------------------- training


def test_prm_training_on_real_prm800k_rows_lowers_the_loss(tmp_path, compose):
    from qstar import commands

    cfg = compose(
        "train",
        [
            "optimizer=prm",
            f"data={FIXTURES / 'prm800k_phase1_test_rows.parquet'}",
            f"out_dir={tmp_path}",
            *TINY,
            "model.arch.n_positions=1024",
            "trainer.max_steps=30",
            "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false",
            "optimizer.lr=3e-3",
            "optimizer.batch_size=64",
            "optimizer.warmup_steps=0",
            "optimizer.group_by_length=true",  # the default order trains in tiny_prm
        ],
    )
    model_dir = commands.train(cfg)
    with open(tmp_path / "logs" / "metrics.csv") as f:
        losses = [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]
    with open(tmp_path / "logs" / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert {"val/loss", "val/auc", "val/accuracy"} <= set(header)
    meta = json.loads((model_dir / "config.json").read_text())["qstar_reward"]
    assert (meta["kind"], meta["step_delimiter"]) == ("prm", "\n") and 0 < meta["threshold"] < 1  # its operating point, too


def test_group_by_length_pads_less_and_still_sees_every_path_once_an_epoch():
    from qstar.models import build_number_tokenizer
    from qstar_rm import RewardTrainConfig
    from qstar_rm.data import StepExample
    from qstar_rm.train import RewardDataModule

    task = Game24Task()
    puzzles = ["4 9 10 13", "1 1 4 6", "2 3 4 5", "1 2 3 4", "3 3 8 8", "5 5 5 1", "1 1 1 8", "2 2 2 3", "6 6 6 6", "1 3 4 6"]
    examples = []
    for text in puzzles:  # paths of 1 to 4 steps: four lengths
        problem = task.parse_problem(text)
        gold = task.gold_trajectories(problem)[0]
        examples += [StepExample(task.prompt(problem), gold[:k], [1.0] * k, group=problem.id) for k in range(1, 5)] * 5
    tok = build_number_tokenizer()
    padded = {}
    for grouped in (False, True):
        cfg = RewardTrainConfig(batch_size=4, val_percent=0.0, group_by_length=grouped)
        data = RewardDataModule(examples, cfg, tok, "\n", 128, seed=0)
        data.setup()
        torch.manual_seed(0)
        loader = data.train_dataloader()
        assert sorted(loader.sampler) == list(range(len(examples)))
        padded[grouped] = sum(b["input_ids"].numel() for b in loader)
    real = sum(len(d["input_ids"]) for d in data.train_set)
    assert real <= padded[True] < 0.8 * padded[False]


def test_export_then_load_gives_identical_scores(tiny_prm, tmp_path):
    from transformers import AutoModelForTokenClassification

    from qstar_rm.model import RewardModel, load_reward_model

    task = Game24Task()
    problem = task.parse_problem("4 9 10 13")
    paths = [task.gold_trajectories(problem)[0], ["1+1=3 (left: 3 3 3)"], ["13-9=4 (left: 4 4 10)"]]
    loaded = RewardModel(*load_reward_model(str(tiny_prm)))
    first = loaded.step_values([task.prompt(problem)] * 3, paths)
    # save the loaded model again (head included) and reload: bit-identical scores
    loaded.model.save_pretrained(tmp_path / "again")
    loaded.tok.save_pretrained(tmp_path / "again")
    second = RewardModel(*load_reward_model(str(tmp_path / "again"))).step_values([task.prompt(problem)] * 3, paths)
    assert first == second
    head = AutoModelForTokenClassification.from_pretrained(tiny_prm).classifier.weight
    assert head.shape[0] == 1 and torch.equal(head, loaded.model.classifier.weight)
    # the training labelled gold steps 1 and illegal ones 0: the tiny PRM already separates them
    assert first[0][0] > first[1][0]
    # the exported model is the best checkpoint, exactly: same weights, same head, same scores
    state = torch.load(tiny_prm.parent / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    trained = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    exported = loaded.model.state_dict()
    assert trained.keys() == exported.keys() and all(torch.equal(trained[k], exported[k]) for k in trained)


def test_a_trained_prm_stores_the_threshold_that_best_names_its_validation_paths_first_errors(tiny_prm, tmp_path):
    from qstar.metrics import first_error_f1
    from qstar_rm.model import RewardModel, load_reward_model

    meta = json.loads((tiny_prm / "config.json").read_text())["qstar_reward"]
    # the validation paths of its own labels (the same split as training), scored by the export
    _, val = split_groups(read_examples(str(tiny_prm.parents[1] / "labels.jsonl"), "soft"), 5.0, 0)
    assert meta["threshold_paths"] == len(val) == 2  # one problem: its gold path and its illegal-first-step path
    values = RewardModel(*load_reward_model(str(tiny_prm))).step_values([e.prompt for e in val], [e.steps for e in val])
    solutions = [(v, [x > 0 for x in e.labels]) for v, e in zip(values, val)]
    assert first_error_f1(solutions, meta["threshold"])["f1"] == meta["threshold_f1"] == 1.0
    # the scorer carries it, and qstar judge names wrong steps below it unless told otherwise
    assert RewardScorer(RewardScorerConfig(model=str(tiny_prm)), Game24Task()).threshold == meta["threshold"]
    proc = run_cli(
        "search", "split=val", "limit=1", "search=best-of-n", "search.n=4", "scorer=verifier", "progress=false", f"out_dir={tmp_path / 's'}"
    )
    assert proc.returncode == 0, proc.stderr
    trees = tmp_path / "s" / "trees.jsonl"
    for args, expected in (([], (meta["threshold"], "the model's own")), (["threshold=0.5"], (0.5, "threshold="))):
        proc = run_cli("judge", f"data={trees}", "scorer=prm", f"scorer.model={tiny_prm}", *args, f"out_dir={tmp_path / 'j'}")
        assert proc.returncode == 0, proc.stderr
        fe = json.loads((tmp_path / "j" / "judge.json").read_text())["first_error"]
        assert (fe["threshold"], fe["threshold_from"]) == expected


def test_learned_scorer_reads_a_prefix_off_the_longer_path_and_scores_in_path_context(tiny_prm):
    task = Game24Task()
    problem = task.parse_problem("4 9 10 13")
    gold = task.gold_trajectories(problem)[0]
    scorer = RewardScorer(RewardScorerConfig(name="prm", model=str(tiny_prm)), task)
    calls = []
    inner = scorer.rm.step_values
    scorer.rm.step_values = lambda prompts, paths: (calls.append(len(paths)), inner(prompts, paths))[1]
    together = scorer.score([problem] * 4, [gold[:i] for i in range(1, 5)])
    assert calls == [1]  # four prefixes of one path: one sequence through the model
    alone = [scorer.score([problem], [gold[:i]])[0] for i in range(1, 5)]
    assert together == pytest.approx(alone, abs=1e-5)


def test_engine_never_rescores_a_step(tiny_prm):
    task, seg = Game24Task(), NewlineSegmenter()
    scorer = RewardScorer(RewardScorerConfig(name="prm", model=str(tiny_prm)), task)
    seen = []
    inner = scorer.score
    scorer.score = lambda problems, paths: (seen.append(len(paths)), inner(problems, paths))[1]
    eng = Engine(task, seg, expander=None, scorer=scorer)
    tree = Tree(task.parse_problem("4 9 10 13"), task, seg)
    a = tree.add(tree.root, "13-9=4 (left: 4 4 10)")
    b = tree.add(a, "10-4=6 (left: 4 6)")
    first = eng._score([(tree, Score([a, b]))])
    again = eng._score([(tree, Score([b, a]))])
    assert seen == [2] and again == [first[0][::-1]] and tree.budget.scorer_calls == 2


def test_policy_weight_multiplies_each_step_score_by_the_policys_probability_of_it(tiny_prm):
    task, seg = Game24Task(), NewlineSegmenter()
    problem = task.parse_problem("4 9 10 13")
    scores = {}
    for w in (0.0, 0.5):
        scorer = RewardScorer(RewardScorerConfig(name="prm", model=str(tiny_prm), policy_weight=w), task)
        tree = Tree(problem, task, seg)
        a = tree.add(tree.root, "13-9=4 (left: 4 4 10)", logprob=-2.0)
        b = tree.add(a, "10-4=6 (left: 4 6)", logprob=-6.0)
        c = tree.add(tree.root, "13-9=5 (left: 4 5 10)")  # no recorded log-prob: π = 1, the PRM alone
        (scores[w],) = Engine(task, seg, expander=None, scorer=scorer)._score([(tree, Score([a, b, c]))])
    plain, weighted = scores[0.0], scores[0.5]
    assert weighted == pytest.approx([plain[0] * math.exp(-1.0), plain[1] * math.exp(-3.0), plain[2]], rel=1e-6)


def test_a_negative_policy_weight_is_one_line_exit_2():
    result = run_cli("solve", "scorer=prm", "scorer.policy_weight=-1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["qstar: error: scorer.policy_weight=-1.0: use 0 (the PRM alone) or a positive weight"]


@pytest.mark.parametrize("aggregate,expected", [("min", 0.2), ("prod", 0.9 * 0.2 * 0.5), ("last", 0.5), ("mean", (0.9 + 0.2 + 0.5) / 3)])
def test_path_score_aggregations(aggregate, expected):
    task, seg = Game24Task(), NewlineSegmenter()
    tree = Tree(task.parse_problem("4 9 10 13"), task, seg, aggregate=aggregate)
    node = tree.root
    for step, score in zip(["13-9=4 (left: 4 4 10)", "10-4=6 (left: 4 6)", "6*4=24 (left: 24)"], [0.9, 0.2, 0.5]):
        node = tree.add(node, step)
        node.scores["prm"] = score
        node.scores["orm"] = 1 - score
    assert tree.path_score(node) == pytest.approx(expected)
    assert tree.path_score(node, "last", scorer="orm") == pytest.approx(0.5)


# ------------------------------------------------------------------------------ the settings


def test_blind_task_parses_but_never_judges():
    task = Game24Task()
    blind = BlindTask(task)
    problem = task.parse_problem("4 9 10 13")
    illegal = blind.check_step(problem, [], "4+9=14 (left: 10 13 14)")  # wrong arithmetic, well-formed
    assert illegal.valid and not illegal.terminal and not illegal.dead_end
    assert not blind.check_step(problem, [], "make 24").valid
    wrong = blind.check_step(problem, [], "Answer: 4+9+10+13=24")
    assert wrong.terminal and wrong.answer == "4+9+10+13" and wrong.correct is None
    assert not hasattr(blind, "solvable")
    with pytest.raises(QstarError, match="only learned scores may judge"):
        blind.is_correct(problem, "4+9+10+13")


def test_learned_setting_answers_do_not_change_when_the_tasks_judgement_is_blinded(tiny_prm, policy_dir):
    """In the learned setting the task's correctness, legality and look-ahead checks never reach
    the search: replacing them with nonsense changes no chosen answer."""
    from qstar.config import ModelConfig
    from qstar_hf import HFExpander, HFExpanderConfig
    from qstar_tot import TotBFS, TotBFSConfig

    seg = NewlineSegmenter()
    expander = HFExpander(HFExpanderConfig(seed=3), ModelConfig(name_or_path=str(policy_dir)), seg)
    problems = [Game24Task().parse_problem(p) for p in ("4 9 10 13", "1 1 4 6", "2 5 8 11")]

    class Sabotaged(Game24Task):
        def check_step(self, problem, previous, step):  # every step illegal and a dead end
            from qstar.protocols import StepVerdict

            return StepVerdict(valid=False, terminal=True, dead_end=True)

        def solvable(self, problem, steps):
            raise AssertionError("look-ahead reached the search")

        def state_key(self, problem, steps):
            raise AssertionError("the checked state reached the search")

        def is_correct(self, problem, answer):
            return False

    def chosen(task):
        scorer = RewardScorer(RewardScorerConfig(name="prm", model=str(tiny_prm)), task)
        eng = Engine(task, seg, expander, scorer, setting="learned")
        return [(r.answer, r.path) for r in eng.run(TotBFS(TotBFSConfig(breadth=2, k=6)), problems)]

    real, blinded = chosen(Game24Task()), chosen(Sabotaged())
    assert real == blinded
    assert all(answer is not None for answer, _ in real)


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["scorer=verifier", "setting=learned"],
            "setting=learned but scorer=verifier makes the search oracle: use scorer=prm or scorer=orm (or none, with search.select=majority)",
        ),
        (["setting=rules"], "setting=rules but scorer=prm makes the search learned: use scorer=verifier scorer.lookahead=false"),
        (["setting=best"], "setting='best': choose auto, oracle, rules or learned"),
    ],
)
def test_a_setting_the_scorer_does_not_make_is_one_line_exit_2(args, message):
    result = run_cli("solve", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"qstar: error: {message}"]


# ----------------------------------------------------------------------------------- compare


def test_compare_replays_best_of_n_exactly_and_writes_table_json_and_png(tiny_prm, tmp_path, compose):
    """Selections replayed on the first n of one pool of samples equal a best-of-n run with that
    n and that selection (the samples of a problem depend on its id alone)."""
    from qstar import commands

    common = ["split=val", "limit=3", f"prm.model={tiny_prm}", f"orm.model={tiny_prm}", "progress=false"]
    cfg = compose("compare", [*common, "ns=[1,3]", "tree_search.k=4", "tree_search.breadth=2", f"out_dir={tmp_path / 'cmp'}"])
    summary = commands.compare(cfg)
    rows = {(r["method"], r["n"]): r for r in summary["rows"]}
    assert len({r["solved"] for (m, n), r in rows.items() if n == 1}) == 1  # one sample: nothing to choose
    assert summary["setting"] == "learned" and ("tot-bfs + prm", None) in rows
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"] == summary["rows"]
    for select, method in (("max", "PRM max"), ("weighted", "PRM weighted"), ("majority", "majority")):
        ev = compose(
            "eval",
            [
                "split=val",
                "limit=3",
                "search=best-of-n",
                "search.n=3",
                f"search.select={select}",
                "scorer=prm",
                f"scorer.model={tiny_prm}",
                "progress=false",
                f"out_dir={tmp_path / select}",
            ],
        )
        result = commands.eval(ev)
        assert result["setting"] == "learned"
        assert result["solved"] == rows[(method, 3)]["solved"], method
        assert result["generated_tokens_per_problem"] == rows[(method, 3)]["generated_tokens_per_problem"]


def test_a_pairwise_prm_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_runs_weights(tmp_path, compose, monkeypatch):
    """Both of the PRM's loaders resume where they stood: the points and the sibling pairs, which
    Lightning cycles within an epoch (each pass in a new order); dropout on."""
    from qstar import commands
    from qstar.lightning_parts import FinalCheckpoint

    data = game24_labels(tmp_path / "labels.jsonl")
    args = ["optimizer=prm", "optimizer.pairwise=1.0", f"data={data}", *TINY, "model.arch.dropout=0.1", "optimizer.batch_size=4"]
    args += [
        "trainer.max_steps=12",
        "trainer.checkpoint_every_n_steps=4",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
    ]
    commands.train(compose("train", [*args, f"out_dir={tmp_path / 'whole'}"]))

    def crash(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 6:
            raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(FinalCheckpoint, "on_train_batch_start", crash, raising=False)
        with pytest.raises(RuntimeError, match="killed"):
            commands.train(compose("train", [*args, f"out_dir={tmp_path / 'cut'}"]))
    at_crash = torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    progress = at_crash["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"]
    assert at_crash["global_step"] == 4 and at_crash["epoch"] == 1 and progress == 1  # a batch into the second epoch
    commands.train(compose("train", [*args, f"out_dir={tmp_path / 'cut'}", "resume=true"]))

    whole, resumed = (
        torch.load(tmp_path / d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True) for d in ("whole", "cut")
    )
    assert whole["global_step"] == resumed["global_step"] == 12
    for name, weight in whole["state_dict"].items():
        assert torch.equal(weight, resumed["state_dict"][name]), name


def test_an_ensemble_scores_each_step_with_its_members_mean_or_min_and_refuses_mixed_kinds():
    task = Game24Task()
    problem = task.parse_problem("4 9 10 13")
    paths = [task.gold_trajectories(problem)[0][:i] for i in range(1, 4)] + [["13-9=5 (left: 4 5 10)"]]
    problems = [problem] * len(paths)
    one, other = "pkg://qstar_game24/prm", "pkg://qstar_game24/prm0"  # two PRMs trained apart
    a = RewardScorer(RewardScorerConfig(model=one), task).score(problems, paths)
    b = RewardScorer(RewardScorerConfig(model=other), task).score(problems, paths)
    assert max(abs(x - y) for x, y in zip(a, b)) > 0.05  # the members disagree: the reduction shows
    both = RewardScorer(RewardScorerConfig(model=one, ensemble=[other]), task)
    assert both.score(problems, paths) == pytest.approx([(x + y) / 2 for x, y in zip(a, b)], abs=1e-6)
    # the budget counts a step once per member that scored it
    tree = Tree(problem, task, NewlineSegmenter())
    a1 = tree.add(tree.root, paths[0][0])
    Engine(task, NewlineSegmenter(), expander=None, scorer=both)._score([(tree, Score([a1, tree.add(a1, paths[1][1])]))])
    assert tree.budget.scorer_calls == 4
    worst = RewardScorer(RewardScorerConfig(model=one, ensemble=[other], ensemble_reduce="min"), task)
    assert worst.score(problems, paths) == pytest.approx([min(x, y) for x, y in zip(a, b)], abs=1e-6)
    with pytest.raises(QstarError) as e:
        RewardScorer(RewardScorerConfig(model=one, ensemble=["pkg://qstar_game24/orm"]), task)
    assert str(e.value) == ("scorer.ensemble mixes reward model kinds (orm, prm): an ensemble's members must all be PRMs or all ORMs")
    with pytest.raises(QstarError) as e:
        RewardScorerConfig(ensemble_reduce="max")
    assert str(e.value) == "scorer.ensemble_reduce='max': choose one of mean, min"

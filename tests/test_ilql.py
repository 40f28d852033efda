"""ILQL: token-level episodes from labelled paths, training through a real Lightning Trainer, heads
that save and reload exactly, and Q-guided decoding (β = 0 is the plain policy)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from test_train import TINY, train_losses

from qstar import commands
from qstar.models import build_number_tokenizer
from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig
from qstar_ilql import ILQLExpander, ILQLExpanderConfig, load_heads, transitions
from qstar_segmenters import NewlineSegmenter


def test_episodes_put_rewards_at_step_ends_and_end_the_path():
    tok = build_number_tokenizer()
    rec = {"prompt": "Input: 1 2\n", "completions": ["1+2=3", "Answer: 1+2=3"], "soft_labels": [0.5, 1.0], "problem_id": "p"}
    (e,) = transitions(tok, [rec], "\n", "outcome", 128)
    n_prompt = len(tok("Input: 1 2\n", add_special_tokens=False)["input_ids"])
    n1 = len(tok("1+2=3\n", add_special_tokens=False)["input_ids"])
    n2 = len(tok("Answer: 1+2=3\n", add_special_tokens=False)["input_ids"])
    assert e["action"] == [0] * n_prompt + [1] * (n1 + n2)
    assert e["reward"] == [0.0] * (n_prompt + n1 + n2 - 1) + [1.0]  # outcome: at the path's end only
    assert e["done"] == [0] * (n_prompt + n1 + n2 - 1) + [1]
    (e,) = transitions(tok, [rec], "\n", "labels", 128)
    ends = [n_prompt + n1 - 1, n_prompt + n1 + n2 - 1]
    assert [e["reward"][i] for i in ends] == [0.5, 0.5]  # label changes: 0 → 0.5 → 1.0
    assert sum(e["reward"]) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def ilql_run(tmp_path_factory, compose_module):
    tmp = tmp_path_factory.mktemp("ilql")
    base = tmp / "base"
    commands.train(compose_module("train", TINY + ["trainer.max_steps=20", f"out_dir={base}"]))
    task = Game24Task()
    records = []
    for problem in task.problems("val")[:24]:
        gold = task.gold_trajectories(problem)[0]
        records.append(
            {
                "prompt": task.prompt(problem),
                "completions": gold,
                "soft_labels": [1.0] * len(gold),
                "node_ids": list(range(1, len(gold) + 1)),
                "problem_id": problem.id,
            }
        )
        records.append(
            {
                "prompt": task.prompt(problem),
                "completions": ["1+1=5 (left: 5)"],
                "soft_labels": [0.0],
                "node_ids": [len(gold) + 1],
                "problem_id": problem.id,
            }
        )
    data = tmp / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp / "ilql"
    exported = commands.train(
        compose_module(
            "train",
            [
                "optimizer=ilql",
                f"model.name_or_path={base / 'model'}",
                f"data={data}",
                f"out_dir={out}",
                "split=val",
                "optimizer.lr=3e-3",
                "optimizer.batch_size=8",
                "optimizer.warmup_steps=2",
                "optimizer.polyak=0.5",
                "trainer.max_steps=30",
                "trainer.log_every_n_steps=1",
                "trainer.enable_progress_bar=false",
            ],
        )
    )
    return out, exported


def test_ilql_loss_falls_and_heads_reload_exactly(ilql_run):
    out, exported = ilql_run
    losses = train_losses(out)
    assert sum(x for _, x in losses[-5:]) / 5 < 0.7 * losses[0][1], losses
    from transformers import AutoModelForCausalLM

    from qstar_ilql import ILQLModel

    lm = AutoModelForCausalLM.from_pretrained(exported).eval()
    heads = load_heads(exported, lm)
    best = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    trained = {k.removeprefix("model.heads."): v for k, v in best.items() if k.startswith("model.heads.")}
    assert trained.keys() == heads.state_dict().keys()
    for k, v in heads.state_dict().items():
        assert torch.equal(v, trained[k]), k
    h = torch.randn(3, lm.config.hidden_size)
    assert torch.equal(heads.advantage(h), load_heads(exported, lm).advantage(h))
    assert isinstance(ILQLModel(lm).heads, torch.nn.Module)


def test_ilql_expander_with_beta_zero_is_the_plain_policy(ilql_run):
    _, exported = ilql_run
    seg, model = NewlineSegmenter(), SimpleNamespace(name_or_path=str(exported))
    task = Game24Task()
    prompts = [task.prompt(p) for p in task.problems("val")[:6]]
    plain, _ = HFExpander(HFExpanderConfig(temperature=0.0), model, seg).expand(prompts, 1)
    same, _ = ILQLExpander(ILQLExpanderConfig(temperature=0.0, beta=0.0), model, seg).expand(prompts, 1)
    shifted, _ = ILQLExpander(ILQLExpanderConfig(temperature=0.0, beta=50.0), model, seg).expand(prompts, 1)
    assert [g[0].text for g in same] == [g[0].text for g in plain]
    assert [g[0].text for g in shifted] != [g[0].text for g in plain]  # a strong Q pull changes the greedy steps

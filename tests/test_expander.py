"""The hf expander: batched proposals equal one-at-a-time ones, steps stop at the delimiter, and the
recorded log-probabilities are those of the model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from qstar_hf import HFExpander, HFExpanderConfig
from qstar_segmenters import NewlineSegmenter

PROMPTS = [
    "Input: 4 9 10 13\n",
    "Input: 1 1 4 6\n4+1=5 (left: 1 5 6)\n",
    "Input: 2 3 5 12\n12/2=6 (left: 3 5 6)\n5-3=2 (left: 2 6)\n",
]


def make(path, **kw) -> HFExpander:
    return HFExpander(HFExpanderConfig(**kw), SimpleNamespace(name_or_path=str(path)), NewlineSegmenter())


def test_batched_greedy_matches_one_prompt_at_a_time(policy_dir):
    expander = make(policy_dir, temperature=0.0)
    batched, stats = expander.expand(PROMPTS, k=1)
    single = [expander.expand([p], k=1)[0][0] for p in PROMPTS]
    assert [g[0].text for g in batched] == [g[0].text for g in single]
    for b, s in zip(batched, single):
        assert b[0].logprob == pytest.approx(s[0].logprob, abs=1e-4)
    lengths = [len(expander.tokenizer(p)["input_ids"]) for p in PROMPTS]
    # left padding is not counted as computed prompt tokens; without shared prefill each of the
    # k copies is, with it a prompt is computed once and only its last token k times
    _, stats = make(policy_dir, shared_prefill=False, kv_cache_mb=0).expand(PROMPTS, k=3)
    assert stats.prompt_tokens == [3 * n for n in lengths]
    _, stats = make(policy_dir).expand(PROMPTS, k=3)
    assert stats.prompt_tokens == [n - 1 + 3 for n in lengths]


def test_steps_stop_at_the_delimiter_and_logprob_is_the_models(tiny_model_dir):
    expander = make(tiny_model_dir, temperature=1.0, max_step_tokens=12, seed=3)
    proposals, stats = expander.expand(PROMPTS[:2], k=4)
    assert [len(g) for g in proposals] == [4, 4]
    tok, model = expander.tokenizer, expander.model
    for prompt, group in zip(PROMPTS, proposals):
        for p in group:
            assert "\n" not in p.text
            assert 1 <= p.num_tokens <= 12
            assert tok.decode(p.token_ids, skip_special_tokens=True).rstrip("\n") == p.text
            # teacher-force prompt + sampled ids and sum the step's log-probs
            prompt_ids = tok(prompt)["input_ids"]
            n_prompt = len(prompt_ids)
            ids = torch.tensor([prompt_ids + p.token_ids])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0, :-1], -1)
            target = ids[0, 1:]
            expected = logp[torch.arange(n_prompt - 1, ids.shape[1] - 1), target[n_prompt - 1 :]].sum()
            assert ids.shape[1] - n_prompt == p.num_tokens
            assert p.logprob == pytest.approx(expected.item(), abs=1e-3)
    assert stats.generated_tokens == sum(p.num_tokens for g in proposals for p in g)


def test_greedy_gives_one_proposal_per_prompt(tiny_model_dir):
    proposals, _ = make(tiny_model_dir, temperature=0.0).expand(PROMPTS, k=4)
    assert [len(g) for g in proposals] == [1, 1, 1]


def test_same_seed_same_proposals(tiny_model_dir):
    a = make(tiny_model_dir, seed=7).expand(PROMPTS, k=3)[0]
    b = make(tiny_model_dir, seed=7).expand(PROMPTS, k=3)[0]
    assert [[p.text for p in g] for g in a] == [[p.text for p in g] for g in b]


def test_rollout_runs_past_the_delimiter(policy_dir):
    expander = make(policy_dir, temperature=0.0)
    (group,), _ = expander.rollout(["Input: 4 9 10 13\n"], k=1)
    lines = NewlineSegmenter().split(group[0].text)
    assert len(lines) == 4 and lines[-1].startswith("Answer:")

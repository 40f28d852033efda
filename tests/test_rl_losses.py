"""The offline-RL losses against values worked out by hand on tiny tensors: DPO with and without
the RPO NLL term, each ILQL term separately, the Polyak update of the target heads, and one real
DPO optimizer step raising the chosen-minus-rejected log-ratio."""

from __future__ import annotations

import math

import pytest
import torch

from qstar_dpo import DPOConfig, DPOModule, collate, dpo_loss, encode_pair, step_logprobs, token_logprobs
from qstar_ilql import ILQLConfig, ILQLHeads, ILQLModel, ILQLModule, ilql_loss_terms, polyak_update


def softplus(x: float) -> float:  # -log σ(-x)
    return math.log1p(math.exp(x))


def test_dpo_loss_by_hand():
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0])
    out = dpo_loss(pc, pr, rc, rr, beta=0.5)
    # pair 1: β·((−1+2) − (−3+2)) = 0.5·2 = 1; pair 2: 0.5·((−2+2) − (−1+2)) = −0.5
    assert out["loss"].item() == pytest.approx((softplus(-1.0) + softplus(0.5)) / 2, abs=1e-6)
    assert out["accuracy"].item() == 0.5
    assert out["margin"].item() == pytest.approx(0.25)
    # RPO: + α · mean(−log π(chosen) / tokens) = 2 · mean(1/2, 2/4) = 1
    rpo = dpo_loss(pc, pr, rc, rr, beta=0.5, rpo_alpha=2.0, chosen_tokens=torch.tensor([2.0, 4.0]))
    assert rpo["loss"].item() == pytest.approx(out["loss"].item() + 1.0, abs=1e-6)
    assert dpo_loss(rc, rr, rc, rr, beta=0.1)["loss"].item() == pytest.approx(math.log(2))  # π = π_ref


class CharTokenizer:
    """One id per character (a = 2, b = 3, …), enough for encode_pair."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(ch) - ord("a") + 2 for ch in text]}


def test_branch_tokens_score_the_steps_up_to_where_they_part_and_the_nll_keeps_the_whole_chosen_step():
    pair = {"prompt": "ab", "chosen": "cdef", "rejected": "cdgh"}
    step = encode_pair(CharTokenizer(), pair, 16)
    branch = encode_pair(CharTokenizer(), pair, 16, tokens="branch")
    assert step["chosen"] == ([2, 3, 4, 5, 6, 7], 2, 6) and step["rejected"] == ([2, 3, 4, 5, 8, 9], 2, 6)
    # shared "cd", then "e" against "g": the preference term scores c, d and the first differing token
    assert branch["chosen"] == ([2, 3, 4, 5, 6, 7], 2, 5) and branch["rejected"] == ([2, 3, 4, 5, 8, 9], 2, 5)
    assert encode_pair(CharTokenizer(), pair, 5) is None  # longer than the context

    module = DPOModule(tiny_gpt2(), DPOConfig(beta=0.5, rpo_alpha=2.0, tokens="branch"))
    batch = collate([branch], pad_id=0)
    assert batch["pref_mask"].tolist() == [[False, False, True, True, True, False]] * 2
    assert batch["step_mask"].tolist() == [[False, False, True, True, True, True]] * 2
    module.model.eval()  # no dropout in tiny_gpt2; eval only to compare with the reference exactly
    loss, _, _ = module._loss(batch)
    with torch.no_grad():
        lp = token_logprobs(module.model, batch)
    # policy = reference: the preference term is log 2; the NLL is over the 4 tokens of "cdef"
    assert loss.item() == pytest.approx(math.log(2) + 2.0 * -lp[0, 1:5].sum().item() / 4, abs=1e-5)
    # the tokens after the branch ("f", "h") do not reach the preference term: with no NLL term
    # the loss does not depend on them
    module.cfg.rpo_alpha = 0.0
    other = collate([{"chosen": ([2, 3, 4, 5, 6, 10], 2, 5), "rejected": ([2, 3, 4, 5, 8, 11], 2, 5)}], pad_id=0)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert module._loss(batch)[0].item() == pytest.approx(module._loss(other)[0].item(), abs=1e-6)
    assert module._loss(batch)[0].item() != pytest.approx(math.log(2), abs=1e-4)
    with pytest.raises(Exception, match="optimizer.tokens='word'"):
        DPOConfig(tokens="word")


def tiny_gpt2(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=12,
            n_positions=16,
            n_embd=16,
            n_layer=1,
            n_head=2,
            bos_token_id=1,
            eos_token_id=1,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
    ).train()


def test_one_dpo_step_raises_the_chosen_minus_rejected_log_ratio():
    module = DPOModule(tiny_gpt2(), DPOConfig(beta=0.1, rpo_alpha=0.0))
    pair = {"chosen": ([1, 2, 3, 4, 5], 3), "rejected": ([1, 2, 3, 6, 7], 3)}
    batch = collate([pair, {"chosen": ([2, 3, 8, 9], 2), "rejected": ([2, 3, 10, 11], 2)}], pad_id=0)

    def ratio():
        with torch.no_grad():
            pi, ref = step_logprobs(module.model, batch), step_logprobs(module.ref, batch)
        return ((pi[0::2] - ref[0::2]) - (pi[1::2] - ref[1::2])).mean().item()

    assert ratio() == 0.0  # the policy starts as its reference
    loss, _, _ = module._loss(batch)
    loss.backward()
    torch.optim.SGD(module.model.parameters(), lr=0.5).step()
    assert ratio() > 0.01
    for p in module.ref.parameters():  # the reference never moves
        assert p.grad is None


@pytest.fixture
def hand():
    """One path of 4 tokens: a prompt token, then two actions; hidden size 1, vocabulary 2."""
    heads = ILQLHeads(hidden=1, vocab=2)
    with torch.no_grad():
        for lin, w in (
            (heads.q1, [[1.0], [2.0]]),
            (heads.q2, [[2.0], [1.0]]),
            (heads.target_q1, [[0.5], [1.0]]),
            (heads.target_q2, [[1.0], [0.25]]),
            (heads.v, [[1.0]]),
        ):
            lin.weight.copy_(torch.tensor(w))
            lin.bias.zero_()
    batch = {
        "input_ids": torch.tensor([[0, 0, 1, 0]]),
        "action": torch.tensor([[0.0, 0.0, 1.0, 1.0]]),  # tokens 2 and 3 are actions
        "reward": torch.tensor([[0.0, 0.0, 0.0, 1.0]]),
        "done": torch.tensor([[0.0, 0.0, 0.0, 1.0]]),
    }
    h = torch.tensor([[[5.0], [1.0], [2.0], [3.0]]])  # the state before token t+1 is h[t]
    logits = torch.tensor([[[9.0, 9.0], [0.0, 0.0], [1.0, 0.0], [7.0, 7.0]]])
    return heads, batch, h, logits


def test_each_ilql_term_by_hand(hand):
    heads, batch, h, logits = hand
    cfg = ILQLConfig(gamma=0.5, expectile=0.7, cql_weight=0.1, awac_weight=1.0)
    terms = ilql_loss_terms(logits, h, heads, batch, cfg)
    # the two actions: token 1 from h = 1, token 0 from h = 2 (the prompt's position is not one)
    # Q1(h) = (h, 2h), Q2(h) = (2h, h): Q1(a) = 2, 2 and Q2(a) = 1, 4
    # target Q1 = (h/2, h), target Q2 = (h, h/4): min at the actions = min(1, 0.25), min(1, 2) = 0.25, 1
    # V(h) = h: V(s) = 1, 2 and V(s') = 2, 3 (no bootstrap after the terminal action)
    # V: expectile τ = 0.7 of 0.25 − 1 and 1 − 2 (both below: weight 1 − τ) → (0.3·0.5625 + 0.3·1) / 2
    assert terms["v"].item() == pytest.approx((0.3 * 0.5625 + 0.3 * 1.0) / 2)
    # Q: targets 0 + 0.5·2 = 1 and 1 + 0 = 1 → ((2−1)² + (1−1)² + (2−1)² + (4−1)²) / 2
    assert terms["q"].item() == pytest.approx((1 + 0 + 1 + 9) / 2)
    # CQL: cross-entropy of each Q head's values towards the action taken
    lse = lambda a, b: math.log(math.exp(a) + math.exp(b))  # noqa: E731
    cql = (lse(1, 2) - 2) + (lse(2, 4) - 2) + (lse(2, 1) - 1) + (lse(4, 2) - 4)
    assert terms["cql"].item() == pytest.approx(cql / 2, abs=1e-6)
    # AWAC/BC: the LM's cross-entropy on the actions: logits (0, 0) → token 1, (1, 0) → token 0
    bc = math.log(2) + (lse(1, 0) - 1)
    assert terms["bc"].item() == pytest.approx(bc / 2, abs=1e-6)
    assert terms["loss"].item() == pytest.approx(5.5 + terms["v"].item() + 0.1 * cql / 2 + bc / 2, abs=1e-5)
    # the weights scale only their own terms
    zero = ilql_loss_terms(logits, h, heads, batch, ILQLConfig(gamma=0.5, expectile=0.7, cql_weight=0.0, awac_weight=0.0))
    assert zero["loss"].item() == pytest.approx(5.5 + terms["v"].item(), abs=1e-5)


def test_target_heads_move_by_exactly_the_polyak_rate(hand):
    heads = hand[0]
    before = {k: v.clone() for k, v in heads.state_dict().items()}
    polyak_update(heads, 0.25)
    after = heads.state_dict()
    for q in ("q1", "q2"):
        for p in ("weight", "bias"):
            want = 0.75 * before[f"target_{q}.{p}"] + 0.25 * before[f"{q}.{p}"]
            assert torch.allclose(after[f"target_{q}.{p}"], want, rtol=0, atol=1e-7)
            assert torch.equal(after[f"{q}.{p}"], before[f"{q}.{p}"])  # the online heads are untouched
    assert torch.equal(after["v.weight"], before["v.weight"])
    # in training, the update runs after every optimizer step, at the configured rate
    module = ILQLModule(ILQLModel(tiny_gpt2()), ILQLConfig(polyak=0.1))
    h = module.model.heads
    with torch.no_grad():
        h.q1.weight.add_(1.0)
    target = h.target_q1.weight.clone()
    module.on_train_batch_end(None, None, 0)
    assert torch.allclose(h.target_q1.weight, 0.9 * target + 0.1 * h.q1.weight, rtol=0, atol=1e-7)

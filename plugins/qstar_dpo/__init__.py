"""Optimizer ``dpo``: step-level Direct Preference Optimization from sibling steps of searched trees.

Data (:func:`step_pairs`): the step labels ``qstar label`` writes (TRL stepwise records with node
ids and soft Monte-Carlo labels) are read back into trees; two children of the same node are two
continuations of one prefix, so the better-labelled one is *chosen* and the other *rejected* when
their labels differ by at least ``margin`` — step-level preference pairs as in Step-DPO (Lai et
al., 2024), with AI-feedback labels (Math-Shepherd rollouts) instead of human or GPT-4 ones.
Records follow TRL's preference format: ``{"prompt", "chosen", "rejected"}`` (the prompt holds the
task prompt and the steps before, chosen/rejected one step each, delimiter included).

Loss (Rafailov et al., 2023): ``-log σ(β · [(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])``
with log-probs summed over the step's tokens only and ``π_ref`` the frozen start policy, plus
``rpo_alpha`` × the chosen step's negative log-likelihood per token (Pang et al., 2024, "Iterative
Reasoning Preference Optimization"; TRL's ``rpo_alpha``). The NLL term is on by default (1.0, the
paper's value): with pure DPO (``rpo_alpha=0``) the first loop round from P0 collapsed onto steps
that end in "24" whatever the arithmetic (0/100 greedy and searched on the test split); the NLL
term keeps the chosen steps likely, so the policy cannot win the margin by making both sides
unlikely. ``tokens="branch"`` (default ``"step"``) restricts the preference term to the tokens up
to and including the first one where chosen and rejected differ — the decision; the shared tokens
before it cancel — while the NLL term keeps the whole chosen step. A deviation from Step-DPO,
which scores the whole step: a step's later tokens follow from its decision (``8+3=`` then
``11``), so pushing the rejected step down also pushed down right arithmetic, and in the loop's
first round from P0 the policy's greedy steps fell from 58% legal to 19% (59% with ``branch``).
Logged:
``train/loss``, ``val/loss``, ``val/reward_accuracy`` (share of pairs whose implicit reward
β·(log π − log π_ref) ranks chosen above rejected) and ``val/reward_margin``.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from qstar import hookimpl
from qstar.seeding import stable_int
from qstar.errors import QstarError
from qstar.training import TrainContext, build_trainer, export_hf, fit, submodule_state, warmup_cosine
from qstar.labels import read_label_records  # noqa: F401 - kept importable here
from qstar.tree import atomic_write_text

__all__ = ["DPOConfig", "DPOModule", "DPOOptimizer", "dpo_loss", "step_pairs"]


@dataclass
class DPOConfig:
    name: str = "dpo"  # the registered name: optimizer=dpo
    beta: float = 0.1  # strength of the pull towards the reference policy (DPO's β)
    rpo_alpha: float = 1.0  # weight of the chosen step's per-token NLL (RPO, Pang et al. 2024); 0 = pure DPO
    margin: float = 0.25  # a pair needs |label(chosen) − label(rejected)| ≥ this
    tokens: str = "step"  # the preference term's tokens: "step" (all of the step) or "branch" (up to the first that differs)
    max_pairs_per_prefix: int = 4  # the best sibling against at most this many worse ones
    lr: float = 1e-4  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear warm-up, then cosine decay to lr/10
    batch_size: int = 32  # preference pairs per batch
    val_percent: float = 10.0  # problems held out (by id) for validation
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self):
        if not self.beta > 0:
            raise QstarError(f"optimizer.beta={self.beta}: must be positive")
        if not self.lr > 0:
            raise QstarError(f"optimizer.lr={self.lr}: the learning rate must be positive")
        if self.rpo_alpha < 0:
            raise QstarError(f"optimizer.rpo_alpha={self.rpo_alpha}: must not be negative (0 = pure DPO)")
        if not 0 <= self.margin < 1:
            raise QstarError(f"optimizer.margin={self.margin}: labels are in [0, 1]; use a margin in [0, 1)")
        if self.tokens not in ("step", "branch"):
            raise QstarError(f"optimizer.tokens={self.tokens!r}: use step (every token of the step) or branch (the tokens up to where chosen and rejected part)")
        if not 0 <= self.val_percent < 100:
            raise QstarError(f"optimizer.val_percent={self.val_percent}: must be in [0, 100)")
        for key in ("max_pairs_per_prefix", "batch_size"):
            if getattr(self, key) < 1:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must be at least 1")


def step_pairs(records: list[dict], delimiter: str = "\n", margin: float = 0.25, max_pairs_per_prefix: int = 4) -> list[dict]:
    """Preference pairs between sibling steps (same problem, same parent node).

    For every node with two or more labelled children, the child with the highest label is
    chosen against each sibling labelled at least ``margin`` lower (the lowest first, at most
    ``max_pairs_per_prefix``). Ties among the best keep the first seen."""
    nodes: dict[tuple[str, int], dict] = {}
    for r in records:
        parent = 0
        for depth, (step, label, nid) in enumerate(zip(r["completions"], r["soft_labels"], r["node_ids"])):
            nodes.setdefault((r["problem_id"], nid), {"step": step, "label": float(label), "parent": parent,
                                                      "prefix": r["completions"][:depth], "prompt": r["prompt"]})
            parent = nid
    children: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for (pid, _), n in nodes.items():
        children[(pid, n["parent"])].append(n)
    pairs = []
    for (pid, parent), kids in children.items():
        distinct = list({k["step"]: k for k in kids}.values())
        if len(distinct) < 2:
            continue
        best = max(distinct, key=lambda k: k["label"])
        worse = sorted((k for k in distinct if best["label"] - k["label"] >= margin), key=lambda k: k["label"])
        for w in worse[:max_pairs_per_prefix]:
            pairs.append({
                "prompt": best["prompt"] + "".join(s + delimiter for s in best["prefix"]),
                "chosen": best["step"] + delimiter,
                "rejected": w["step"] + delimiter,
                "problem_id": pid,
                "chosen_label": best["label"],
                "rejected_label": w["label"],
            })
    return pairs


def encode_pair(tok, pair: dict, max_len: int, tokens: str = "step") -> dict | None:
    """Token ids of prompt + chosen and prompt + rejected, each with where its step starts and
    where the preference term stops scoring it: the step's end (``tokens="step"``) or, for
    ``tokens="branch"``, one past the first token where the two steps differ, the same place on
    both sides."""
    p = tok(pair["prompt"], add_special_tokens=False)["input_ids"]
    c = {side: tok(pair[side], add_special_tokens=False)["input_ids"] for side in ("chosen", "rejected")}
    if any(not ids or len(p) + len(ids) > max_len for ids in c.values()):
        return None
    common = 0
    for a, b in zip(c["chosen"], c["rejected"]):
        if a != b:
            break
        common += 1
    out = {}
    for side, ids in c.items():
        end = len(p) + min(common + 1, len(ids)) if tokens == "branch" else len(p) + len(ids)
        out[side] = (p + ids, len(p), end)
    return out


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    seqs = [b[s] for b in batch for s in ("chosen", "rejected")]  # chosen_0, rejected_0, chosen_1, …
    n = max(len(x[0]) for x in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    step = torch.zeros((len(seqs), n), dtype=torch.bool)  # the step's tokens (the NLL term's)
    pref = torch.zeros((len(seqs), n), dtype=torch.bool)  # the tokens the preference term scores
    for i, (x, start, *end) in enumerate(seqs):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
        step[i, start : len(x)] = True
        pref[i, start : end[0] if end else len(x)] = True
    return {"input_ids": ids, "attention_mask": mask, "step_mask": step, "pref_mask": pref}


def token_logprobs(model, batch) -> torch.Tensor:
    """log π of every token given the ones before it (rows × length − 1)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    targets = batch["input_ids"][:, 1:]
    return torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def step_logprobs(model, batch, mask: str = "step_mask") -> torch.Tensor:
    """Sum of log π(token) over each row's step tokens (or the tokens of another mask)."""
    return (token_logprobs(model, batch) * batch[mask][:, 1:]).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float, rpo_alpha: float = 0.0, chosen_tokens: torch.Tensor | None = None,
             chosen_nll_logprob: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The loss on summed step log-probs, one entry per pair: DPO's ``-log σ(β·margin)`` averaged,
    plus ``rpo_alpha`` × mean(−log π(chosen) / its token count), where log π(chosen) is
    ``chosen_nll_logprob`` when given (the whole chosen step while the preference term scores
    fewer tokens) and ``policy_chosen`` otherwise. Also the reward accuracy and the mean β·margin
    (the logged implicit-reward margin)."""
    logits = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    loss = -F.logsigmoid(logits).mean()
    if rpo_alpha:
        n = chosen_tokens if chosen_tokens is not None else torch.ones_like(policy_chosen)
        nll = policy_chosen if chosen_nll_logprob is None else chosen_nll_logprob
        loss = loss + rpo_alpha * (-nll / n).mean()
    return {"loss": loss, "accuracy": (logits > 0).float().mean(), "margin": logits.mean()}


class DPOModule(L.LightningModule):
    def __init__(self, policy, cfg: DPOConfig):
        super().__init__()
        self.model, self.cfg = policy, cfg
        self.ref = copy.deepcopy(policy).eval()
        for p in self.ref.parameters():
            p.requires_grad_(False)

    def _loss(self, batch):
        lp = token_logprobs(self.model, batch)  # rows: chosen_0, rejected_0, chosen_1, …
        pi = (lp * batch["pref_mask"][:, 1:]).sum(-1)
        with torch.no_grad():
            ref = step_logprobs(self.ref, batch, "pref_mask")
        step = batch["step_mask"][0::2, 1:]
        whole = (lp[0::2] * step).sum(-1)  # the NLL term is on all of the chosen step
        out = dpo_loss(pi[0::2], pi[1::2], ref[0::2], ref[1::2], self.cfg.beta, self.cfg.rpo_alpha,
                       step.sum(-1).clamp(min=1), whole)
        return out["loss"], out["accuracy"], out["margin"]

    def training_step(self, batch, batch_idx):
        loss, acc, margin = self._loss(batch)
        n = batch["input_ids"].shape[0] // 2
        self.log("train/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("train/reward_accuracy", acc, batch_size=n)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc, margin = self._loss(batch)
        n = batch["input_ids"].shape[0] // 2
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        self.log("val/reward_accuracy", acc, batch_size=n)
        self.log("val/reward_margin", margin, batch_size=n)

    def state_dict(self, *args, **kwargs):
        # the reference is the start policy, rebuilt from it on load: keep it out of checkpoints
        return {k: v for k, v in super().state_dict(*args, **kwargs).items() if not k.startswith("ref.")}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict(state_dict, strict=False, **kwargs)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        return warmup_cosine(opt, self.trainer.estimated_stepping_batches, self.cfg.warmup_steps)


class PairDataModule(L.LightningDataModule):
    def __init__(self, pairs: list[dict], cfg: DPOConfig, tok, max_len: int, seed: int):
        super().__init__()
        self.pairs, self.cfg, self.tok, self.max_len, self.seed = pairs, cfg, tok, max_len, seed

    def setup(self, stage: str | None = None) -> None:
        def held_out(pid: str) -> bool:
            return stable_int(f"{self.seed}/{pid}") % 10_000 < self.cfg.val_percent * 100

        encoded = [(p["problem_id"], encode_pair(self.tok, p, self.max_len, self.cfg.tokens)) for p in self.pairs]
        self.train_set = [e for pid, e in encoded if e is not None and not held_out(pid)]
        self.val_set = [e for pid, e in encoded if e is not None and held_out(pid)]
        if not self.train_set:
            raise QstarError("no preference pair fits the model's context: lower optimizer.margin or use a longer-context model")

    def _loader(self, data, shuffle):
        pad_id = self.tok.pad_token_id
        return DataLoader(data, batch_size=self.cfg.batch_size, shuffle=shuffle, num_workers=self.cfg.num_workers,
                          collate_fn=lambda b: collate(b, pad_id))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set or self.train_set[:1], False)


class DPOOptimizer:
    data_kind = "labels"  # data= is a labels.jsonl, not trees
    trains = "policy"

    def __init__(self, cfg: DPOConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        from qstar.models import load_causal_lm, load_tokenizer
        from qstar.models import max_length

        if not ctx.data:
            raise QstarError("optimizer=dpo needs data=<labels.jsonl written by qstar label> (sibling steps with labels)")
        if not ctx.model.name_or_path:
            raise QstarError("optimizer=dpo fine-tunes a policy: set model.name_or_path (e.g. pkg://qstar_game24/policy)")
        pairs = step_pairs(read_label_records(ctx.data), ctx.segmenter.delimiter, self.cfg.margin, self.cfg.max_pairs_per_prefix)
        if not pairs:
            raise QstarError(f"no sibling steps in {ctx.data} differ by optimizer.margin={self.cfg.margin}: lower the margin or label more trees")
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(ctx.out_dir / "pairs.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))
        L.seed_everything(ctx.seed, workers=True)
        tok = load_tokenizer(ctx.model.name_or_path)
        policy = load_causal_lm(ctx.model.name_or_path).train()
        max_len = max_length(policy)
        module = DPOModule(policy, self.cfg)
        data = PairDataModule(pairs, self.cfg, tok, max_len, ctx.seed)
        trainer = build_trainer(ctx.trainer, ctx.out_dir)
        state = fit(trainer, module, data, ctx.out_dir, ctx.resume)
        return export_hf(module.model, tok, ctx.out_dir / "model", submodule_state(state, "model."))


@hookimpl
def qstar_register_optimizers(register):
    register("dpo", DPOOptimizer, DPOConfig)

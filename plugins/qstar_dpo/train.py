"""Step-level DPO's tensors and Lightning parts: encoded pairs, the loss and the modules (loaded
when a run trains, not when the plugin is imported)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from qstar.errors import QstarError
from qstar.labels import read_label_records  # noqa: F401 - kept importable here
from qstar.lightning_parts import WithFrozenStart, frozen_copy
from qstar.seeding import stable_int
from qstar.training import adamw_warmup_cosine, eval_loader, train_loader

from . import DPOConfig, DPOOptimizer, step_pairs  # noqa: F401 - the configs and light helpers live in the package


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


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
    rpo_alpha: float = 0.0,
    chosen_tokens: torch.Tensor | None = None,
    chosen_nll_logprob: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
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


class DPOModule(WithFrozenStart, L.LightningModule):
    def __init__(self, policy, cfg: DPOConfig):
        super().__init__()
        self.model, self.cfg = policy, cfg
        self.ref = frozen_copy(policy)

    def _loss(self, batch):
        lp = token_logprobs(self.model, batch)  # rows: chosen_0, rejected_0, chosen_1, …
        pi = (lp * batch["pref_mask"][:, 1:]).sum(-1)
        with torch.no_grad():
            ref = step_logprobs(self.ref, batch, "pref_mask")
        step = batch["step_mask"][0::2, 1:]
        whole = (lp[0::2] * step).sum(-1)  # the NLL term is on all of the chosen step
        out = dpo_loss(pi[0::2], pi[1::2], ref[0::2], ref[1::2], self.cfg.beta, self.cfg.rpo_alpha, step.sum(-1).clamp(min=1), whole)
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

    def configure_optimizers(self):
        return adamw_warmup_cosine(self, self.cfg, self.model.parameters())  # the policy's only: the reference stays frozen


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

    def _collate(self, batch):
        return collate(batch, self.tok.pad_token_id)

    def train_dataloader(self):
        return train_loader(self.train_set, self.cfg.batch_size, self._collate, self.seed, self.cfg.num_workers)

    def val_dataloader(self):
        return eval_loader(self.val_set or self.train_set[:1], self.cfg.batch_size, self._collate, self.cfg.num_workers)

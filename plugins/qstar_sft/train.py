"""SFT's Lightning parts: tokenised (prompt, completion) pairs, the data module and the causal-LM
module (loaded when a run trains, not when the plugin is imported)."""

from __future__ import annotations

import random

import lightning as L
import torch

from qstar.errors import QstarError
from qstar.lightning_parts import WithFrozenStart, frozen_copy
from qstar.training import TrainContext, adamw_warmup_cosine, eval_loader, train_loader

from . import SOURCES, RFTConfig, SFTConfig, SFTOptimizer, legal_path, right_paths, trajectories  # noqa: F401 - the configs and light helpers live in the package


def encode(tokenizer, prompt: str, completion: str, max_len: int) -> dict[str, list[int]]:
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (p + c)[:max_len]
    labels = ([-100] * len(p) + c)[:max_len]
    return {"input_ids": ids, "labels": labels}


def collate(batch, pad_id: int):
    n = max(len(b["input_ids"]) for b in batch)
    # right padding for training: positions stay aligned with GPT-2's absolute embeddings
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        L_ = len(b["input_ids"])
        ids[i, :L_] = torch.tensor(b["input_ids"])
        labels[i, :L_] = torch.tensor(b["labels"])
        mask[i, :L_] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def hold_out(pairs: list[tuple[str, str]], percent: float, by: str, seed: int) -> tuple[list, list]:
    """Split (prompt, completion) pairs into training and validation pairs, ``percent`` held out:
    by ``path`` (any pairs) or by ``problem`` (every pair of the held-out prompts, so the
    validation loss, and the best checkpoint it picks, measure problems the model never trained
    on; a problem's several right paths otherwise sit on both sides)."""
    rng = random.Random(seed)
    if by == "problem":
        prompts = sorted({p for p, _ in pairs})
        rng.shuffle(prompts)
        held = set(prompts[: max(1, int(len(prompts) * percent // 100))])
        val = [x for x in pairs if x[0] in held]
        train = [x for x in pairs if x[0] not in held]
        return (train or val), val
    pairs = list(pairs)
    rng.shuffle(pairs)
    cut = max(1, int(len(pairs) * percent // 100))
    return pairs[cut:] or pairs[:cut], pairs[:cut]


class StepDataModule(L.LightningDataModule):
    def __init__(self, ctx: TrainContext, cfg: SFTConfig, tokenizer, max_len: int):
        super().__init__()
        self.ctx, self.cfg, self.tokenizer, self.max_len = ctx, cfg, tokenizer, max_len

    def setup(self, stage: str | None = None) -> None:
        def build(split):
            return trajectories(self.ctx, split, self.cfg.max_per_problem, self.ctx.seed, self.cfg.source, self.cfg.legal_steps)

        train, val = build(self.ctx.split), build(self.ctx.val_split)
        if not val and train:  # right-paths: hold out val_percent of the paths
            train, val = hold_out(train, self.cfg.val_percent, self.cfg.val_by, self.ctx.seed)
        if self.cfg.replay_legal:
            # Replay beside the new paths: random legal trajectories of every train problem, none
            # reaching the goal, as the start policy learned from, so that fine-tuning on a few right
            # paths a problem does not unlearn the rules' arithmetic (the loop's rft policy wrote
            # fewer legal steps than P0). Training only: validation stays on the held-out paths.
            train = train + trajectories(self.ctx, self.ctx.split, self.cfg.replay_legal, self.ctx.seed, "random-legal")
        self.train_set = [encode(self.tokenizer, p, c, self.max_len) for p, c in train]
        self.val_set = [encode(self.tokenizer, p, c, self.max_len) for p, c in val]
        if not self.train_set:
            raise QstarError("no trajectory to train on: the trees hold no right answer (optimizer.source=right-paths)")

    def _collate(self, batch):
        return collate(batch, self.tokenizer.pad_token_id)

    def train_dataloader(self):
        return train_loader(
            self.train_set, self.cfg.batch_size, self._collate, self.ctx.seed, self.cfg.num_workers, self.cfg.group_by_length
        )

    def val_dataloader(self):
        return eval_loader(self.val_set, self.cfg.batch_size, self._collate, self.cfg.num_workers)


def anchor_kl(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean KL(π ‖ π_ref) of the next-token distributions over the vocabulary, at the positions that
    predict a trained token (``labels`` not -100, shifted as the causal LM loss shifts them)."""
    at = labels[:, 1:] != -100
    logp = torch.log_softmax(logits[:, :-1][at].float(), -1)
    logq = torch.log_softmax(ref_logits[:, :-1][at].float(), -1)
    return (logp.exp() * (logp - logq)).sum(-1).mean()


class CausalLMModule(WithFrozenStart, L.LightningModule):
    """Next-token cross-entropy with AdamW and linear warm-up then cosine decay.

    With ``kl_anchor=β`` the loss adds β·KL(π ‖ π_start) on the trained tokens, π_start a frozen
    copy of the model as training starts: the KL penalty towards the initial policy of KL-control
    (Jaques et al., 2017) and of RLHF (Ziegler et al., 2019), here beside the fine-tuning loss, so
    that a policy fine-tuned on a few right paths a problem stays near the start policy elsewhere."""

    def __init__(self, model, cfg: SFTConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        if cfg.kl_anchor:
            self.ref = frozen_copy(model)

    def forward(self, **batch):
        return self.model(**batch)

    def _losses(self, batch):
        out = self.model(**batch)
        if not self.cfg.kl_anchor:
            return out.loss, None
        with torch.no_grad():
            ref_logits = self.ref(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return out.loss, anchor_kl(out.logits, ref_logits, batch["labels"])

    def training_step(self, batch, batch_idx):
        loss, kl = self._losses(batch)
        if kl is not None:
            self.log("train/kl", kl, sync_dist=True)
            loss = loss + self.cfg.kl_anchor * kl
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        # val/loss stays the cross-entropy alone, comparable across anchors (it picks the best checkpoint)
        loss, kl = self._losses(batch)
        n = batch["input_ids"].shape[0]
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        if kl is not None:
            self.log("val/kl", kl, batch_size=n)

    def configure_optimizers(self):
        return adamw_warmup_cosine(self, self.cfg, self.model.parameters())  # the policy's only: the anchor stays frozen


def load_or_build(model_cfg):
    """The model to train: ``model.name_or_path`` when set, else a fresh tiny GPT-2 + number tokenizer."""
    from qstar.models import ArchConfig, build_causal_lm, build_number_tokenizer, load_causal_lm, load_tokenizer

    if model_cfg.name_or_path:
        tok = load_tokenizer(model_cfg.name_or_path)
        model = load_causal_lm(model_cfg.name_or_path).train()
    else:
        tok = build_number_tokenizer()
        model = build_causal_lm(tok, ArchConfig(**model_cfg.arch))
    return model, tok

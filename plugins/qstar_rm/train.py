"""Lightning training of reward models: :class:`RewardDataModule` and :class:`RewardModule`.

Logged metrics (``logs/metrics.csv``): ``train/loss`` (and, with ``optimizer.pairwise``,
``train/pair_loss`` and ``train/pair_accuracy``); ``val/loss``, ``val/auc`` (step-level
AUROC) and ``val/accuracy`` (threshold 0.5), both against the hard labels (target > 0:
Math-Shepherd's hard estimation, "some rollout reached a right answer"). After training, a
PRM's operating point for ProcessBench's first-error F1 is chosen on the same validation paths
and stored in its ``config.json`` (:func:`store_threshold`).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import lightning as L
import torch
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.metrics import first_error_threshold
from qstar.training import adamw_warmup_cosine, eval_loader, fit_and_export, is_global_zero, train_loader

from .data import StepExample, backed_up, outcome_only, read_examples, sibling_pairs, split_groups
from .model import build_reward_model, encode, max_length, pad


def tensorize(tok, examples: list[StepExample], delimiter: str, max_len: int) -> list[dict]:
    out = []
    for e in examples:
        ids, ends = encode(tok, e.prompt, e.steps, delimiter, max_len)
        keep = [(p, e.labels[i], e.weights[i]) for i, p in enumerate(ends) if e.weights[i] > 0]
        if keep:
            out.append(
                {"input_ids": ids, "positions": [k[0] for k in keep], "targets": [k[1] for k in keep], "weights": [k[2] for k in keep]}
            )
    return out


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    ids, mask = pad([b["input_ids"] for b in batch], pad_id)
    targets = torch.zeros(ids.shape, dtype=torch.float)
    weights = torch.zeros(ids.shape, dtype=torch.float)  # 0 everywhere but the labelled step ends
    for i, b in enumerate(batch):
        targets[i, b["positions"]] = torch.tensor(b["targets"])
        weights[i, b["positions"]] = torch.tensor(b["weights"])
    return {"input_ids": ids, "attention_mask": mask, "targets": targets, "weights": weights}


def collate_pairs(batch: list[tuple[dict, dict]], pad_id: int) -> dict[str, torch.Tensor]:
    """Sibling pairs as one padded batch: the better steps' rows first, then the worse ones'."""
    rows = [a for a, _ in batch] + [b for _, b in batch]
    ids, mask = pad([r["input_ids"] for r in rows], pad_id)
    return {"input_ids": ids, "attention_mask": mask, "positions": torch.tensor([r["positions"][0] for r in rows])}


class RewardDataModule(L.LightningDataModule):
    def __init__(self, examples: list[StepExample], cfg, tok, delimiter: str, max_len: int, seed: int):
        super().__init__()
        self.examples, self.cfg, self.tok, self.delimiter, self.max_len, self.seed = examples, cfg, tok, delimiter, max_len, seed

    def split(self) -> tuple[list[StepExample], list[StepExample]]:
        """Train and validation examples; deterministic, so the process that exports after a spawned
        DDP fit (which never ran setup) sees the same validation part the workers did."""
        return split_groups(self.examples, self.cfg.val_percent, self.seed)

    def setup(self, stage: str | None = None) -> None:
        train, val = self.split()
        self.train_set = tensorize(self.tok, train, self.delimiter, self.max_len)
        self.val_set = tensorize(self.tok, val, self.delimiter, self.max_len)
        if not self.train_set:
            raise QstarError(f"no labelled step fits in the model's {self.max_len} positions: use a model with a longer context")
        self.pair_set = []
        if self.cfg.pairwise:
            for good, bad in sibling_pairs(train):
                a, b = (tensorize(self.tok, [e], self.delimiter, self.max_len) for e in (good, bad))
                if a and b:  # both steps fit in the context
                    self.pair_set.append((a[0], b[0]))
            if not self.pair_set:
                raise QstarError(
                    "optimizer.pairwise: no two sibling steps (the same steps before them) with different labels in the training data: "
                    "label trees that branch (qstar search, then qstar label), or set optimizer.pairwise=0"
                )

    def train_dataloader(self):
        pad_id, cfg = self.tok.pad_token_id, self.cfg
        points = train_loader(
            self.train_set, cfg.batch_size, partial(collate, pad_id=pad_id), self.seed, cfg.num_workers, cfg.group_by_length
        )
        if not self.pair_set:
            return points
        # Lightning's CombinedLoader, max_size_cycle: a batch of each per step
        return {
            "points": points,
            "pairs": train_loader(self.pair_set, cfg.batch_size, partial(collate_pairs, pad_id=pad_id), self.seed + 1, cfg.num_workers),
        }

    def val_dataloader(self):
        return eval_loader(
            self.val_set or self.train_set, self.cfg.batch_size, partial(collate, pad_id=self.tok.pad_token_id), self.cfg.num_workers
        )


class RewardModule(L.LightningModule):
    """Weighted binary cross-entropy on the head's logits at the labelled step ends."""

    def __init__(self, model, cfg):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.val_auc, self.val_acc = BinaryAUROC(), BinaryAccuracy()

    def _logits(self, batch):
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[..., 0]  # (b, t)

    def _loss(self, batch):
        logits = self._logits(batch)
        w = batch["weights"]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch["targets"], reduction="none")
        return (bce * w).sum() / w.sum().clamp_min(1e-8), logits, w > 0

    def _pair_loss(self, batch):
        """Bradley-Terry on sibling steps (rStar-Math's PPM): -log σ(r_better - r_worse)."""
        logits = self._logits(batch)
        r = logits[torch.arange(logits.shape[0]), batch["positions"]].float()
        better, worse = r.chunk(2)
        return -torch.nn.functional.logsigmoid(better - worse).mean(), (better > worse).float().mean()

    def training_step(self, batch, batch_idx):
        points, pairs = (batch["points"], batch["pairs"]) if "pairs" in batch else (batch, None)
        loss, _, _ = self._loss(points)
        n = points["input_ids"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        if pairs is not None:
            pair_loss, pair_acc = self._pair_loss(pairs)
            m = pairs["positions"].shape[0] // 2
            self.log("train/pair_loss", pair_loss, batch_size=m, sync_dist=True)
            self.log("train/pair_accuracy", pair_acc, batch_size=m, sync_dist=True)
            loss = loss + self.cfg.pairwise * pair_loss
        return loss

    def validation_step(self, batch, batch_idx):
        loss, logits, sel = self._loss(batch)
        n = batch["input_ids"].shape[0]
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        probs, hard = torch.sigmoid(logits[sel].float()), (batch["targets"][sel] > 0).long()
        self.val_auc.update(probs, hard)
        self.val_acc.update(probs, hard)
        self.log("val/auc", self.val_auc, batch_size=n)
        self.log("val/accuracy", self.val_acc, batch_size=n)

    def configure_optimizers(self):
        return adamw_warmup_cosine(self, self.cfg, self.model.parameters())


def fit_reward_model(ctx, cfg) -> Path:
    if not ctx.data:
        raise QstarError(
            f"optimizer={cfg.name} learns from step labels: pass data=<labels.jsonl from qstar label, or a PRM800K .parquet/.json>"
        )
    examples = read_examples(ctx.data, cfg.target, tuple(cfg.positive_ratings), cfg.pool_states)  # checked before any model is built
    if cfg.backup:
        examples = backed_up(examples)
    if cfg.name == "orm":
        examples = outcome_only(examples)
    L.seed_everything(ctx.seed, workers=True)
    delimiter = ctx.segmenter.delimiter
    model, tok = build_reward_model(ctx.model, cfg.name, delimiter)
    if isinstance(getattr(model, "dropout", None), torch.nn.Dropout):  # the token-classification head's own
        model.dropout.p = cfg.head_dropout
    module = RewardModule(model, cfg)
    data = RewardDataModule(examples, cfg, tok, delimiter, max_length(model), ctx.seed)
    path = fit_and_export(ctx, module, data, module.model, tok)[0]
    if cfg.name == "prm" and is_global_zero():
        store_threshold(path, data.split()[1])  # chosen on the validation part
    return path


def choose_threshold(path: Path | str, examples: list[StepExample]) -> dict | None:
    """A PRM's operating point: the threshold with the best ProcessBench first-error F1 on
    ``examples`` (the validation paths of its own training labels; a step is right where its
    label is above 0, Math-Shepherd's hard estimate), scored by the exported model at ``path``:
    the threshold, the F1 it reached and how many paths chose it. None where the F1 is undefined
    (no path with a wrong step, or none without)."""
    from .model import RewardModel, load_reward_model

    model, tok = load_reward_model(str(path))
    if torch.cuda.is_available():  # where the PRM trained on a GPU, score there too (rank 0's device)
        model = model.to(torch.device("cuda", torch.cuda.current_device()))
    values = RewardModel(model, tok).step_values([e.prompt for e in examples], [e.steps for e in examples])
    best = first_error_threshold([(v, [x > 0 for x in e.labels]) for v, e in zip(values, examples)])
    if best is None:
        return None
    return {"threshold": round(best[0], 6), "threshold_f1": round(best[1], 4), "threshold_paths": len(examples)}


def store_threshold(path: Path, examples: list[StepExample]) -> dict | None:
    """:func:`choose_threshold`, written into the export's ``config.json`` (``qstar_reward``),
    where the scorer and ``qstar judge`` read it; nothing is written where it is undefined."""
    meta = choose_threshold(path, examples)
    if meta is not None:
        config = json.loads((path / "config.json").read_text())
        config["qstar_reward"] = {**config["qstar_reward"], **meta}
        atomic_write_text(path / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return meta

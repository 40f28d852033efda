"""ILQL's tensors, Lightning parts and the Q-guided expander (loaded when a run trains or decodes,
not when the plugin is imported)."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import LogitsProcessor

from qstar.errors import QstarError
from qstar.models import check_model_path
from qstar.seeding import stable_int
from qstar.training import adamw_warmup_cosine, eval_loader, train_loader, whole_parameters
from qstar_hf import HFExpander

from . import HEADS_FILE, META_FILE, ILQLConfig, ILQLExpanderConfig, ILQLOptimizer, transitions  # noqa: F401 - the configs and light helpers live in the package


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(len(b["input_ids"]) for b in batch)
    out = {
        "input_ids": torch.full((len(batch), n), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(batch), n), dtype=torch.long),
    }
    for key, dtype in (("action", torch.float), ("reward", torch.float), ("done", torch.float)):
        out[key] = torch.zeros((len(batch), n), dtype=dtype)
    for i, b in enumerate(batch):
        m = len(b["input_ids"])
        out["input_ids"][i, :m] = torch.tensor(b["input_ids"])
        out["attention_mask"][i, :m] = 1
        for key in ("action", "reward", "done"):
            out[key][i, :m] = torch.tensor(b[key], dtype=torch.float)
    return out


class ILQLHeads(nn.Module):
    def __init__(self, hidden: int, vocab: int):
        super().__init__()
        self.q1, self.q2 = nn.Linear(hidden, vocab), nn.Linear(hidden, vocab)
        self.v = nn.Linear(hidden, 1)
        self.target_q1, self.target_q2 = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        for p in [*self.target_q1.parameters(), *self.target_q2.parameters()]:
            p.requires_grad_(False)

    @torch.no_grad()
    def advantage(self, h: torch.Tensor) -> torch.Tensor:
        """Q − V over the vocabulary, Q = min of the target heads: what the expander adds."""
        return torch.minimum(self.target_q1(h), self.target_q2(h)) - self.v(h)


class ILQLModel(nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.lm = lm
        self.heads = ILQLHeads(lm.config.hidden_size, lm.config.vocab_size)

    def forward(self, input_ids, attention_mask):
        # the body's last hidden states, then the LM head: the logits the LM computes itself,
        # without asking for every layer's states (which a spawned DDP worker's copy of a
        # transformers model does not return)
        h = self.lm.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.lm.get_output_embeddings()(h), h


def ilql_losses(model: ILQLModel, batch: dict, cfg: ILQLConfig) -> dict[str, torch.Tensor]:
    logits, h = model(batch["input_ids"], batch["attention_mask"])
    return ilql_loss_terms(logits, h, model.heads, batch, cfg)


def ilql_loss_terms(logits: torch.Tensor, h: torch.Tensor, heads: ILQLHeads, batch: dict, cfg: ILQLConfig) -> dict[str, torch.Tensor]:
    """Every ILQL term from the LM's logits and last hidden states (batch × positions × …); each
    term is averaged over the action tokens of the batch."""
    # position t predicts token t+1: the state is h[t], the action ids[t+1]
    hs, a = h[:, :-1], batch["input_ids"][:, 1:].unsqueeze(-1)
    act, rew, done = batch["action"][:, 1:], batch["reward"][:, 1:], batch["done"][:, 1:]
    n = act.sum().clamp(min=1)
    q1, q2 = heads.q1(hs), heads.q2(hs)
    q1a, q2a = q1.gather(-1, a).squeeze(-1), q2.gather(-1, a).squeeze(-1)
    with torch.no_grad():
        tq = torch.minimum(heads.target_q1(hs).gather(-1, a), heads.target_q2(hs).gather(-1, a)).squeeze(-1)
    v = heads.v(h).squeeze(-1)  # V(s_t) at every position
    v_s, v_next = v[:, :-1], v[:, 1:].detach()
    # V: expectile regression towards the target Q of the action taken
    diff = tq - v_s
    weight = torch.where(diff < 0, 1 - cfg.expectile, cfg.expectile)
    loss_v = (weight * diff**2 * act).sum() / n
    # Q: TD towards r + γ V(s') (no bootstrap after the terminal action)
    target = rew + cfg.gamma * v_next * (1 - done)
    loss_q = (((q1a - target) ** 2 + (q2a - target) ** 2) * act).sum() / n
    # CQL: push Q down on actions not taken (cross-entropy of Q as logits)
    cql = F.cross_entropy(q1.transpose(1, 2), a.squeeze(-1), reduction="none") + F.cross_entropy(
        q2.transpose(1, 2), a.squeeze(-1), reduction="none"
    )
    loss_cql = (cql * act).sum() / n
    # AWAC / behaviour cloning on the LM's logits
    bc = F.cross_entropy(logits[:, :-1].transpose(1, 2), a.squeeze(-1), reduction="none")
    loss_bc = (bc * act).sum() / n
    total = loss_q + loss_v + cfg.cql_weight * loss_cql + cfg.awac_weight * loss_bc
    return {"loss": total, "q": loss_q, "v": loss_v, "cql": loss_cql, "bc": loss_bc}


@torch.no_grad()
def polyak_update(heads: ILQLHeads, rate: float) -> None:
    """Polyak averaging of the target Q heads: target ← (1 − rate)·target + rate·Q."""
    for src, dst in ((heads.q1, heads.target_q1), (heads.q2, heads.target_q2)):
        for p, tp in zip(src.parameters(), dst.parameters()):
            tp.mul_(1 - rate).add_(p, alpha=rate)


class ILQLModule(L.LightningModule):
    def __init__(self, model: ILQLModel, cfg: ILQLConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def training_step(self, batch, batch_idx):
        losses = ilql_losses(self.model, batch, self.cfg)
        bs = batch["input_ids"].shape[0]
        for k, v in losses.items():
            self.log(f"train/{k}", v, prog_bar=k == "loss", batch_size=bs, sync_dist=True)
        return losses["loss"]

    def on_train_batch_end(self, outputs, batch, batch_idx):
        with whole_parameters(self._trainer):  # under FSDP a target head's shard is not its Q head's (None: no trainer)
            polyak_update(self.model.heads, self.cfg.polyak)

    def validation_step(self, batch, batch_idx):
        losses = ilql_losses(self.model, batch, self.cfg)
        bs = batch["input_ids"].shape[0]
        for k, v in losses.items():
            self.log(f"val/{k}", v, prog_bar=k == "loss", batch_size=bs)

    def configure_optimizers(self):
        return adamw_warmup_cosine(self, self.cfg, [p for p in self.model.parameters() if p.requires_grad])


class EpisodeDataModule(L.LightningDataModule):
    def __init__(self, episodes: list[dict], cfg: ILQLConfig, pad_id: int, seed: int):
        super().__init__()
        self.episodes, self.cfg, self.pad_id, self.seed = episodes, cfg, pad_id, seed

    def setup(self, stage: str | None = None) -> None:
        held = [stable_int(f"{self.seed}/{e['problem_id']}") % 10_000 < self.cfg.val_percent * 100 for e in self.episodes]
        self.train_set = [e for e, h in zip(self.episodes, held) if not h] or self.episodes
        self.val_set = [e for e, h in zip(self.episodes, held) if h] or self.episodes[:1]

    def _collate(self, batch):
        return collate(batch, self.pad_id)

    def train_dataloader(self):
        return train_loader(self.train_set, self.cfg.batch_size, self._collate, self.seed, self.cfg.num_workers)

    def val_dataloader(self):
        return eval_loader(self.val_set, self.cfg.batch_size, self._collate, self.cfg.num_workers)


def save_heads(heads: dict[str, torch.Tensor], cfg: ILQLConfig, dest: Path) -> None:
    """The heads' state dict (``ILQLHeads.state_dict()``) and the run's ILQL settings, beside the LM."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in heads.items()}, str(dest / HEADS_FILE))
    (dest / META_FILE).write_text(json.dumps({"ilql": asdict(cfg)}, indent=2) + "\n")


def load_heads(path: str | Path, lm) -> ILQLHeads:
    """The heads an ``ilql`` run exported next to its LM, exactly as trained."""
    from safetensors.torch import load_file

    f = Path(path) / HEADS_FILE
    if not f.is_file():
        raise QstarError(f"{path} has no {HEADS_FILE}: point at a model exported by qstar train optimizer=ilql")
    heads = ILQLHeads(lm.config.hidden_size, lm.config.vocab_size)
    try:
        heads.load_state_dict(load_file(str(f)))
    except Exception as e:  # safetensors' own error type, or torch's for other shapes/keys
        why = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise QstarError(f"cannot load {f} ({why}): re-export it with qstar train optimizer=ilql") from None
    return heads.eval()


class AdvantageShift(LogitsProcessor):
    """Adds β·(Q − V) of the last hidden state, captured by a forward hook on the LM's body."""

    def __init__(self, heads: ILQLHeads, beta: float, hidden: dict):
        self.heads, self.beta, self.hidden = heads, beta, hidden

    def __call__(self, input_ids, scores):
        h = self.hidden["last"]
        return scores + self.beta * self.heads.advantage(h.to(self.heads.v.weight.dtype)).to(scores.dtype)


class ILQLExpander(HFExpander):
    def __init__(self, cfg: ILQLExpanderConfig, model_cfg, segmenter):
        super().__init__(cfg, model_cfg, segmenter)

        self.heads = load_heads(check_model_path(model_cfg.name_or_path), self.model).to(self.device)
        self.hidden: dict = {}

        def keep_last(module, args, output):
            hs = output[0] if isinstance(output, tuple) else output.last_hidden_state
            self.hidden["last"] = hs[:, -1]

        self.model.base_model.register_forward_hook(keep_last)

    def _shifts(self) -> list:
        # after the raw log-probs are read, before the per-row sampler (or greedy argmax)
        return [AdvantageShift(self.heads, self.cfg.beta, self.hidden)]

"""Optimizer ``ilql`` and expander ``ilql``: Implicit Language Q-Learning (Snell et al., 2022) on
searched trees, and decoding guided by the learned Q and V.

Data (:func:`transitions`): every labelled path of ``qstar label``'s output is a token-level
episode. The actions are the step tokens (the prompt is context only); the reward arrives at the
last token of a step: with ``reward=outcome`` only at the end of the path (its final step's label:
1 when the rollouts/answer check found it right), with ``reward=labels`` at every step end, as
the change in the Monte-Carlo label (label of the step − label of the step before; their sum is
the final label, so it shapes the outcome reward without changing the optimum: Ng et al., 1999).
The last action of a path is terminal.

Model (:class:`ILQLModel`): the causal LM plus, on its last hidden states, two Q heads (one value
per token), their Polyak-averaged targets and a V head. Losses, as in the paper:

- V: expectile regression (τ = ``expectile``, default 0.7) towards min(target Q₁, Q₂)(s, a);
- Q: TD, Qᵢ(s, a) → r + γ·V(s') (γ = ``gamma``, 0.99; V(s') = 0 after a terminal action);
- CQL: ``cql_weight`` (0.1) × cross-entropy of each Qᵢ(s, ·) towards the action taken;
- AWAC/BC: ``awac_weight`` (1.0) × the LM's cross-entropy on the actions.

Export: the LM as a ``save_pretrained`` directory plus ``ilql_heads.safetensors`` and
``ilql.json`` in the same directory; :func:`load_heads` restores them exactly. The ``ilql``
expander decodes with ``logits + β·(Q − V)`` (β = ``expander.beta``), Q = min(Q₁, Q₂) of the
target heads, through the same batched ``generate`` as ``hf`` (shared prefill, per-row streams),
so every search can use it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import LogitsProcessor

from qstar import hookimpl
from qstar.seeding import stable_int
from qstar.errors import QstarError
from qstar.training import TrainContext, build_trainer, export_hf, fit, is_global_zero, submodule_state, warmup_cosine, whole_parameters
from qstar_hf import HFExpander, HFExpanderConfig

__all__ = ["ILQLConfig", "ILQLModel", "ilql_loss_terms", "polyak_update", "ILQLOptimizer", "ILQLExpander", "ILQLExpanderConfig", "load_heads", "transitions"]

HEADS_FILE, META_FILE = "ilql_heads.safetensors", "ilql.json"


@dataclass
class ILQLConfig:
    name: str = "ilql"  # the registered name: optimizer=ilql
    gamma: float = 0.99  # discount per token
    expectile: float = 0.7  # τ of V's expectile regression
    cql_weight: float = 0.1  # weight of the conservative (CQL) term
    awac_weight: float = 1.0  # weight of the LM's behaviour-cloning cross-entropy
    polyak: float = 0.005  # target heads move this far towards the Q heads every step
    reward: str = "outcome"  # outcome (the final step's label, at the path's end) | labels (label changes at every step end)
    lr: float = 1e-4  # AdamW learning rate (LM and heads)
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear warm-up, then cosine decay to lr/10
    batch_size: int = 32  # paths per batch
    val_percent: float = 10.0  # problems held out (by id) for validation
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self):
        if not 0 < self.gamma <= 1:
            raise QstarError(f"optimizer.gamma={self.gamma}: must be in (0, 1]")
        if not 0 < self.expectile < 1:
            raise QstarError(f"optimizer.expectile={self.expectile}: must be in (0, 1)")
        if not 0 < self.polyak <= 1:
            raise QstarError(f"optimizer.polyak={self.polyak}: must be in (0, 1]")
        if self.reward not in ("outcome", "labels"):
            raise QstarError(f"optimizer.reward={self.reward!r}: choose outcome or labels")
        if not self.lr > 0:
            raise QstarError(f"optimizer.lr={self.lr}: the learning rate must be positive")
        for key in ("cql_weight", "awac_weight"):
            if getattr(self, key) < 0:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must not be negative")
        if self.batch_size < 1:
            raise QstarError(f"optimizer.batch_size={self.batch_size}: must be at least 1")


def transitions(tok, records: list[dict], delimiter: str, reward: str, max_len: int) -> list[dict]:
    """One token-level episode per labelled path: ``input_ids``, ``action`` (1 on step tokens),
    ``reward`` (at step ends) and ``done`` (1 on the path's last action), aligned with the ids."""
    out = []
    for r in records:
        ids = tok(r["prompt"], add_special_tokens=False)["input_ids"]
        action, rew, done = [0] * len(ids), [0.0] * len(ids), [0] * len(ids)
        prev = 0.0
        labels = [float(x) for x in r["soft_labels"]]
        for i, (step, label) in enumerate(zip(r["completions"], labels)):
            s = tok(step + delimiter, add_special_tokens=False)["input_ids"]
            if not s:
                continue
            ids += s
            action += [1] * len(s)
            step_reward = label - prev if reward == "labels" else (label if i == len(labels) - 1 else 0.0)
            rew += [0.0] * (len(s) - 1) + [step_reward]
            done += [0] * len(s)
            prev = label
        if len(ids) > max_len or not any(action):
            continue
        done[max(i for i, a in enumerate(action) if a)] = 1
        out.append({"input_ids": ids, "action": action, "reward": rew, "done": done, "problem_id": r["problem_id"]})
    return out


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(len(b["input_ids"]) for b in batch)
    out = {"input_ids": torch.full((len(batch), n), pad_id, dtype=torch.long), "attention_mask": torch.zeros((len(batch), n), dtype=torch.long)}
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
    cql = (F.cross_entropy(q1.transpose(1, 2), a.squeeze(-1), reduction="none") + F.cross_entropy(q2.transpose(1, 2), a.squeeze(-1), reduction="none"))
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
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        return warmup_cosine(opt, self.trainer.estimated_stepping_batches, self.cfg.warmup_steps)


class EpisodeDataModule(L.LightningDataModule):
    def __init__(self, episodes: list[dict], cfg: ILQLConfig, pad_id: int, seed: int):
        super().__init__()
        self.episodes, self.cfg, self.pad_id, self.seed = episodes, cfg, pad_id, seed

    def setup(self, stage: str | None = None) -> None:
        held = [stable_int(f"{self.seed}/{e['problem_id']}") % 10_000 < self.cfg.val_percent * 100 for e in self.episodes]
        self.train_set = [e for e, h in zip(self.episodes, held) if not h] or self.episodes
        self.val_set = [e for e, h in zip(self.episodes, held) if h] or self.episodes[:1]

    def _loader(self, data, shuffle):
        return DataLoader(data, batch_size=self.cfg.batch_size, shuffle=shuffle, num_workers=self.cfg.num_workers,
                          collate_fn=lambda b: collate(b, self.pad_id))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)


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
    heads.load_state_dict(load_file(str(f)))
    return heads.eval()


class ILQLOptimizer:
    data_kind = "labels"  # data= is a labels.jsonl
    trains = "policy"

    def __init__(self, cfg: ILQLConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        from qstar.labels import read_label_records
        from qstar.models import check_model_path, load_causal_lm, load_tokenizer
        from qstar.models import max_length

        if not ctx.data:
            raise QstarError("optimizer=ilql needs data=<labels.jsonl written by qstar label> (labelled paths)")
        if not ctx.model.name_or_path:
            raise QstarError("optimizer=ilql fine-tunes a policy: set model.name_or_path (e.g. pkg://qstar_game24/policy)")
        records = read_label_records(ctx.data)
        L.seed_everything(ctx.seed, workers=True)
        tok = load_tokenizer(ctx.model.name_or_path)
        lm = load_causal_lm(ctx.model.name_or_path).train()
        max_len = max_length(lm)
        episodes = transitions(tok, records, ctx.segmenter.delimiter, self.cfg.reward, max_len)
        if not episodes:
            raise QstarError(f"no labelled path of {ctx.data} fits the model's {max_len} positions")
        model = ILQLModel(lm)
        start = Path(check_model_path(ctx.model.name_or_path))
        if (start / HEADS_FILE).is_file():  # a later round: go on from the heads trained before
            model.heads.load_state_dict(load_heads(start, lm).state_dict())
        module = ILQLModule(model, self.cfg)
        trainer = build_trainer(ctx.trainer, ctx.out_dir)
        state = fit(trainer, module, EpisodeDataModule(episodes, self.cfg, tok.pad_token_id, ctx.seed), ctx.out_dir, ctx.resume)
        dest = export_hf(module.model.lm, tok, ctx.out_dir / "model", submodule_state(state, "model.lm."))
        if is_global_zero():
            save_heads(submodule_state(state, "model.heads."), self.cfg, dest)
        return dest


# ------------------------------------------------------------------------------ the expander


@dataclass
class ILQLExpanderConfig(HFExpanderConfig):
    name: str = "ilql"  # the registered name: expander=ilql (model.name_or_path: an ilql export)
    beta: float = 1.0  # decode with logits + beta * (Q - V)


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
        from qstar.models import check_model_path

        self.heads = load_heads(check_model_path(model_cfg.name_or_path), self.model).to(self.device)
        self.hidden: dict = {}

        def keep_last(module, args, output):
            hs = output[0] if isinstance(output, tuple) else output.last_hidden_state
            self.hidden["last"] = hs[:, -1]

        self.model.base_model.register_forward_hook(keep_last)

    def _shifts(self) -> list:
        # after the raw log-probs are read, before the per-row sampler (or greedy argmax)
        return [AdvantageShift(self.heads, self.cfg.beta, self.hidden)]


@hookimpl
def qstar_register_optimizers(register):
    register("ilql", ILQLOptimizer, ILQLConfig)


@hookimpl
def qstar_register_expanders(register):
    register("ilql", ILQLExpander, ILQLExpanderConfig)

"""Optimizer ``sft``: supervised fine-tuning of the policy on step trajectories.

Trajectories come from the task's gold solutions (``gold_trajectories``), from searched trees
(``data=trees.jsonl``: the chosen path of every correctly solved tree — rejection-sampling
fine-tuning, as in STaR, Zelikman et al., 2022), or, with ``source=random-legal``, from random
legal trajectories none of which reaches the goal (the task's ``random_legal_trajectories``): a
start policy that knows the format and the arithmetic and has never seen a solution. The loss is next-token cross-entropy on the
steps only; prompt tokens are masked out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.training import TrainContext, build_trainer, export_hf, fit, submodule_state, warmup_cosine
from qstar.tree import iter_results


SOURCES = ("auto", "gold", "random-legal", "right-paths")


@dataclass
class SFTConfig:
    name: str = "sft"  # the registered name: optimizer=sft
    lr: float = 1e-3  # tiny models tolerate (and need) a high rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_steps: int = 100  # linear warm-up (at most a tenth of training), then cosine decay to lr/10
    batch_size: int = 64  # trajectories per batch
    max_per_problem: int = 32  # cap gold trajectories per problem so easy puzzles don't dominate
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    source: str = "auto"  # auto (data= trees: chosen right paths, else gold) | gold | random-legal (no solution shown) | right-paths (every right leaf of data=)
    legal_steps: bool = False  # paths from data= trees: keep one only if the task's rules accept every step, not just its answer

    def __post_init__(self):
        if self.source not in SOURCES:
            raise QstarError(f"optimizer.source={self.source!r}: choose {', '.join(SOURCES)}")
        if not self.lr > 0:
            raise QstarError(f"optimizer.lr={self.lr}: the learning rate must be positive")
        for key in ("batch_size", "max_per_problem"):
            if getattr(self, key) < 1:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must be at least 1")
        for key in ("weight_decay", "warmup_steps", "num_workers"):
            if getattr(self, key) < 0:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must not be negative")


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


def trajectories(ctx: TrainContext, split: str, cap: int, seed: int, source: str = "auto",
                 legal_steps: bool = False) -> list[tuple[str, str]]:
    """(prompt, completion) pairs for ``split``; ``legal_steps``: see :func:`right_paths`."""
    seg, task = ctx.segmenter, ctx.task
    rng = random.Random(seed)
    pairs = []
    if source == "random-legal":
        rng = random.Random(f"{seed}/{split}")  # val and train draw different trajectories
        if not hasattr(task, "random_legal_trajectories"):
            raise QstarError(f"optimizer.source=random-legal: task {task.name!r} cannot make random legal trajectories; use source=gold")
        for problem in task.problems(split):
            pairs += [(task.prompt(problem), seg.join("", steps)) for steps in task.random_legal_trajectories(problem, cap, rng)]
        return pairs
    if source == "right-paths":
        if not ctx.data:
            raise QstarError("optimizer.source=right-paths needs data=<trees.jsonl written by qstar search>")
        if split != ctx.split:
            return []  # validation comes from the held-out share of the trees' problems (see StepDataModule)
        for r in iter_results(ctx.data):
            paths = right_paths(r, task, legal_steps)
            if cap and len(paths) > cap:
                paths = rng.sample(paths, cap)
            pairs += [(task.prompt(r.problem), seg.join("", steps)) for steps in paths]
        return pairs
    if ctx.data and split == ctx.split and source == "auto":
        for r in iter_results(ctx.data):
            if r.correct and (not legal_steps or legal_path(task, r.problem, r.path_steps())):
                pairs.append((task.prompt(r.problem), seg.join("", r.path_steps())))
        return pairs
    for problem in task.problems(split):
        golds = task.gold_trajectories(problem)
        if cap and len(golds) > cap:
            golds = rng.sample(golds, cap)
        pairs += [(task.prompt(problem), seg.join("", steps)) for steps in golds]
    return pairs


def legal_path(task, problem, steps: list[str]) -> bool:
    """Whether the task's rules accept every step of the path (``check_step``: legality, no
    look-ahead; a task without rules accepts every path)."""
    check = getattr(task, "check_step", None)
    return check is None or all(check(problem, steps[:i], steps[i]).valid for i in range(len(steps)))


def right_paths(result, task, legal_steps: bool = False) -> list[list[str]]:
    """Every distinct root-to-leaf path of a searched tree whose final answer the task accepts,
    in node order: rejection sampling (Yuan et al., 2023) checks the outcome only. With
    ``legal_steps`` a path must also keep the task's rules at every step, since an answer check
    need not check the steps: Game of 24's evaluates the answer's expression, so a path of wrong
    arithmetic that ends in a right expression passes it. In three loop rounds with the outcome
    check alone such paths grew from 26% to 89% of the right paths; keeping legal paths only did
    not lift the loop's figures, so the paper's rule stays the default (README)."""
    by_id = {n.id: n for n in result.nodes}
    out, seen = [], set()
    for n in result.nodes:
        if not n.terminal or n.answer is None or not task.is_correct(result.problem, n.answer):
            continue
        steps, cur = [], n
        while cur.parent is not None:
            steps.append(cur.step)
            cur = by_id[cur.parent]
        steps.reverse()
        if legal_steps and not legal_path(task, result.problem, steps):
            continue
        if tuple(steps) not in seen:
            seen.add(tuple(steps))
            out.append(steps)
    return out


class StepDataModule(L.LightningDataModule):
    def __init__(self, ctx: TrainContext, cfg: SFTConfig, tokenizer, max_len: int):
        super().__init__()
        self.ctx, self.cfg, self.tokenizer, self.max_len = ctx, cfg, tokenizer, max_len

    def setup(self, stage: str | None = None) -> None:
        def build(split):
            pairs = trajectories(self.ctx, split, self.cfg.max_per_problem, self.ctx.seed, self.cfg.source, self.cfg.legal_steps)
            return [encode(self.tokenizer, p, c, self.max_len) for p, c in pairs]

        self.train_set = build(self.ctx.split)
        self.val_set = build(self.ctx.val_split)
        if not self.val_set and self.train_set:  # right-paths: hold out a tenth of the paths
            rng = random.Random(self.ctx.seed)
            rng.shuffle(self.train_set)
            cut = max(1, len(self.train_set) // 10)
            self.val_set, self.train_set = self.train_set[:cut], self.train_set[cut:] or self.train_set[:cut]
        if not self.train_set:
            raise QstarError("no trajectory to train on: the trees hold no right answer (optimizer.source=right-paths)")

    def _loader(self, data, shuffle):
        return DataLoader(
            data,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            num_workers=self.cfg.num_workers,
            collate_fn=lambda b: collate(b, self.tokenizer.pad_token_id),
        )

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)


class CausalLMModule(L.LightningModule):
    """Next-token cross-entropy with AdamW and linear warm-up then cosine decay."""

    def __init__(self, model, cfg: SFTConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, **batch):
        return self.model(**batch)

    def training_step(self, batch, batch_idx):
        loss = self.model(**batch).loss
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.model(**batch).loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        return warmup_cosine(opt, self.trainer.estimated_stepping_batches, self.cfg.warmup_steps)


def load_or_build(model_cfg):
    """The model to train: ``model.name_or_path`` when set, else a fresh tiny GPT-2 + number tokenizer."""
    from qstar.models import ArchConfig, build_causal_lm, load_causal_lm, load_tokenizer
    from qstar.models import build_number_tokenizer

    if model_cfg.name_or_path:
        tok = load_tokenizer(model_cfg.name_or_path)
        model = load_causal_lm(model_cfg.name_or_path).train()
    else:
        tok = build_number_tokenizer()
        model = build_causal_lm(tok, ArchConfig(**model_cfg.arch))
    return model, tok


class SFTOptimizer:
    data_kind = "trees"  # data=: searched trees (their right paths); none: the task's gold trajectories
    trains = "policy"

    def __init__(self, cfg: SFTConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        L.seed_everything(ctx.seed, workers=True)
        model, tok = load_or_build(ctx.model)
        max_len = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 512)
        module = CausalLMModule(model, self.cfg)
        data = StepDataModule(ctx, self.cfg, tok, max_len)
        trainer = build_trainer(ctx.trainer, ctx.out_dir)
        state = fit(trainer, module, data, ctx.out_dir, ctx.resume)  # the best validation checkpoint's, not merely the last
        return export_hf(module.model, tok, ctx.out_dir / "model", submodule_state(state, "model."))


@dataclass
class RFTConfig(SFTConfig):
    """Rejection-sampling fine-tuning: SFT on every right path of searched trees (``data=``)."""

    name: str = "rft"  # the registered name: optimizer=rft
    lr: float = 1e-4  # fine-tuning a trained policy: a tenth of SFT's rate from scratch
    warmup_steps: int = 20  # linear warm-up (at most a tenth of training), then cosine decay to lr/10
    source: str = "right-paths"  # every right leaf of data= (see SFTConfig.source)


@hookimpl
def qstar_register_optimizers(register):
    register("sft", SFTOptimizer, SFTConfig)
    register("rft", SFTOptimizer, RFTConfig)

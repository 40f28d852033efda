"""The Lightning harness every optimizer uses: one Trainer factory (CSV logger, checkpoints,
resume from ``last.ckpt``) and the export of the trained model as a Hugging Face directory."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qstar.errors import QstarError


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer``; ``trainer=ddp`` and friends override these."""

    accelerator: str = "cpu"  # cpu | gpu | auto (Lightning accelerator)
    devices: Any = 1  # devices per node: a count, a list of ids, or -1 for all
    strategy: str = "auto"  # auto | ddp | fsdp | deepspeed ... (Lightning strategy)
    num_nodes: int = 1  # machines; multi-node launching is Lightning's
    precision: str = "32-true"  # 32-true | bf16-mixed | 16-mixed (Lightning precision)
    max_epochs: int = -1  # -1 = no epoch limit: max_steps / max_time end training
    max_steps: int = 1000  # optimizer steps, then the model is exported
    max_time: str | None = None  # "DD:HH:MM:SS"; stops cleanly and still exports the model
    val_check_interval: float = 1.0  # fraction of a training epoch between validations (1.0 = at its end)
    check_val_every_n_epoch: int = 1  # validate every N epochs
    log_every_n_steps: int = 20  # how often train/loss is written to logs/metrics.csv
    gradient_clip_val: float = 1.0  # clip the gradient norm to this (0 = no clipping)
    accumulate_grad_batches: int = 1  # batches per optimizer step (a larger effective batch)
    enable_progress_bar: bool = True  # Lightning's progress bar
    deterministic: bool = False  # torch deterministic algorithms: reproducible on GPU, slower


def build_trainer(cfg: TrainerConfig, out_dir: Path, monitor: str = "val/loss"):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode="min",
        save_last=True,
        save_top_k=1,
    )
    return L.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time=cfg.max_time,
        val_check_interval=cfg.val_check_interval,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        log_every_n_steps=cfg.log_every_n_steps,
        gradient_clip_val=cfg.gradient_clip_val,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        enable_progress_bar=cfg.enable_progress_bar,
        deterministic=cfg.deterministic,
        logger=CSVLogger(save_dir=str(out_dir), name="logs", version=""),
        callbacks=[checkpoint],
        default_root_dir=str(out_dir),
    )


def fit(trainer, module, datamodule, out_dir: Path, resume: bool) -> str | None:
    """Run ``trainer.fit``; with ``resume`` continue from ``checkpoints/last.ckpt`` when it exists."""
    last = out_dir / "checkpoints" / "last.ckpt"
    ckpt_path = None
    if resume:
        if not last.exists():
            raise QstarError(f"resume=true but {last} does not exist: run once without resume first")
        ckpt_path = str(last)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    # Lightning writes last.ckpt after validation only; a run stopped by max_steps/max_time mid-epoch
    # would resume from an older state, so persist the final state (atomically) as last.ckpt.
    tmp = last.with_name(".last.ckpt.tmp")
    trainer.save_checkpoint(tmp)  # collective under sharded strategies: every rank calls it
    trainer.strategy.barrier()
    if trainer.is_global_zero:
        os.replace(tmp, last)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    return best or None


def export_hf(model, tokenizer, dest: Path) -> Path:
    """Write ``save_pretrained`` output (safetensors) atomically: a crash leaves the old export."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


@dataclass
class TrainContext:
    """What the ``train`` command hands an optimizer's ``fit``."""

    task: Any
    segmenter: Any
    model: Any  # the ``model`` config node (name_or_path, arch, dtype)
    trainer: TrainerConfig
    out_dir: Path
    resume: bool = False
    seed: int = 0
    data: str | None = None  # a trees JSONL to learn from instead of the task's gold trajectories
    split: str = "train"
    val_split: str = "val"

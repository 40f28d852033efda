"""The Lightning harness every optimizer uses: one Trainer factory (CSV logger, plus TensorBoard
or MLflow with ``trainer.logger``, see :mod:`qstar.tracking`; checkpoints, resume from
``last.ckpt``) and the export of the trained model as a Hugging Face directory.

Crash safety: ``checkpoints/last.ckpt`` is rewritten every ``checkpoint_every_n_steps`` optimizer
steps (atomically: a kill mid-write leaves the previous one), so a killed run loses at most that
many steps; ``resume=true`` continues from it and appends to the same ``logs/metrics.csv``.
A run resumed mid-epoch goes on exactly as an uninterrupted one: the training loaders
(:func:`train_loader`) are torchdata ``StatefulDataLoader``s whose order of examples is drawn from
the run's seed and the epoch (:class:`SeededOrder`), never from the global RNG, and whose position
goes into the checkpoint; the global RNG states (dropout) go in beside it
(:class:`qstar.lightning_parts.RngStates`), with the step count, optimizer and scheduler.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qstar.errors import QstarError
from qstar.files import atomic_write_text, umask
from qstar.seeding import stable_int
from qstar.tracking import check_logger, make_logger


@dataclass
class OptimizerConfig:
    """The training fields every optimizer shares (as TRL's ``TrainingArguments``): each
    optimizer's config subclasses it, sets the defaults its method wants and adds its own fields."""

    name: str = ""  # the registered name: optimizer=<name>
    lr: float = 1e-4  # AdamW learning rate: linear warm-up, then cosine decay to lr/10
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear warm-up steps (at most a tenth of training)
    batch_size: int = 32  # examples per batch (trajectories, paths or preference pairs)
    val_percent: float = 10.0  # percent held out for validation (by problem) when the data has no validation split of its own
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)

    def __post_init__(self):
        if not self.lr > 0:
            raise QstarError(f"optimizer.lr={self.lr}: the learning rate must be positive")
        if self.batch_size < 1:
            raise QstarError(f"optimizer.batch_size={self.batch_size}: must be at least 1")
        if not 0 <= self.val_percent < 100:
            raise QstarError(f"optimizer.val_percent={self.val_percent}: use a percentage in [0, 100)")
        for key in ("weight_decay", "warmup_steps", "num_workers"):
            if getattr(self, key) < 0:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must not be negative")


@dataclass
class TrainerConfig:
    """Passed to ``lightning.Trainer``; ``trainer=ddp`` and friends override these."""

    accelerator: str = "cpu"  # cpu | gpu | auto (Lightning accelerator)
    devices: Any = 1  # devices per node: a count, a list of ids, or -1 for all
    strategy: str = "auto"  # auto | ddp | ddp_spawn | fsdp ... (Lightning strategy)
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
    checkpoint_every_n_steps: int = 100  # rewrite checkpoints/last.ckpt this often: a crash loses at most these steps
    enable_progress_bar: bool = True  # Lightning's progress bar
    deterministic: bool = False  # torch deterministic algorithms: reproducible on GPU, slower
    ema_decay: float = 0.0  # an exponential moving average of the weights (Polyak averaging; Lightning's EMAWeightAveraging),
    # updated every optimizer step: validation, checkpoints and the exported model use the average; 0 = off
    logger: str = "csv"  # csv | tensorboard (logs/tensorboard/) | mlflow: Lightning's logger added beside logs/metrics.csv (always written)
    tracking_uri: str | None = None  # mlflow: the tracking server or store; null = the file store file:<out_dir>/mlruns
    experiment_name: str = "qstar"  # mlflow: the experiment the run joins

    def __post_init__(self):
        _check_trainer(self)


ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")


def _check_trainer(cfg: "TrainerConfig") -> None:
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        raise QstarError(f"trainer.max_steps={cfg.max_steps}: use a positive step count (or -1 with trainer.max_epochs)")
    if cfg.max_steps == -1 and cfg.max_epochs < 1 and not cfg.max_time:
        raise QstarError("trainer.max_steps=-1 needs trainer.max_epochs or trainer.max_time, or training never ends")
    if cfg.accumulate_grad_batches < 1:
        raise QstarError(f"trainer.accumulate_grad_batches={cfg.accumulate_grad_batches}: must be at least 1")
    if cfg.checkpoint_every_n_steps < 1:
        raise QstarError(f"trainer.checkpoint_every_n_steps={cfg.checkpoint_every_n_steps}: must be at least 1")
    if cfg.log_every_n_steps < 1:
        raise QstarError(f"trainer.log_every_n_steps={cfg.log_every_n_steps}: must be at least 1")
    if cfg.num_nodes < 1:
        raise QstarError(f"trainer.num_nodes={cfg.num_nodes}: must be at least 1")
    if cfg.accelerator not in ACCELERATORS:
        raise QstarError(f"trainer.accelerator={cfg.accelerator!r}: choose one of {', '.join(ACCELERATORS)}")
    if not cfg.val_check_interval > 0:
        raise QstarError(f"trainer.val_check_interval={cfg.val_check_interval}: a fraction of an epoch in (0, 1] or a step count ≥ 1")
    if cfg.check_val_every_n_epoch is not None and cfg.check_val_every_n_epoch < 1:
        raise QstarError(f"trainer.check_val_every_n_epoch={cfg.check_val_every_n_epoch}: must be at least 1")
    if not 0 <= cfg.ema_decay < 1:
        raise QstarError(f"trainer.ema_decay={cfg.ema_decay}: the average's decay per optimizer step, in [0, 1) (e.g. 0.99; 0 = off)")
    if cfg.ema_decay and "fsdp" in str(cfg.strategy).lower():
        raise QstarError(
            "trainer.ema_decay with trainer.strategy=fsdp: weight averaging needs whole parameters; use ddp or trainer.ema_decay=0"
        )
    if cfg.gradient_clip_val < 0:
        raise QstarError(f"trainer.gradient_clip_val={cfg.gradient_clip_val}: a gradient norm bound ≥ 0 (0 = no clipping)")
    if str(cfg.precision) not in PRECISIONS:
        raise QstarError(f"trainer.precision={cfg.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if cfg.max_time is not None and not re.fullmatch(r"\d+:\d\d:\d\d:\d\d", str(cfg.max_time)):
        raise QstarError(f"trainer.max_time={cfg.max_time!r}: write it as DD:HH:MM:SS, e.g. 00:02:00:00 for two hours")
    if not _devices_ok(cfg.devices):
        raise QstarError(f"trainer.devices={cfg.devices!r}: a count ≥ 1, -1 (all), auto, or a list of device ids")
    check_logger("trainer.logger", cfg.logger)


# the precisions lightning.Trainer accepts (its _PRECISION_INPUT_STR), checked when a config is
# composed: Lightning itself is imported only when training starts
PRECISIONS = (
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
    "transformer-engine-float16",
    "32",
    "16",
    "bf16",
    "64",
)


def _devices_ok(devices: Any) -> bool:
    if isinstance(devices, bool):
        return False
    if isinstance(devices, int):
        return devices >= 1 or devices == -1
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return True
        ids = [x.strip() for x in text.split(",") if x.strip()]
        return bool(ids) and all(x.isdigit() for x in ids) and (len(ids) > 1 or text.endswith(",") or int(ids[0]) >= 1)
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in devices)
    return False


def check_available(cfg: "TrainerConfig") -> None:
    """The accelerator exists here (checked when training starts, not when a config is composed,
    so `trainer=gpu --cfg job` still works on a laptop)."""
    from lightning.pytorch.accelerators import AcceleratorRegistry

    names = {"gpu": "cuda"}
    name = names.get(cfg.accelerator, cfg.accelerator)
    if name != "auto" and name in AcceleratorRegistry:
        accelerator = AcceleratorRegistry[name]["accelerator"]
        if not accelerator.is_available():
            raise QstarError(
                f"trainer.accelerator={cfg.accelerator!r}: no {cfg.accelerator} device (or its package) here; "
                "use trainer=cpu or trainer.accelerator=auto"
            )


def build_trainer(cfg: TrainerConfig, out_dir: Path, monitor: str = "val/loss", resume: bool = False, config: dict | None = None):
    """The Lightning Trainer of a run in ``out_dir``; ``config`` (the composed config) is logged as
    the hyperparameters of the tracking run (``trainer.logger``), once: a resumed run (``resume``)
    continues the MLflow run it started."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    check_available(cfg)
    # module-level classes, so spawned DDP workers can unpickle them
    from qstar.lightning_parts import AtomicCheckpoint, FinalCheckpoint, ResumableCSVLogger, RngStates

    # logs/metrics.csv is always written (resume trims it, tests and tutorials read it); the
    # chosen tracking logger gets the same metrics beside it: TensorBoard in logs/tensorboard/
    loggers = [ResumableCSVLogger(save_dir=str(out_dir), name="logs", version="", flush_logs_every_n_steps=1)]
    tracking, _, continuing = make_logger(cfg.logger, out_dir / "logs", out_dir, cfg.tracking_uri, cfg.experiment_name, resume=resume)
    if tracking is not None:
        if config is not None and not continuing and is_global_zero():
            tracking.log_hyperparams(config)
        loggers.append(tracking)

    best = AtomicCheckpoint(dirpath=out_dir / "checkpoints", filename="best", monitor=monitor, mode="min", save_top_k=1)
    # last.ckpt on a step cadence, so a killed run resumes from at most N steps back
    last = AtomicCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="last",
        every_n_train_steps=cfg.checkpoint_every_n_steps,
        save_top_k=1,
        enable_version_counter=False,
    )
    callbacks = [best, last, FinalCheckpoint(out_dir / "checkpoints" / "last.ckpt"), RngStates()]
    if cfg.ema_decay:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        # the average replaces the weights for validation and in every checkpoint's state_dict (the
        # live weights and the average's state go beside it, so resume=true continues both)
        callbacks.append(EMAWeightAveraging(decay=cfg.ema_decay))
    try:
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
            logger=loggers,  # the CSV one flushed at every logged step, so a killed run keeps its log up to the kill
            callbacks=callbacks,
            default_root_dir=str(out_dir),
        )
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as e:
        raise QstarError(f"bad trainer config: {str(e).splitlines()[0]}") from None


def _global_step(ckpt: Path) -> int:
    import warnings

    import torch

    try:  # weights_only: a checkpoint's pickled code is never run, a payload is refused here
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore")
            return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])
    except Exception as e:
        import pickle

        if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
            why = "not a checkpoint of tensors that torch loads safely; pickled code in it is never run"
        else:
            why = str(e).strip().splitlines()[0][:80] if str(e).strip() else type(e).__name__
        raise QstarError(
            f"cannot resume from {ckpt} ({why}): it is damaged or not a Lightning checkpoint; move it away and rerun without resume=true"
        ) from None


def _trim_log(path: Path, step: int) -> None:
    """Drop the rows a killed run logged after its last checkpoint: the resumed run logs those
    steps again. Earlier rows stay."""
    import csv

    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if r.get("step") and int(float(r["step"])) < step]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def fit(trainer, module, datamodule, out_dir: Path, resume: bool) -> dict[str, Any]:
    """Run ``trainer.fit``; with ``resume`` continue from ``checkpoints/last.ckpt`` when it exists.

    Returns the state dict to export, on global rank 0 (``{}`` on the other ranks): the best
    validation checkpoint's, or, when no validation ran, ``last.ckpt``'s (written when training
    ends). It is read from the checkpoint file, not from ``module``: under FSDP (``trainer=fsdp``)
    each rank holds a shard of every parameter, and Lightning writes the gathered full state to
    the checkpoint (``state_dict_type="full"``, its default). Where every rank holds whole
    parameters (one device, DDP) the state is also loaded into ``module``."""
    import torch

    last = out_dir / "checkpoints" / "last.ckpt"
    ckpt_path = None
    if resume:
        if not last.exists():
            raise QstarError(f"resume=true but {last} does not exist: run once without resume first")
        ckpt_path = str(last)
        step = _global_step(last)  # every rank: a damaged checkpoint stops them all with one line
        if trainer.is_global_zero:
            _trim_log(out_dir / "logs" / "metrics.csv", step)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)  # FinalCheckpoint writes last.ckpt at the end
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if not is_global_zero():
        return {}
    if not best and not is_sharded(trainer):
        return module.state_dict()  # whole parameters, as last.ckpt holds them: no need to read it back
    state = torch.load(best or last, map_location="cpu", weights_only=True)["state_dict"]
    if not is_sharded(trainer):
        module.load_state_dict(state)
    return state


def is_sharded(trainer) -> bool:
    """Whether the trainer's strategy shards parameters over ranks (FSDP): then a module's
    parameters are its rank's shards after ``fit``, and only a checkpoint holds them whole."""
    from lightning.pytorch.strategies import FSDPStrategy

    return isinstance(trainer.strategy, FSDPStrategy)


@contextmanager
def whole_parameters(trainer):
    """Inside, every parameter is whole on every rank; written back to the shards on leaving.
    For a module that changes parameters outside its forward pass (ILQL's Polyak update of its
    target heads): under FSDP a rank's parameters are views of its shard, and a target head's
    shard is not its Q head's. Elsewhere (or with no trainer) it does nothing."""
    if trainer is None or not is_sharded(trainer):
        yield
        return
    from torch.distributed.fsdp import FullyShardedDataParallel

    with FullyShardedDataParallel.summon_full_params(trainer.strategy.model, writeback=True):
        yield


def submodule_state(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of a LightningModule's ``state`` under ``prefix`` (``"model."``), without it."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def warmup_cosine(optimizer, total_steps: int, warmup_steps: int) -> dict:
    """Lightning's ``configure_optimizers`` answer: linear warm-up (at most a tenth of training)
    then cosine decay to a tenth of the rate, stepped every optimizer step."""
    import math

    import torch

    total = max(int(total_steps), 1)
    warm = min(warmup_steps, total // 10 + 1)

    def schedule(step):
        if step < warm:
            return (step + 1) / warm
        progress = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(progress * math.pi))

    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def adamw_warmup_cosine(module, cfg: OptimizerConfig, parameters=None) -> dict:
    """A LightningModule's ``configure_optimizers`` answer for every optimizer: AdamW on
    ``parameters`` (default: all of ``module``'s) with ``cfg``'s rate and weight decay, stepped by
    :func:`warmup_cosine` over the trainer's whole run."""
    import torch

    opt = torch.optim.AdamW(module.parameters() if parameters is None else parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return warmup_cosine(opt, module.trainer.estimated_stepping_batches, cfg.warmup_steps)


class SeededOrder:
    """The order in which a training loader visits its ``n`` examples: a shuffle, or with
    ``lengths`` transformers' length-grouped order (``get_length_grouped_indices``, as its
    ``LengthGroupedSampler`` and ``Trainer``'s ``group_by_length``: a shuffle cut into mega-batches
    of up to 50 batches, each sorted by length, so a batch carries less padding).

    Each order is drawn from a generator seeded by (seed, epoch, pass), never from the global RNG
    (as ``DistributedSampler`` seeds by epoch), so the order of any epoch can be drawn again after a
    restart. ``set_epoch`` (Lightning calls it as each epoch starts) restarts the passes; a loader
    cycled within an epoch (the PRM's sibling pairs beside its points) draws a new order each pass.
    Its state (epoch, pass, examples handed out) is what torchdata's ``StatefulDataLoader`` puts
    in the checkpoint, and a loader restored from it hands out the rest of the same order."""

    def __init__(self, n: int, seed: int, lengths: list[int] | None = None, batch_size: int = 1):
        self.n, self.seed, self.lengths, self.batch_size = n, seed, lengths, batch_size
        self.epoch, self._next_pass, self._pass, self._yielded = 0, 0, 0, 0
        self._resume: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self._next_pass = epoch, 0

    def order(self, epoch: int, pass_: int) -> list[int]:
        import torch

        generator = torch.Generator().manual_seed(stable_int(f"order/{self.seed}/{epoch}/{pass_}") % 2**63)
        if self.lengths is None:
            return torch.randperm(self.n, generator=generator).tolist()
        from transformers.trainer_pt_utils import get_length_grouped_indices

        return get_length_grouped_indices(self.lengths, self.batch_size, generator=generator)

    def __iter__(self):
        (self._pass, skip), self._resume = self._resume or (self._next_pass, 0), None
        self._next_pass, self._yielded = self._pass + 1, skip
        for i in self.order(self.epoch, self._pass)[skip:]:
            self._yielded += 1
            yield i

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pass": self._pass, "yielded": self._yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self._resume = state["epoch"], (state["pass"], state["yielded"])
        self._next_pass = state["pass"] + 1


def train_loader(examples: list, batch_size: int, collate_fn, seed: int, num_workers: int = 0, grouped: bool = False):
    """A training loader that resumes mid-epoch where it stopped: torchdata's ``StatefulDataLoader``
    over ``examples`` in a :class:`SeededOrder` (by length when ``grouped``: the examples'
    ``input_ids`` lengths). Its own generator seeds the worker processes, so iterating it never
    draws from the global RNG that dropout uses."""
    import torch
    from torchdata.stateful_dataloader import StatefulDataLoader

    lengths = [len(e["input_ids"]) for e in examples] if grouped else None
    return StatefulDataLoader(
        examples,
        batch_size=batch_size,
        sampler=SeededOrder(len(examples), seed, lengths, batch_size),
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(seed),
    )


def eval_loader(examples: list, batch_size: int, collate_fn, num_workers: int = 0):
    """A validation loader: ``examples`` in order, drawing nothing from the global RNG (its own
    generator), so validating between training steps leaves the training's RNG as it was."""
    import torch
    from torch.utils.data import DataLoader

    return DataLoader(
        examples,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(0),
    )


def fit_and_export(ctx: "TrainContext", module, datamodule, model, tokenizer, prefix: str = "model.") -> tuple[Path, dict[str, Any]]:
    """The one training path: build the Trainer, :func:`fit` (resuming when ``ctx.resume``), and
    export ``model`` with the trained weights — the module's state under ``prefix`` — to
    ``<out_dir>/model``. Returns the export's path and the whole state (for extra files, as
    ILQL's heads)."""
    trainer = build_trainer(ctx.trainer, ctx.out_dir, resume=ctx.resume, config=ctx.config)
    state = fit(trainer, module, datamodule, ctx.out_dir, ctx.resume)  # the best validation checkpoint's, not merely the last
    return export_hf(model, tokenizer, ctx.out_dir / "model", submodule_state(state, prefix)), state


def _readable(folder: Path) -> None:
    mask = umask()
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def is_global_zero() -> bool:
    """Whether this process writes the run's shared outputs (only global rank 0 exports; see
    :func:`qstar.lightning_parts.is_global_zero`)."""
    from qstar.lightning_parts import is_global_zero as zero

    return zero()


def export_hf(model, tokenizer, dest: Path, state_dict: dict[str, Any] | None = None) -> Path:
    """Write ``save_pretrained`` output (safetensors) atomically: a crash leaves the old export.
    ``state_dict`` (what :func:`fit` returned, under the model's prefix) is written instead of the
    model's own parameters, which are shards under FSDP. Only global rank 0 writes; the other
    ranks of a distributed run return the same path."""
    dest = Path(dest)
    if not is_global_zero():
        return dest
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(tmp)
    _readable(tmp)  # safetensors writes 0600 files; an exported model is shared like any output
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
    config: dict | None = None  # the composed config: the tracking run's hyperparameters (trainer.logger)

"""Lightning callbacks and loggers of qstar's trainers. Module-level (not defined inside a
function) so that spawned distributed workers can unpickle them; imported only when a trainer is
built, since importing Lightning is slow."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


def save_atomically(trainer, filepath, save) -> None:
    """``save(tmp)`` on every rank (collective under sharded strategies), then rank 0 renames the
    temporary file to ``filepath``: a kill mid-write leaves the previous checkpoint whole."""
    tmp = str(Path(filepath).with_name(f".{Path(filepath).name}.tmp"))
    save(tmp)
    trainer.strategy.barrier()
    if trainer.is_global_zero:
        os.replace(tmp, filepath)


class AtomicCheckpoint(ModelCheckpoint):
    """Lightning's checkpointing, each file written atomically (:func:`save_atomically`)."""

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        save_atomically(trainer, filepath, lambda tmp: super(AtomicCheckpoint, self)._save_checkpoint(trainer, tmp))
        self._last_checkpoint_saved = filepath


class KeepingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):  # continue the columns the file already has
            import csv

            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = list(next(csv.reader(f), []))

    def _check_log_dir_exists(self) -> None:
        pass  # Lightning deletes an existing metrics.csv here; a resumed run appends to it


class ResumableCSVLogger(CSVLogger):
    """``logs/metrics.csv`` that a resumed run extends instead of overwriting."""

    @property
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = KeepingWriter(log_dir=self.log_dir)
        return self._experiment


class FinalCheckpoint(Callback):
    """Writes ``last.ckpt`` (atomically) when training ends: ``last.ckpt`` is otherwise written every
    ``checkpoint_every_n_steps``, and a run stopped by max_steps/max_time in between would resume
    from an older state. It runs inside the training processes: under ``ddp_spawn`` the launching
    process gets the weights back but not the step count or the optimizer state."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_end(self, trainer, pl_module) -> None:
        save_atomically(trainer, self.path, trainer.save_checkpoint)


class RngStates(Callback):
    """The global RNG states (torch's on the CPU and every CUDA device, Python's, NumPy's) go into
    every checkpoint, and a resumed run takes them back just before its first training step, after
    everything a restart draws on the way (the sanity check, the loaders' setup). With the loaders'
    own seeded order (:class:`qstar.training.SeededOrder`), nothing but training draws from these
    states, so dropout in a resumed run masks as in an uninterrupted one. Lightning checkpoints
    neither. Stored as tensors and plain numbers: ``torch.load(weights_only=True)`` reads them. Under
    several processes each rank takes back rank 0's states."""

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        import random

        import numpy as np
        import torch

        name, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss = random.getstate()
        state = {
            "torch": torch.get_rng_state(),
            "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is None:
            return
        import random

        import numpy as np
        import torch

        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal.tolist()), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def is_global_zero() -> bool:
    """Whether this process writes the run's shared outputs. Under a launcher that starts every
    rank itself (torchrun, srun, Lightning's own ``ddp``), every rank runs the whole command after
    ``fit``; only global rank 0 exports. Lightning keeps the rank here, set from the launcher's
    environment and again when the strategy starts."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def frozen_copy(model):
    """A frozen copy of ``model`` as it is now, in eval mode: the reference of a loss that keeps the
    trained model near its start (DPO's π_ref, the KL anchor's π_start)."""
    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


class WithFrozenStart:
    """Mixin for a LightningModule whose ``self.ref`` is a :func:`frozen_copy` of the start model.
    The copy is rebuilt from the start model on every run, so it stays out of checkpoints, and
    loading a checkpoint does not expect it back (while the module's own keys load strictly)."""

    def state_dict(self, *args, **kwargs):
        return {k: v for k, v in super().state_dict(*args, **kwargs).items() if not k.startswith("ref.")}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        missing, unexpected = super().load_state_dict(state_dict, strict=False, **kwargs)
        missing = [k for k in missing if not k.startswith("ref.")]
        if strict and (missing or unexpected):
            raise RuntimeError(f"checkpoint does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
        return missing, unexpected

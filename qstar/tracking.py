"""Experiment tracking through Lightning's own loggers: TensorBoard or MLflow, beside the files
every run writes anyway (``logs/metrics.csv``, ``results.json``, ``rounds.json``).

``qstar train`` adds the chosen logger next to its CSV logger (``trainer.logger``); ``qstar eval``
and ``qstar loop`` write their tables — solve rate and budget per problem, a comparison's points,
the loop's round rows — through the same logger classes (``tracking.logger``), with
``log_hyperparams`` (the composed config) and ``log_metrics``.

Where it goes:

- ``tensorboard``: event files in ``<out_dir>/logs/tensorboard/`` (train) or
  ``<out_dir>/tensorboard/`` (eval, loop); ``tensorboard --logdir <out_dir>`` finds them all, a
  loop's stages included.
- ``mlflow``: one MLflow run per command (its name: the run's ``out_dir``) in the experiment
  ``experiment_name``, at ``tracking_uri``: by default a file store ``file:<out_dir>/mlruns``, so
  nothing needs a server. A loop hands its own store to every stage, so all of them share one.
  MLflow ≥ 3.7 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE=true``; qstar sets it for a
  ``file:`` URI, and a reader in another process sets it too (``MLFLOW_ALLOW_FILE_STORE=true mlflow
  ui --backend-store-uri file:...``). A ``sqlite:`` or ``http:`` URI needs no such switch.

``<dir>/tracking.json`` keeps the MLflow run's id, so a resumed ``qstar train`` (and a rerun
loop) continues the same run, and the loop's round rows already logged, so a rerun does not log
them twice.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from qstar.errors import QstarError
from qstar.files import atomic_write_text

LOGGERS = ("csv", "tensorboard", "mlflow")
# the modules Lightning's logger needs (any one of them), and the pip package that provides it
PACKAGES = {"tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"), "mlflow": (("mlflow",), "mlflow")}


def check_logger(key: str, name: str) -> None:
    """A one-line error for an unknown logger name or a logger whose package is not installed
    (checked when a config is composed: the run never starts)."""
    if name not in LOGGERS:
        raise QstarError(f"{key}={name!r}: choose one of {', '.join(LOGGERS)}")
    if name in PACKAGES:
        modules, package = PACKAGES[name]
        if not any(importlib.util.find_spec(m) for m in modules):
            raise QstarError(f"{key}={name} needs {package}: pip install 'qstar[tracking]'")


@dataclass
class TrackingConfig:
    """Where ``qstar eval`` and ``qstar loop`` also write their tables (``tracking.<field>=``);
    ``qstar train`` has the same fields under ``trainer.``."""

    logger: str = "csv"  # csv (the JSON/CSV files only) | tensorboard | mlflow: Lightning's logger that also gets the tables
    tracking_uri: Optional[str] = None  # mlflow: the tracking server or store; null = the file store file:<out_dir>/mlruns
    experiment_name: str = "qstar"  # mlflow: the experiment the runs join

    def __post_init__(self):
        check_logger("tracking.logger", self.logger)


class Tracker:
    """One command's tracking run: a Lightning logger (``None`` for csv) and the state kept in
    ``<directory>/tracking.json``."""

    def __init__(self, logger: Any, directory: Path, state: dict, continuing: bool = False):
        self.logger = logger
        self.directory = directory
        self.state = state
        self.continuing = continuing  # an earlier invocation's run: its parameters are logged already

    def params(self, config: dict) -> None:
        """The composed config, once per run (MLflow refuses a parameter whose value changes)."""
        if self.logger is not None and not self.continuing and is_global_zero():
            self.logger.log_hyperparams(config)

    def metrics(self, metrics: dict[str, Any], step: int = 0, key: str | None = None) -> None:
        """Log the numbers of ``metrics`` (names made valid for every backend) at ``step``;
        with ``key``, only if no earlier call with the same key logged them (a rerun loop)."""
        if self.logger is None or not is_global_zero() or (key is not None and key in self.state.get("logged", [])):
            return
        numbers = {_metric_name(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.logger.log_metrics(numbers, step=step)
        self.logger.save()
        self.state.setdefault("logged", []).append(key if key is not None else f"step-{step}")
        self._save_state()

    def close(self) -> None:
        if self.logger is not None and is_global_zero():
            self.logger.finalize("success")

    def _save_state(self) -> None:
        atomic_write_text(self.directory / "tracking.json", json.dumps(self.state, indent=1) + "\n")


def _metric_name(key: str) -> str:
    """MLflow allows letters, digits and ``_ / . - space`` in a metric name: ``greedy_pass@1`` → ``greedy_pass_at_1``."""
    return re.sub(r"[^A-Za-z0-9_/. -]", "_", key.replace("@", "_at_"))


def is_global_zero() -> bool:
    from qstar.lightning_parts import is_global_zero as zero

    return zero()


def default_uri(out_dir: Path) -> str:
    return (Path(out_dir) / "mlruns").resolve().as_uri()


def make_logger(
    name: str,
    directory: Path,
    out_dir: Path,
    tracking_uri: str | None = None,
    experiment_name: str = "qstar",
    resume: bool = False,
):
    """Lightning's logger for ``name`` (``None`` for csv), writing TensorBoard files under
    ``<directory>/tensorboard/`` or to an MLflow run; ``resume`` continues the MLflow run recorded
    in ``<directory>/tracking.json`` (same store and experiment) instead of starting one. Returns
    ``(logger, state, continuing)``: ``state`` is what ``tracking.json`` records, ``continuing``
    whether the run is an earlier invocation's."""
    check_logger("logger", name)
    directory = Path(directory)
    saved = _read_state(directory) if resume else {}
    if name == "csv":
        return None, {}, False
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        continuing = saved.get("logger") == "tensorboard"
        state = saved if continuing else {"logger": "tensorboard"}
        # version="": the files go straight into <directory>/tensorboard, which a resumed run extends
        logger = TensorBoardLogger(save_dir=str(directory), name="tensorboard", version="", default_hp_metric=False)
        return logger, state, continuing
    uri = tracking_uri or default_uri(out_dir)
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # see the module docstring
    from lightning.pytorch.loggers import MLFlowLogger

    continuing = (saved.get("logger"), saved.get("tracking_uri"), saved.get("experiment_name")) == ("mlflow", uri, experiment_name)
    continuing = continuing and bool(saved.get("run_id"))
    state = saved if continuing else {"logger": "mlflow", "tracking_uri": uri, "experiment_name": experiment_name}

    def mlflow_logger(run_id):
        return MLFlowLogger(
            experiment_name=experiment_name, run_name=str(out_dir), tracking_uri=uri, run_id=run_id, tags={"qstar.out_dir": str(out_dir)}
        )

    try:
        logger = mlflow_logger(state.get("run_id"))  # an unknown URI scheme fails here
        if is_global_zero():
            try:
                state["run_id"] = logger.run_id  # the run is made now: an unreachable store fails here, not after training
            except Exception:
                if not continuing:
                    raise
                # the recorded run is gone (deleted, or the store moved): start a new one
                continuing, state = False, {"logger": "mlflow", "tracking_uri": uri, "experiment_name": experiment_name}
                logger = mlflow_logger(None)
                state["run_id"] = logger.run_id
    except Exception as e:  # MlflowException, a refused connection …: one line
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        why = why if len(why) <= 160 else why[:159] + "…"
        raise QstarError(
            f"tracking_uri={uri}: cannot start an MLflow run ({why}); check the URI, or leave it unset for a local file store"
        ) from None
    if is_global_zero():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "tracking.json", json.dumps(state, indent=1) + "\n")
    return logger, state, continuing


def open_tracker(cfg: Any, out_dir: Path, resume: bool = False) -> Tracker:
    """The tracking run of ``qstar eval`` / ``qstar loop`` (``cfg``: a ``tracking`` node), its
    files in ``out_dir``."""
    if cfg is None or cfg.logger == "csv":
        return Tracker(None, Path(out_dir), {})
    logger, state, continuing = make_logger(cfg.logger, out_dir, out_dir, cfg.tracking_uri, cfg.experiment_name, resume=resume)
    return Tracker(logger, Path(out_dir), state, continuing)


def _read_state(directory: Path) -> dict:
    path = Path(directory) / "tracking.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return {}  # a damaged record only costs continuing the run: a new one starts


def stage_overrides(cfg: Any, prefix: str, out_dir: Path) -> list[str]:
    """The overrides that send a child command's numbers to the same place (``prefix``:
    ``trainer`` or ``tracking``): the parent's store (by default ``file:<out_dir>/mlruns`` of the
    parent), so a loop's stages and the loop itself share one."""
    if cfg is None or cfg.logger == "csv":
        return []
    out = [f"{prefix}.logger={cfg.logger}"]
    if cfg.logger == "mlflow":
        uri = cfg.tracking_uri or default_uri(out_dir)
        out += [f"{prefix}.tracking_uri='{uri}'", f"{prefix}.experiment_name='{cfg.experiment_name}'"]
    return out

"""Optimizer ``keep``: a policy optimizer that exports the policy unchanged.

It is the control arm of ``qstar loop``: a loop run with ``optimizer=keep`` re-searches and
re-labels with the same policy every round (only the PRM learns), so whatever another policy
optimizer gains is measured against it. It declares what ``qstar loop`` asks every policy
optimizer (``trains`` and ``data_kind``), and exports through qstar's shared model helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qstar.errors import QstarError
from qstar.models import load_causal_lm, load_tokenizer
from qstar.training import TrainContext, export_hf


@dataclass
class KeepConfig:
    name: str = "keep"  # the registered name: optimizer=keep


class KeepPolicy:
    trains = "policy"  # qstar loop may train the policy with it
    data_kind = "trees"  # it is handed a round's searched trees (and reads none of them)

    def __init__(self, cfg: KeepConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        if not ctx.model.name_or_path:
            raise QstarError("optimizer=keep exports an existing policy: set model.name_or_path")
        model = load_causal_lm(ctx.model.name_or_path)
        return export_hf(model, load_tokenizer(ctx.model.name_or_path), ctx.out_dir / "model")

"""Sharding a split over workers, and merging what they wrote.

``shard=i/n`` (``qstar search``, ``qstar eval``, ``qstar label``) keeps the problems whose stable
hash (sha256 of the problem id) is ``i`` modulo ``n``: n workers — processes on one machine, or
the tasks of a cluster job array — split a split without overlap and without talking to each
other. Sampling streams are keyed by problem id, so a problem's tree is the same whichever
worker searched it and whatever else shared its batch.

Every such run writes ``run.json`` next to its output: the command, the config that decides the
results (everything but ``shard``, ``out_dir``, ``progress`` and ``batch_problems``), its shard and
the ids of the whole selection it is a part of. ``qstar merge inputs=[dir, …] out_dir=…`` checks
that the shards come from one run (one config, each shard of ``n`` once, every problem of the
selection exactly once) and writes the merged file in the selection's order, as one worker would
have.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from qstar.errors import QstarError
from qstar.seeding import stable_int
from qstar.tree import atomic_write_text

MANIFEST = "run.json"
NOT_RESULTS = ("shard", "out_dir", "progress", "batch_problems")  # settings that change no result
OUTPUT_OF = {"search": "trees.jsonl", "eval": "trees.jsonl", "label": "labels.jsonl"}


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """``"2/8"`` → (2, 8); None → None; anything else is a one-line error."""
    if shard is None:
        return None
    i, sep, n = str(shard).partition("/")
    if not (sep and i.strip().isdigit() and n.strip().isdigit()) or not 0 <= int(i) < int(n):
        raise QstarError(f"shard={shard}: use i/n with 0 ≤ i < n (e.g. shard=0/4 for the first of 4 workers)")
    return int(i), int(n)


def in_shard(problem_id: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    i, n = shard
    return stable_int(f"shard/{problem_id}") % n == i


def write_manifest(out: Path, command: str, cfg: DictConfig, selection: list[str]) -> None:
    config = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in NOT_RESULTS}
    info = {"command": command, "shard": cfg.get("shard"), "config": config, "selection": selection}
    atomic_write_text(out / MANIFEST, json.dumps(info, indent=1) + "\n")

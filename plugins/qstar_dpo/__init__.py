"""Optimizer ``dpo``: step-level Direct Preference Optimization from sibling steps of searched trees.

Data (:func:`step_pairs`): the step labels ``qstar label`` writes (TRL stepwise records with node
ids and soft Monte-Carlo labels) are read back into trees; two children of the same node are two
continuations of one prefix, so the better-labelled one is *chosen* and the other *rejected* when
their labels differ by at least ``margin`` — step-level preference pairs as in Step-DPO (Lai et
al., 2024), with AI-feedback labels (Math-Shepherd rollouts) instead of human or GPT-4 ones.
Records follow TRL's preference format: ``{"prompt", "chosen", "rejected"}`` (the prompt holds the
task prompt and the steps before, chosen/rejected one step each, delimiter included).

Loss (Rafailov et al., 2023): ``-log σ(β · [(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])``
with log-probs summed over the step's tokens only and ``π_ref`` the frozen start policy, plus
``rpo_alpha`` × the chosen step's negative log-likelihood per token (Pang et al., 2024, "Iterative
Reasoning Preference Optimization"; TRL's ``rpo_alpha``). The NLL term is on by default (1.0, the
paper's value): with pure DPO (``rpo_alpha=0``) the policy can collapse onto steps that end in
"24" whatever the arithmetic (measured: docs/results/journal.md); the NLL term keeps the chosen
steps likely, so the policy cannot win the margin by making both sides
unlikely. ``tokens="branch"`` (default ``"step"``) restricts the preference term to the tokens up
to and including the first one where chosen and rejected differ — the decision; the shared tokens
before it cancel — while the NLL term keeps the whole chosen step. A deviation from Step-DPO,
which scores the whole step: a step's later tokens follow from its decision (``8+3=`` then
``11``), so pushing the rejected step down also pushes down right arithmetic and the share of
legal steps the policy writes (measured: docs/results/loop.md).
Logged:
``train/loss``, ``val/loss``, ``val/reward_accuracy`` (share of pairs whose implicit reward
β·(log π − log π_ref) ranks chosen above rejected) and ``val/reward_margin``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.files import atomic_write_text
from qstar.labels import read_label_records  # noqa: F401 - kept importable here
from qstar.models import load_causal_lm, load_tokenizer, max_length
from qstar.training import OptimizerConfig, TrainContext, fit_and_export


@dataclass
class DPOConfig(OptimizerConfig):
    name: str = "dpo"  # the registered name: optimizer=dpo
    lr: float = 1e-4  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear warm-up, then cosine decay to lr/10
    batch_size: int = 32  # preference pairs per batch
    val_percent: float = 10.0  # problems held out (by id) for validation
    beta: float = 0.1  # strength of the pull towards the reference policy (DPO's β)
    rpo_alpha: float = 1.0  # weight of the chosen step's per-token NLL (RPO, Pang et al. 2024); 0 = pure DPO
    margin: float = 0.25  # a pair needs |label(chosen) − label(rejected)| ≥ this
    tokens: str = "step"  # the preference term's tokens: "step" (all of the step) or "branch" (up to the first that differs)
    max_pairs_per_prefix: int = 4  # the best sibling against at most this many worse ones

    def __post_init__(self):
        super().__post_init__()
        if not self.beta > 0:
            raise QstarError(f"optimizer.beta={self.beta}: must be positive")
        if self.rpo_alpha < 0:
            raise QstarError(f"optimizer.rpo_alpha={self.rpo_alpha}: must not be negative (0 = pure DPO)")
        if not 0 <= self.margin < 1:
            raise QstarError(f"optimizer.margin={self.margin}: labels are in [0, 1]; use a margin in [0, 1)")
        if self.tokens not in ("step", "branch"):
            raise QstarError(
                f"optimizer.tokens={self.tokens!r}: use step (every token of the step) or branch (the tokens up to where chosen and rejected part)"
            )
        if self.max_pairs_per_prefix < 1:
            raise QstarError(f"optimizer.max_pairs_per_prefix={self.max_pairs_per_prefix}: must be at least 1")


def step_pairs(records: list[dict], delimiter: str = "\n", margin: float = 0.25, max_pairs_per_prefix: int = 4) -> list[dict]:
    """Preference pairs between sibling steps (same problem, same parent node).

    For every node with two or more labelled children, the child with the highest label is
    chosen against each sibling labelled at least ``margin`` lower (the lowest first, at most
    ``max_pairs_per_prefix``). Ties among the best keep the first seen."""
    nodes: dict[tuple[str, int], dict] = {}
    for r in records:
        parent = 0
        for depth, (step, label, nid) in enumerate(zip(r["completions"], r["soft_labels"], r["node_ids"])):
            nodes.setdefault(
                (r["problem_id"], nid),
                {"step": step, "label": float(label), "parent": parent, "prefix": r["completions"][:depth], "prompt": r["prompt"]},
            )
            parent = nid
    children: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for (pid, _), n in nodes.items():
        children[(pid, n["parent"])].append(n)
    pairs = []
    for (pid, parent), kids in children.items():
        distinct = list({k["step"]: k for k in kids}.values())
        if len(distinct) < 2:
            continue
        best = max(distinct, key=lambda k: k["label"])
        worse = sorted((k for k in distinct if best["label"] - k["label"] >= margin), key=lambda k: k["label"])
        for w in worse[:max_pairs_per_prefix]:
            pairs.append(
                {
                    "prompt": best["prompt"] + "".join(s + delimiter for s in best["prefix"]),
                    "chosen": best["step"] + delimiter,
                    "rejected": w["step"] + delimiter,
                    "problem_id": pid,
                    "chosen_label": best["label"],
                    "rejected_label": w["label"],
                }
            )
    return pairs


class DPOOptimizer:
    data_kind = "labels"  # data= is a labels.jsonl, not trees
    trains = "policy"

    def __init__(self, cfg: DPOConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        if not ctx.data:
            raise QstarError("optimizer=dpo needs data=<labels.jsonl written by qstar label> (sibling steps with labels)")
        if not ctx.model.name_or_path:
            raise QstarError("optimizer=dpo fine-tunes a policy: set model.name_or_path (e.g. pkg://qstar_game24/policy)")
        pairs = step_pairs(read_label_records(ctx.data), ctx.segmenter.delimiter, self.cfg.margin, self.cfg.max_pairs_per_prefix)
        if not pairs:
            raise QstarError(
                f"no sibling steps in {ctx.data} differ by optimizer.margin={self.cfg.margin}: lower the margin or label more trees"
            )
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(ctx.out_dir / "pairs.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))
        import lightning as L

        from .train import DPOModule, PairDataModule

        L.seed_everything(ctx.seed, workers=True)
        tok = load_tokenizer(ctx.model.name_or_path)
        policy = load_causal_lm(ctx.model.name_or_path).train()
        max_len = max_length(policy)
        module = DPOModule(policy, self.cfg)
        data = PairDataModule(pairs, self.cfg, tok, max_len, ctx.seed)
        return fit_and_export(ctx, module, data, module.model, tok)[0]


@hookimpl
def qstar_register_optimizers(register):
    register("dpo", DPOOptimizer, DPOConfig)


# The implementation (train.py) imports torch and friends: it loads on first use, so building the
# plugin registry (every qstar command, `qstar --help`, a bad override's one-line error) stays fast.
_LAZY = ("DPOModule", "PairDataModule", "collate", "dpo_loss", "encode_pair", "step_logprobs", "token_logprobs")


def __getattr__(name: str):
    if name in _LAZY:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

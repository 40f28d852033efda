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

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.training import OptimizerConfig, TrainContext, fit_and_export
from qstar.tree import iter_results

SOURCES = ("auto", "gold", "random-legal", "right-paths")
VAL_BY = ("path", "problem")


@dataclass
class SFTConfig(OptimizerConfig):
    name: str = "sft"  # the registered name: optimizer=sft
    lr: float = 1e-3  # tiny models tolerate (and need) a high rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_steps: int = 100  # linear warm-up (at most a tenth of training), then cosine decay to lr/10
    batch_size: int = 64  # trajectories per batch
    val_percent: float = 10.0  # right-paths trees have no validation split: this percent of the paths is held out
    val_by: str = "path"  # how right-paths hold out val_percent: path (any paths) | problem (all paths of those problems: unseen problems)
    max_per_problem: int = 32  # cap gold trajectories per problem so easy puzzles don't dominate
    source: str = "auto"  # auto (data= trees: chosen right paths, else gold) | gold | random-legal (no solution shown) | right-paths (every right leaf)
    legal_steps: bool = False  # paths from data= trees: keep one only if the task's rules accept every step, not just its answer
    replay_legal: int = 0  # per train problem, this many random legal trajectories (none reaching the goal: what P0 learned from) trained on beside the rest
    group_by_length: bool = False  # batches of trajectories of similar length (transformers' length-grouped order, as its Trainer's
    # group_by_length): less padding, so faster epochs; the shuffle is then within mega-batches of up to 50 batches
    kl_anchor: float = 0.0  # weight of KL(policy || the model training starts from, frozen) on every trained token: keeps it near its start

    def __post_init__(self):
        super().__post_init__()
        if self.kl_anchor < 0:
            raise QstarError(f"optimizer.kl_anchor={self.kl_anchor}: use 0 (off) or a positive weight of the KL term")
        if self.source not in SOURCES:
            raise QstarError(f"optimizer.source={self.source!r}: choose {', '.join(SOURCES)}")
        if self.val_by not in VAL_BY:
            raise QstarError(f"optimizer.val_by={self.val_by!r}: choose {' or '.join(VAL_BY)}")
        if self.replay_legal < 0:
            raise QstarError(f"optimizer.replay_legal={self.replay_legal}: the random legal trajectories per train problem, 0 or more")
        if self.max_per_problem < 1:
            raise QstarError(f"optimizer.max_per_problem={self.max_per_problem}: must be at least 1")


def trajectories(
    ctx: TrainContext, split: str, cap: int, seed: int, source: str = "auto", legal_steps: bool = False
) -> list[tuple[str, str]]:
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
        seen: set = set()  # a path found again by a later search of the problem counts once
        for r in iter_results(ctx.data):
            paths = [p for p in right_paths(r, task, legal_steps) if (r.problem.id, tuple(p)) not in seen]
            seen.update((r.problem.id, tuple(p)) for p in paths)
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
    arithmetic that ends in a right expression passes it. Such paths can come to dominate the right
    paths over loop rounds; filtering them did not lift the loop, so the paper's rule (the outcome
    only) stays the default (measured: docs/results/loop.md)."""
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


class SFTOptimizer:
    data_kind = "trees"  # data=: searched trees (their right paths); none: the task's gold trajectories
    trains = "policy"

    def __init__(self, cfg: SFTConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        import lightning as L

        from .train import CausalLMModule, StepDataModule, load_or_build

        L.seed_everything(ctx.seed, workers=True)
        model, tok = load_or_build(ctx.model)
        max_len = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 512)
        module = CausalLMModule(model, self.cfg)
        data = StepDataModule(ctx, self.cfg, tok, max_len)
        return fit_and_export(ctx, module, data, module.model, tok)[0]


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


# The implementation (train.py) imports torch and friends: it loads on first use, so building the
# plugin registry (every qstar command, `qstar --help`, a bad override's one-line error) stays fast.
_LAZY = ("CausalLMModule", "StepDataModule", "collate", "encode", "load_or_build")


def __getattr__(name: str):
    if name in _LAZY:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Process and outcome reward models: optimizers ``prm`` and ``orm``, scorers ``prm`` and ``orm``.

A PRM (Lightman et al., 2023, "Let's Verify Step by Step"; trained here on Math-Shepherd
Monte-Carlo labels, Wang et al., 2024) predicts, at the end of every step, the probability that
the step is good — for ``mc-rollout`` labels, that the policy still reaches a right answer from
it. An ORM (Cobbe et al., 2021, "Training Verifiers to Solve Math Word Problems") is trained on
the outcome of each path only, read at the path's end. Both are one transformers token
classifier with a one-unit head (see :mod:`qstar_rm.model`); the loss is binary cross-entropy,
which takes soft targets (Math-Shepherd's soft estimation) as well as hard ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.training import OptimizerConfig
from qstar.tree import Problem

KINDS = ("prm", "orm")  # the reward model kinds: read at every step end, or at the path's end
AGGREGATES = ("min", "prod", "last", "mean")
ENSEMBLE_REDUCE = ("mean", "min")  # how an ensemble's step values become one: their mean, or the most doubtful member's


# ------------------------------------------------------------------------------------ training


@dataclass
class RewardTrainConfig(OptimizerConfig):
    name: str = "prm"  # the registered name: optimizer=prm (every step end) or optimizer=orm (path end)
    lr: float = 3e-4  # AdamW learning rate (warm-up then cosine decay, as optimizer=sft)
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_steps: int = 50  # linear warm-up steps (at most a tenth of training)
    batch_size: int = 64  # paths per batch
    val_percent: float = 5.0  # percent of problems (by stable hash) held out for val/loss, val/auc, val/accuracy
    target: str = "soft"  # soft: train on soft labels where the data has them (MC fractions); hard: on the booleans
    positive_ratings: list = field(default_factory=lambda: [1])  # PRM800K ratings counted as a good step (TRL: only +1)
    head_dropout: float = 0.1  # dropout before the reward head in training (transformers' default for token-classification heads)
    backup: bool = False  # hard targets: a step is good when any later step of its path is (a later step's right rollout completes it too)
    pairwise: float = 0.0  # PRM: weight of a sibling ranking loss beside the BCE (rStar-Math's PPM): -log σ(r_better - r_worse) over
    # steps that share every step before them, up to 2 best against 2 worst per parent (0 = pointwise BCE only)
    pool_states: bool = False  # PRM: each step leaving a task state learns the mean rollout outcome of every labelled step
    # leaving that state, in the whole file (a transposition table over the labels; needs "states", written by qstar label)
    group_by_length: bool = False  # batches of paths of similar length (transformers' length-grouped order, as its Trainer's
    # group_by_length): less padding, so faster epochs; the shuffle is then within mega-batches of up to 50 batches

    def __post_init__(self):
        super().__post_init__()
        if self.name not in KINDS:
            raise QstarError(f"optimizer.name={self.name!r}: choose prm or orm")
        if self.target not in ("soft", "hard"):
            raise QstarError(f"optimizer.target={self.target!r}: choose soft or hard")
        if not all(r in (-1, 0, 1) for r in self.positive_ratings) or not self.positive_ratings:
            raise QstarError(f"optimizer.positive_ratings={self.positive_ratings}: list ratings among -1, 0, 1 (e.g. [1])")
        if self.backup and self.target != "hard":
            raise QstarError("optimizer.backup=true backs up hard labels along each path: add optimizer.target=hard")
        if self.pairwise < 0:
            raise QstarError(
                f"optimizer.pairwise={self.pairwise}: use 0 (pointwise BCE only) or a positive weight of the sibling ranking loss"
            )
        if self.pairwise and self.name != "prm":
            raise QstarError("optimizer.pairwise ranks sibling steps: it needs a step-level model, optimizer=prm")
        if self.pool_states and self.name != "prm":
            raise QstarError("optimizer.pool_states pools step labels by state: it needs a step-level model, optimizer=prm")
        if not 0 <= self.head_dropout < 1:
            raise QstarError(f"optimizer.head_dropout={self.head_dropout}: use a probability in [0, 1)")


class RewardOptimizer:
    data_kind = "steps"  # `data=` is step-labelled (TRL stepwise JSONL or PRM800K), not trees
    trains = "reward"

    def __init__(self, cfg: RewardTrainConfig):
        self.cfg = cfg

    def fit(self, ctx) -> Path:
        from .train import fit_reward_model

        return fit_reward_model(ctx, self.cfg)


# ------------------------------------------------------------------------------------- scoring


@dataclass
class RewardScorerConfig:
    name: str = "prm"  # the registered name: scorer=prm or scorer=orm
    model: str = "pkg://qstar_game24/prm"  # the reward model directory (exported by qstar train optimizer=prm|orm)
    aggregate: str = "min"  # path score from step scores: min | prod | last | mean (ORM: last)
    batch_size: int = 256  # paths per forward pass
    dtype: str = "float32"  # torch dtype to load the weights in
    device: str = "cpu"  # where the reward model runs (cpu, cuda, ...)
    policy_weight: float = 0.0  # step score = PRM · π(step)^w: the policy's own probability of the step as a prior (0 = the PRM alone)
    ensemble: list = field(default_factory=list)  # further reward models of the same kind, each scoring every step beside `model`
    ensemble_reduce: str = "mean"  # one value per step from the members': mean (the ensemble's probability) | min (the most doubtful)

    def __post_init__(self):
        if self.ensemble_reduce not in ENSEMBLE_REDUCE:
            raise QstarError(f"scorer.ensemble_reduce={self.ensemble_reduce!r}: choose one of {', '.join(ENSEMBLE_REDUCE)}")
        if self.policy_weight < 0:
            raise QstarError(f"scorer.policy_weight={self.policy_weight}: use 0 (the PRM alone) or a positive weight")
        if self.aggregate not in AGGREGATES:
            raise QstarError(f"scorer.aggregate={self.aggregate!r}: choose one of {', '.join(AGGREGATES)}")
        if self.batch_size < 1:
            raise QstarError(f"scorer.batch_size={self.batch_size}: must be at least 1")


class RewardScorer:
    """Scores the last step of each path with a PRM or ORM, in path context.

    A path that is a prefix of another path in the same call is not run again: the causal model's
    value at its last step end is read off the longer path's forward pass (same tokens, same
    positions), so scoring every step of ``n`` rollouts costs ``n`` sequences, not ``4n``."""

    learned = True  # a learned judge: allowed in setting=learned
    max_score = 1.0  # PRM·π^w: a probability times a probability

    def __init__(self, cfg: RewardScorerConfig, task):
        from .model import RewardModel, load_reward_model

        self.cfg, self.task = cfg, task
        self.name, self.aggregate = cfg.name, cfg.aggregate
        # The engine multiplies each step's score by π(step)^w, the policy's probability of the
        # step (its summed token log-probs, recorded when it was proposed). A product of experts:
        # the PRM judges where a step leads, the policy whether it is a step it would write; the
        # a small PRM may tell an illegal step from a legal one poorly where the policy's log-prob
        # does well, and the product can rank steps better than either (measured with
        # recipes/prm_diagnosis.py: docs/results/game24.md). In log space it is A*'s f = g + λ·h with g the
        # path's log-probability (Q*, Wang et al. 2024). Both are learned signals: the setting
        # stays learned.
        self.policy_weight = cfg.policy_weight
        # An ensemble of reward models trained alike but from other seeds (Lakshminarayanan et al.,
        # 2017, "Deep Ensembles": the mean of the members' probabilities; Coste et al., 2024,
        # "Reward Model Ensembles Help Mitigate Overoptimization": the mean, or the worst case,
        # min). Each member scores every step with its own tokenizer; one value per step comes out.
        self.members = []
        for name in [cfg.model, *cfg.ensemble]:
            model, tok = load_reward_model(name, cfg.dtype, cfg.device)
            self.members.append(RewardModel(model, tok, cfg.batch_size))
        kinds = {m.kind for m in self.members}
        if len(kinds) > 1:
            raise QstarError(
                f"scorer.ensemble mixes reward model kinds ({', '.join(sorted(kinds))}): an ensemble's members must all be PRMs or all ORMs"
            )
        self.rm = self.members[0]
        self.calls_per_step = len(self.members)  # what a step's score costs, in the budget's scorer_calls
        # the PRM's operating point, chosen on its own validation labels when it was trained
        # (qstar_rm.train.store_threshold): what qstar judge names a wrong step below. An
        # ensemble's is the members' mean (for mean) or lowest (for min), as its values are.
        points = [m.model.config.qstar_reward.get("threshold") for m in self.members]
        self.threshold = None if None in points else (min(points) if cfg.ensemble_reduce == "min" else sum(points) / len(points))

    def score(self, problems: Sequence[Problem], paths: Sequence[Sequence[str]]) -> list[float]:
        keys = [(p.id, tuple(s)) for p, s in zip(problems, paths)]
        # longest first: a path already covered as a prefix of a longer one is not run again
        covered: dict[tuple, tuple[int, int]] = {}  # (problem, steps) → (run index, step index)
        runs: list[int] = []
        for i in sorted(range(len(keys)), key=lambda i: -len(keys[i][1])):
            pid, steps = keys[i]
            if (pid, steps) in covered or not steps:
                continue
            for j in range(1, len(steps) + 1):
                covered.setdefault((pid, steps[:j]), (len(runs), j - 1))
            runs.append(i)
        prompts, steps = [self.task.prompt(problems[i]) for i in runs], [list(keys[i][1]) for i in runs]
        each = [m.step_values(prompts, steps) for m in self.members]
        reduce = min if self.cfg.ensemble_reduce == "min" else (lambda xs: sum(xs) / len(xs))
        values = each[0] if len(each) == 1 else [[reduce(vs) for vs in zip(*rows)] for rows in zip(*each)]
        out = []
        for pid, steps in keys:
            if not steps:
                out.append(0.5)  # the root: no step to judge
                continue
            r, j = covered[(pid, steps)]
            out.append(values[r][j])
        return out


@hookimpl
def qstar_register_optimizers(register):
    register("prm", RewardOptimizer, RewardTrainConfig)
    register("orm", RewardOptimizer, RewardTrainConfig)


@hookimpl
def qstar_register_scorers(register):
    from .external import ExternalPRMConfig, ExternalPRMScorer

    register("prm", RewardScorer, RewardScorerConfig)
    register("orm", RewardScorer, RewardScorerConfig)
    register("hf-prm", ExternalPRMScorer, ExternalPRMConfig)

"""Optimizer ``ilql`` and expander ``ilql``: Implicit Language Q-Learning (Snell et al., 2022) on
searched trees, and decoding guided by the learned Q and V.

Data (:func:`transitions`): every labelled path of ``qstar label``'s output is a token-level
episode. The actions are the step tokens (the prompt is context only); the reward arrives at the
last token of a step: with ``reward=outcome`` only at the end of the path (its final step's label:
1 when the rollouts/answer check found it right), with ``reward=labels`` at every step end, as
the change in the Monte-Carlo label (label of the step − label of the step before; their sum is
the final label, so it shapes the outcome reward without changing the optimum: Ng et al., 1999).
The last action of a path is terminal.

Model (:class:`ILQLModel`): the causal LM plus, on its last hidden states, two Q heads (one value
per token), their Polyak-averaged targets and a V head. Losses, as in the paper:

- V: expectile regression (τ = ``expectile``, default 0.7) towards min(target Q₁, Q₂)(s, a);
- Q: TD, Qᵢ(s, a) → r + γ·V(s') (γ = ``gamma``, 0.99; V(s') = 0 after a terminal action);
- CQL: ``cql_weight`` (0.1) × cross-entropy of each Qᵢ(s, ·) towards the action taken;
- AWAC/BC: ``awac_weight`` (1.0) × the LM's cross-entropy on the actions.

Export: the LM as a ``save_pretrained`` directory plus ``ilql_heads.safetensors`` and
``ilql.json`` in the same directory; :func:`load_heads` restores them exactly. The ``ilql``
expander decodes with ``logits + β·(Q − V)`` (β = ``expander.beta``), Q = min(Q₁, Q₂) of the
target heads, through the same batched ``generate`` as ``hf`` (shared prefill, per-row streams),
so every search can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.labels import read_label_records
from qstar.models import check_model_path, load_causal_lm, load_tokenizer, max_length
from qstar.training import OptimizerConfig, TrainContext, fit_and_export, is_global_zero, submodule_state
from qstar_hf import HFExpanderConfig

__all__ = [
    "ILQLConfig",
    "ILQLModel",
    "ilql_loss_terms",
    "polyak_update",
    "ILQLOptimizer",
    "ILQLExpander",
    "ILQLExpanderConfig",
    "load_heads",
    "transitions",
]

HEADS_FILE, META_FILE = "ilql_heads.safetensors", "ilql.json"


@dataclass
class ILQLConfig(OptimizerConfig):
    name: str = "ilql"  # the registered name: optimizer=ilql
    lr: float = 1e-4  # AdamW learning rate (LM and heads)
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 20  # linear warm-up, then cosine decay to lr/10
    batch_size: int = 32  # paths per batch
    val_percent: float = 10.0  # problems held out (by id) for validation
    gamma: float = 0.99  # discount per token
    expectile: float = 0.7  # τ of V's expectile regression
    cql_weight: float = 0.1  # weight of the conservative (CQL) term
    awac_weight: float = 1.0  # weight of the LM's behaviour-cloning cross-entropy
    polyak: float = 0.005  # target heads move this far towards the Q heads every step
    reward: str = "outcome"  # outcome (the final step's label, at the path's end) | labels (label changes at every step end)

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.gamma <= 1:
            raise QstarError(f"optimizer.gamma={self.gamma}: must be in (0, 1]")
        if not 0 < self.expectile < 1:
            raise QstarError(f"optimizer.expectile={self.expectile}: must be in (0, 1)")
        if not 0 < self.polyak <= 1:
            raise QstarError(f"optimizer.polyak={self.polyak}: must be in (0, 1]")
        if self.reward not in ("outcome", "labels"):
            raise QstarError(f"optimizer.reward={self.reward!r}: choose outcome or labels")
        for key in ("cql_weight", "awac_weight"):
            if getattr(self, key) < 0:
                raise QstarError(f"optimizer.{key}={getattr(self, key)}: must not be negative")


def transitions(tok, records: list[dict], delimiter: str, reward: str, max_len: int) -> list[dict]:
    """One token-level episode per labelled path: ``input_ids``, ``action`` (1 on step tokens),
    ``reward`` (at step ends) and ``done`` (1 on the path's last action), aligned with the ids."""
    out = []
    for r in records:
        ids = tok(r["prompt"], add_special_tokens=False)["input_ids"]
        action, rew, done = [0] * len(ids), [0.0] * len(ids), [0] * len(ids)
        prev = 0.0
        labels = [float(x) for x in r["soft_labels"]]
        for i, (step, label) in enumerate(zip(r["completions"], labels)):
            s = tok(step + delimiter, add_special_tokens=False)["input_ids"]
            if not s:
                continue
            ids += s
            action += [1] * len(s)
            step_reward = label - prev if reward == "labels" else (label if i == len(labels) - 1 else 0.0)
            rew += [0.0] * (len(s) - 1) + [step_reward]
            done += [0] * len(s)
            prev = label
        if len(ids) > max_len or not any(action):
            continue
        done[max(i for i, a in enumerate(action) if a)] = 1
        out.append({"input_ids": ids, "action": action, "reward": rew, "done": done, "problem_id": r["problem_id"]})
    return out


class ILQLOptimizer:
    data_kind = "labels"  # data= is a labels.jsonl
    trains = "policy"

    def __init__(self, cfg: ILQLConfig):
        self.cfg = cfg

    def fit(self, ctx: TrainContext) -> Path:
        if not ctx.data:
            raise QstarError("optimizer=ilql needs data=<labels.jsonl written by qstar label> (labelled paths)")
        if not ctx.model.name_or_path:
            raise QstarError("optimizer=ilql fine-tunes a policy: set model.name_or_path (e.g. pkg://qstar_game24/policy)")
        records = read_label_records(ctx.data)
        import lightning as L

        from .train import EpisodeDataModule, ILQLModel, ILQLModule, load_heads, save_heads

        L.seed_everything(ctx.seed, workers=True)
        tok = load_tokenizer(ctx.model.name_or_path)
        lm = load_causal_lm(ctx.model.name_or_path).train()
        max_len = max_length(lm)
        episodes = transitions(tok, records, ctx.segmenter.delimiter, self.cfg.reward, max_len)
        if not episodes:
            raise QstarError(f"no labelled path of {ctx.data} fits the model's {max_len} positions")
        model = ILQLModel(lm)
        start = Path(check_model_path(ctx.model.name_or_path))
        if (start / HEADS_FILE).is_file():  # a later round: go on from the heads trained before
            model.heads.load_state_dict(load_heads(start, lm).state_dict())
        module = ILQLModule(model, self.cfg)
        data = EpisodeDataModule(episodes, self.cfg, tok.pad_token_id, ctx.seed)
        dest, state = fit_and_export(ctx, module, data, module.model.lm, tok, prefix="model.lm.")
        if is_global_zero():
            save_heads(submodule_state(state, "model.heads."), self.cfg, dest)
        return dest


@dataclass
class ILQLExpanderConfig(HFExpanderConfig):
    name: str = "ilql"  # the registered name: expander=ilql (model.name_or_path: an ilql export)
    beta: float = 1.0  # decode with logits + beta * (Q - V)


def build_ilql_expander(cfg: ILQLExpanderConfig, model_cfg, segmenter):
    """The ``ilql`` expander: the ``hf`` expander with the ILQL heads' advantage added to its logits."""
    from .train import ILQLExpander

    return ILQLExpander(cfg, model_cfg, segmenter)


@hookimpl
def qstar_register_optimizers(register):
    register("ilql", ILQLOptimizer, ILQLConfig)


@hookimpl
def qstar_register_expanders(register):
    register("ilql", build_ilql_expander, ILQLExpanderConfig)


# The implementation (train.py) imports torch and friends: it loads on first use, so building the
# plugin registry (every qstar command, `qstar --help`, a bad override's one-line error) stays fast.
_LAZY = (
    "AdvantageShift",
    "EpisodeDataModule",
    "ILQLExpander",
    "ILQLHeads",
    "ILQLModel",
    "ILQLModule",
    "collate",
    "ilql_loss_terms",
    "ilql_losses",
    "load_heads",
    "polyak_update",
    "save_heads",
)


def __getattr__(name: str):
    if name in _LAZY:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

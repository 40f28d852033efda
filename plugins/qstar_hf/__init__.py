"""Expander ``hf``: a transformers causal LM proposes steps for a whole batch of nodes at once.

All prompts of a request (the frontier of many problems) go through one left-padded ``generate``
call with ``num_return_sequences=k``; generation stops at the segmenter's delimiter (a single
token id is passed as an extra EOS id, so finished rows stop costing compute); each step records
its token count and its log-probability under the model (raw logits, before temperature).

Sampling is reproducible per prompt: each row of the batch draws from its own random stream,
seeded from (``seed``, the prompt's stream key from the engine, the sample's index), so a
problem's samples do not depend on which other problems share the batch. The rows still go
through one batched ``generate`` call: :class:`RowStreamSampler` adds per-row Gumbel noise to the
temperature/top-k/top-p-processed logits and ``generate`` takes the argmax — the Gumbel-max trick,
an exact sample of the same distribution (Gumbel, 1954; Maddison et al., 2014, "A* Sampling").
"""

from __future__ import annotations

from dataclasses import dataclass

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.seeding import stable_int

__all__ = ["HFExpander", "HFExpanderConfig", "RowStreamSampler", "chat_formatter", "row_seed"]


@dataclass
class HFExpanderConfig:
    name: str = "hf"  # the registered name: expander=hf
    temperature: float = 1.0  # 0 = greedy (then one proposal per prompt, whatever k)
    top_p: float = 1.0  # nucleus sampling: keep the most likely tokens up to this mass (1.0 = off)
    top_k: int = 0  # sample among the k most likely tokens (0 = off)
    max_step_tokens: int = 40  # a Game of 24 step is ~20 tokens
    max_rollout_tokens: int = 120  # a whole remaining trajectory
    max_batch_sequences: int = 512  # prompts × k per generate call; larger requests are chunked
    seed: int = 0  # mixed into every prompt's sampling stream (the YAML passes ${seed})
    shared_prefill: bool = True  # encode each prompt once for its k samples (false: k copies through generate)
    kv_cache_mb: int = 1024  # keep the keys/values of proposed steps so a child's prompt is not re-encoded (0 = off)

    def __post_init__(self):
        if self.temperature < 0:
            raise QstarError(f"expander.temperature={self.temperature}: use 0 (greedy) or a positive temperature")
        if not 0 < self.top_p <= 1:
            raise QstarError(f"expander.top_p={self.top_p}: must be in (0, 1] (1 = off)")
        if self.top_k < 0:
            raise QstarError(f"expander.top_k={self.top_k}: use 0 (off) or a positive number of tokens")
        for key in ("max_step_tokens", "max_rollout_tokens", "max_batch_sequences"):
            if getattr(self, key) < 1:
                raise QstarError(f"expander.{key}={getattr(self, key)}: must be at least 1")
        if self.kv_cache_mb < 0:
            raise QstarError(f"expander.kv_cache_mb={self.kv_cache_mb}: use 0 (no reuse) or a bound in MiB")
        if self.kv_cache_mb > 0 and not self.shared_prefill:
            raise QstarError("expander.kv_cache_mb needs expander.shared_prefill=true: set expander.kv_cache_mb=0 to turn both off")


def chat_formatter(tokenizer, model_cfg):
    """``prompt → text``: the chat template's user turn with the assistant's turn opened, or the
    prompt unchanged for a tokenizer without a template (or with ``model.chat_template=false``)."""
    if not getattr(model_cfg, "chat_template", True) or not getattr(tokenizer, "chat_template", None):
        return lambda prompt: prompt
    system = getattr(model_cfg, "system_prompt", None)

    def wrap(prompt: str) -> str:
        turns = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)

    return wrap


def row_seed(seed: int, key: int, sample: int) -> int:
    """A 63-bit seed for one sample of one prompt, stable across processes and platforms."""
    return stable_int(f"{seed}/{key}/{sample}")


def build_hf_expander(cfg: HFExpanderConfig, model_cfg, segmenter):
    """The ``hf`` expander (the model loads here, not when the plugin is imported)."""
    from .expander import HFExpander

    return HFExpander(cfg, model_cfg, segmenter)


@hookimpl
def qstar_register_expanders(register):
    register("hf", build_hf_expander, HFExpanderConfig)


# The implementation (expander.py) imports torch and friends: it loads on first use, so building the
# plugin registry (every qstar command, `qstar --help`, a bad override's one-line error) stays fast.
_LAZY = ("ChosenLogprobs", "HFExpander", "RowStreamSampler")


def __getattr__(name: str):
    if name in _LAZY:
        from . import expander

        return getattr(expander, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

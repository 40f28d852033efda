"""Prompt-based Tree-of-Thoughts components (Yao et al., 2023, "Tree of Thoughts"): the
``propose`` expander and the ``llm-value`` scorer, for instruction-following models.

- ``propose`` (the paper's "propose prompt", used for the Game of 24 and for crosswords): one
  prompt shows the problem and the steps so far and asks for several possible next steps, one
  per line; one generation yields up to ``k`` steps. It suits a capable instruct model, where a
  sampled step per call wastes prompt tokens and repeats itself.
- ``llm-value`` (the paper's "value prompt"): the model judges a partial solution ``samples``
  times as sure / likely / impossible; the value is the sum of the words' values (20 / 1 / 0.001,
  the paper's), divided by ``samples`` × the largest value so the score is in [0, 1]. Its judging
  tokens are not in a tree's budget yet (only ``scorer_calls`` counts them), as for the PRM.

Both run on a local checkpoint (through ``hf``) or, with ``base_url=``, on a model behind an
OpenAI-compatible server (:mod:`qstar.served`): the prompt then goes to the chat endpoint as one
user turn, and the server applies the model's chat template (``served_model`` names the served
model; "" = the one it serves).

Prompts live in the components' YAML (``conf/expander/propose.yaml``,
``conf/scorer/llm-value.yaml``) and can be edited there or overridden on the command line.
Placeholders: ``{context}`` (the task's prompt and the steps so far) and ``{k}`` (how many steps
to propose). Both go through the model's chat template when it has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Optional, Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal
from qstar.seeding import stable_int
from qstar.served import ServedFields
from qstar.tree import Problem

__all__ = ["LLMValueConfig", "LLMValueScorer", "ProposeConfig", "ProposeExpander", "parse_proposals", "parse_value"]

PROPOSE_PROMPT = "{context}\n\nPropose {k} different possible next steps for the solution above, one per line. Write only the steps."
VALUE_PROMPT = (
    "{context}\n\nEvaluate whether the partial solution above can still reach the correct answer. "
    "Reply with one word on the last line: sure, likely or impossible."
)
ENUMERATION = re.compile(r"^\s*(?:[-*•]|\d+[.):]|step\s*\d+\s*[:.)-])\s*", re.IGNORECASE)


def parse_proposals(text: str, k: int) -> list[str]:
    """The distinct non-empty lines of a proposal list, without list markers ("1.", "-", "Step 2:"),
    at most ``k``."""
    out: list[str] = []
    for line in text.splitlines():
        step = ENUMERATION.sub("", line).strip()
        if step and step not in out:
            out.append(step)
    return out[:k]


def parse_value(text: str, values: dict) -> float:
    """The value of one judgement: the label word on its last non-empty line (0 when none is)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return 0.0
    last = lines[-1].lower()
    for word in sorted(values, key=len, reverse=True):  # whole words: "unlikely" is not "likely"
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", last):
            return float(values[word])
    return 0.0


class ServedGenerator:
    """The served twin of ``_generator``'s ``hf`` expander: ``chat`` marks a prompt for the chat
    endpoint, ``rollout`` samples ``k`` completions per prompt with a seed from its stream key."""

    def __init__(self, served, temperature: float, top_p: float, max_tokens: int, seed: int):
        from qstar.served import ServedClient

        self.client = ServedClient(*served)
        self.temperature, self.top_p, self.max_tokens, self.seed = temperature, top_p, max_tokens, seed

    def chat(self, text: str):
        from qstar.served import ChatTurn

        return ChatTurn(text)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        from qstar.served import request_seed

        keys = list(seeds) if seeds is not None else [stable_int(p) for p in prompts]
        greedy = self.temperature <= 0
        outs = self.client.complete(
            prompts,
            n=1 if greedy else k,
            max_tokens=self.max_tokens,
            temperature=0.0 if greedy else self.temperature,
            top_p=self.top_p,
            seeds=[None if greedy else request_seed(self.seed, key) for key in keys],
        )
        groups = [[Proposal(text=c.text, num_tokens=c.num_tokens, logprob=c.logprob) for c in o.choices] for o in outs]
        return groups, ExpandStats(generated_tokens=sum(o.generated_tokens for o in outs), prompt_tokens=[o.prompt_tokens for o in outs])


def _generator(model_cfg, temperature: float, top_p: float, max_tokens: int, seed: int, served=None):
    """An ``hf`` expander used as a plain batched, seeded generator (rollout mode); with
    ``served`` (a :class:`qstar.served.ServedConfig` and its option prefix), the served model."""
    if served is not None:
        return ServedGenerator(served, temperature, top_p, max_tokens, seed)
    from qstar_hf import HFExpander, HFExpanderConfig
    from qstar_segmenters import NewlineSegmenter

    cfg = HFExpanderConfig(
        temperature=temperature, top_p=top_p, max_step_tokens=max_tokens, max_rollout_tokens=max_tokens, seed=seed, kv_cache_mb=0
    )
    return HFExpander(cfg, model_cfg, NewlineSegmenter())


# ------------------------------------------------------------------------------------ propose


@dataclass
class ProposeConfig(ServedFields):
    name: str = "propose"  # the registered name: expander=propose (model=: the proposing model)
    prompt: str = PROPOSE_PROMPT  # the propose prompt; {context} = problem and steps so far, {k} = steps wanted
    temperature: float = 0.7  # sampling temperature of the proposal list (0 = greedy)
    top_p: float = 0.95  # nucleus sampling of the proposal list
    max_tokens: int = 256  # length of one proposal list
    seed: int = 0  # mixed into every prompt's sampling stream (the YAML passes ${seed})

    def __post_init__(self):
        if "{context}" not in self.prompt:
            raise QstarError("expander.prompt must contain {context}: it is where the problem and the steps so far go")
        if self.max_tokens < 1:
            raise QstarError(f"expander.max_tokens={self.max_tokens}: must be at least 1")


class ProposeExpander:
    """One generation per state lists up to ``k`` next steps. Each step's ``num_tokens`` is its
    share of the list's tokens (they add up to what was generated); its ``logprob`` is 0: a line of
    a list has no probability of its own as a sample."""

    def __init__(self, cfg: ProposeConfig, model_cfg, segmenter):
        self.cfg, self.segmenter = cfg, segmenter
        served = cfg.served("expander") if cfg.base_url else None
        self.gen = _generator(model_cfg, cfg.temperature, cfg.top_p, cfg.max_tokens, cfg.seed, served)

    def format_prompt(self, prompt: str) -> str:
        return prompt  # the context goes inside the propose prompt, which gets the chat template

    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        asks = [self.gen.chat(self.cfg.prompt.replace("{context}", p.rstrip()).replace("{k}", str(k))) for p in prompts]
        lists, stats = self.gen.rollout(asks, 1, seeds=seeds)
        out = []
        for (lst,) in lists:
            steps = parse_proposals(lst.text, k)
            shares = [lst.num_tokens // max(len(steps), 1)] * len(steps)
            if steps:
                shares[0] += lst.num_tokens - sum(shares)  # every generated token is charged once
            out.append([Proposal(text=s, num_tokens=n, logprob=0.0) for s, n in zip(steps, shares)])
        charged = sum(x.num_tokens for ps in out for x in ps)
        return out, ExpandStats(generated_tokens=charged, prompt_tokens=stats.prompt_tokens)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        raise QstarError(
            "expander=propose proposes next steps only: searches that roll out whole solutions (best-of-n, mcts) need expander=hf"
        )


# ------------------------------------------------------------------------------------ value


@dataclass
class LLMValueConfig(ServedFields):
    name: str = "llm-value"  # the registered name: scorer=llm-value
    model: Optional[str] = None  # the judging model (name_or_path); the YAML passes the policy's, ${model.name_or_path}
    gguf_file: Optional[str] = None  # its GGUF file, if any (the YAML passes ${model.gguf_file})
    prompt: str = VALUE_PROMPT  # the value prompt; {context} = problem and steps so far
    values: dict = field(default_factory=lambda: {"sure": 20.0, "likely": 1.0, "impossible": 0.001})  # label word → value
    samples: int = 3  # judgements per state, summed (the paper's n_evaluate_sample)
    temperature: float = 0.7  # sampling temperature of the judgements
    max_tokens: int = 64  # length of one judgement
    aggregate: str = "last"  # a path's score is its last state's value (as in the paper)
    seed: int = 0  # mixed into the judgements' sampling streams (the YAML passes ${seed})
    dtype: str = "float32"  # torch dtype to load the judge in
    device: str = "cpu"  # where the judge runs

    def __post_init__(self):
        if not self.model and not self.base_url:
            raise QstarError(
                "scorer.model is empty: set scorer.model=<the judging model> (the YAML default is the policy, ${model.name_or_path})"
            )
        if "{context}" not in self.prompt:
            raise QstarError("scorer.prompt must contain {context}: it is where the problem and the steps so far go")
        if self.samples < 1:
            raise QstarError(f"scorer.samples={self.samples}: must be at least 1")
        if not self.values or max(self.values.values()) <= 0:
            raise QstarError(
                "scorer.values needs at least one label word with a positive value (e.g. {sure: 20, likely: 1, impossible: 0.001})"
            )


class LLMValueScorer:
    learned = True  # a model's judgement, not the task's: the search is in the learned setting

    def __init__(self, cfg: LLMValueConfig, task):
        self.cfg, self.task = cfg, task
        self.name, self.aggregate = cfg.name, cfg.aggregate
        model_cfg = SimpleNamespace(
            name_or_path=cfg.model, gguf_file=cfg.gguf_file, dtype=cfg.dtype, device=cfg.device, chat_template=True, system_prompt=None
        )
        served = cfg.served("scorer") if cfg.base_url else None
        self.gen = _generator(model_cfg, cfg.temperature, 1.0, cfg.max_tokens, cfg.seed, served)

    def context(self, problem: Problem, steps: Sequence[str]) -> str:
        return self.task.prompt(problem).rstrip() + "".join(f"\n{s}" for s in steps)

    def score(self, problems: Sequence[Problem], paths: Sequence[Sequence[str]]) -> list[float]:
        asks = [self.gen.chat(self.cfg.prompt.replace("{context}", self.context(p, s))) for p, s in zip(problems, paths)]
        # a state's judgements depend on its text alone (not on the batch it came in)
        keys = [stable_int(f"llm-value/{a}") for a in asks]
        outs, _ = self.gen.rollout(asks, self.cfg.samples, seeds=keys)
        top = max(self.cfg.values.values())
        return [sum(parse_value(o.text, self.cfg.values) for o in group) / (len(group) * top) for group in outs]  # greedy: one judgement


@hookimpl
def qstar_register_expanders(register):
    register("propose", ProposeExpander, ProposeConfig)


@hookimpl
def qstar_register_scorers(register):
    register("llm-value", LLMValueScorer, LLMValueConfig)

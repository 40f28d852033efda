"""Expander ``openai``: the policy behind any OpenAI-compatible server (``vllm serve``, SGLang,
llama.cpp's server, TGI), through the completions endpoint.

The same interface as ``hf`` and ``vllm`` (a batch of nodes → ``k`` steps each): one request per
node with ``n = k`` samples (greedy: one), the segmenter's delimiter as ``stop``, a per-request
``seed`` derived from the node's stream key like ``vllm``'s (a server that honours seeds samples a
problem's steps independently of the batch — vLLM does), and the sampled tokens' log-probabilities
(a proposal's ``logprob`` is their sum). Requests go out concurrently (``concurrency``), with the
``openai`` package's retries and timeouts; see :mod:`qstar.served`.

Budget: generated tokens and prompt tokens from each response's ``usage``; prompt tokens the
server reports as cached (``prompt_tokens_details.cached_tokens``) are not charged — for vLLM,
serve with ``--enable-prefix-caching --enable-prompt-tokens-details``.

The task's prompt is sent as written (the completions endpoint applies no chat template): serve a
model trained on the task's format, or a base model. The API key comes from the environment
variable named by ``api_key_env``; only the variable's name reaches a run's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal
from qstar.seeding import stable_int
from qstar.served import ServedClient, ServedConfig, request_seed

__all__ = ["OpenAIExpander", "OpenAIExpanderConfig"]


@dataclass
class OpenAIExpanderConfig(ServedConfig):
    name: str = "openai"  # the registered name: expander=openai
    temperature: float = 1.0  # 0 = greedy (then one proposal per prompt, whatever k)
    top_p: float = 1.0  # nucleus sampling (1.0 = off)
    max_step_tokens: int = 40  # a Game of 24 step is ~20 tokens
    max_rollout_tokens: int = 120  # a whole remaining trajectory
    seed: int = 0  # mixed into every request's seed (the YAML passes ${seed})

    def __post_init__(self):
        if self.temperature < 0:
            raise QstarError(f"expander.temperature={self.temperature}: use 0 (greedy) or a positive temperature")
        if not 0 < self.top_p <= 1:
            raise QstarError(f"expander.top_p={self.top_p}: must be in (0, 1] (1 = off)")
        for key in ("max_step_tokens", "max_rollout_tokens"):
            if getattr(self, key) < 1:
                raise QstarError(f"expander.{key}={getattr(self, key)}: must be at least 1")


class OpenAIExpander:
    def __init__(self, cfg: OpenAIExpanderConfig, model_cfg, segmenter):
        self.cfg, self.segmenter = cfg, segmenter
        self.client = ServedClient(cfg, "expander")

    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_step_tokens, True, seeds)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_rollout_tokens, False, seeds)

    def _propose(self, prompts, k, max_new, stop_at_delimiter, seeds):
        keys = list(seeds) if seeds is not None else [stable_int(p) for p in prompts]
        greedy = self.cfg.temperature <= 0
        outs = self.client.complete(
            prompts,
            n=1 if greedy else k,
            max_tokens=max_new,  # vLLM shortens it to what the context leaves
            temperature=0.0 if greedy else self.cfg.temperature,
            top_p=self.cfg.top_p,
            stop=[self.segmenter.delimiter] if stop_at_delimiter else None,
            seeds=[None if greedy else request_seed(self.cfg.seed, key) for key in keys],
        )
        proposals = [
            [
                Proposal(
                    text=c.text,
                    num_tokens=c.num_tokens,
                    logprob=c.logprob,
                    finished=c.finish_reason == "stop",
                    # ended by the end-of-sequence token, not by our stop string: the answer is over
                    # (a server that does not say why it stopped is taken to have hit the delimiter)
                    ended=c.finish_reason == "stop" and (c.stop_reason is None or not stop_at_delimiter),
                )
                for c in out.choices
            ]
            for out in outs
        ]
        return proposals, ExpandStats(generated_tokens=sum(o.generated_tokens for o in outs), prompt_tokens=[o.prompt_tokens for o in outs])


@hookimpl
def qstar_register_expanders(register):
    register("openai", OpenAIExpander, OpenAIExpanderConfig)

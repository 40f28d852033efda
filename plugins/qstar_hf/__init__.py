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
from typing import Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from qstar import hookimpl
from qstar.engine import stable_int
from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal

from .model import load_causal_lm, load_tokenizer

__all__ = ["HFExpander", "HFExpanderConfig", "RowStreamSampler", "row_seed"]


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


def row_seed(seed: int, key: int, sample: int) -> int:
    """A 63-bit seed for one sample of one prompt, stable across processes and platforms."""
    return stable_int(f"{seed}/{key}/{sample}")


class RowStreamSampler(LogitsProcessor):
    """Turns greedy decoding into sampling with one random stream per row: the temperature,
    top-k and top-p warpers of transformers, then Gumbel noise drawn from the row's own
    generator. ``argmax(logits + G)`` with ``G = -log(Exp(1))`` is distributed as
    ``softmax(logits)``, so ``generate(do_sample=False)`` samples while each row's draws depend
    on its seed alone."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.warpers = [TemperatureLogitsWarper(temperature)]
        if top_k > 0:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        vocab = scores.shape[-1]
        # one draw per row per generated token, whatever the batch: (rows, vocab)
        expo = torch.stack([torch.empty(vocab).exponential_(generator=g) for g in self.generators])
        return scores - expo.log().to(scores.device, scores.dtype)


class HFExpander:
    def __init__(self, cfg: HFExpanderConfig, model_cfg, segmenter):
        self.cfg, self.segmenter = cfg, segmenter
        self.device = getattr(model_cfg, "device", "cpu")
        self.tokenizer = load_tokenizer(model_cfg.name_or_path)
        self.model = load_causal_lm(model_cfg.name_or_path, getattr(model_cfg, "dtype", "float32"), self.device)
        self.max_positions = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", 2048
        )
        delim = self.tokenizer(segmenter.delimiter, add_special_tokens=False)["input_ids"]
        # A one-token delimiter stops rows inside generate; otherwise fall back to stop strings.
        self.delim_id = delim[0] if len(delim) == 1 else None

    # -- Expander protocol ------------------------------------------------------------------
    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_step_tokens, True, seeds)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_rollout_tokens, False, seeds)

    # -- implementation ---------------------------------------------------------------------
    def _propose(self, prompts, k, max_new, stop_at_delimiter, seeds):
        # without keys from the engine, a prompt's stream is keyed by its text
        keys = list(seeds) if seeds is not None else [row_seed(0, stable_int(p), 0) for p in prompts]
        per_call = max(1, self.cfg.max_batch_sequences // max(k, 1))
        proposals: list[list[Proposal]] = []
        prompt_tokens: list[int] = []
        for i in range(0, len(prompts), per_call):
            p, n = self._generate(list(prompts[i : i + per_call]), k, max_new, stop_at_delimiter, keys[i : i + per_call])
            proposals += p
            prompt_tokens += n
        return proposals, ExpandStats(generated_tokens=sum(x.num_tokens for ps in proposals for x in ps), prompt_tokens=prompt_tokens)

    @torch.inference_mode()
    def _generate(self, prompts: list[str], k: int, max_new: int, stop_at_delimiter: bool, keys: list[int]):
        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        width = enc["input_ids"].shape[1]
        max_new = max(1, min(max_new, self.max_positions - width))
        eos = [tok.eos_token_id]
        kwargs = {}
        if stop_at_delimiter:
            if self.delim_id is not None:
                eos = eos + [self.delim_id]
            else:
                kwargs.update(stop_strings=[self.segmenter.delimiter], tokenizer=tok)
        sample = self.cfg.temperature > 0
        if not sample:
            k = 1  # greedy decoding: k samples would be k copies of one step
        else:
            seeds = [row_seed(self.cfg.seed, key, s) for key in keys for s in range(k)]
            sampler = RowStreamSampler(seeds, self.cfg.temperature, self.cfg.top_k, self.cfg.top_p)
            kwargs.update(logits_processor=LogitsProcessorList([sampler]))
        # generate() would copy each prompt k times itself; copying here lets the sampler know
        # which row is which sample (row i*k + s is sample s of prompt i)
        out = self.model.generate(
            input_ids=enc["input_ids"].repeat_interleave(k, dim=0),
            attention_mask=enc["attention_mask"].repeat_interleave(k, dim=0),
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
            **kwargs,
        )
        new = out.sequences[:, width:]  # (n*k, t)
        logits = torch.stack(out.logits, dim=1).float()  # (n*k, t, vocab)
        token_lp = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        stops = set(eos)
        rows = new.tolist()
        results: list[list[Proposal]] = []
        for i in range(len(prompts)):
            group = []
            for j in range(i * k, (i + 1) * k):
                ids, n, finished = rows[j], len(rows[j]), False
                for t, tid in enumerate(ids):
                    if tid in stops:
                        n, finished = t + 1, True
                        break
                text_ids = [t for t in ids[:n] if t not in stops and t != tok.pad_token_id]
                text = tok.decode(text_ids, skip_special_tokens=True)
                if stop_at_delimiter and self.delim_id is None and self.segmenter.delimiter in text:
                    text, finished = text.split(self.segmenter.delimiter, 1)[0], True
                group.append(Proposal(text=text, num_tokens=n, logprob=float(token_lp[j, :n].sum()), finished=finished, token_ids=ids[:n]))
            results.append(group)
        # generate() copies each prompt k times and encodes every copy: that is what was processed
        prompt_tokens = (enc["attention_mask"].sum(dim=1) * k).tolist()
        return results, prompt_tokens


@hookimpl
def qstar_register_expanders(register):
    register("hf", HFExpander, HFExpanderConfig)

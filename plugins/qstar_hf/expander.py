"""The ``hf`` expander's implementation: batched ``generate`` with per-row sampling streams,
shared prefill and tree-aligned KV reuse (see the package docstring)."""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import DynamicCache, LogitsProcessor, LogitsProcessorList, StaticCache
from transformers.cache_utils import DynamicLayer
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from qstar.errors import QstarError
from qstar.protocols import ExpandStats, Proposal
from qstar.seeding import stable_int

from . import HFExpanderConfig, chat_formatter, row_seed  # noqa: F401 - the configs and light helpers live in the package
from .kvcache import PrefixKVCache, prefix_hashes
from .model import load_causal_lm, load_tokenizer


class RowStreamSampler(LogitsProcessor):
    """Turns greedy decoding into sampling with one random stream per row: the temperature,
    top-k and top-p warpers of transformers, then Gumbel noise drawn from the row's own
    generator. ``argmax(logits + G)`` with ``G = -log(Exp(1))`` is distributed as
    ``softmax(logits)``, so ``generate(do_sample=False)`` samples while each row's draws depend
    on its seed alone.

    With ``stop_ids``, a row that has sampled one of them draws no more noise: generate pads it
    from then on, so its later draws would be thrown away (the draws of the rows still going
    are the same either way; the random numbers are most of the sampler's cost)."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float, stop_ids: Sequence[int] = ()):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.warpers = [TemperatureLogitsWarper(temperature)]
        if top_k > 0:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.stop_ids = torch.tensor(sorted(set(stop_ids)), dtype=torch.long)
        self.done: torch.Tensor | None = None  # rows that sampled a stop id (None before the first token)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        rows, vocab = scores.shape
        if self.done is None:  # the first call sees the prompt's last token: nothing sampled yet
            self.done = torch.zeros(rows, dtype=torch.bool)
        elif len(self.stop_ids):
            self.done |= torch.isin(input_ids[:, -1].cpu(), self.stop_ids)
        # one draw per running row per generated token, whatever the batch: (rows, vocab)
        expo = torch.ones(rows, vocab)  # log 1 = 0: no noise where a row is done
        for r in (~self.done).nonzero().flatten().tolist():
            expo[r].exponential_(generator=self.generators[r])
        return scores - expo.log().to(scores.device, scores.dtype)


class ChosenLogprobs(LogitsProcessor):
    """Records log softmax(raw logits)[sampled token] for every row at every step, keeping one
    step's distribution at a time. (``generate(output_logits=True)`` would keep every step's
    logits until the end: rows × vocabulary × steps floats, 6 GB for 64 rows of 512 tokens of a
    49k-token vocabulary.) It must come first, so it sees the model's raw logits."""

    def __init__(self):
        self.steps: list[torch.Tensor] = []
        self.prev: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:  # the token sampled from the previous step's distribution
            self.steps.append(self.prev.gather(-1, input_ids[:, -1:]).squeeze(-1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def result(self, sequences: torch.LongTensor) -> torch.Tensor:
        """(rows, generated tokens): the log-prob of each generated token."""
        steps = list(self.steps)
        if self.prev is not None:
            steps.append(self.prev.gather(-1, sequences[:, -1:]).squeeze(-1))
        return torch.stack(steps, dim=1) if steps else torch.zeros((sequences.shape[0], 0))


class HFExpander:
    def __init__(self, cfg: HFExpanderConfig, model_cfg, segmenter):
        self.cfg, self.segmenter = cfg, segmenter
        self.device = getattr(model_cfg, "device", "cpu")
        gguf = getattr(model_cfg, "gguf_file", None)
        self.tokenizer = load_tokenizer(model_cfg.name_or_path, gguf)
        self.model = load_causal_lm(model_cfg.name_or_path, getattr(model_cfg, "dtype", "float32"), self.device, gguf)
        self.chat = chat_formatter(self.tokenizer, model_cfg)
        self.max_positions = getattr(self.model.config, "n_positions", None) or getattr(self.model.config, "max_position_embeddings", 2048)
        delim = self.tokenizer(segmenter.delimiter, add_special_tokens=False)["input_ids"]
        # A one-token delimiter stops rows inside generate; otherwise fall back to stop strings.
        self.delim_id = delim[0] if len(delim) == 1 else None
        # Tree-aligned reuse assembles caches by hand: only for plain full-attention caches
        # (sliding-window or recurrent layers keep state that cannot be cut into segments).
        plain = all(type(layer) is DynamicLayer for layer in DynamicCache(config=self.model.config).layers)
        self.kv = PrefixKVCache(cfg.kv_cache_mb * 2**20) if cfg.kv_cache_mb > 0 and plain else None

    # -- Expander protocol ------------------------------------------------------------------
    def format_prompt(self, prompt: str) -> str:
        """The task's prompt as this model reads it: a user turn of its chat template (when the
        tokenizer has one and ``model.chat_template`` is on), the assistant's turn opened; the
        steps follow it. The engine calls this once per problem."""
        return self.chat(prompt)

    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_step_tokens, True, seeds)

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None):
        return self._propose(prompts, k, self.cfg.max_rollout_tokens, False, seeds)

    # -- implementation ---------------------------------------------------------------------
    def _propose(self, prompts, k, max_new, stop_at_delimiter, seeds):
        # without keys from the engine, a prompt's stream is keyed by its text
        keys = list(seeds) if seeds is not None else [row_seed(0, stable_int(p), 0) for p in prompts]
        per_call = max(1, self.cfg.max_batch_sequences // max(k, 1))
        proposals: list[list[Proposal] | None] = [None] * len(prompts)
        prompt_tokens: list[int] = [0] * len(prompts)
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        longest = max((len(p) for p in ids), default=0)
        if longest >= self.max_positions:  # the position embeddings would be indexed out of range
            raise QstarError(
                f"a prompt of {longest} tokens does not fit the model's context of {self.max_positions} positions: "
                "use a model with a longer context (model.name_or_path=...), or a task whose prompts fit"
            )
        # Prompts of similar length share a call: less padding to compute (a request mixes depths).
        order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))
        for c in range(0, len(order), per_call):
            idx = order[c : c + per_call]
            if self.cfg.shared_prefill:
                p, n = self._generate_shared(
                    [ids[i] for i in idx], k, max_new, stop_at_delimiter, [keys[i] for i in idx], store=stop_at_delimiter
                )
            else:
                p, n = self._generate([prompts[i] for i in idx], k, max_new, stop_at_delimiter, [keys[i] for i in idx])
            for i, props, tokens in zip(idx, p, n):
                proposals[i], prompt_tokens[i] = props, tokens
        return proposals, ExpandStats(generated_tokens=sum(x.num_tokens for ps in proposals for x in ps), prompt_tokens=prompt_tokens)

    def _generate_kwargs(self, k: int, keys: list[int], stop_at_delimiter: bool) -> tuple[int, dict]:
        """(samples per prompt, keyword arguments of generate): stop ids and the per-row sampler."""
        tok = self.tokenizer
        eos = [tok.eos_token_id]
        kwargs: dict = {}
        if stop_at_delimiter:
            if self.delim_id is not None:
                eos = eos + [self.delim_id]
            if self.delim_id is None or len(self.segmenter.delimiter) > 1:
                # a delimiter of several characters ("\n\n") also comes out as several tokens
                # ("\n", "\n"): stop on the string too
                kwargs.update(stop_strings=[self.segmenter.delimiter], tokenizer=tok)
        # first: the log-prob of each sampled token under the raw logits, one step at a time
        processors: list = [ChosenLogprobs(), *self._shifts()]
        if self.cfg.temperature <= 0:
            k = 1  # greedy decoding: k samples would be k copies of one step
        else:
            seeds = [row_seed(self.cfg.seed, key, s) for key in keys for s in range(k)]
            processors.append(RowStreamSampler(seeds, self.cfg.temperature, self.cfg.top_k, self.cfg.top_p, stop_ids=eos))
        kwargs.update(logits_processor=LogitsProcessorList(processors))
        kwargs.update(do_sample=False, eos_token_id=eos, pad_token_id=tok.pad_token_id, return_dict_in_generate=True)
        return k, kwargs

    def _shifts(self) -> list:
        """Logits processors between the raw logits and sampling (the ``ilql`` expander adds its
        Q − V shift here); none for plain decoding."""
        return []

    @torch.inference_mode()
    def _generate(self, prompts: list[str], k: int, max_new: int, stop_at_delimiter: bool, keys: list[int]):
        """The plain path (``shared_prefill=false``): ``generate`` encodes every prompt k times."""
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        width = enc["input_ids"].shape[1]
        max_new = max(1, min(max_new, self.max_positions - width))
        k, kwargs = self._generate_kwargs(k, keys, stop_at_delimiter)
        # generate() would copy each prompt k times itself; copying here lets the sampler know
        # which row is which sample (row i*k + s is sample s of prompt i)
        out = self.model.generate(
            input_ids=enc["input_ids"].repeat_interleave(k, dim=0),
            attention_mask=enc["attention_mask"].repeat_interleave(k, dim=0),
            max_new_tokens=max_new,
            **kwargs,
        )
        results = self._proposals(out, width, len(prompts), k, stop_at_delimiter, kwargs["eos_token_id"], kwargs["logits_processor"][0])
        # every copy of every prompt went through the model: that is what was computed
        return results, (enc["attention_mask"].sum(dim=1) * k).tolist()

    @torch.inference_mode()
    def _generate_shared(self, ids_list: list[list[int]], k: int, max_new: int, stop_at_delimiter: bool, keys: list[int], store: bool):
        """Shared prefill with tree-aligned reuse.

        1. Each prompt's longest prefix in the store (its parent's prompt and step, usually) is
           laid out left-padded in a cache of width C; the rest of the prompt follows, left-padded
           to width R, so every row's last prompt token sits in the last column. Holes in the
           attention mask are fine: positions come from its cumulative sum, as generate does.
        2. One forward pass computes the rest of every prompt but its last token, once per prompt.
        3. The cache is repeated k times and generate samples from the last prompt token on.
        4. The keys/values of each prompt and of each distinct sampled step go into the store.
        """
        n, tok, dev = len(ids_list), self.tokenizer, self.device
        hashes = [prefix_hashes(ids) for ids in ids_list] if self.kv is not None else None
        hits: list[tuple[int, int | None]] = [(0, None)] * n
        if self.kv is not None:
            hits = [self.kv.longest_prefix(ids, h, len(ids) - 1) for ids, h in zip(ids_list, hashes)]
        C = max(c for c, _ in hits)
        R = max(len(ids) - c for ids, (c, _) in zip(ids_list, hits))
        width = C + R
        input_ids = torch.full((n, width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, (ids, (c, _)) in enumerate(zip(ids_list, hits)):
            r = len(ids) - c
            input_ids[i, C - c : C] = torch.tensor(ids[:c], dtype=torch.long)
            input_ids[i, width - r :] = torch.tensor(ids[c:], dtype=torch.long)
            mask[i, C - c : C] = 1
            mask[i, width - r :] = 1
        input_ids, mask = input_ids.to(dev), mask.to(dev)
        past = self._assemble(hits, n, C) if C > 0 else None
        if R > 1:  # the uncached prompt tokens but the last, once per prompt
            past = past if past is not None else DynamicCache(config=self.model.config)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            self.model.base_model(
                input_ids=input_ids[:, C : width - 1],
                attention_mask=mask[:, : width - 1],
                position_ids=positions[:, C : width - 1],
                past_key_values=past,
                use_cache=True,
            )
        k, kwargs = self._generate_kwargs(k, keys, stop_at_delimiter)
        longest = max(len(ids) for ids in ids_list)
        max_new = max(1, min(max_new, self.max_positions - longest))
        if past is not None:
            static = StaticCache(config=self.model.config, max_cache_len=width + max_new)
            for s_layer, d_layer in zip(static.layers, past.layers):
                s_layer.update(d_layer.keys.repeat_interleave(k, dim=0), d_layer.values.repeat_interleave(k, dim=0))
            past = static
        out = self.model.generate(
            input_ids=input_ids.repeat_interleave(k, dim=0),
            attention_mask=mask.repeat_interleave(k, dim=0),
            past_key_values=past,
            max_new_tokens=max_new,
            **kwargs,
        )
        results = self._proposals(out, width, n, k, stop_at_delimiter, kwargs["eos_token_id"], kwargs["logits_processor"][0])
        if store and self.kv is not None:
            self._store(out.past_key_values, ids_list, hashes, hits, results, width, k)
        # computed: each prompt's uncached tokens once, its last token once per sample
        computed = [len(ids) - c - 1 + k for ids, (c, _) in zip(ids_list, hits)]
        return results, computed

    def _assemble(self, hits, n: int, C: int) -> DynamicCache:
        """A cache of width C holding each row's stored prefix, left-padded with zeros."""
        prefixes = [self.kv.assemble(key) if key is not None else None for _, key in hits]
        ref = next(p for p in prefixes if p is not None)
        layers = []
        for li, (k0, _) in enumerate(ref):
            shape = (n, k0.shape[0], C, k0.shape[2])
            K = torch.zeros(shape, dtype=k0.dtype, device=k0.device)
            V = torch.zeros(shape, dtype=k0.dtype, device=k0.device)
            for i, p in enumerate(prefixes):
                if p is not None:
                    c = p[li][0].shape[1]
                    K[i, :, C - c :] = p[li][0]
                    V[i, :, C - c :] = p[li][1]
            layers.append((K, V))
        return DynamicCache(ddp_cache_data=layers, config=self.model.config)

    def _store(self, pkv, ids_list, hashes, hits, results, width, k) -> None:
        """Keep each prompt's new keys/values and those of each distinct sampled step (its
        tokens before the delimiter; the child's prompt then needs only the delimiter computed)."""
        layers = [(layer.keys, layer.values) for layer in pkv.layers]
        for i, ids in enumerate(ids_list):
            c, parent = hits[i]
            key = hashes[i][-1]
            row = i * k
            self.kv.add(
                ids,
                key,
                parent,
                [(K[row, :, width - (len(ids) - c) : width].clone(), V[row, :, width - (len(ids) - c) : width].clone()) for K, V in layers],
            )
            if key not in self.kv.entries:
                continue  # the bound is smaller than one prompt
            seen = set()
            for s, prop in enumerate(results[i]):
                step = (prop.token_ids or [])[: max(prop.num_tokens - 1, 0)]
                if not step or tuple(step) in seen:
                    continue
                seen.add(tuple(step))
                h = key
                for t in step:
                    h = hash((h, t))
                row = i * k + s
                end = width + len(step)
                self.kv.add(ids + step, h, key, [(K[row, :, width:end].clone(), V[row, :, width:end].clone()) for K, V in layers])

    def _proposals(
        self, out, width: int, n: int, k: int, stop_at_delimiter: bool, eos: list[int], logprobs: "ChosenLogprobs"
    ) -> list[list[Proposal]]:
        tok = self.tokenizer
        new = out.sequences[:, width:]  # (n*k, t)
        token_lp = logprobs.result(out.sequences)  # (n*k, t)
        stops = set(eos)
        pad = tok.pad_token_id  # read once: a tokenizer attribute lookup per token adds up
        rows = new.tolist()
        results: list[list[Proposal]] = []
        for i in range(n):
            group = []
            for j in range(i * k, (i + 1) * k):
                ids, m, finished, ended = rows[j], len(rows[j]), False, False
                for t, tid in enumerate(ids):
                    if tid in stops:
                        m, finished, ended = t + 1, True, tid != self.delim_id or not stop_at_delimiter
                        break
                text_ids = [t for t in ids[:m] if t not in stops and t != pad]
                text = tok.decode(text_ids, skip_special_tokens=True)
                if stop_at_delimiter and self.segmenter.delimiter in text:
                    text, finished = text.split(self.segmenter.delimiter, 1)[0], True
                group.append(
                    Proposal(
                        text=text, num_tokens=m, logprob=float(token_lp[j, :m].sum()), finished=finished, token_ids=ids[:m], ended=ended
                    )
                )
            results.append(group)
        return results

"""Overhead of the hf expander over a raw batched ``model.generate``.

Both sides get the same prompts (a Game of 24 frontier: validation puzzles at depths 0–2), the
same ``k``, token budget and stop ids. The raw side samples with generate's own sampler (one
random stream for the batch); the expander samples with one stream per row (qstar_hf's
RowStreamSampler, so a problem's tree does not depend on its batch) and also records per-step token
counts, log-probs and text. The expander runs with shared prefill and KV reuse off, so both sides
encode the same tokens (``expand_reuse.py`` measures what those save). Prints expander time / raw time (target ≤ 1.10) and the same ratio with
the raw side given the per-row sampler too (same tokens on both sides: bookkeeping alone).

    python benchmarks/expand_overhead.py [--model pkg://qstar_game24/policy] [--prompts 64] [--k 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import torch
from transformers import LogitsProcessorList

from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig, RowStreamSampler, row_seed
from qstar_segmenters import NewlineSegmenter


def frontier_prompts(n: int) -> list[str]:
    task, seg = Game24Task(), NewlineSegmenter()
    prompts = []
    for i, problem in enumerate(task.problems("val")):
        gold = task.gold_trajectories(problem)[0]
        prompts.append(seg.join(task.prompt(problem), gold[: i % 3]))
        if len(prompts) == n:
            break
    return prompts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pkg://qstar_game24/policy")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--max-step-tokens", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    cfg = HFExpanderConfig(max_step_tokens=args.max_step_tokens, max_batch_sequences=10**9, shared_prefill=False, kv_cache_mb=0)
    expander = HFExpander(cfg, SimpleNamespace(name_or_path=args.model), NewlineSegmenter())
    model, tok = expander.model, expander.tokenizer
    prompts = frontier_prompts(args.prompts)
    stop = [tok.eos_token_id, expander.delim_id]

    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    width = enc["input_ids"].shape[1]

    @torch.inference_mode()
    def raw():
        return model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            do_sample=True,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            max_new_tokens=args.max_step_tokens,
            num_return_sequences=args.k,
            eos_token_id=stop,
            pad_token_id=tok.pad_token_id,
        )

    keys = list(range(len(prompts)))

    @torch.inference_mode()
    def raw_rows():
        seeds = [row_seed(cfg.seed, key, s) for key in keys for s in range(args.k)]
        sampler = RowStreamSampler(seeds, cfg.temperature, cfg.top_k, cfg.top_p)
        return model.generate(
            input_ids=enc["input_ids"].repeat_interleave(args.k, dim=0),
            attention_mask=enc["attention_mask"].repeat_interleave(args.k, dim=0),
            do_sample=False,
            logits_processor=LogitsProcessorList([sampler]),
            max_new_tokens=args.max_step_tokens,
            eos_token_id=stop,
            pad_token_id=tok.pad_token_id,
        )

    def raw_steps(seqs) -> list[list[int]]:
        steps = []
        for row in seqs[:, width:].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
            steps.append(row[:end])
        return steps

    def ours():
        return expander.expand(prompts, args.k, seeds=keys)

    t_raw, t_rows, t_ours = [], [], []
    for rep in range(args.repeats + 1):
        torch.manual_seed(rep)
        t0 = time.perf_counter()
        raw()
        t1 = time.perf_counter()
        seqs = raw_rows()
        t2 = time.perf_counter()
        proposals, stats = ours()
        t3 = time.perf_counter()
        if rep == 0:
            continue  # warm-up
        t_raw.append(t1 - t0)
        t_rows.append(t2 - t1)
        t_ours.append(t3 - t2)
        if rep == 1:
            ours_ids = [p.token_ids for group in proposals for p in group]
            same = ours_ids == raw_steps(seqs)
            print(
                f"sequences: {len(prompts)}x{args.k}; generated tokens: {stats.generated_tokens}; "
                f"identical samples (expander vs raw per-row): {'yes' if same else 'NO'}"
            )
    med = statistics.median
    print(f"raw generate, batch sampler   median {med(t_raw) * 1000:.1f} ms")
    print(f"raw generate, per-row streams median {med(t_rows) * 1000:.1f} ms")
    print(f"hf expander                   median {med(t_ours) * 1000:.1f} ms")
    print(f"expander / raw generate       {med(t_ours) / med(t_raw):.3f} (target <= 1.10; token counts differ: other samples)")
    print(f"expander / raw per-row        {med(t_ours) / med(t_rows):.3f} (bookkeeping alone, same tokens)")


if __name__ == "__main__":
    main()

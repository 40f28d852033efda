"""Shared prefill and tree-aligned KV reuse in the hf expander: the same steps as re-encoding
every prompt k times, fewer prompt tokens computed, a bounded store that evicts leaves first."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from qstar.errors import QstarError
from qstar_game24 import Game24Task
from qstar_hf import HFExpander, HFExpanderConfig
from qstar_hf.kvcache import PrefixKVCache, prefix_hashes
from qstar_segmenters import NewlineSegmenter

SEG = NewlineSegmenter()
PLAIN = dict(shared_prefill=False, kv_cache_mb=0)


def make(path, **kw) -> HFExpander:
    return HFExpander(HFExpanderConfig(**kw), SimpleNamespace(name_or_path=str(path)), SEG)


def grow(expander: HFExpander, levels: int = 3, k: int = 6, problems: int = 6):
    """Expand val puzzles ``levels`` deep, each level's first and last proposal becoming nodes
    of the next (so the frontier mixes depths and prompt lengths); returns every level's steps,
    log-probs and prompt-token counts."""
    task = Game24Task()
    prompts = [SEG.join(task.prompt(p), []) for p in task.problems("val")[:problems]]
    keys = list(range(len(prompts)))
    steps, logprobs, computed = [], [], []
    for _ in range(levels):
        props, stats = expander.expand(prompts, k, seeds=keys)
        steps.append([[p.text for p in g] for g in props])
        logprobs.append([[p.logprob for p in g] for g in props])
        computed.append(stats.prompt_tokens)
        nxt = [(pr + g[0].text + "\n", key * 2) for pr, g, key in zip(prompts, props, keys)]
        nxt += [(pr + g[-1].text + "\n", key * 2 + 1) for pr, g, key in zip(prompts, props, keys)]
        prompts, keys = [p for p, _ in nxt], [key for _, key in nxt]
    return steps, logprobs, computed


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_reuse_proposes_the_same_steps_as_re_encoding(policy_dir, temperature):
    plain = grow(make(policy_dir, temperature=temperature, **PLAIN))
    shared = grow(make(policy_dir, temperature=temperature, kv_cache_mb=0))
    reuse_expander = make(policy_dir, temperature=temperature)
    reuse = grow(reuse_expander)
    assert plain[0] == shared[0] == reuse[0]
    for a, b in zip(plain[1], reuse[1]):
        assert torch.tensor(a).flatten().tolist() == pytest.approx(torch.tensor(b).flatten().tolist(), abs=1e-3)
    assert reuse_expander.kv.hits > 0
    # below the first level every node's prompt is its parent's prompt + a stored step: only the
    # delimiter is left, computed once per sample
    k = 1 if temperature == 0 else 6
    for level in reuse[2][1:]:
        assert level == [k] * len(level)
    assert sum(map(sum, reuse[2])) < sum(map(sum, shared[2]))
    # greedy decodes one row per prompt: sharing its prefill among k copies only saves with k > 1
    assert sum(map(sum, shared[2])) == sum(map(sum, plain[2])) if k == 1 else sum(map(sum, shared[2])) < sum(map(sum, plain[2]))


def test_a_small_bound_evicts_and_changes_nothing(policy_dir):
    plain = grow(make(policy_dir, **PLAIN))
    small = make(policy_dir, kv_cache_mb=1)
    bounded = grow(small)
    assert bounded[0] == plain[0]
    assert small.kv.evictions > 0 and small.kv.nbytes <= 2**20


def _kv(n: int, fill: float):
    return [(torch.full((2, n, 4), fill), torch.full((2, n, 4), -fill))]


def test_store_assembles_chains_and_evicts_leaves_first():
    per_token = 2 * 2 * 4 * 4  # keys + values, 2 heads, 4 dims, float32
    store = PrefixKVCache(max_bytes=per_token * 8)
    root, child, other = [1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 6, 7]
    h_root, h_child, h_other = prefix_hashes(root)[-1], prefix_hashes(child)[-1], prefix_hashes(other)[-1]
    store.add(root, h_root, None, _kv(3, 1.0))
    store.add(child, h_child, h_root, _kv(2, 2.0))
    store.add(other, h_other, h_root, _kv(2, 3.0))
    # the longest stored prefix of the child's child prompt, and its keys assembled from the chain
    ids = child + [9]
    n, key = store.longest_prefix(ids, prefix_hashes(ids), len(ids) - 1)
    assert (n, key) == (5, h_child)
    keys = store.assemble(key)[0][0]
    assert keys.shape == (2, 5, 4) and keys[0, :, 0].tolist() == [1, 1, 1, 2, 2]
    # a fourth segment overflows the bound: the least recently used *leaf* goes (``other``),
    # never the root the others hang from
    deeper = child + [8, 8]
    store.add(deeper, prefix_hashes(deeper)[-1], h_child, _kv(2, 4.0))
    assert h_other not in store.entries and h_root in store.entries and h_child in store.entries
    assert store.nbytes <= per_token * 8
    assert store.longest_prefix(other + [1], prefix_hashes(other + [1]), 5) == (3, h_root)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(kv_cache_mb=-1), "expander.kv_cache_mb=-1: use 0 (no reuse) or a bound in MiB"),
        (
            dict(shared_prefill=False),
            "expander.kv_cache_mb needs expander.shared_prefill=true: set expander.kv_cache_mb=0 to turn both off",
        ),
    ],
)
def test_bad_reuse_settings_are_one_line_errors(kw, message):
    with pytest.raises(QstarError) as e:
        HFExpanderConfig(**kw)
    assert str(e.value) == message

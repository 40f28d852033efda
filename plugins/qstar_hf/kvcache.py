"""A tree-aligned store of attention keys/values, so a child's prompt is not encoded again.

In a search tree a child's prompt is its parent's prompt plus one step, and when the parent was
expanded the model already computed the keys/values of that step while sampling it. The store
keeps them as *segments*: an entry holds the keys/values of the tokens its node added to its
parent's entry (the root's entry holds the prompt), so memory grows with the steps, not with the
paths. A prompt is looked up by its token ids; the longest stored prefix is assembled from the
chain of segments and only the rest of the prompt is computed. This is the radix-tree prefix cache
of SGLang (Zheng et al., 2024, "SGLang: Efficient Execution of Structured Language Model
Programs") and of vLLM's automatic prefix caching, kept per token sequence rather than per block.

The store is bounded in bytes. Eviction is least-recently-used, and using or adding an entry
refreshes its whole chain of ancestors *after* it, so a node's ancestors always outlive it:
leaves go first (nodes that left the frontier are the ones nobody touches), and an assembled chain
is never missing a link. When a needed entry was evicted the lookup simply finds a shorter prefix
(or none) and the expander computes more: a miss costs time, never correctness.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch


def prefix_hashes(ids: list[int]) -> list[int]:
    """``out[j]`` identifies ``ids[:j + 1]`` (a chained hash, one pass over the ids)."""
    out, h = [], 0
    for t in ids:
        h = hash((h, t))
        out.append(h)
    return out


@dataclass
class _Entry:
    key: int  # prefix_hashes(ids)[-1]
    ids: tuple[int, ...]  # the whole token prefix this entry completes
    parent: int | None  # key of the entry it extends (None: it starts at token 0)
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values): (heads, new tokens, head dim)
    nbytes: int
    children: set[int] = field(default_factory=set)


class PrefixKVCache:
    """Keys/values of token prefixes, stored as a tree of segments within ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, _Entry] = OrderedDict()  # key → entry, least recently used first
        self.nbytes = 0
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self.entries)

    # -- lookup --------------------------------------------------------------------------------
    def longest_prefix(self, ids: list[int], hashes: list[int], max_len: int) -> tuple[int, int | None]:
        """(length, key) of the longest stored prefix of ``ids`` no longer than ``max_len``."""
        for j in range(min(max_len, len(ids)), 0, -1):
            e = self.entries.get(hashes[j - 1])
            if e is not None and len(e.ids) == j and list(e.ids) == ids[:j]:
                self.hits += 1
                return j, e.key
        self.misses += 1
        return 0, None

    def chain(self, key: int) -> list[_Entry]:
        """The entries from the root down to ``key``; refreshes them, ancestors last."""
        out = []
        k: int | None = key
        while k is not None:
            e = self.entries[k]
            out.append(e)
            k = e.parent
        for e in out:  # the leaf first, so its ancestors end up more recent than it
            self.entries.move_to_end(e.key)
        return out[::-1]

    def assemble(self, key: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer (keys, values) of the whole prefix ``key``: (heads, tokens, head dim)."""
        segs = [e.kv for e in self.chain(key)]
        if len(segs) == 1:
            return segs[0]
        return [(torch.cat([s[i][0] for s in segs], dim=1), torch.cat([s[i][1] for s in segs], dim=1)) for i in range(len(segs[0]))]

    # -- insertion ------------------------------------------------------------------------------
    def add(self, ids: list[int], key: int, parent: int | None, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store the keys/values ``kv`` of the tokens ``ids`` adds to the entry ``parent``."""
        if key in self.entries or (parent is not None and parent not in self.entries):
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        self.entries[key] = _Entry(key, tuple(ids), parent, kv, nbytes)
        self.nbytes += nbytes
        if parent is not None:
            self.entries[parent].children.add(key)
            self.chain(parent)  # ancestors become more recent than the new leaf
        while self.nbytes > self.max_bytes and self.entries:
            # the least recent entry is a leaf (ancestors are refreshed after their descendants)
            self._drop(next(iter(self.entries)))

    def _drop(self, key: int) -> None:
        e = self.entries.pop(key)
        self.nbytes -= e.nbytes
        self.evictions += 1
        for child in list(e.children):  # none while the order invariant holds; kept for safety
            self._drop(child)
        if e.parent is not None and e.parent in self.entries:
            self.entries[e.parent].children.discard(key)

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0

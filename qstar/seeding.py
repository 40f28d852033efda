"""Sampling-stream keys: a problem's samples depend on (seed, problem id) alone."""

from __future__ import annotations

import hashlib


def stable_int(text: str) -> int:
    """A 63-bit integer from ``text`` (sha256): the same in every process and on every platform,
    unlike ``hash``; it keys and seeds sampling streams."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1

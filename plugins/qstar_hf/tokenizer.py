"""Moved to :mod:`qstar.models` (the number tokenizer is shared by every plugin); kept importable."""

from qstar.models import BOS, EOS, PAD, UNK, WORDS, build_number_tokenizer  # noqa: F401

"""Moved to :mod:`qstar.models` (model loading is shared by every plugin); kept importable."""

from qstar.models import (  # noqa: F401
    TOKENIZER_FILES,
    ArchConfig,
    build_causal_lm,
    check_model_path,
    load_causal_lm,
    load_tokenizer,
    max_length,
    resolve_path,
)

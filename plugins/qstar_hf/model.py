"""Loading and building Hugging Face causal LMs; ``pkg://package/dir`` names a checkpoint shipped
inside an installed package (how the built-in policy works offline)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from qstar.errors import QstarError


@dataclass
class ArchConfig:
    """A tiny GPT-2 built from a config when ``name_or_path`` is empty (nanoGPT-sized defaults)."""

    n_layer: int = 4  # transformer blocks
    n_embd: int = 192  # ~2M parameters with 4 layers: learns Game of 24 steps in minutes on 2 cores
    n_head: int = 6  # attention heads (n_embd must be divisible by it)
    n_positions: int = 128  # a whole Game of 24 trajectory is ~90 tokens
    dropout: float = 0.0  # residual, embedding and attention dropout (0 = off)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt")


def resolve_path(name_or_path: str) -> str:
    """``pkg://qstar_game24/policy`` → the directory inside the installed package; other values
    are returned as they are (a local directory or a Hub id)."""
    if name_or_path.startswith("pkg://"):
        package, _, sub = name_or_path[len("pkg://"):].partition("/")
        try:
            root = resources.files(package)
        except ModuleNotFoundError:
            raise QstarError(f"model path {name_or_path!r}: package {package!r} is not installed") from None
        return str(Path(str(root)) / sub)
    return name_or_path


def check_model_path(name_or_path: str) -> str:
    """Resolve ``name_or_path``; a local-looking path must be a ``save_pretrained`` directory."""
    path = resolve_path(name_or_path)
    local = os.path.exists(path) or name_or_path.startswith(("pkg://", ".", "/", "~"))
    if local and not (Path(path).expanduser() / "config.json").is_file():
        raise QstarError(
            f"model path {name_or_path!r} has no config.json: point model.name_or_path at a "
            "directory written by save_pretrained (or train one with `qstar train optimizer=sft`)"
        )
    return str(Path(path).expanduser()) if local else path


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    path = check_model_path(name_or_path)
    if Path(path).is_dir() and not any((Path(path) / f).is_file() for f in TOKENIZER_FILES):
        raise QstarError(
            f"model path {name_or_path!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): "
            "save the tokenizer there too with tokenizer.save_pretrained(<dir>)"
        )
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise QstarError(f"cannot load tokenizer {name_or_path!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(name_or_path: str, dtype: str = "float32", device: str = "cpu"):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = check_model_path(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    except Exception as e:  # noqa: BLE001 - corrupt weights raise safetensors', torch's or OS errors alike
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise QstarError(
            f"cannot load model {name_or_path!r} ({type(e).__name__}: {first}): "
            "point model.name_or_path at an intact save_pretrained directory"
        ) from None
    return model.to(device).eval()


def build_causal_lm(tokenizer, arch: ArchConfig):
    from transformers import AutoModelForCausalLM, GPT2Config

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=arch.n_positions,
        n_embd=arch.n_embd,
        n_layer=arch.n_layer,
        n_head=arch.n_head,
        resid_pdrop=arch.dropout,
        embd_pdrop=arch.dropout,
        attn_pdrop=arch.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return AutoModelForCausalLM.from_config(config)

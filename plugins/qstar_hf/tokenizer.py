"""A small tokenizer built locally with `tokenizers`: whole numbers 0–999 are single tokens.

Number-level tokens make arithmetic steps a few tokens long, which is why a model of a few
million parameters learns Game of 24 steps in minutes instead of hours. Longer numbers fall back
to ``##d`` continuation pieces (WordPiece), words to letters, so any ASCII text round-trips.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
WORDS = ("Input", "Answer", "left", "Question", "Step")


def build_number_tokenizer() -> PreTrainedTokenizerFast:
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

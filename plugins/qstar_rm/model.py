"""Reward models: a causal-LM backbone with a scalar head on every position.

The model is transformers' ``AutoModelForTokenClassification`` with one label, so the head is
part of the checkpoint: ``save_pretrained`` writes backbone and head to one safetensors file and
``from_pretrained`` restores both exactly (no separate value-head file to lose). A PRM reads the
head at every step end; an ORM at the end of the path. How the model formats its input travels
in its ``config.json`` (``qstar_reward``: kind and step delimiter), so a scorer feeds it exactly
what it was trained on.

Input layout: the prompt, then each step followed by the delimiter, each piece tokenized on its
own; the step-end position is the step's last token (its delimiter). Right padding, so positions
line up with GPT-2's absolute position embeddings and no real token attends to a pad.
"""

from __future__ import annotations

from typing import Sequence

import torch

from qstar.errors import QstarError
from qstar.models import max_length  # noqa: F401 - kept importable here
from qstar_rm import KINDS  # noqa: E402,F401 - defined in the package (no torch there)


def encode(tokenizer, prompt: str, steps: Sequence[str], delimiter: str, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and the step-end position of every step that fits in ``max_len``."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][:max_len]
    ends: list[int] = []
    for step in steps:
        piece = tokenizer(step + delimiter, add_special_tokens=False)["input_ids"]
        if len(ids) + len(piece) > max_len or not piece:
            break
        ids += piece
        ends.append(len(ids) - 1)
    return ids, ends


def build_reward_model(model_cfg, kind: str, delimiter: str):
    """A fresh reward model: from ``model.name_or_path`` (a causal LM's backbone, e.g. the bundled
    policy, with a new head) or a tiny GPT-2 from ``model.arch`` with the number tokenizer."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    from qstar.models import ArchConfig, build_number_tokenizer, check_model_path, gpt2_config, load_tokenizer

    if model_cfg.name_or_path:
        tok = load_tokenizer(model_cfg.name_or_path)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "some weights newly initialized": the head, by design
        try:
            model = AutoModelForTokenClassification.from_pretrained(check_model_path(model_cfg.name_or_path), num_labels=1)
        except Exception as e:  # noqa: BLE001
            raise QstarError(f"cannot build a reward model from {model_cfg.name_or_path!r}: {str(e).splitlines()[0]}") from None
        finally:
            hf_logging.set_verbosity(verbosity)
    else:
        tok = build_number_tokenizer()
        arch = ArchConfig(**model_cfg.arch)
        config = gpt2_config(tok, arch, num_labels=1)
        model = AutoModelForTokenClassification.from_config(config)
    tok.padding_side = "right"
    model.train()  # from_pretrained returns eval mode; dropout (when configured) must be on in training
    model.config.qstar_reward = {"kind": kind, "step_delimiter": delimiter}
    model.config.id2label, model.config.label2id = {0: "reward"}, {"reward": 0}
    return model, tok


def load_reward_model(name_or_path: str, dtype: str = "float32", device: str = "cpu"):
    """A reward model exported by ``qstar train optimizer=prm|orm`` (or any one-label token
    classifier with a ``qstar_reward`` entry in its config)."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    from qstar.models import check_model_path, load_tokenizer

    hf_logging.disable_progress_bar()
    path = check_model_path(name_or_path)
    tok = load_tokenizer(name_or_path)
    tok.padding_side = "right"
    try:
        model = AutoModelForTokenClassification.from_pretrained(path, dtype=getattr(torch, dtype))
    except Exception as e:  # noqa: BLE001 - corrupt weights raise safetensors', torch's or OS errors alike
        raise QstarError(
            f"cannot load reward model {name_or_path!r} ({type(e).__name__}: {str(e).splitlines()[0]}): "
            "point the scorer's model at a directory written by `qstar train optimizer=prm`"
        ) from None
    meta = getattr(model.config, "qstar_reward", None)
    if not isinstance(meta, dict) or model.config.num_labels != 1:
        raise QstarError(
            f"{name_or_path!r} is not a qstar reward model (no one-label head with qstar_reward in config.json): "
            "train one with `qstar train optimizer=prm`"
        )
    if meta.get("kind") not in ("prm", "orm") or not isinstance(meta.get("step_delimiter"), str) or not meta["step_delimiter"]:
        raise QstarError(
            f"{name_or_path!r}: config.json's qstar_reward needs kind (prm or orm) and a step_delimiter, it holds {meta}: "
            "re-export the model with `qstar train optimizer=prm`"
        )
    vocab = model.get_input_embeddings().num_embeddings
    if len(tok) > vocab:  # another model's tokenizer: its ids would index past the embeddings
        raise QstarError(
            f"{name_or_path!r}: its tokenizer has {len(tok)} tokens but the model embeds {vocab}: "
            "the tokenizer files belong to another model; save the reward model's own tokenizer beside it"
        )
    return model.to(device).eval(), tok


def pad(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(x) for x in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return ids, mask


class RewardModel:
    """Scores step paths with a loaded reward model, batched."""

    def __init__(self, model, tokenizer, batch_size: int = 256):
        self.model, self.tok, self.batch_size = model, tokenizer, batch_size
        meta = model.config.qstar_reward
        self.kind, self.delimiter = meta["kind"], meta["step_delimiter"]
        self.max_len = max_length(model)
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def step_values(self, prompts: Sequence[str], paths: Sequence[Sequence[str]]) -> list[list[float]]:
        """P(step is good) at every step end of every path (sigmoid of the head); a step that does
        not fit in the model's context gets the value of the last one that does."""
        encoded = [encode(self.tok, p, s, self.delimiter, self.max_len) for p, s in zip(prompts, paths)]
        out: list[list[float]] = []
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))  # similar lengths share a batch
        values: dict[int, list[float]] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            ids, mask = pad([encoded[i][0] for i in chunk], self.tok.pad_token_id)
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits[..., 0]
            probs = torch.sigmoid(logits.float()).cpu()
            for row, i in enumerate(chunk):
                values[i] = probs[row, encoded[i][1]].tolist()
        for i, steps in enumerate(paths):
            v = values[i]
            out.append((v + [v[-1] if v else 0.5] * (len(steps) - len(v)))[: len(steps)])
        return out

"""Scorer ``hf-prm``: process reward models trained elsewhere, loaded by config.

Two families, read at a *step tag* written after every step:

- ``kind=plus-minus`` — a causal LM that predicts a "good" or "bad" token at the tag
  (Math-Shepherd, Wang et al., 2024: tag ``" ки"``, tokens ``"+"``/``"-"``): the step's score is
  ``softmax(logits[good], logits[bad])[good]`` at the tag's (last) token;
- ``kind=token-classification`` — a token classifier (``AutoModelForTokenClassification``): the
  score is the probability of class ``positive_label`` at the tag (sigmoid for a one-unit head).

The input is the task's prompt, then every step followed by the tag and ``separator``. Each piece
is tokenized on its own and the ids concatenated, so the tag's position is known exactly however
the tokenizer would merge it with its neighbours.

Served form (``base_url=``): the PRM runs behind vLLM's pooling endpoint (``/pooling``, task
``token_classify``) and qstar sends the same token ids, reads the head's raw outputs at the same tag
positions and applies the same activation; only the tokenizer is loaded here (from ``model``).
A token classifier is served as it is (``--runner pooling --pooler-config '{"task": "token_classify"}'``); a plus-minus PRM is served with vLLM's
conversion of its LM head into a one-unit score, ``logit(good) - logit(bad)``, whose sigmoid is
exactly ``softmax(logits[good], logits[bad])[good]``::

    vllm serve <prm> --runner pooling --convert classify --pooler-config '{"task": "token_classify"}' \
      --hf-overrides '{"classifier_from_token": ["-", "+"], "method": "from_2_way_softmax"}'

(the bad token first: vLLM's score is the second token's logit minus the first's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from qstar.errors import QstarError
from qstar.served import ServedFields
from qstar.tree import Problem

KINDS = ("plus-minus", "token-classification")


@dataclass
class ExternalPRMConfig(ServedFields):
    name: str = "hf-prm"  # the registered name: scorer=hf-prm
    model: Optional[str] = None  # the PRM checkpoint: a Hub id or a save_pretrained directory
    kind: str = "plus-minus"  # plus-minus (P(good token) at the tag) | token-classification (P(class) at the tag)
    step_tag: str = " ки"  # written after every step; scores are read at its last token (Math-Shepherd's tag)
    separator: str = "\n"  # written after each tag, before the next step
    good_token: str = "+"  # plus-minus: the token that means a good step
    bad_token: str = "-"  # plus-minus: the token that means a bad step
    positive_label: int = 1  # token-classification: the class index of a good step
    aggregate: str = "min"  # path score from step scores: min | prod | last | mean
    batch_size: int = 16  # paths per forward pass
    dtype: str = "float32"  # torch dtype to load the weights in
    device: str = "cpu"  # where the PRM runs (cpu, cuda, ...)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise QstarError(f"scorer.kind={self.kind!r}: choose plus-minus or token-classification")
        if not self.step_tag:
            raise QstarError("scorer.step_tag is empty: set the tag the PRM was trained with (Math-Shepherd: ' ки')")
        if self.batch_size < 1:
            raise QstarError(f"scorer.batch_size={self.batch_size}: must be at least 1")
        if self.positive_label < 0:
            raise QstarError(f"scorer.positive_label={self.positive_label}: a class index is 0 or more (1 for most PRMs)")


class ExternalPRMScorer:
    learned = True
    max_score = 1.0  # a probability

    def __init__(self, cfg: ExternalPRMConfig, task):
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

        from qstar.models import check_model_path, load_tokenizer

        from . import AGGREGATES

        if not cfg.model:
            raise QstarError("scorer.model is empty: set scorer.model=<a PRM checkpoint> (Hub id or directory)")
        if cfg.aggregate not in AGGREGATES:
            raise QstarError(f"scorer.aggregate={cfg.aggregate!r}: choose one of {', '.join(AGGREGATES)}")
        self.cfg, self.task = cfg, task
        self.name, self.aggregate = cfg.name, cfg.aggregate
        self.tok = load_tokenizer(cfg.model)
        self.client = self.model = None
        if cfg.base_url:  # served: the server holds the weights; the tokenizer places the tags
            from qstar.served import ServedClient

            self.client = ServedClient(*cfg.served("scorer"))
        else:
            path = check_model_path(cfg.model)
            auto = AutoModelForCausalLM if cfg.kind == "plus-minus" else AutoModelForTokenClassification
            try:
                self.model = auto.from_pretrained(path, dtype=getattr(torch, cfg.dtype)).to(cfg.device).eval()
            except Exception as e:  # noqa: BLE001 - one line for any loading failure
                raise QstarError(
                    f"cannot load PRM {cfg.model!r} as {auto.__name__} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): check scorer.kind"
                ) from None
        self.tag_ids = self._ids(cfg.step_tag)
        self.sep_ids = self._ids(cfg.separator) if cfg.separator else []
        if not self.tag_ids:
            raise QstarError(f"scorer.step_tag={cfg.step_tag!r} is no token of {cfg.model!r}'s tokenizer")
        unk = self.tok.unk_token_id
        if unk is not None and unk in self.tag_ids:  # the tag would read as [UNK]: every score would mean nothing
            raise QstarError(
                f"scorer.step_tag={cfg.step_tag!r} is unknown to {cfg.model!r}'s tokenizer (it encodes as {self.tok.unk_token}): "
                "set the tag the PRM was trained with"
            )
        if cfg.kind == "plus-minus":
            self.good, self.bad = self._one(cfg.good_token, "good_token"), self._one(cfg.bad_token, "bad_token")
        elif self.model is not None:  # served: the outputs' width is checked when they come
            n = self.model.config.num_labels
            if n == 1 and cfg.positive_label > 1:
                raise QstarError(
                    f"scorer.positive_label={cfg.positive_label}: {cfg.model!r} has one output (its sigmoid is P(good)); use 1"
                )
            if n > 1 and not 0 <= cfg.positive_label < n:
                raise QstarError(f"scorer.positive_label={cfg.positive_label}: {cfg.model!r} has {n} classes (0–{n - 1})")

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _one(self, text: str, key: str) -> int:
        ids = self._ids(text)
        if ids and ids[0] == self.tok.unk_token_id:
            raise QstarError(
                f"scorer.{key}={text!r} is unknown to this tokenizer (it encodes as {self.tok.unk_token}): set the PRM's own token"
            )
        if len(ids) != 1:
            raise QstarError(f"scorer.{key}={text!r} is {len(ids)} tokens for this tokenizer: it must be exactly one")
        return ids[0]

    def encode(self, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids and the position of each step's tag (its last token)."""
        ids, tags = self._ids(prompt), []
        for step in steps:
            ids += self._ids(step) + self.tag_ids
            tags.append(len(ids) - 1)
            ids += self.sep_ids
        return ids, tags

    def step_scores(self, prompts: Sequence[str], paths: Sequence[Sequence[str]]) -> list[list[float]]:
        """Every step's score, for each path."""
        if self.client is not None:
            return self._served_step_scores(prompts, paths)
        import torch

        out: list[list[float]] = []
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        for b in range(0, len(paths), self.cfg.batch_size):
            enc = [self.encode(p, s) for p, s in zip(prompts[b : b + self.cfg.batch_size], paths[b : b + self.cfg.batch_size])]
            width = max(len(ids) for ids, _ in enc)
            ids = torch.full((len(enc), width), pad, dtype=torch.long)
            mask = torch.zeros((len(enc), width), dtype=torch.long)
            for i, (x, _) in enumerate(enc):  # right padding: positions stay those of the unpadded text
                ids[i, : len(x)] = torch.tensor(x)
                mask[i, : len(x)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.cfg.device), attention_mask=mask.to(self.cfg.device)).logits.float().cpu()
            for i, (_, tags) in enumerate(enc):
                at = logits[i, tags]  # (steps, vocab or classes)
                if self.cfg.kind == "plus-minus":
                    p = torch.softmax(at[:, [self.good, self.bad]], dim=-1)[:, 0]
                elif at.shape[-1] == 1:
                    p = torch.sigmoid(at[:, 0])
                else:
                    p = torch.softmax(at, dim=-1)[:, self.cfg.positive_label]
                out.append(p.tolist())
        return out

    def _served_step_scores(self, prompts, paths) -> list[list[float]]:
        import torch

        enc = [self.encode(p, s) for p, s in zip(prompts, paths)]
        out = []
        for raw, (_, tags) in zip(self.client.token_scores([ids for ids, _ in enc]), enc):
            at = torch.tensor(raw, dtype=torch.float32).reshape(len(raw), -1)[tags]  # (steps, outputs)
            width = at.shape[-1]
            if self.cfg.kind == "plus-minus" and width != 1:
                raise QstarError(
                    f"the server at {self.cfg.base_url} gives {width} outputs per token, not one: serve a plus-minus PRM with --runner pooling "
                    """--convert classify --hf-overrides '{"classifier_from_token": [bad, good], "method": "from_2_way_softmax"}'"""
                )
            if width == 1:  # one unit: P(good) = sigmoid (plus-minus: sigmoid(logit good - logit bad), the 2-way softmax)
                out.append(torch.sigmoid(at[:, 0]).tolist())
            elif 0 <= self.cfg.positive_label < width:
                out.append(torch.softmax(at, dim=-1)[:, self.cfg.positive_label].tolist())
            else:
                raise QstarError(f"scorer.positive_label={self.cfg.positive_label}: the served PRM has {width} classes (0–{width - 1})")
        return out

    def score(self, problems: Sequence[Problem], paths: Sequence[Sequence[str]]) -> list[float]:
        todo = [i for i, s in enumerate(paths) if s]
        scores = self.step_scores([self.task.prompt(problems[i]) for i in todo], [list(paths[i]) for i in todo])
        out = [0.5] * len(paths)  # the root: no step to judge
        for i, s in zip(todo, scores):
            out[i] = s[-1]
        return out

"""Segmenters: ``newline`` (one step per line, the Game of 24's format) and ``paragraph`` (one step
per paragraph, delimiter ``"\n\n"``: prose reasoning as chat models write it) — the delimiter
shared by the policy and the scorers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from qstar import hookimpl


@dataclass
class NewlineConfig:
    name: str = "newline"  # the registered name: segmenter=newline


class NewlineSegmenter:
    delimiter = "\n"

    def __init__(self, cfg: NewlineConfig | None = None):
        self.cfg = cfg

    def split(self, text: str) -> list[str]:
        """Non-empty lines, stripped of surrounding whitespace."""
        return [line.strip() for line in text.split(self.delimiter) if line.strip()]

    def join(self, prompt: str, steps: Sequence[str]) -> str:
        """The policy's input for the next step: every step is closed by the delimiter."""
        return prompt + "".join(step + self.delimiter for step in steps)


@dataclass
class ParagraphConfig:
    name: str = "paragraph"  # the registered name: segmenter=paragraph


class ParagraphSegmenter(NewlineSegmenter):
    """One step per paragraph: steps are separated by a blank line; a step may span lines."""

    delimiter = "\n\n"

    def split(self, text: str) -> list[str]:
        """Non-empty paragraphs (split at blank lines), stripped of surrounding whitespace."""
        return [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


@hookimpl
def qstar_register_segmenters(register):
    register("newline", NewlineSegmenter, NewlineConfig)
    register("paragraph", ParagraphSegmenter, ParagraphConfig)

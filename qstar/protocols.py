"""The interfaces of the component kinds. A plugin implements one and registers a factory for it.

Every factory is called as ``factory(cfg)`` with its validated config (an instance of the schema
dataclass it registered, or ``None`` when it registered none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator, Protocol, Sequence, runtime_checkable

from qstar.tree import Node, Problem, SearchResult


@dataclass(frozen=True)
class StepVerdict:
    """The task's rule check of one step: ``valid`` arithmetic/format, ``terminal`` when it ends the
    trajectory, ``answer`` extracted from a terminal step, ``correct`` when the answer is known right."""

    valid: bool
    terminal: bool = False
    answer: str | None = None
    correct: bool | None = None
    dead_end: bool = False  # valid, but the task's rules say no answer can follow (e.g. 23 left)


@runtime_checkable
class Task(Protocol):
    name: str
    max_depth: int  # steps in a complete trajectory (the answer line included)

    def problems(self, split: str) -> list[Problem]: ...
    def parse_problem(self, text: str) -> Problem: ...
    def prompt(self, problem: Problem) -> str: ...
    def check_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict: ...
    def is_correct(self, problem: Problem, answer: str | None) -> bool: ...
    def gold_trajectories(self, problem: Problem) -> list[list[str]]: ...

    # Optional: ``state_key(problem, steps) -> Hashable`` — equal keys mean the same search state
    # (Game of 24: the numbers left), so searches can keep one path per state.
    # Optional: ``perturb_step(problem, previous, step, rng) -> str | None`` — a plausible mistake
    # in place of ``step`` (Game of 24: wrong arithmetic, numbers not left, a wrong remaining list),
    # for ``qstar label perturb=k``; the labeler judges it like any step.


@runtime_checkable
class Segmenter(Protocol):
    delimiter: str

    def split(self, text: str) -> list[str]: ...
    def join(self, prompt: str, steps: Sequence[str]) -> str: ...


@dataclass
class Proposal:
    text: str
    num_tokens: int
    logprob: float
    finished: bool = True  # False when the token budget ran out before the delimiter
    token_ids: list[int] | None = None  # the sampled ids (delimiter included), when the expander has them
    ended: bool = False  # the model ended its whole answer here (its end-of-sequence token): the path stops


@dataclass
class ExpandStats:
    generated_tokens: int = 0
    prompt_tokens: list[int] = field(default_factory=list)  # one count per prompt (engine charges each tree)


@runtime_checkable
class Expander(Protocol):
    def expand(
        self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None
    ) -> tuple[list[list[Proposal]], ExpandStats]:
        """Propose ``k`` next steps for every prompt, in as few batched model calls as possible.

        ``seeds`` holds one sampling-stream key per prompt (the engine derives it from the problem
        id): a prompt's samples must depend on its key (and the expander's own seed) alone, not on
        the other prompts of the batch. An expander whose signature lacks ``seeds`` still works,
        but then a problem's tree depends on its batch."""
        ...

    def rollout(
        self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None
    ) -> tuple[list[list[Proposal]], ExpandStats]:
        """Sample ``k`` whole completions (all remaining steps) per prompt; ``seeds`` as in ``expand``."""
        ...


@runtime_checkable
class Scorer(Protocol):
    name: str

    # Optional: ``learned = True`` marks a learned judge (a PRM/ORM): the search is then in the
    # *learned* setting and sees the task blinded (:class:`qstar.engine.BlindTask`); a scorer
    # without it is rule-based (``lookahead = True``: the oracle setting, else rules).
    # ``aggregate`` ("min" | "prod" | "last" | "mean") is how its step scores fold into a path
    # score (``Tree.path_score``); the default is "min".

    def score(self, problems: Sequence[Problem], paths: Sequence[Sequence[str]]) -> list[float]:
        """Score the last step of each path (a list of step texts), in [0, 1]."""
        ...


@dataclass
class Expand:
    """A request a search yields: expand ``nodes`` with ``k`` proposals each.
    The engine sends back ``list[list[Node]]`` (the new children, already rule-checked)."""

    nodes: list[Node]
    k: int


@dataclass
class Rollout:
    """A request for ``k`` whole completions from each node; the engine sends back the leaves
    (each leaf's path holds the completion split into steps)."""

    nodes: list[Node]
    k: int


@dataclass
class Score:
    """A request to score ``nodes`` (their last step, in path context). The engine writes
    ``node.scores[scorer.name]`` and sends back the list of floats."""

    nodes: list[Node]


SearchGen = Generator[Any, Any, None]


@runtime_checkable
class Search(Protocol):
    name: str

    def run(self, tree: "Any") -> SearchGen:
        """Grow ``tree`` (a :class:`qstar.engine.Tree`) by yielding :class:`Expand`, :class:`Rollout`
        and :class:`Score` requests, then call ``tree.choose(node)`` with the chosen leaf.
        Yielding lets the engine batch the requests of many problems into one model call."""
        ...


@runtime_checkable
class Labeler(Protocol):
    name: str

    def run(self, tree: "Any") -> SearchGen:
        """Fill ``tree.labels`` (node id → label in [0, 1]) for every step of a searched tree,
        yielding :class:`Rollout` requests when it needs the policy (batched across trees)."""
        ...


@runtime_checkable
class Optimizer(Protocol):
    def fit(self, cfg: Any) -> Any: ...


__all__ = [
    "Expand",
    "ExpandStats",
    "Expander",
    "Labeler",
    "Node",
    "Optimizer",
    "Problem",
    "Proposal",
    "Rollout",
    "Score",
    "Scorer",
    "Search",
    "SearchGen",
    "SearchResult",
    "Segmenter",
    "StepVerdict",
    "Task",
]

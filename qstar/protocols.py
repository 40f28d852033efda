"""The interfaces of the component kinds. A plugin implements one and registers a factory for it.

Every factory is called as ``factory(cfg)`` with its validated config (an instance of the schema
dataclass it registered, or ``None`` when it registered none).

Every capability the engine or a command looks for is declared here: the required members on
the kind's protocol, the optional ones as small protocols of their own (``ParsesSteps``,
``JudgesReachability`` …) and in :data:`OPTIONAL`, which names each optional attribute, the kind
that may have it and what it changes. ``tests/test_protocols.py`` fails when the engine or a
command looks up (``getattr``/``hasattr``) a capability that is not declared here.
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


def graded(task, problem, verdict: StepVerdict) -> StepVerdict:
    """``verdict`` (a task's ``parse_step``) with its stated answer graded by ``task.is_correct``:
    a step that states an answer ends the path, right or wrong; one that states none is returned
    as it is. Tasks whose steps are free text (GSM8K, MATH) check a step this way."""
    if verdict.answer is None:
        return verdict
    return StepVerdict(valid=verdict.valid, terminal=True, answer=verdict.answer, correct=task.is_correct(problem, verdict.answer))


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

    # Optional capabilities: the protocols below and OPTIONAL["task"].


@runtime_checkable
class ParsesSteps(Protocol):
    """A task the *learned* setting can run on: ``parse_step`` says whether a step is well-formed,
    whether it ends the path and what answer it states — never whether it is right. The engine's
    :class:`~qstar.engine.BlindTask` shows a search only this in place of ``check_step``."""

    def parse_step(self, problem: Problem, previous: Sequence[str], step: str) -> StepVerdict: ...


@runtime_checkable
class KnowsStates(Protocol):
    """``state_key(problem, steps)``: equal keys mean the same search state (Game of 24: the numbers
    left), so searches keep one path per state; ``parse_state`` is its blind form (the state the
    steps *claim*, unchecked), used in the learned setting."""

    def state_key(self, problem: Problem, steps: Sequence[str]) -> Any: ...
    def parse_state(self, problem: Problem, steps: Sequence[str]) -> Any: ...


@runtime_checkable
class JudgesReachability(Protocol):
    """``solvable(problem, steps)``: can the goal still be reached after ``steps``. The oracle's
    look-ahead (``scorer=verifier scorer.lookahead=true``), exact step labels (``labeler=verifier``)
    and the evaluation of reward models use it; a search in the learned setting never sees it."""

    def solvable(self, problem: Problem, steps: Sequence[str]) -> bool: ...


@runtime_checkable
class PerturbsSteps(Protocol):
    """``perturb_step(problem, previous, step, rng)``: a plausible mistake in place of ``step``
    (Game of 24: wrong arithmetic, numbers not left, a wrong remaining list), for ``qstar label
    perturb=k``; the labeler judges it like any step. ``None`` when it finds none."""

    def perturb_step(self, problem: Problem, previous: Sequence[str], step: str, rng: Any) -> str | None: ...


@runtime_checkable
class SamplesLegalTrajectories(Protocol):
    """``random_legal_trajectories(problem, n, rng)``: up to ``n`` trajectories whose every step
    keeps the rules, right or not (``optimizer.source=random-legal``: a policy that never saw a
    solution)."""

    def random_legal_trajectories(self, problem: Problem, n: int, rng: Any) -> list[list[str]]: ...


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
    def expand(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None) -> tuple[list[list[Proposal]], ExpandStats]:
        """Propose ``k`` next steps for every prompt, in as few batched model calls as possible.

        ``seeds`` holds one sampling-stream key per prompt (the engine derives it from the problem
        id): a prompt's samples must depend on its key (and the expander's own seed) alone, not on
        the other prompts of the batch. An expander whose signature lacks ``seeds`` still works,
        but then a problem's tree depends on its batch."""
        ...

    def rollout(self, prompts: Sequence[str], k: int, seeds: Sequence[int] | None = None) -> tuple[list[list[Proposal]], ExpandStats]:
        """Sample ``k`` whole completions (all remaining steps) per prompt; ``seeds`` as in ``expand``."""
        ...


@runtime_checkable
class FormatsPrompts(Protocol):
    """``format_prompt(text)``: how the expander wraps the task's prompt before the steps (a chat
    template's user turn, say); the engine then builds every node's prompt on it."""

    def format_prompt(self, text: str) -> str: ...


@runtime_checkable
class Scorer(Protocol):
    name: str
    # Required, and checked when the scorer registers (fail closed): ``learned = True`` marks a
    # learned judge (PRM, ORM, an LLM's value): the search is then in the *learned* setting and
    # sees the task blinded (:class:`qstar.engine.BlindTask`); ``learned = False`` a rule-based
    # one (the oracle setting with ``lookahead = True``, else rules). A scorer that says neither is
    # refused: it would otherwise see the unblinded task.
    learned: bool

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
    data_kind: str  # what ``data=`` holds: "trees" (qstar search output), "labels" (qstar label output) or "steps" (stepwise reward data)
    trains: str  # "policy" (qstar loop can train the policy with it) or "reward" (a PRM/ORM)

    def fit(self, ctx: Any) -> Any: ...


# Optional attributes, by kind: the engine and the commands read each with a default when it is
# absent. (The optional methods are the protocols above.)
OPTIONAL: dict[str, dict[str, str]] = {
    "task": {
        "parse_step": "ParsesSteps: the learned setting's blind step check",
        "parse_state": "KnowsStates: the blind state key (learned setting)",
        "state_key": "KnowsStates: one path per search state",
        "solvable": "JudgesReachability: the oracle's look-ahead and exact step labels",
        "perturb_step": "PerturbsSteps: qstar label perturb=k",
        "random_legal_trajectories": "SamplesLegalTrajectories: optimizer.source=random-legal",
    },
    "expander": {
        "format_prompt": "FormatsPrompts: wraps the task's prompt (a chat template)",
    },
    "scorer": {
        "lookahead": "bool, default False: a rule-based scorer with exact look-ahead makes the oracle setting",
        "calls_per_step": "int, default 1: the models one step's score runs through (an ensemble of three PRMs: 3); "
        "the budget's scorer_calls counts each",
        "aggregate": 'str, default "min": how step scores fold into a path score (min, prod, last, mean)',
        "policy_weight": "float, default 0: the step score is multiplied by π(step)^w, the policy's prior",
        "max_score": "float, default None (unbounded): no score exceeds it; a search that prunes at or above it is refused",
    },
    "search": {
        "needs_scorer": "bool, default False: the command refuses to run the search without scorer=",
        "prunes_at": "(option, value), default None: states scoring at or below value are dropped (checked against max_score)",
    },
    "labeler": {
        "needs_policy": "bool, default True: False when the labeler never asks for rollouts (no model is loaded)",
    },
    "optimizer": {
        "data_kind": 'str, default "trees": what data= holds (read and checked before any model is built)',
        "trains": "str: policy | reward; qstar loop takes a policy optimizer whose data_kind is trees or labels",
    },
}


__all__ = [
    "OPTIONAL",
    "FormatsPrompts",
    "JudgesReachability",
    "KnowsStates",
    "ParsesSteps",
    "PerturbsSteps",
    "SamplesLegalTrajectories",
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

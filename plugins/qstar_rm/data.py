"""Step-labelled data for reward models, in TRL's stepwise-supervision convention.

One :class:`StepExample` is a prompt, the steps of one path, a target in [0, 1] per step and a
weight per step (0 = not trained on). Three readers produce them:

- :func:`read_stepwise`: JSON Lines of ``{"prompt", "completions", "labels"}`` (TRL's stepwise
  format, as ``qstar label`` writes it, with ``soft_labels``, ``problem_id`` and ``node_ids``
  alongside). A step shared by several paths (the same problem, the same steps up to it) is
  weighted once.
- :func:`read_prm800k_records`: raw PRM800K records (``label.steps[].completions[].rating``).
- :func:`read_prm800k_parquet`: PRM800K flattened one row per rated step (``instruction``,
  ``responses`` = the previous steps, ``next_response``, ``rating``).

PRM800K ratings follow TRL's convention by default: +1 is a positive step, 0 and -1 negative
(``positive=(1,)``; pass ``positive=(0, 1)`` to count neutral steps as right).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from qstar.errors import QstarError
from qstar.labels import check_record, iter_label_lines
from qstar.seeding import stable_int
from qstar.tree import DataError


@dataclass
class StepExample:
    prompt: str
    steps: list[str]
    labels: list[float]  # one target in [0, 1] per step
    weights: list[float] = field(default_factory=list)  # one per step; 0 = not trained on
    group: str = ""  # the problem: examples of one problem stay on one side of the train/val split

    def __post_init__(self):
        if not self.weights:
            self.weights = [1.0] * len(self.steps)

    def record(self) -> dict[str, Any]:
        """This example as a TRL stepwise record (hard labels) with the soft ones alongside."""
        return {
            "prompt": self.prompt,
            "completions": self.steps,
            "labels": [x > 0.5 for x in self.labels],
            "soft_labels": self.labels,
            "weights": self.weights,
            "problem_id": self.group,
        }


def _bad(path, line_no, why) -> DataError:
    where = f"{path}:{line_no}" if line_no else str(path)
    return DataError(f"{where}: {why}")


def read_stepwise(path: str | Path, target: str = "soft", pool_states: bool = False) -> list[StepExample]:
    """TRL stepwise JSONL; ``target="soft"`` trains on ``soft_labels`` when present (Math-Shepherd
    soft estimation), ``"hard"`` on the boolean ``labels``. ``pool_states``: see :func:`pool_by_state`."""
    path = Path(path)
    rows = []
    for line_no, r in iter_label_lines(path):
        check_record(r, f"{path}:{line_no}", qstar=False)  # the one reader of the stepwise format (qstar.labels)
        rows.append((line_no, r))
    if not rows:
        raise DataError(f"{path}: no stepwise records; write some with `qstar label`")
    pooled = pool_by_state(path, rows) if pool_states else {}
    examples: list[StepExample] = []
    seen: dict[str, set] = {}
    for line_no, r in rows:
        steps, hard = r["completions"], r["labels"]
        soft = r.get("soft_labels") if target == "soft" or pool_states else None
        labels = [float(x) for x in (soft if soft is not None else hard)]
        if pool_states:
            labels = [pooled.get(key, x) for key, x in zip(r["states"], labels)]
            if target == "hard":  # Math-Shepherd's hard estimate of the pooled rollouts: any of them right
                labels = [float(x > 0) for x in labels]
        group = str(r.get("problem_id") or r["prompt"])
        # Paths of one tree share their first steps, and files may hold several trees of one
        # problem: a step (the same problem, the same steps up to it) is trained on once.
        done = seen.setdefault(group, set())
        prefixes = [tuple(steps[: i + 1]) for i in range(len(steps))]
        weights = [0.0 if p in done else 1.0 for p in prefixes]
        done.update(prefixes)
        examples.append(StepExample(r["prompt"], steps, labels, weights, group))
    return examples


def pool_by_state(path: Path, rows: list[tuple[int, dict]]) -> dict[str, float]:
    """Monte-Carlo step labels pooled by task state: every labelled step that leaves the same state
    (``states``, written by ``qstar label`` for a task with a ``state_key``; Game of 24: the same
    numbers left) gets the mean rollout outcome of all such steps in the file, from any problem,
    path or round. Whether the goal can still be reached depends on the state alone, so each
    visit's rollouts estimate the same value: this is the transposition table of a tree search
    (one value per state, as ``merge_states`` in the searches) applied to the labels. Only rollout
    outcomes are pooled, no look-ahead. A step with no state (illegal, a dead end, an answer)
    keeps its own label. Returns the pooled soft label of each state."""
    votes: dict[str, dict[tuple, float]] = {}
    for line_no, r in rows:
        states, soft = r.get("states"), r.get("soft_labels")
        if states is None or soft is None:
            raise DataError(
                f'{path}:{line_no}: optimizer.pool_states needs each step\'s state and soft label ("states", "soft_labels"): '
                "label the trees with qstar label (it writes them for a task with a state_key), or drop optimizer.pool_states"
            )
        for i, key in enumerate(states):
            if key is not None:
                # one vote per labelled node: paths of one tree share the nodes of their common prefix
                node = (r.get("problem_id"), tuple(r["completions"][: i + 1]), r.get("node_ids", [None] * len(states))[i], soft[i])
                votes.setdefault(key, {})[node] = float(soft[i])
    return {key: sum(v.values()) / len(v) for key, v in votes.items()}


def _rating(value, positive: Sequence[int]) -> float | None:
    return None if value is None else float(int(value) in positive)


def record_to_example(record: dict[str, Any], positive: Sequence[int] = (1,)) -> StepExample | None:
    """One raw PRM800K record → the rated path: each step's chosen completion (or the human's),
    ending at the first step no completion was chosen for (the rated mistake) or that is unrated."""
    try:
        problem = record["question"]["problem"]
        rated = record["label"]["steps"]
    except (KeyError, TypeError):
        raise QstarError("a PRM800K record needs question.problem and label.steps") from None
    steps, labels = [], []
    for step in rated:
        if step.get("human_completion"):
            text, rating, last = step["human_completion"]["text"], 1, False
        elif step.get("chosen_completion") is not None:
            c = step["completions"][step["chosen_completion"]]
            text, rating, last = c["text"], c["rating"], False
        elif step.get("completions"):
            c = step["completions"][0]
            text, rating, last = c["text"], c["rating"], True
        else:
            break
        label = _rating(rating, positive)
        if label is None:
            break
        steps.append(text)
        labels.append(label)
        if last:
            break
    return StepExample(problem + "\n", steps, labels, group=problem) if steps else None


def read_prm800k_records(path: str | Path, positive: Sequence[int] = (1,)) -> list[StepExample]:
    """Raw PRM800K records: a JSON file with one record (or a list) or JSON Lines."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8") from None
    try:
        data = json.loads(text)
        records = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not JSON or JSON Lines ({e.msg})") from None
    try:
        examples = [e for e in (record_to_example(r, positive) for r in records) if e is not None]
    except QstarError as e:
        raise DataError(f"{path}: {e}") from None
    if not examples:
        raise DataError(f"{path}: no rated steps in these PRM800K records")
    return examples


def read_prm800k_parquet(path: str | Path, positive: Sequence[int] = (1,)) -> list[StepExample]:
    """PRM800K flattened one row per rated step; only the rated (last) step is trained on."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise QstarError("reading parquet needs pyarrow: pip install 'qstar[data]'") from None
    try:
        rows = pq.read_table(path, columns=["instruction", "responses", "next_response", "rating"]).to_pylist()
    except Exception as e:  # noqa: BLE001 - arrow raises many kinds for a bad file
        raise DataError(f"{path}: cannot read as PRM800K parquet ({str(e).splitlines()[0]})") from None
    examples = []
    for r in rows:
        label = _rating(r["rating"], positive)
        if label is None or not r["next_response"]:
            continue
        previous = list(r["responses"] or [])
        examples.append(
            StepExample(
                r["instruction"] + "\n",
                previous + [r["next_response"]],
                [0.0] * len(previous) + [label],
                [0.0] * len(previous) + [1.0],  # earlier steps are context here, rated in their own rows
                group=r["instruction"],
            )
        )
    if not examples:
        raise DataError(f"{path}: no rated steps")
    return examples


def read_examples(path: str | Path, target: str = "soft", positive: Sequence[int] = (1,), pool_states: bool = False) -> list[StepExample]:
    """Dispatch on the file: ``.parquet`` (PRM800K flattened), ``.json`` (raw PRM800K records),
    anything else TRL stepwise JSON Lines."""
    p = Path(path)
    if not p.is_file():
        raise QstarError(f"data file {path} does not exist: pass data=<labels.jsonl written by qstar label>")
    if pool_states and p.suffix in (".parquet", ".json"):
        raise QstarError(
            f"optimizer.pool_states pools the labels of qstar label's files by state: {p.name} is PRM800K, which has no states"
        )
    if p.suffix == ".parquet":
        return read_prm800k_parquet(p, positive)
    if p.suffix == ".json":
        return read_prm800k_records(p, positive)
    return read_stepwise(p, target, pool_states)


def backed_up(examples: Iterable[StepExample]) -> list[StepExample]:
    """Hard labels backed up along the paths: a step is good when any later trained step of a path
    through it is (paths that share a prefix share its steps, so one path's right later step backs
    up the prefix on every path). Math-Shepherd's hard estimate calls a step good when some
    completion from it reaches the right answer; a later step's right rollout is such a completion,
    which the step's own few rollouts may have missed (a weak policy's rollouts label reachable
    steps 0). Uses no gold and no look-ahead: only the labels already there."""
    examples = list(examples)
    best: dict[tuple, float] = {}
    for ex in examples:
        later = 0.0
        for i in reversed(range(len(ex.steps))):
            if ex.weights[i] > 0:
                later = max(later, ex.labels[i])
            key = (ex.group, ex.prompt, tuple(ex.steps[: i + 1]))
            best[key] = max(best.get(key, 0.0), later)
    return [
        replace(
            ex,
            labels=[
                best[(ex.group, ex.prompt, tuple(ex.steps[: i + 1]))] if w > 0 else x for i, (x, w) in enumerate(zip(ex.labels, ex.weights))
            ],
        )
        for ex in examples
    ]


def sibling_pairs(examples: Iterable[StepExample], per_side: int = 2) -> list[tuple[StepExample, StepExample]]:
    """Pairs of sibling steps for a ranking loss, as rStar-Math's process preference model
    (Guan et al., 2025, sec. 3.3): steps that share the problem and every step before them, the
    ``per_side`` best-labelled against the ``per_side`` worst, each pair with a strictly better
    first member. Each member is its path cut after the step, weighted at that step only. A step
    shared by several paths counts once (its first trained occurrence)."""
    children: dict[tuple, dict[str, tuple[float, StepExample]]] = {}
    for ex in examples:
        for i, (step, label, w) in enumerate(zip(ex.steps, ex.labels, ex.weights)):
            if w <= 0:
                continue
            kids = children.setdefault((ex.group, ex.prompt, tuple(ex.steps[:i])), {})
            if step not in kids:
                kids[step] = (label, StepExample(ex.prompt, ex.steps[: i + 1], ex.labels[: i + 1], [0.0] * i + [1.0], ex.group))
    pairs = []
    for kids in children.values():
        ranked = sorted(kids.values(), key=lambda kid: -kid[0])  # stable: ties keep the data's order
        for good_label, good in ranked[:per_side]:
            for bad_label, bad in ranked[-per_side:]:
                if good_label > bad_label:
                    pairs.append((good, bad))
    return pairs


def outcome_only(examples: Iterable[StepExample]) -> list[StepExample]:
    """ORM targets: one per path, the label of its last step (the path's outcome)."""
    out = []
    for e in examples:
        if e.steps:
            out.append(StepExample(e.prompt, e.steps, e.labels, [0.0] * (len(e.steps) - 1) + [1.0], e.group))
    return out


def split_groups(examples: list[StepExample], val_percent: float, seed: int) -> tuple[list[StepExample], list[StepExample]]:
    """Train/val by problem (stable hash), so no problem is on both sides. With a single problem
    the validation set is the training set (a smoke run still logs its metrics)."""
    groups = sorted({e.group for e in examples})
    val = {g for g in groups if stable_int(f"{seed}\x00{g}") % 10_000 < val_percent * 100}
    if not val and len(groups) > 1 and val_percent > 0:
        val = {min(groups, key=lambda g: stable_int(f"{seed}\x00{g}"))}
    if val == set(groups) and len(groups) > 1:
        val.discard(groups[0])
    train = [e for e in examples if e.group not in val]
    held = [e for e in examples if e.group in val]
    return train, (held or train)

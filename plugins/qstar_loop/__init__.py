"""The ``qstar loop`` command (a plugin of its own, registered through ``qstar_register_commands``):
search → label → train the PRM → train the policy → evaluate, round after round.

Every stage is an ordinary qstar command run in its own process (``qstar search``, ``qstar label``,
``qstar train``, ``qstar eval``), with its output, its composed config (``.hydra/``) and its log in
``<out_dir>/round-<r>/<stage>/``. A stage that finishes writes ``done.json`` (wall time, tokens);
a rerun of the same ``qstar loop`` skips finished stages and resumes the interrupted one where it
stopped (search, label and eval skip the problems already written; a training stage continues from
its ``last.ckpt``). So a loop survives the end of a session: run the same command again.

The labels come from AI feedback only: Monte-Carlo rollouts by the current policy, with the task's
final-answer check at the end of each rollout. No gold solution and no look-ahead reaches a stage
that trains: search runs in the *learned* setting (the current PRM and the policy's log-probs).

Every search stage runs ``search=tot-bfs scorer=prm`` with the round's PRM, then ``search_overrides``
(the loop's own choice, whatever ``qstar search`` defaults to). Round 0 evaluates the start policy
and PRM; round r ≥ 1 trains on trees searched by round r − 1's
models.

With ``shards=n`` each round's search and label stages are split by problem (``shard=i/n`` of
``qstar search`` and ``qstar label``) into ``round-<r>/<stage>/shard-<i>/`` and joined by ``qstar
merge`` into ``round-<r>/<stage>/``. A *worker*, the same command with ``shard=i/n`` added (one
task of a cluster job array), runs only its shard of the round whose models exist — its search,
then, once every search shard is there, its labelling — and stops. The *driver*, the command
without ``shard=``, runs whatever shard no worker finished (resuming a killed one), merges, trains
and evaluates. On one machine the driver alone does it all, shard after shard.

The policy stage fine-tunes the previous round's policy on this round's data by default;
``policy_from=start`` retrains from ``start_policy`` every round (ReST-EM, Singh et al., 2023,
"Beyond Human Data": each iteration fine-tunes the base model, against drift) and
``policy_keep_rounds=true`` trains on every round's data so far. The PRM stage continues training
the previous round's PRM by default; ``prm_from=policy`` trains the policy first and starts the
round's PRM from that new policy's backbone with a fresh value head instead, as the bundled PRM
starts from the bundled policy (``conf/experiment/game24_prm.yaml``): a backbone that has just
learned the round's right paths reads the steps the evaluation will score (with
``prm_keep_rounds=true`` it then learns every round's labels from scratch). ``prm_seeds=n`` trains
n PRMs a round at seeds ``seed`` … ``seed + n − 1`` (``round-<r>/prm/``, ``round-<r>/prm-seed<k>/``),
and every later search, the evaluation and the judge score with their ensemble (``scorer.ensemble``:
the mean of their step values), against a PRM's dependence on its training seed. ``train_uncovered=true`` searches,
from round 2 on, only the train puzzles no earlier round found a right path for (``qstar search
exclude=``): the covered ones keep their paths in the kept rounds' data, and the round's time
goes to what is still unsolved, searched with ``explore_overrides`` on top (a higher temperature:
more distinct proposals where the policy has found nothing yet); round 1 searches every puzzle
with the evaluation's search. ``sample_n=N`` makes the train stage of round ``sample_from`` (2) on
sample N whole solutions per puzzle from the round's policy instead (ReST-EM's E-step: no PRM, the
answer check grades them afterwards); once a round's policy solves some puzzles greedily,
sampling finds more distinct right paths per second than the tree search, and round 1 keeps the
tree search because the start policy alone rarely reaches 24. After the evaluation a ``judge``
stage (``qstar judge``) measures the round's PRM against exact step labels on the searched test
trees — evaluation only, its figures reach no training stage.

Outputs: ``rounds.json`` and ``rounds.png`` (greedy pass@1 and learned-search solve rate per
round; each row also the PRM's step AUROC and first-error F1, the legal share of the searched
steps, the train coverage and every stage's wall time) and the round table on the console.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from rich.table import Table

from qstar import hookimpl
from qstar.errors import QstarError
from qstar.files import atomic_write_text, save_png
from qstar.models import resolve_path
from qstar.plugins import Registry, UnknownComponentError, make_plugin_manager
from qstar.runs import console, output_dir
from qstar.shards import parse_shard
from qstar.tracking import TrackingConfig, open_tracker, stage_overrides

POLICY_FROM = ("previous", "start")
PRM_FROM = ("previous", "policy")
LOOP_DATA = ("trees", "labels")  # what a round hands the policy optimizer: its searched trees or its step labels
# settings a resumed loop may change: they change no finished stage's result
_RESUME_MAY_CHANGE = ("rounds", "shard", "shard_wait", "train_launcher", "tracking")


@dataclass
class LoopConfig:
    seed: int = 0  # every stage's seed (sampling and training)
    overrides: list = field(default_factory=list)  # given to every stage (task=…, expander.max_batch_sequences=…)
    rounds: int = 3  # rounds of search → label → train PRM → train policy → eval (round 0 evaluates the start)
    optimizer: Any = (
        MISSING  # how the policy learns: an optimizer that trains a policy from trees or labels (dpo, rft, ilql, sft …); its options too
    )
    start_policy: str = "pkg://qstar_game24/p0"  # the policy of round 0 (P0: has never seen a solution)
    start_prm: str = "pkg://qstar_game24/prm0"  # the PRM of round 0 (prm0: trained on P0's own trees and rollouts only); each round continues training it
    train_split: str = "train"  # the split each round searches and labels
    train_every: int = 6  # every Nth puzzle of it
    train_limit: int = 0  # first N of those (0 = all)
    train_uncovered: bool = (
        False  # round r ≥ 2 searches only the train puzzles no earlier round found a right path for (false: all of them every round)
    )
    label_n: int = 4  # Monte-Carlo rollouts per step (labeler.n)
    label_max_paths: int = 0  # label the steps of at most this many paths per tree, answered ones first (labeler.max_paths; 0 = all)
    label_perturb: int = (
        0  # perturbed siblings per legal step in the label stage (qstar label perturb=), so the retrained PRM keeps seeing mistakes
    )
    prm_steps: int = 200  # PRM training steps per round
    prm_replay: list = field(
        default_factory=list
    )  # label files (TRL stepwise JSONL) added to every round's PRM data, e.g. the start PRM's own labels
    prm_keep_rounds: bool = False  # each round's PRM also trains on the labels of every earlier round
    prm_from: str = "previous"  # each round's PRM starts from: previous (the last one) | policy (the round's new policy, a new value head)
    prm_seeds: int = 1  # PRMs trained per round, at seeds seed, seed+1, …; with more than one, the round's PRM is their ensemble
    # (scorer.ensemble: the mean of their step values) in every later search, the evaluation and the judge
    policy_steps: int = 200  # policy training steps per round
    policy_from: str = "previous"  # each round's policy starts from: previous (the last round's) | start (start_policy: ReST-EM, STaR)
    policy_keep_rounds: bool = False  # each round's policy also trains on the data (trees or labels) of every earlier round
    policy_rollouts: bool = (
        False  # rft trains on the label stage's trees grown by their rollouts (label rollouts=true): a right rollout is a right path
    )
    search_overrides: list = field(default_factory=list)  # overrides of the search stages and the search evaluation (search=beam …)
    sample_n: int = 0  # from round sample_from on, sample N whole solutions per train puzzle (ReST-EM's E-step) instead of the tree search
    sample_from: int = 2  # the first round that samples (the start policy rarely reaches 24 alone: round 1 searches)
    sample_overrides: list = field(default_factory=list)  # overrides of the sampling stage (expander.temperature=…, search.chunk=…)
    explore_overrides: list = field(
        default_factory=list
    )  # with train_uncovered: overrides of the search of the still-uncovered puzzles (rounds ≥ 2), after search_overrides (expander.temperature=1.5)
    generate_overrides: list = field(
        default_factory=list
    )  # overrides of every stage that generates: search, label, both evaluations (expander=vllm …)
    prm_overrides: list = field(default_factory=list)  # overrides of the PRM training (optimizer.lr=…)
    policy_overrides: list = field(default_factory=list)  # overrides of the policy training (optimizer.beta=…)
    eval_split: str = "test"  # the split every round is evaluated on
    eval_limit: int = 0  # first N problems of it (0 = all)
    train_launcher: list = field(
        default_factory=list
    )  # runs the training stages' python -m qstar.cli train: [] = this Python; [srun,python]; [torchrun,--nproc_per_node=8]
    shards: int = 1  # split each round's search and label stages into this many shards (qstar merge joins them)
    shard: Optional[str] = None  # i/n: be worker i of n: run only shard i of each round's search and label, then stop
    shard_wait: int = 0  # a worker whose search shard is done waits up to this many seconds for the other search shards,
    # then labels its own shard beside them (0: it stops at once, and the last worker to finish the search labels alone)
    out_dir: Optional[str] = None  # round-<r>/<stage>/ for every stage, rounds.json, rounds.png; default: Hydra's run directory
    tracking: TrackingConfig = field(
        default_factory=TrackingConfig
    )  # tracking.logger=tensorboard|mlflow: the round rows go there, and every training and eval stage logs to the same store

    def __post_init__(self):
        if self.rounds < 0:
            raise QstarError(f"rounds={self.rounds}: use 0 (evaluate the start only) or more")
        worker = parse_shard(self.shard)
        if worker and worker[1] != self.shards:
            raise QstarError(
                f"shard={self.shard} but shards={self.shards}: a worker's n must be the loop's shards (add shards={worker[1]})"
            )
        for key in ("train_every", "label_n", "prm_steps", "prm_seeds", "policy_steps", "shards"):
            if getattr(self, key) < 1:
                raise QstarError(f"{key}={getattr(self, key)}: must be at least 1")
        if self.shard_wait < 0:
            raise QstarError(f"shard_wait={self.shard_wait}: use seconds ≥ 0 (0: a worker stops at once)")
        if self.explore_overrides and not self.train_uncovered:
            raise QstarError(
                "explore_overrides apply to the searches of the still-uncovered puzzles: add train_uncovered=true (or drop them)"
            )
        if self.policy_from not in POLICY_FROM:
            raise QstarError(
                f"policy_from={self.policy_from!r}: choose previous (fine-tune the last round's policy) or start (retrain from start_policy)"
            )
        if self.prm_from not in PRM_FROM:
            raise QstarError(
                f"prm_from={self.prm_from!r}: choose previous (continue the last round's PRM) or policy (start from the round's new policy)"
            )
        if self.sample_from < 1:
            raise QstarError(f"sample_from={self.sample_from}: rounds count from 1 (round 1 trains on the start policy's search)")
        if self.sample_n < 0:
            raise QstarError(f"sample_n={self.sample_n}: use 0 (the tree search every round) or a positive number of samples per puzzle")
        for key in ("train_limit", "eval_limit", "label_perturb", "label_max_paths"):
            if getattr(self, key) < 0:
                raise QstarError(f"{key}={getattr(self, key)}: use 0 (all) or a positive count")


def policy_data(registry: Registry, optimizer: DictConfig) -> str:
    """What the policy optimizer trains on (its declared ``data_kind``), or a one-line error for
    an optimizer that does not train a policy from a round's trees or labels."""
    opt = registry.build("optimizer", optimizer)
    trains, data = getattr(opt, "trains", None), getattr(opt, "data_kind", None)
    if trains != "policy" or data not in LOOP_DATA:
        usable = [name for name in registry.names("optimizer") if _is_policy_optimizer(registry, name)]
        raise QstarError(
            f"optimizer={optimizer.name!r}: qstar loop trains the policy with an optimizer that trains a policy from trees or labels: "
            f"one of {', '.join(usable)}"
        )
    return data


def _is_policy_optimizer(registry: Registry, name: str) -> bool:
    factory = registry.get("optimizer", name).factory
    return getattr(factory, "trains", None) == "policy" and getattr(factory, "data_kind", None) in LOOP_DATA


def _qstar(args: list[str], log: Path, stage: str, launcher: list[str] | None = None) -> None:
    """Run one qstar command in a child process, its output to ``log``; a failure stops the loop
    with the log's last line (the child's own one-line error). ``launcher`` is what runs ``-m
    qstar.cli`` (default this Python; ``srun python`` or ``torchrun --nproc_per_node=N`` start
    one process per rank, and Lightning joins them from the launcher's environment)."""
    cmd = [*(launcher or [sys.executable]), "-m", "qstar.cli", *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        shown = f"{' '.join(launcher)} -m qstar.cli" if launcher else "qstar"
        f.write(f"\n$ {shown} {' '.join(args)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ})
    if proc.returncode != 0:
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        last = (lines[-1] if lines else "no output").removeprefix("qstar: error: ")
        raise QstarError(f"loop stage {stage} failed: {last} (log: {log})")


def _wait_for_shards(parts: list[Path], seconds: float, poll: float = 5.0) -> list[str]:
    """The shards among ``parts`` without a ``done.json``, after waiting up to ``seconds`` for
    them to be done."""
    deadline = time.monotonic() + seconds
    while True:
        missing = [str(i) for i, p in enumerate(parts) if not (p / "done.json").exists()]
        left = deadline - time.monotonic()
        if not missing or left <= 0:
            return missing
        time.sleep(min(poll, left))


def _tokens(trees: Path) -> int:
    total = 0
    if trees.exists():
        for line in trees.read_text().splitlines():
            if line.strip():
                total += json.loads(line)["budget"]["generated_tokens"]
    return total


def _label_tokens(out: Path) -> int:
    f = out / "budget.json"  # written by qstar label: what labelling its problems spent
    return json.loads(f.read_text())["generated_tokens"] if f.exists() else 0


def _field_defaults(schema) -> dict:
    """A config dataclass's fields that have a plain default, and those defaults."""
    return {f.name: f.default for f in dataclasses.fields(schema) if f.default is not dataclasses.MISSING}


class WorkerDone(Exception):
    """A worker (``shard=i/n``) has done what it can until other shards or the driver finish."""


class Loop:
    def __init__(self, cfg: DictConfig, registry: Registry | None = None):
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.optimizer = cfg.optimizer.name
        self.registry = registry or Registry(make_plugin_manager())
        self.data_kind = policy_data(self.registry, cfg.optimizer)
        if cfg.get("policy_rollouts") and self.data_kind != "trees":
            raise QstarError(
                f"policy_rollouts=true: optimizer={self.optimizer} trains on labels, not trees; use optimizer=rft (or drop policy_rollouts)"
            )
        self.common = [f"seed={cfg.seed}", *cfg.overrides]
        self.worker = parse_shard(cfg.shard)
        tracking = cfg.get("tracking")
        self.track_train = stage_overrides(tracking, "trainer", self.out)  # the stages log to the loop's store
        self.track_eval = stage_overrides(tracking, "tracking", self.out)
        self.tracker = None  # the loop's own tracking run (the round rows), opened by run()

    # -- stages -------------------------------------------------------------------------------
    def stage(self, r: int, name: str, args: list[str]) -> dict:
        d = self.out / f"round-{r}" / name
        done = d / "done.json"
        if done.exists():
            return json.loads(done.read_text())
        t0 = time.perf_counter()
        if args[0] == "train" and (d / "checkpoints" / "last.ckpt").exists():
            args = [*args, "resume=true"]
        launcher = [str(x) for x in self.cfg.train_launcher] if args[0] == "train" else None
        _qstar(
            [*args, f"out_dir={d}", *(["progress=false"] if args[0] in ("search", "label", "eval") else [])],
            d / "log.txt",
            f"round-{r}/{name}",
            launcher,
        )
        wall = time.perf_counter() - t0
        now = time.time()  # when it ended: shards run at once have a wall time of first start to last end
        info: dict[str, Any] = {"wall_time": wall, "started_at": now - wall, "ended_at": now}
        if args[0] == "search":
            info["generated_tokens"] = _tokens(d / "trees.jsonl")
        if args[0] == "label":
            info["generated_tokens"] = _label_tokens(d)
        if args[0] == "eval":
            info["results"] = json.loads((d / "results.json").read_text())
        if args[0] == "judge":
            info["judge"] = json.loads((d / "judge.json").read_text())
        atomic_write_text(done, json.dumps(info, indent=2) + "\n")
        return info

    def sharded(self, r: int, name: str, args: list[str], wait: float = 0) -> dict:
        """A search or label stage split into ``shards`` (one stage when shards=1): this worker's
        shard, or (the driver) every shard not done yet; then ``qstar merge`` into the stage's
        directory. A worker stops (WorkerDone) where the other shards are not there yet, after
        waiting up to ``wait`` seconds for them."""
        n = self.cfg.shards
        if n == 1:
            return self.stage(r, name, args)
        d = self.out / f"round-{r}" / name
        if (d / "done.json").exists():
            return json.loads((d / "done.json").read_text())
        mine = [self.worker[0]] if self.worker else range(n)
        for i in mine:
            self.stage(r, f"{name}/shard-{i}", [*args, f"shard={i}/{n}"])
        parts = [d / f"shard-{i}" for i in range(n)]
        missing = _wait_for_shards(parts, wait)
        if missing:  # only a worker gets here
            raise WorkerDone(
                f"shard {self.worker[0]}/{n} of round {r} {name} is done; waiting for shard(s) {', '.join(missing)} "
                "(rerun this command when they are done, or run the loop without shard= to do them here)"
            )
        # every shard is there: merge (a worker that gets here first merges; a merge is atomic and the same each time)
        _qstar(["merge", f"inputs=[{','.join(str(p) for p in parts)}]", f"out_dir={d}"], d / "log.txt", f"round-{r}/{name}")
        infos = [json.loads((p / "done.json").read_text()) for p in parts]
        info = {key: sum(x[key] for x in infos) for key in ("wall_time", "generated_tokens")}
        info["worker_time"] = info["wall_time"]  # every shard's own time, summed
        if all("started_at" in x for x in infos):  # shards run by workers at once: first start to last end
            info["wall_time"] = max(x["ended_at"] for x in infos) - min(x["started_at"] for x in infos)
        info["shards"] = n
        atomic_write_text(d / "done.json", json.dumps(info, indent=2) + "\n")
        return info

    @staticmethod
    def prm_args(prms: list[str]) -> list[str]:
        """``scorer=prm`` with the round's PRM: one model, or (``prm_seeds`` > 1) the first seed's
        with the others as its ensemble."""
        return ["scorer=prm", f"scorer.model={prms[0]}", *([f"scorer.ensemble={json.dumps(prms[1:])}"] if len(prms) > 1 else [])]

    @staticmethod
    def policy_args(policy: str) -> list[str]:
        """The policy's checkpoint, and ``expander=ilql`` when it carries ILQL heads (then its
        samples are Q-guided, in search, labelling and evaluation alike)."""
        ilql = (Path(resolve_path(policy)) / "ilql_heads.safetensors").is_file()
        return [f"model.name_or_path={policy}", *(["expander=ilql"] if ilql else [])]

    def evaluate(self, r: int, policy: str, prm: list[str]) -> dict:
        c = self.cfg
        split = [f"split={c.eval_split}", f"limit={c.eval_limit}", *c.generate_overrides, *self.policy_args(policy)]
        greedy = self.stage(
            r,
            "eval-greedy",
            [
                "eval",
                *self.common,
                *split,
                "search=best-of-n",
                "search.n=1",
                "search.select=majority",
                "~scorer",
                "expander.temperature=0",
                *self.track_eval,
            ],
        )
        searched = self.stage(
            r,
            "eval-search",
            [
                "eval",
                *self.common,
                *split,
                "search=tot-bfs",
                *self.prm_args(prm),
                "setting=learned",
                *c.search_overrides,
                *self.track_eval,
            ],
        )
        # the PRM against exact step labels and the policy's legal share, on the searched test trees (evaluation only)
        task_args = [o for o in c.overrides if o.lstrip("+~").split("=", 1)[0].split(".")[0] in ("task", "segmenter")]
        judged = self.stage(
            r,
            "judge",
            ["judge", *task_args, f"data={self.out / f'round-{r}' / 'eval-search' / 'trees.jsonl'}", *self.prm_args(prm)],
        )
        return {
            "greedy": greedy["results"],
            "search": searched["results"],
            "judge": judged["judge"],
            "wall_time": greedy["wall_time"] + searched["wall_time"] + judged["wall_time"],
        }

    def prm_data(self, r: int, labels: Path) -> Path:
        """The PRM's data for round ``r``: this round's labels, after the ``prm_replay`` files and
        (``prm_keep_rounds``) the earlier rounds' labels, joined once into ``round-r/prm-data.jsonl``.
        A weak policy's rollouts label most reachable steps 0; the replayed labels keep the PRM
        from forgetting what it knew."""
        c = self.cfg
        if not c.prm_replay and not c.prm_keep_rounds:
            return labels
        dest = self.out / f"round-{r}" / "prm-data.jsonl"
        if dest.exists():
            return dest
        earlier = [self.out / f"round-{q}" / "label" / "labels.jsonl" for q in range(1, r)] if c.prm_keep_rounds else []
        parts = [Path(p) for p in c.prm_replay] + earlier + [labels]
        for part in parts:
            if not part.is_file():
                raise QstarError(f"prm_replay: {part} does not exist: pass label files written by qstar label")
        texts = [p.read_text() for p in parts]
        atomic_write_text(dest, "".join(t if t.endswith("\n") or not t else t + "\n" for t in texts))
        return dest

    def policy_data(self, r: int) -> Path:
        """The policy's data for round ``r``: this round's trees or labels, after (``policy_keep_rounds``)
        every earlier round's, joined once into ``round-r/policy-data.jsonl``. Joined trees hold a
        problem once per round that searched it: each is its own search, and rft keeps each
        distinct right path once."""
        name = "search/trees.jsonl" if self.data_kind == "trees" else "label/labels.jsonl"
        if self.cfg.policy_rollouts:  # the searched trees with every labelling rollout grown onto them
            name = "label/rollouts.jsonl"
        this = self.out / f"round-{r}" / name
        if not self.cfg.policy_keep_rounds:
            return this
        dest = self.out / f"round-{r}" / "policy-data.jsonl"
        if not dest.exists():
            texts = [(self.out / f"round-{q}" / name).read_text() for q in range(1, r + 1)]
            atomic_write_text(dest, "".join(t if t.endswith("\n") or not t else t + "\n" for t in texts))
        return dest

    def coverage(self, r: int) -> dict:
        """Train puzzles with at least one right finished path in some round's search so far
        (graded after the search by the task's answer check, as eval grades its answers)."""
        covered, searched = self.covered(r)
        return {"covered": len(covered), "searched": len(searched)}

    def excluded(self, r: int) -> list[str]:
        """``exclude=`` for round ``r``'s search: with ``train_uncovered``, a file of the train
        puzzles rounds 1 … r − 1 covered (written once, ``round-r/covered-before.txt``): their right
        paths are already in the policy's data (keep ``policy_keep_rounds=true``), and the round's
        search time goes to the puzzles still unsolved."""
        if not self.cfg.train_uncovered or r < 2:
            return []
        dest = self.out / f"round-{r}" / "covered-before.txt"
        if not dest.exists():
            atomic_write_text(dest, "".join(f"{pid}\n" for pid in sorted(self.covered(r - 1)[0])))
        return [f"exclude={dest}"]

    def covered(self, r: int) -> tuple[set[str], set[str]]:
        """The ids of the train puzzles covered, and searched, by rounds 1 … r."""
        covered: set[str] = set()
        searched: set[str] = set()
        for q in range(1, r + 1):
            d = self.out / f"round-{q}" / "search"
            parts = [d] if self.cfg.shards == 1 else [d / f"shard-{i}" for i in range(self.cfg.shards)]
            for part in parts:
                f = part / "results.json"
                if f.exists():
                    info = json.loads(f.read_text())
                    covered |= set(info.get("covered", []))
                    searched |= set(info.get("searched", []))
        return covered, searched

    def round(self, r: int, policy: str, prm: list[str]) -> tuple[str, list[str], dict]:
        c = self.cfg
        d = self.out / f"round-{r}"
        subset = [f"split={c.train_split}", f"every={c.train_every}", f"limit={c.train_limit}"]
        exclude = self.excluded(r)  # train_uncovered: the puzzles earlier rounds covered (none in round 1)
        if c.sample_n and r >= c.sample_from:
            # ReST-EM's E-step (Singh et al., 2023): whole solutions sampled from the round's policy, graded
            # afterwards by the answer check (rft keeps the right ones; the label stage labels their steps).
            # No PRM ranks them: what is sampled is the policy's own distribution.
            how = ["search=best-of-n", f"search.n={c.sample_n}", "search.select=majority", "~scorer", *c.sample_overrides]
        else:
            how = ["search=tot-bfs", *self.prm_args(prm), "setting=learned", *c.search_overrides]
        search = self.sharded(
            r,
            "search",
            [
                "search",
                *self.common,
                *subset,
                *exclude,
                *c.generate_overrides,
                *self.policy_args(policy),
                *how,
                *(c.explore_overrides if exclude else []),
            ],
            # workers started together end their search shards minutes apart: waiting lets each label its
            # own shard at once, instead of the last one labelling alone and the driver the rest
            wait=c.shard_wait,
        )
        label = self.sharded(
            r,
            "label",
            [
                "label",
                *self.common,
                f"data={d / 'search' / 'trees.jsonl'}",
                *c.generate_overrides,
                *self.policy_args(policy),
                "labeler=mc-rollout",
                f"labeler.n={c.label_n}",
                f"labeler.max_paths={c.label_max_paths}",
                f"perturb={c.label_perturb}",
                *(["rollouts=true"] if c.policy_rollouts else []),
            ],
        )
        if self.worker:
            raise WorkerDone(
                f"shard {self.worker[0]}/{c.shards} of round {r} search and label is done; "
                "the driver (the same command without shard=) trains and evaluates"
            )
        labels = d / "label" / "labels.jsonl"
        trainer = ["trainer.enable_progress_bar=false", "trainer.log_every_n_steps=10", *self.track_train]
        new_policy, new_prm = str(d / "policy" / "model"), self.prm_models(d)

        def train_prm(init: str, k: int) -> dict:
            return self.stage(
                r,
                self.prm_stage(k),
                [
                    "train",
                    f"seed={c.seed + k}",
                    *c.overrides,
                    "optimizer=prm",
                    "optimizer.target=hard",
                    f"model.name_or_path={init}",
                    f"data={self.prm_data(r, labels)}",
                    f"trainer.max_steps={c.prm_steps}",
                    *trainer,
                    *c.prm_overrides,
                ],
            )

        def train_policy() -> dict:
            start = c.start_policy if c.policy_from == "start" else policy
            options = [
                f"optimizer.{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}"
                for k, v in OmegaConf.to_container(c.optimizer, resolve=True).items()
                if k != "name"
            ]
            return self.stage(
                r,
                "policy",
                [
                    "train",
                    *self.common,
                    f"optimizer={self.optimizer}",
                    *options,
                    f"model.name_or_path={start}",
                    f"data={self.policy_data(r)}",
                    f"trainer.max_steps={c.policy_steps}",
                    *trainer,
                    *c.policy_overrides,
                ],
            )

        # with prm_seeds > 1, PRM k continues the previous round's PRM k (the start PRM where there is none)
        prm_init = (
            [new_policy] * c.prm_seeds if c.prm_from == "policy" else [prm[k] if k < len(prm) else prm[0] for k in range(c.prm_seeds)]
        )
        if c.prm_from == "policy":  # the PRM starts from the policy this round trains, so that comes first
            pol = train_policy()
            prms = [train_prm(init, k) for k, init in enumerate(prm_init)]
        else:
            prms = [train_prm(init, k) for k, init in enumerate(prm_init)]
            pol = train_policy()
        prm_stage = {"wall_time": sum(x["wall_time"] for x in prms)}  # every seed's training, one after another
        ev = self.evaluate(r, new_policy, new_prm)
        stages = {"search": search, "label": label, "prm": prm_stage, "policy": pol}
        spent = {
            "tokens": search["generated_tokens"] + label["generated_tokens"],
            "wall_time": sum(s["wall_time"] for s in stages.values()) + ev["wall_time"],
            "stage_wall_time": {**{k: s["wall_time"] for k, s in stages.items()}, "eval": ev["wall_time"]},
            "coverage": self.coverage(r),
        }
        return new_policy, new_prm, {**ev, **spent}

    @staticmethod
    def prm_stage(k: int) -> str:
        """The directory of a round's PRM trained at seed ``seed + k``: ``prm`` for the first (as
        with one seed), ``prm-seed<k>`` for the others."""
        return "prm" if k == 0 else f"prm-seed{k}"

    def prm_models(self, d: Path) -> list[str]:
        """The model directories of round directory ``d``'s PRMs, one per seed: the round's PRM."""
        return [str(d / self.prm_stage(k) / "model") for k in range(self.cfg.prm_seeds)]

    # -- the loop -----------------------------------------------------------------------------
    def run_worker(self) -> str:
        """Worker ``shard=i/n``: this shard's search and label stages of the first round whose
        models exist and whose merged labels do not; returns what it did (and why it stopped)."""
        c = self.cfg
        self._start()
        policy, prm = c.start_policy, [c.start_prm]
        for r in range(1, c.rounds + 1):
            if r > 1:
                prev = self.out / f"round-{r - 1}"
                stages = ["policy", *(self.prm_stage(k) for k in range(c.prm_seeds))]
                if not all((prev / s / "done.json").exists() for s in stages):
                    return (
                        f"round {r - 1}'s models are not trained yet: the driver (the same command without shard=) "
                        "trains them; then rerun this worker"
                    )
                policy, prm = str(prev / "policy" / "model"), self.prm_models(prev)
            if (self.out / f"round-{r}" / "label" / "done.json").exists():
                continue
            try:
                self.round(r, policy, prm)
            except WorkerDone as e:
                return str(e)
        return f"all {c.rounds} rounds are searched and labelled"

    def _start(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_same_run()
        saved = OmegaConf.to_container(self.cfg, resolve=True)
        saved.pop("shard", None)  # workers and driver share one loop.yaml
        atomic_write_text(self.out / "loop.yaml", OmegaConf.to_yaml(saved))

    def run(self) -> list[dict]:
        c = self.cfg
        self._start()
        # the round rows' tracking run; a rerun continues it and logs only the rounds not logged yet
        self.tracker = open_tracker(c.get("tracking"), self.out, resume=True)
        self.tracker.params(OmegaConf.to_container(c, resolve=True))
        policy, prm = c.start_policy, [c.start_prm]
        start = self.evaluate(0, policy, prm)
        rows = [self._row(0, {**start, "stage_wall_time": {"eval": start["wall_time"]}}, 0, start["wall_time"])]
        for r in range(1, c.rounds + 1):
            policy, prm, info = self.round(r, policy, prm)
            rows.append(self._row(r, info, info["tokens"], info["wall_time"]))
            self._save(rows)
        self._save(rows)
        self.tracker.close()
        return rows

    def _check_same_run(self) -> None:
        """A rerun in the same ``out_dir`` must be the same loop (only ``rounds`` may grow): its
        finished stages are reused, and stages made under another config would mix two runs."""
        saved = self.out / "loop.yaml"
        if not saved.exists():
            return
        old = OmegaConf.to_container(OmegaConf.load(saved), resolve=True)
        new = OmegaConf.to_container(self.cfg, resolve=True)
        # a setting added after the run started reads as its default, so the run still resumes
        defaults = _field_defaults(LoopConfig)
        if isinstance(old.get("optimizer"), dict):  # likewise an optimizer option added since
            old["optimizer"] = {**self._optimizer_defaults(old["optimizer"].get("name")), **old["optimizer"]}
        for key in sorted(set(old) | set(new)):
            if key not in (*_RESUME_MAY_CHANGE, "out_dir") and old.get(key, defaults.get(key)) != new.get(key):
                may = ", ".join(_RESUME_MAY_CHANGE[:-1]) + f" and {_RESUME_MAY_CHANGE[-1]}"
                raise QstarError(
                    f"out_dir={self.out} holds a loop run with {key}={old.get(key)!r}, not {new.get(key)!r}: "
                    f"rerun with the same settings (only {may} may change) or pick another out_dir"
                )

    def _optimizer_defaults(self, name: str | None) -> dict:
        try:
            schema = self.registry.get("optimizer", name).schema
        except UnknownComponentError:  # an optimizer no longer installed: no defaults to fill in
            return {}
        return _field_defaults(schema) if schema is not None and dataclasses.is_dataclass(schema) else {}

    @staticmethod
    def _row(r: int, ev: dict, tokens: int, wall: float) -> dict:
        g, s = ev["greedy"], ev["search"]
        return {
            "round": r,
            "greedy_pass@1": g["solved"] / max(g["problems"], 1),
            "search_solve_rate": s["solved"] / max(s["problems"], 1),
            "search_generated_tokens_per_problem": s["generated_tokens_per_problem"],
            "problems": g["problems"],
            "train_tokens": tokens,
            "wall_time": wall,
            "prm_step_auroc": ev["judge"]["step_auroc"],
            "prm_first_error_f1": ev["judge"]["first_error"]["f1"],
            "prm_first_error_threshold": ev["judge"]["first_error"].get("threshold"),  # the PRM's own, else 0.5
            "legal_share": ev["judge"]["legal_share"],
            "stage_wall_time": ev.get("stage_wall_time", {}),
            "train_coverage": ev.get("coverage"),  # train puzzles with a right path in some round's search so far
        }

    def _save(self, rows: list[dict]) -> None:
        c = self.cfg
        if self.tracker is not None:  # each round's row once, at step = its round (nested figures as stage_wall_time/prm …)
            for row in rows:
                flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
                flat |= {f"{k}/{sub}": x for k, v in row.items() if isinstance(v, dict) for sub, x in v.items()}
                self.tracker.metrics({f"loop/{k}": v for k, v in flat.items()}, step=row["round"], key=f"round-{row['round']}")
        start = {
            "start_policy": c.start_policy,
            "start_prm": c.start_prm,
            "policy_from": c.policy_from,
            "prm_from": c.prm_from,
            "prm_seeds": c.prm_seeds,
        }
        atomic_write_text(self.out / "rounds.json", json.dumps({"optimizer": self.optimizer, **start, "rounds": rows}, indent=2) + "\n")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [row["round"] for row in rows]
        ax.plot(xs, [100 * row["greedy_pass@1"] for row in rows], marker="o", label="greedy pass@1 (no search)")
        ax.plot(xs, [100 * row["search_solve_rate"] for row in rows], marker="s", label="learned-setting search")
        ax.set_xlabel("round")
        ax.set_ylabel(f"solved, % of {self.cfg.eval_split}")
        ax.set_xticks(xs)
        ax.set_title(f"qstar loop, optimizer={self.optimizer}")
        ax.legend()
        save_png(fig, self.out / "rounds.png")


def loop(cfg: DictConfig, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Rounds of search → label → train PRM → train policy → eval (see the module docstring)."""
    registry = registry or Registry(make_plugin_manager())
    policy_data(registry, cfg.optimizer)  # before the run directory is made
    for part in cfg.prm_replay:  # every stage's inputs before the first stage, not rounds later
        if not Path(part).is_file():
            raise QstarError(f"prm_replay: {part} does not exist: pass label files written by qstar label")
    out = output_dir(cfg, "loop")
    # a stopped driver stops its stage: SIGTERM becomes SystemExit, on which subprocess.run kills
    # the stage it waits for (the default action would end this process and orphan the stage)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with open_dict(cfg):
        cfg.out_dir = str(out)
    if cfg.shard is not None:  # a worker: its shards of the search and label stages only
        console.print(f"qstar loop worker shard={cfg.shard}: {Loop(cfg, registry).run_worker()}")
        return []
    rows = Loop(cfg, registry).run()
    table = Table(
        title=f"qstar loop: optimizer={cfg.optimizer.name}, {cfg.eval_split} split (greedy: no search; search: learned setting)",
        caption=f"start: policy {cfg.start_policy}, PRM {cfg.start_prm}",
    )
    cols = ("round", "greedy pass@1", "search solved", "search tokens/problem", "PRM AUROC", "first-error F1", "legal steps")
    for col in (*cols, "train coverage", "train tokens", "wall s"):
        table.add_column(col, justify="right")
    shown = lambda x, f: "n/a" if x is None else format(x, f)  # noqa: E731
    for r in rows:
        cover = r["train_coverage"]
        table.add_row(
            str(r["round"]),
            f"{100 * r['greedy_pass@1']:.0f}%",
            f"{100 * r['search_solve_rate']:.0f}%",
            f"{r['search_generated_tokens_per_problem']:.0f}",
            shown(r["prm_step_auroc"], ".3f"),
            shown(r["prm_first_error_f1"], ".3f"),
            shown(r["legal_share"], ".0%"),
            f"{cover['covered']}/{cover['searched']}" if cover else "",
            str(r["train_tokens"]),
            f"{r['wall_time']:.0f}",
        )
    console.print(table)
    console.print(f"rounds: {out / 'rounds.json'}, {out / 'rounds.png'}")
    return rows


@hookimpl
def qstar_register_commands(register):
    register(
        "loop",
        loop,
        LoopConfig,
        help="search → label → train PRM → train the policy → eval, for N rounds (resumable): round table, JSON, PNG",
    )


@hookimpl
def qstar_config_searchpath():
    return "pkg://qstar_loop.conf"

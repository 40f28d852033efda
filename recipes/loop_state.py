"""Pack a ``qstar loop`` run into one archive that another checkout can resume from, and unpack it.

A loop of several rounds outlives a session on a 2-core machine, and a fresh machine has no
``runs/``. The archive holds what the loop reads again when it resumes, and nothing it can rebuild:

- every finished stage's ``done.json`` (a rerun reads a finished stage's figures from it), the
  ``results.json``, ``settings.json``, ``judge.json`` and ``budget.json`` beside it, ``loop.yaml``,
  ``rounds.json``, ``rounds.png`` and every round's ``covered-before.txt``;
- every round's merged labels and label-stage rollouts (``label/labels.jsonl``,
  ``label/rollouts.jsonl``): the PRM and policy data of every later round join them;
- the models of the newest finished round (``policy/model``, ``prm*/model``): the next round
  searches, samples and labels with them (its PRMs are left out where the next round reads none:
  it samples from the policy and starts its PRMs from its new policy);
- a start model the run holds itself (``<name>/model/…`` and the ``settings.json`` and
  ``done.json`` beside it, at the run's top: a recipe's own P0, as ``loop_clean_5m.sh`` keeps),
  since a loop that retrains from its start policy reads it every round;
- of a round still running, every stage's files as they are (a search or label shard resumes from
  its ``trees.jsonl`` or ``labels.jsonl``; a trained model is kept with its ``done.json``), but no
  shard of a stage already merged, no joined ``policy-data.jsonl`` or ``prm-data.jsonl`` (the loop
  joins them again), no searched trees once labelled where the policy trains on the label stage's
  rollouts, and no training checkpoint: an unfinished training stage starts again from the
  beginning.

Searched trees of finished stages, earlier rounds' models and training checkpoints stay out (the
diagnostic recipes that read them need the run itself). Nothing is written over: ``pack`` writes
the archive whole or not at all and refuses an existing one; ``unpack`` refuses an existing
directory. An archive over 19 MiB is written in parts ``<archive>.0``, ``.1``, … (no tracked file
over 20 MB), which ``unpack`` joins: both take the archive's name without the part's number.

    python recipes/loop_state.py pack runs/loop-clean-5m state/loop-clean-5m.tar.xz
    python recipes/loop_state.py unpack state/loop-clean-5m.tar.xz runs/loop-clean-5m
"""

from __future__ import annotations

import os
import sys
import tarfile
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

SMALL = {"done.json", "results.json", "settings.json", "judge.json", "budget.json", "covered-before.txt"}
TOP = {"loop.yaml", "rounds.json", "rounds.png"}
JOINED = {"policy-data.jsonl", "prm-data.jsonl"}  # a round's data, joined once from every round's files: rebuilt on resume
LABEL_DATA = {("label", "labels.jsonl"), ("label", "rollouts.jsonl")}  # of a finished round: what later rounds join


def fail(message: str):
    """Bad input: one line naming the problem and the fix, exit code 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _round(path: Path) -> int | None:
    name = path.parts[0] if path.parts else ""
    return int(name.split("-", 1)[1]) if name.startswith("round-") and name.split("-", 1)[1].isdigit() else None


def _finished(run: Path, r: int) -> bool:
    """A round is finished when its judge (the last stage) is done."""
    return (run / f"round-{r}" / "judge" / "done.json").is_file()


def _is_training(stage: str) -> bool:
    """A round's training stage: ``policy``, ``prm`` or ``prm-seed<k>``."""
    return stage == "policy" or stage == "prm" or stage.startswith("prm-seed")


def _is_model(rel: Path) -> bool:
    """A file of a round's trained model: ``round-<r>/policy/model/…`` or ``round-<r>/prm…/model/…``."""
    return len(rel.parts) >= 4 and rel.parts[2] == "model" and _is_training(rel.parts[1])


def _is_start_model(rel: Path) -> bool:
    """A file of a start model kept in the run: ``<name>/model/…``, ``<name>/settings.json`` or
    ``<name>/done.json`` (not its ``checkpoints``)."""
    if len(rel.parts) < 2 or _round(rel) is not None:
        return False
    return rel.parts[1] == "model" or (len(rel.parts) == 2 and rel.name in SMALL)


def _next_round_reads_prms(cfg: dict, newest: int | None) -> bool:
    """Whether the round after ``newest`` loads ``newest``'s PRMs: not when it samples from the
    policy (``sample_n``, from ``sample_from`` on: no PRM ranks the samples) and starts its own PRMs
    from its new policy (``prm_from=policy``); then only the policy carries over."""
    if newest is None:
        return True
    samples = bool(cfg.get("sample_n")) and newest + 1 >= cfg.get("sample_from", 2)
    return not (samples and cfg.get("prm_from") == "policy")


def _keep_running(run: Path, rel: Path, spare_trees: set[Path]) -> bool:
    """Whether a file of a round still running goes into the archive: its files as they are, but
    not the joins the loop rebuilds, searched trees no later stage of the round reads, the shards
    of a merged stage, or anything of a training stage without ``done.json`` (it starts again)."""
    if len(rel.parts) == 2:  # round-<r>/<file>
        return rel.name not in JOINED
    if rel in spare_trees:
        return False
    done = (run / rel.parts[0] / rel.parts[1] / "done.json").is_file()
    if _is_training(rel.parts[1]):
        return done
    return not (done and rel.parts[2].startswith("shard-"))


def members(run: Path) -> list[Path]:
    """The files of ``run`` the archive holds, relative to it (see the module docstring)."""
    cfg = OmegaConf.to_container(OmegaConf.load(run / "loop.yaml"))
    rounds = {r for p in run.glob("round-*") if (r := _round(Path(p.name))) is not None}
    finished = {r for r in rounds if _finished(run, r)}
    newest = max(finished, default=None)
    prms_read = _next_round_reads_prms(cfg, newest)
    # a running round's merged search trees, once labelled, when the policy trains on the label
    # stage's rollouts (policy_rollouts=true) rather than on them
    spare_trees = {
        Path(f"round-{r}") / "search" / "trees.jsonl"
        for r in rounds - finished
        if cfg.get("policy_rollouts") and (run / f"round-{r}" / "label" / "done.json").is_file()
    }
    out = []
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        rel = path.relative_to(run)
        r = _round(rel)
        if r is None:
            keep = (len(rel.parts) == 1 and rel.name in TOP) or _is_start_model(rel)
        elif "checkpoints" in rel.parts:
            keep = False
        elif r not in finished:
            keep = _keep_running(run, rel, spare_trees)
        elif _is_model(rel):
            # the next round starts from the newest finished round's models (its PRMs only where it reads them)
            keep = r == newest and (rel.parts[1] == "policy" or prms_read)
        else:
            keep = rel.name in SMALL or rel.parts[1:] in LABEL_DATA
        if keep:
            out.append(rel)
    return out


PART = 19 * 2**20  # an archive over this is written in parts <archive>.0, .1, …: no tracked file over 20 MB


def parts(archive: Path) -> list[Path]:
    """The files an archive is stored in: itself, or its parts ``<archive>.0``, ``.1``, …"""
    if archive.exists():
        return [archive]
    found: list[Path] = []
    while (part := archive.with_name(f"{archive.name}.{len(found)}")).exists():
        found.append(part)
    return found


def pack(run: Path, archive: Path) -> int:
    if not (run / "loop.yaml").is_file():
        fail(f"{run} has no loop.yaml: point pack at a qstar loop run's out_dir")
    if parts(archive):
        fail(f"{archive} exists: pick another archive name (an archive is never written over)")
    files = members(run)
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=archive.parent, suffix=".partial")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:xz") as tar:
            for rel in files:
                tar.add(run / rel, arcname=str(rel), recursive=False)
        data = Path(tmp).read_bytes()
        if len(data) <= PART:
            os.replace(tmp, archive)
        else:  # every part is written before the first is named: a cut pack leaves no part behind
            chunks = [data[i : i + PART] for i in range(0, len(data), PART)]
            for k, chunk in enumerate(chunks):
                Path(f"{tmp}.{k}").write_bytes(chunk)
            for k in range(len(chunks)):
                os.replace(f"{tmp}.{k}", archive.with_name(f"{archive.name}.{k}"))
    finally:
        for left in [tmp, *Path(tmp).parent.glob(Path(tmp).name + ".*")]:
            if os.path.exists(left):
                os.unlink(left)
    return len(files)


def unpack(archive: Path, run: Path) -> int:
    if run.exists():
        fail(f"{run} exists: unpack into a new directory (a run is never written over)")
    stored = parts(archive)
    if not stored:
        fail(f"{archive} not found (nor its parts {archive.name}.0, .1, …): name an archive that pack wrote")
    tmp = Path(tempfile.mkdtemp(dir=run.parent if run.parent.exists() else None, prefix=f".{run.name}."))
    with tempfile.TemporaryFile() as joined:
        for part in stored:
            joined.write(part.read_bytes())
        joined.seek(0)
        with tarfile.open(fileobj=joined, mode="r:xz") as tar:
            names = tar.getnames()
            tar.extractall(tmp, filter="data")
    run.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, run)
    return len(names)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        fail("usage: python recipes/loop_state.py pack <run dir> <archive.tar.xz> | unpack <archive.tar.xz> <run dir>")
    verb, a, b = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if verb == "pack":
        n = pack(a, b)
        stored = parts(b)
        print(f"{b}: {n} files of {a}, {sum(p.stat().st_size for p in stored) / 2**20:.1f} MiB in {len(stored)} file(s)")
    else:
        n = unpack(a, b)
        print(f"{b}: {n} files from {a}")

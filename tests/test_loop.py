"""qstar loop: a rerun refuses a changed config, and a failing stage is one line naming its log.
(The docs tutorial runs a whole round and its resume; the cluster tutorial, sharded workers and
the driver.)"""

from __future__ import annotations

import pytest

from conftest import run_cli

SMALL = ["rounds=0", "eval_limit=1", "start_policy=pkg://qstar_game24/policy"]


def _stage_out(args: list[str]):
    """A recorded stage command's ``out_dir``, made as the stage would make it."""
    from pathlib import Path

    out = Path(next(a for a in args if a.startswith("out_dir=")).split("=", 1)[1])
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.slow  # two evaluations of the start policy (about 40 s)
def test_a_rerun_with_other_settings_is_refused(tmp_path):
    out = f"out_dir={tmp_path}"
    first = run_cli("loop", *SMALL, out)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "round-0" / "eval-greedy" / "done.json").exists()
    assert (tmp_path / "rounds.json").exists() and (tmp_path / "rounds.png").exists()
    saved = tmp_path / "loop.yaml"
    saved.write_text("".join(x for x in saved.read_text().splitlines(keepends=True) if not x.startswith("label_perturb:")))
    resumed = run_cli("loop", *SMALL, out)  # a run from before a setting existed resumes: it reads as the default
    assert resumed.returncode == 0, resumed.stderr
    again = run_cli("loop", *SMALL[:1], "eval_limit=2", SMALL[2], out)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"qstar: error: out_dir={tmp_path} holds a loop run with eval_limit=1, not 2: "
        "rerun with the same settings (only rounds, shard, shard_wait, train_launcher and tracking may change) or pick another out_dir"
    )


def test_a_worker_with_shard_wait_waits_for_the_other_search_shards(compose, tmp_path):
    import json
    import threading
    import time

    from qstar.errors import QstarError
    from qstar_loop import Loop, WorkerDone

    search = tmp_path / "round-1" / "search"
    (search / "shard-0").mkdir(parents=True)
    (search / "shard-0" / "done.json").write_text(json.dumps({"wall_time": 1.0, "generated_tokens": 1}))  # this worker's shard is done

    def worker(wait):
        return Loop(compose("loop", ["shards=2", "shard=0/2", f"shard_wait={wait}", f"out_dir={tmp_path}"]))

    # no wait (the default): the worker stops at once and says what it waits for
    with pytest.raises(WorkerDone, match=r"shard 0/2 of round 1 search is done; waiting for shard\(s\) 1 "):
        worker(0).sharded(1, "search", ["search"])
    # the other shard never ends: the worker waits its shard_wait, then stops the same way
    t0 = time.monotonic()
    with pytest.raises(WorkerDone, match=r"waiting for shard\(s\) 1 "):
        worker(1).sharded(1, "search", ["search"], wait=1)
    assert time.monotonic() - t0 >= 1
    # the other shard ends while it waits: the worker goes on to merge the shards (these hold no
    # search output, so qstar merge refuses them: the worker did not stop to wait for a driver)
    peer = threading.Timer(0.5, lambda: (search / "shard-1").mkdir() or (search / "shard-1" / "done.json").write_text("{}"))
    peer.start()
    with pytest.raises(QstarError, match=r"loop stage round-1/search failed: .*shard-0 has no run.json"):
        worker(60).sharded(1, "search", ["search"], wait=60)
    peer.join()


def test_a_failing_stage_names_itself_and_its_log(tmp_path):
    proc = run_cli("loop", "rounds=0", "eval_limit=1", f"start_policy={tmp_path / 'missing'}", f"out_dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("qstar: error: loop stage round-0/eval-greedy failed: model path")
    assert "has no config.json" in line and line.endswith("log.txt)")  # (long paths are shortened)


def test_a_worker_whose_n_is_not_the_loops_shards_is_refused(tmp_path):
    proc = run_cli("loop", "shard=1/3", f"out_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qstar: error: shard=1/3 but shards=1: a worker's n must be the loop's shards (add shards=3)"
    proc = run_cli("loop", "shards=3", "shard=3/3", f"out_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qstar: error: shard=3/3: use i/n with 0 ≤ i < n (e.g. shard=0/4 for the first of 4 workers)"
    proc = run_cli("loop", "shards=2", "shard=0/2", "shard_wait=-5", f"out_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "qstar: error: shard_wait=-5: use seconds ≥ 0 (0: a worker stops at once)"


def test_prm_replay_and_kept_rounds_join_the_prm_data_once(compose, tmp_path):
    from qstar.errors import QstarError
    from qstar_loop import Loop

    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"problem_id": "a"}')  # no final newline: still one record per line
    for r, pid in ((1, "b"), (2, "c")):
        (tmp_path / f"round-{r}" / "label").mkdir(parents=True)
        (tmp_path / f"round-{r}" / "label" / "labels.jsonl").write_text(f'{{"problem_id": "{pid}"}}\n')
    labels = lambda r: tmp_path / f"round-{r}" / "label" / "labels.jsonl"  # noqa: E731

    plain = Loop(compose("loop", [f"out_dir={tmp_path}"]))
    assert plain.prm_data(2, labels(2)) == labels(2)  # the default: this round's labels only
    loop = Loop(compose("loop", [f"out_dir={tmp_path}", f"prm_replay=[{replay}]", "prm_keep_rounds=true"]))
    joined = loop.prm_data(2, labels(2))
    assert joined == tmp_path / "round-2" / "prm-data.jsonl"
    assert joined.read_text().splitlines() == ['{"problem_id": "a"}', '{"problem_id": "b"}', '{"problem_id": "c"}']
    replay.unlink()
    assert loop.prm_data(2, labels(2)) == joined  # joined once: a resumed round trains on the same data
    with pytest.raises(QstarError, match=r"prm_replay: .*replay.jsonl does not exist"):
        loop.prm_data(3, labels(2))


def test_a_run_from_before_an_optimizer_option_existed_resumes(compose, tmp_path):
    from qstar.errors import QstarError
    from qstar_loop import Loop

    cfg = compose("loop", ["optimizer=rft", f"out_dir={tmp_path}"])
    Loop(cfg)._start()
    saved = tmp_path / "loop.yaml"
    saved.write_text("".join(x for x in saved.read_text().splitlines(keepends=True) if x.strip() != "val_by: path"))
    assert "val_by" not in saved.read_text()
    Loop(cfg)._start()  # the option reads as its default, so the run resumes
    changed = compose("loop", ["optimizer=rft", "optimizer.val_by=problem", f"out_dir={tmp_path}"])
    with pytest.raises(QstarError, match=r"holds a loop run with optimizer=\{.*'val_by': 'path'"):
        Loop(changed)._start()


def test_train_uncovered_leaves_out_what_earlier_rounds_covered(compose, tmp_path):
    import json

    from qstar_loop import Loop

    for r, covered in ((1, ["a", "b"]), (2, ["c"])):
        d = tmp_path / f"round-{r}" / "search"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"searched": ["a", "b", "c", "d"], "covered": covered}))
    every = Loop(compose("loop", ["optimizer=rft", f"out_dir={tmp_path}"]))
    assert every.excluded(2) == [] and every.coverage(2) == {"covered": 3, "searched": 4}
    loop = Loop(compose("loop", ["optimizer=rft", "train_uncovered=true", f"out_dir={tmp_path}"]))
    assert loop.excluded(1) == []
    assert loop.excluded(2) == [f"exclude={tmp_path / 'round-2' / 'covered-before.txt'}"]
    assert (tmp_path / "round-2" / "covered-before.txt").read_text() == "a\nb\n"
    loop.excluded(3)
    assert (tmp_path / "round-3" / "covered-before.txt").read_text() == "a\nb\nc\n"


def test_explore_overrides_reach_the_search_of_uncovered_puzzles_only(compose, tmp_path, monkeypatch):
    import json

    import qstar_loop
    from qstar_loop import Loop

    calls = []

    def record(args, log, stage, launcher=None):  # each stage's command line; an eval or judge "writes" its file
        calls.append(args)
        out = _stage_out(args)
        (out / ("judge.json" if args[0] == "judge" else "results.json")).write_text(json.dumps({}))
        if args[0] == "search":
            raise KeyboardInterrupt  # stop the round after its search

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    overrides = ['search_overrides=["search.k=8"]', 'explore_overrides=["expander.temperature=1.5","search.k=16"]', "train_uncovered=true"]
    loop = Loop(compose("loop", ["optimizer=rft", *overrides, f"out_dir={tmp_path}"]))
    for r in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            loop.round(r, "pkg://qstar_game24/p0", ["pkg://qstar_game24/prm0"])
        (tmp_path / f"round-{r}" / "search" / "results.json").write_text(json.dumps({"searched": ["a", "b"], "covered": ["a"]}))
    first, second = calls
    # round 1 searches every puzzle with the evaluation's search; round 2 the uncovered ones, exploring
    assert "search.k=8" in first and "search.k=16" not in first and "expander.temperature=1.5" not in first
    assert not any(a.startswith("exclude=") for a in first)
    assert second.index("search.k=8") + 1 == second.index("expander.temperature=1.5") == second.index("search.k=16") - 1
    assert f"exclude={tmp_path / 'round-2' / 'covered-before.txt'}" in second
    loop.evaluate(2, "pkg://qstar_game24/p0", ["pkg://qstar_game24/prm0"])
    evals = [c for c in calls[2:] if c[0] == "eval"]
    assert len(evals) == 2 and "search.k=8" in evals[1]
    assert not any("expander.temperature=1.5" in c or "search.k=16" in c for c in evals)


def test_policy_rollouts_trains_rft_on_the_label_stages_grown_trees(compose, tmp_path, monkeypatch):
    import json

    import qstar_loop
    from qstar.errors import QstarError
    from qstar_loop import Loop

    calls = []

    def record(args, log, stage, launcher=None):
        calls.append(args)
        out = _stage_out(args)
        (out / "trees.jsonl").write_text("")
        (out / "results.json").write_text(json.dumps({}))
        if args[0] == "label":
            (out / "rollouts.jsonl").write_text(f"round {out.parent.name}\n")
            raise KeyboardInterrupt  # stop the round after its labels

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    loop = Loop(compose("loop", ["optimizer=rft", "policy_rollouts=true", "policy_keep_rounds=true", f"out_dir={tmp_path}"]))
    for r in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            loop.round(r, "pkg://qstar_game24/p0", ["pkg://qstar_game24/prm0"])
    assert [c[0] for c in calls] == ["search", "label", "search", "label"] and "rollouts=true" in calls[1]
    assert loop.policy_data(2).read_text() == "round round-1\nround round-2\n"
    with pytest.raises(QstarError, match="policy_rollouts=true: optimizer=dpo trains on labels, not trees; use optimizer=rft"):
        Loop(compose("loop", ["optimizer=dpo", "policy_rollouts=true", f"out_dir={tmp_path / 'dpo'}"]))


def test_sample_n_samples_whole_solutions_from_round_sample_from_on(compose, tmp_path, monkeypatch):
    import json

    import qstar_loop
    from qstar.tree import iter_results
    from qstar_loop import Loop

    calls = []

    def record(args, log, stage, launcher=None):
        calls.append(args)
        out = _stage_out(args)
        (out / "trees.jsonl").write_text("")
        raise KeyboardInterrupt  # stop the round after its train search

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    overrides = ['search_overrides=["search.k=8"]', "sample_n=2", 'sample_overrides=["expander.temperature=1.2"]', "train_limit=1"]
    loop = Loop(compose("loop", ["optimizer=rft", *overrides, f"out_dir={tmp_path}"]))
    for r in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            loop.round(r, "pkg://qstar_game24/p0", ["pkg://qstar_game24/prm0"])
    first, second = calls
    assert "search=tot-bfs" in first and "search.k=8" in first and "search.n=2" not in first  # round 1: the tree search
    assert "search=best-of-n" in second and "search.n=2" in second and "expander.temperature=1.2" in second
    assert not any(a.startswith(("scorer.", "search.k=")) for a in second)  # no PRM ranks the samples
    # the sampling stage's command runs as it is: two whole solutions of the first train puzzle
    out = tmp_path / "real"
    proc = run_cli(*[a for a in second if not a.startswith("out_dir=")], f"out_dir={out}", "progress=false")
    assert proc.returncode == 0, proc.stderr
    (tree,) = iter_results(out / "trees.jsonl")
    assert tree.search == "best-of-n" and tree.budget.expansions >= 1
    leaves = [n for n in tree.nodes if not any(m.parent == n.id for m in tree.nodes)]
    assert len(leaves) == 2
    assert json.loads((out / "results.json").read_text())["searched"] == [tree.problem.id]


@pytest.mark.parametrize("prm_from", ["previous", "policy"])
def test_prm_from_policy_trains_the_policy_first_and_starts_the_prm_from_it(compose, tmp_path, monkeypatch, prm_from):
    import qstar_loop
    from qstar_loop import Loop

    calls = []

    def record(args, log, stage, launcher=None):
        calls.append((stage, args))
        out = _stage_out(args)
        if args[0] == "eval":
            raise KeyboardInterrupt  # stop the round at its evaluation
        (out / ("trees.jsonl" if args[0] == "search" else "labels.jsonl")).write_text("")

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    loop = Loop(compose("loop", ["optimizer=rft", f"prm_from={prm_from}", f"out_dir={tmp_path}"]))
    with pytest.raises(KeyboardInterrupt):
        loop.round(2, "runs/x/round-1/policy/model", ["runs/x/round-1/prm/model"])
    stages = [s for s, _ in calls]
    trains = {s: a for s, a in calls if a[0] == "train"}
    init = next(a for a in trains["round-2/prm"] if a.startswith("model.name_or_path="))
    if prm_from == "policy":
        assert stages[2:4] == ["round-2/policy", "round-2/prm"]
        assert init == f"model.name_or_path={tmp_path / 'round-2' / 'policy' / 'model'}"
    else:
        assert stages[2:4] == ["round-2/prm", "round-2/policy"]
        assert init == "model.name_or_path=runs/x/round-1/prm/model"
    assert "model.name_or_path=runs/x/round-1/policy/model" in trains["round-2/policy"]
    bad = run_cli("loop", "prm_from=start", f"out_dir={tmp_path / 'bad'}")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "qstar: error: prm_from='start': choose previous (continue the last round's PRM) or policy (start from the round's new policy)"
    )


def test_prm_seeds_train_a_prm_per_seed_and_every_later_search_scores_with_their_ensemble(compose, tmp_path, monkeypatch):
    import json

    import qstar_loop
    from qstar_loop import Loop

    calls = []

    def record(args, log, stage, launcher=None):
        calls.append((stage, args))
        out = _stage_out(args)
        if stage.endswith("judge"):
            raise KeyboardInterrupt  # stop the round at its judge
        if args[0] == "eval":
            (out / "results.json").write_text("{}")
        (out / ("trees.jsonl" if args[0] == "search" else "labels.jsonl")).write_text("")

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    loop = Loop(compose("loop", ["optimizer=rft", "prm_seeds=3", "seed=5", f"out_dir={tmp_path}"]))
    previous = ["runs/x/round-1/prm/model", "runs/x/round-1/prm-seed1/model", "runs/x/round-1/prm-seed2/model"]
    with pytest.raises(KeyboardInterrupt):
        loop.round(2, "runs/x/round-1/policy/model", previous)
    args = dict(calls)
    # the round's search scores with the previous round's three PRMs: the first, and the others as its ensemble
    assert f"scorer.ensemble={json.dumps(previous[1:])}" in args["round-2/search"]
    assert f"scorer.model={previous[0]}" in args["round-2/search"]
    # one PRM per seed, each continuing the previous round's PRM of its seed
    for k, stage in enumerate(["prm", "prm-seed1", "prm-seed2"]):
        train = args[f"round-2/{stage}"]
        assert f"seed={5 + k}" in train and f"model.name_or_path={previous[k]}" in train
        assert not any(a.startswith("seed=") and a != f"seed={5 + k}" for a in train)
    mine = [str(tmp_path / "round-2" / s / "model") for s in ("prm", "prm-seed1", "prm-seed2")]
    for stage in ("eval-search", "judge"):  # the evaluation and the judge: this round's ensemble
        assert f"scorer.model={mine[0]}" in args[f"round-2/{stage}"]
        assert f"scorer.ensemble={json.dumps(mine[1:])}" in args[f"round-2/{stage}"]
    assert not any(a.startswith("scorer.") for a in args["round-2/eval-greedy"])
    # the evaluation's command runs as it is, with real models in place of the round's, on one puzzle
    real = {
        "limit=0": "limit=1",
        f"model.name_or_path={tmp_path / 'round-2' / 'policy' / 'model'}": "model.name_or_path=pkg://qstar_game24/p0",
        f"scorer.model={mine[0]}": "scorer.model=pkg://qstar_game24/prm0",
        f"scorer.ensemble={json.dumps(mine[1:])}": 'scorer.ensemble=["pkg://qstar_game24/prm","pkg://qstar_game24/prm0"]',
    }
    command = [real.get(a, a) for a in args["round-2/eval-search"] if not a.startswith("out_dir=")]
    assert len(set(command) & set(real.values())) == 4
    proc = run_cli(*command, f"out_dir={tmp_path / 'real'}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "real" / "results.json").read_text())["problems"] == 1
    bad = run_cli("loop", "prm_seeds=0", f"out_dir={tmp_path / 'bad'}")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "qstar: error: prm_seeds=0: must be at least 1"


def test_a_packed_loop_run_resumes_elsewhere_where_it_stopped(compose, tmp_path, monkeypatch):
    """recipes/loop_state.py: a run packed on one machine and unpacked on another reruns no
    finished stage, and the round that was running goes on from its files."""
    import json
    import subprocess
    import sys
    import tarfile
    from pathlib import Path

    import qstar_loop
    from qstar_loop import Loop

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "loop_state.py"
    run = tmp_path / "run"

    def put(rel: str, text: str = "x\n"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(text)

    done = lambda **kw: json.dumps({"wall_time": 1.0, **kw})  # noqa: E731
    ev = {"solved": 1, "problems": 2, "generated_tokens_per_problem": 3.0}
    put("loop.yaml", "rounds: 2\n")
    for r in (0, 1):
        put(f"round-{r}/eval-greedy/done.json", done(results=ev))
        put(f"round-{r}/eval-search/done.json", done(results=ev))
        put(f"round-{r}/eval-search/trees.jsonl")
        put(f"round-{r}/judge/done.json", done(judge={"step_auroc": 0.5}))
    put("round-1/search/done.json", done(generated_tokens=5))
    put("round-1/search/results.json", json.dumps({"covered": ["a"], "searched": ["a", "b"]}))
    put("round-1/search/trees.jsonl")
    put("round-1/label/done.json", done(generated_tokens=7))
    for name in ("labels.jsonl", "rollouts.jsonl", "shard-0/labels.jsonl"):
        put(f"round-1/label/{name}")
    for stage in ("policy", "prm"):
        put(f"round-1/{stage}/done.json", done())
        put(f"round-1/{stage}/model/model.safetensors")
        put(f"round-1/{stage}/checkpoints/last.ckpt")
    put("round-2/search/log.txt")
    put("round-2/search/trees.jsonl", '{"half": "done"}\n')  # a search cut short: resumes from its trees
    put("round-2/policy/checkpoints/last.ckpt")  # a training stage cut short: starts again
    put("round-2/policy/log.txt")
    put("p0/model/model.safetensors")  # a start policy the run holds itself: every round retrains from it
    put("p0/settings.json")
    put("p0/checkpoints/last.ckpt")

    archive = tmp_path / "state" / "run.tar.xz"
    pack = subprocess.run([sys.executable, str(recipe), "pack", str(run), str(archive)], capture_output=True, text=True)
    assert pack.returncode == 0, pack.stderr
    again = subprocess.run([sys.executable, str(recipe), "pack", str(run), str(archive)], capture_output=True, text=True)
    assert (
        again.returncode == 2 and again.stderr.strip() == f"{archive} exists: pick another archive name (an archive is never written over)"
    )
    dest = tmp_path / "elsewhere"
    unpack = subprocess.run([sys.executable, str(recipe), "unpack", str(archive), str(dest)], capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr
    kept = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert "round-1/policy/model/model.safetensors" in kept and "round-1/label/rollouts.jsonl" in kept
    assert "round-2/search/trees.jsonl" in kept
    assert {"p0/model/model.safetensors", "p0/settings.json"} <= kept and "p0/checkpoints/last.ckpt" not in kept
    assert not {"round-1/search/trees.jsonl", "round-1/label/shard-0/labels.jsonl", "round-1/policy/checkpoints/last.ckpt"} & kept
    assert not any(k.startswith("round-2/policy") for k in kept)
    again = subprocess.run([sys.executable, str(recipe), "unpack", str(archive), str(dest)], capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip() == f"{dest} exists: unpack into a new directory (a run is never written over)"
    # a running round's merged stage keeps its merged files, not its shards
    put("round-2/label/done.json", done(generated_tokens=1))
    put("round-2/label/labels.jsonl")
    put("round-2/label/shard-1/labels.jsonl")
    sys.path.insert(0, str(recipe.parent))
    try:
        import loop_state
        from loop_state import members
    finally:
        sys.path.remove(str(recipe.parent))
    # an archive over the part size is stored in parts <archive>.0, .1, … and unpacks the same
    monkeypatch.setattr(loop_state, "PART", 100)
    split = tmp_path / "state" / "split.tar.xz"
    loop_state.pack(run, split)
    assert not split.exists() and (tmp_path / "state" / "split.tar.xz.1").is_file()
    assert all(p.stat().st_size <= 100 for p in loop_state.parts(split))
    assert not list((tmp_path / "state").glob("*.partial*"))
    joined = tmp_path / "joined"
    loop_state.unpack(split, joined)
    assert {str(p.relative_to(joined)) for p in joined.rglob("*") if p.is_file()} == {str(m) for m in members(run)}
    with pytest.raises(SystemExit):
        loop_state.pack(run, split)  # its parts count as the archive: never written over
    put("round-2/policy-data.jsonl")
    kept = {str(m) for m in members(run)}
    assert "round-2/label/labels.jsonl" in kept and "round-2/label/shard-1/labels.jsonl" not in kept
    assert "round-2/search/trees.jsonl" in kept and "round-2/policy-data.jsonl" not in kept
    put("loop.yaml", "rounds: 2\npolicy_rollouts: true\n")  # the policy trains on the rollouts: labelled trees stay out
    assert "round-2/search/trees.jsonl" not in {str(m) for m in members(run)}
    # a loop whose next round samples from the policy and starts its PRMs from it reads no earlier PRM: it stays out
    put("loop.yaml", "rounds: 2\nsample_n: 64\nsample_from: 2\nprm_from: policy\n")
    lean = tmp_path / "state" / "lean.tar.xz"
    assert subprocess.run([sys.executable, str(recipe), "pack", str(run), str(lean)], capture_output=True).returncode == 0
    with tarfile.open(lean) as tar:
        names = set(tar.getnames())
    assert "round-1/policy/model/model.safetensors" in names and "round-1/prm/model/model.safetensors" not in names
    assert "round-1/prm/done.json" in names

    calls = []

    def record(args, log, stage, launcher=None):
        calls.append(stage)
        raise KeyboardInterrupt

    monkeypatch.setattr(qstar_loop, "_qstar", record)
    loop = Loop(compose("loop", ["optimizer=rft", f"out_dir={dest}"]))
    policy, prm, info = loop.round(1, "pkg://qstar_game24/p0", ["pkg://qstar_game24/prm0"])  # finished: nothing runs
    assert calls == [] and info["coverage"] == {"covered": 1, "searched": 2}
    with pytest.raises(KeyboardInterrupt):
        loop.round(2, policy, prm)
    assert calls == ["round-2/search"]  # the search that was cut short goes on

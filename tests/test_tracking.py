"""Experiment tracking through Lightning's loggers: what ``qstar train`` writes to
``logs/metrics.csv`` reaches TensorBoard's event files and the MLflow store with the same values;
a resumed run continues its MLflow run; ``qstar eval`` and ``qstar loop`` send their tables there
too, and the loop's stages share its store."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf
from test_train import TINY, train_losses

from qstar import commands

STEPS = ["trainer.max_steps=3", "trainer.checkpoint_every_n_steps=3"]


@pytest.fixture(scope="module")
def mlflow_env():
    with pytest.MonkeyPatch.context() as mp:  # MLflow ≥ 3.7 refuses file stores without it (qstar sets it too)
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        yield


def tensorboard_scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def mlflow_runs(uri, experiment="qstar"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_train_logs_the_csv_losses_to_tensorboard(compose, tmp_path):
    out = tmp_path / "tb"
    commands.train(compose("train", TINY + STEPS + ["trainer.logger=tensorboard", f"out_dir={out}"]))
    csv_losses = train_losses(out)  # the CSV log is still written
    assert len(csv_losses) == 3
    tb = tensorboard_scalars(out / "logs" / "tensorboard", "train/loss")
    assert [s for s, _ in tb] == [s for s, _ in csv_losses]
    assert [v for _, v in tb] == pytest.approx([v for _, v in csv_losses], rel=1e-6)  # TensorBoard keeps float32


def test_train_logs_the_csv_losses_to_mlflow_and_a_resume_continues_the_run(compose, tmp_path, mlflow_env):
    out = tmp_path / "mlflow"
    commands.train(compose("train", TINY + STEPS + ["trainer.logger=mlflow", f"out_dir={out}"]))
    uri = (out / "mlruns").resolve().as_uri()  # the default store: a file store in the run directory
    client, runs = mlflow_runs(uri)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].info.run_name == str(out)
    run_id = runs[0].info.run_id
    assert runs[0].data.params["optimizer/lr"] == "0.003"  # the composed config, as hyperparameters

    more = ["trainer.max_steps=5", "trainer.checkpoint_every_n_steps=3", "resume=true"]
    commands.train(compose("train", TINY + more + ["trainer.logger=mlflow", f"out_dir={out}"]))
    _, runs = mlflow_runs(uri)
    assert [r.info.run_id for r in runs] == [run_id]  # the same run, continued
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "train/loss"))
    assert history == sorted(train_losses(out)) and len(history) == 5


def test_eval_writes_its_results_to_mlflow_and_tensorboard(compose, tmp_path, mlflow_env):
    fast = ["split=val", "limit=2", "search=best-of-n", "search.n=1", "search.select=majority", "~scorer", "progress=false"]
    store = (tmp_path / "store").resolve().as_uri()
    ml = commands.eval(compose("eval", fast + [f"out_dir={tmp_path / 'ml'}", "tracking.logger=mlflow", f"tracking.tracking_uri={store}"]))
    client, [run] = mlflow_runs(store)
    assert run.data.metrics["eval/solve_rate"] == ml["solve_rate"]
    assert run.data.metrics["eval/generated_tokens_per_problem"] == ml["generated_tokens_per_problem"]
    assert run.data.params["search/name"] == "best-of-n"

    tb = commands.eval(compose("eval", fast + [f"out_dir={tmp_path / 'tb'}", "tracking.logger=tensorboard"]))
    assert tensorboard_scalars(tmp_path / "tb" / "tensorboard", "eval/problems") == [(0, 2.0)]
    assert tensorboard_scalars(tmp_path / "tb" / "tensorboard", "eval/solve_rate") == [(0, pytest.approx(tb["solve_rate"]))]


def test_the_loop_logs_each_round_once_and_hands_its_store_to_every_stage(compose, tmp_path, mlflow_env):
    from qstar.tracking import open_tracker
    from qstar_loop import Loop

    def row(r):
        return {"round": r, "greedy_pass@1": 0.25 * r, "search_solve_rate": 0.5, "train_coverage": None, "stage_wall_time": {"eval": 3.0}}

    overrides = [f"out_dir={tmp_path}", "tracking.logger=mlflow"]
    for rounds in (1, 2):  # a rerun (one more round) recomputes every row but logs only the new one
        loop = Loop(compose("loop", overrides))
        loop._start()
        loop.tracker = open_tracker(loop.cfg.tracking, tmp_path, resume=True)
        loop._save([row(r) for r in range(rounds + 1)])
        loop.tracker.close()
    uri = (tmp_path / "mlruns").resolve().as_uri()
    client, [run] = mlflow_runs(uri)
    history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loop/greedy_pass_at_1")]
    assert sorted(history) == [(0, 0.0), (1, 0.25), (2, 0.5)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loop/stage_wall_time/eval")] == [0, 1, 2]

    # the training and eval stages get the loop's store; the overrides parse as their own commands do
    train = compose("train", loop.track_train)
    assert (train.trainer.logger, train.trainer.tracking_uri, train.trainer.experiment_name) == ("mlflow", uri, "qstar")
    ev = compose("eval", loop.track_eval)
    assert OmegaConf.to_container(ev.tracking) == {"logger": "mlflow", "tracking_uri": uri, "experiment_name": "qstar"}
    assert json.loads((tmp_path / "tracking.json").read_text())["logged"] == ["round-0", "round-1", "round-2"]


def test_a_missing_tracking_package_is_one_line_naming_the_fix(monkeypatch):
    import importlib.util

    from qstar.errors import QstarError
    from qstar.training import TrainerConfig

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(QstarError, match=r"^trainer.logger=mlflow needs mlflow: pip install 'qstar\[tracking\]'$"):
        TrainerConfig(logger="mlflow")

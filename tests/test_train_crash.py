"""Training survives a crash: a real `qstar train` process is killed (SIGKILL) after its first
step checkpoint; `resume=true` continues the step count from it and the log keeps the earlier rows."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import run_cli

ARGS = [
    "train",
    "model=tiny-gpt2",
    "model.arch.n_layer=1",
    "model.arch.n_embd=32",
    "model.arch.n_head=2",
    "split=val",
    "optimizer.batch_size=16",
    "optimizer.max_per_problem=4",
    "optimizer.warmup_steps=2",
    "trainer.max_steps=400",
    "trainer.checkpoint_every_n_steps=10",
    "trainer.log_every_n_steps=2",
    "trainer.enable_progress_bar=false",
]


def rows(out: Path) -> list[dict]:
    with open(out / "logs" / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.slow  # a training run SIGKILLed and resumed (about 17 s)
def test_sigkill_then_resume_continues_the_steps_and_keeps_the_log(tmp_path):
    out = tmp_path / "run"
    exe = Path(sys.executable).with_name("qstar")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(exe), *ARGS, f"out_dir={out}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and torch.load(last, map_location="cpu", weights_only=True)["global_step"] >= 20:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # still training: the kill is a real crash
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model").exists()  # it never finished
    at_kill = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    before = rows(out)
    assert 10 <= at_kill < 400 and before, (at_kill, len(before))

    resumed = run_cli(*ARGS, "trainer.max_steps=" + str(at_kill + 20), f"out_dir={out}", "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] == at_kill + 20  # continued, not restarted
    after = rows(out)
    kept = [r for r in before if int(r["step"]) < at_kill]
    assert kept and after[: len(kept)] == kept  # the pre-crash rows are still there
    steps = [int(r["step"]) for r in after]
    assert steps == sorted(set(steps))  # rows logged after the checkpoint were not left duplicated
    assert int(after[-1]["step"]) > int(before[-1]["step"])
    # outputs are readable by others, like any file the user writes
    for f in [*(out / "model").iterdir(), out / "logs" / "metrics.csv", last]:
        assert f.stat().st_mode & stat.S_IROTH, f

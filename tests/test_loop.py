"""qstar loop: a rerun refuses a changed config, and a failing stage is one line naming its log.
(The docs tutorial runs a whole round and its resume.)"""

from __future__ import annotations

import pytest

from conftest import run_cli

SMALL = ["rounds=0", "eval_limit=1", "start_policy=pkg://qstar_game24/policy"]


@pytest.mark.slow  # two evaluations of the start policy (about 40 s)
def test_a_rerun_with_other_settings_is_refused(tmp_path):
    out = f"out_dir={tmp_path}"
    first = run_cli("loop", *SMALL, out)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "round-0" / "eval-greedy" / "done.json").exists()
    assert (tmp_path / "rounds.json").exists() and (tmp_path / "rounds.png").exists()
    again = run_cli("loop", *SMALL[:1], "eval_limit=2", SMALL[2], out)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"qstar: error: out_dir={tmp_path} holds a loop run with eval_limit=1, not 2: "
        "rerun with the same settings (only rounds may change) or pick another out_dir"
    )


def test_a_failing_stage_names_itself_and_its_log(tmp_path):
    proc = run_cli("loop", "rounds=0", "eval_limit=1", f"start_policy={tmp_path / 'missing'}", f"out_dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("qstar: error: loop stage round-0/eval-greedy failed: model path")
    assert "has no config.json" in line and line.endswith("log.txt)")  # (long paths are shortened)

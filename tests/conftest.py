from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2`: one worker per core, one thread each (set before torch is imported, and
    # inherited by the commands tests start); two workers at torch's default would oversubscribe
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def qstar_cache(tmp_path_factory) -> Path:
    """One cache of dequantized GGUF models (qstar.models.gguf_cache) for the whole session, its
    commands run in subprocesses included, instead of the user's ~/.cache/qstar."""
    path = tmp_path_factory.mktemp("qstar-cache")
    old = os.environ.get("QSTAR_CACHE")
    os.environ["QSTAR_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("QSTAR_CACHE", None)
    else:
        os.environ["QSTAR_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained 2-layer GPT-2 with the number tokenizer, saved like any HF checkpoint."""
    import torch

    from qstar.models import ArchConfig, build_causal_lm, build_number_tokenizer

    torch.manual_seed(0)
    tok = build_number_tokenizer()
    model = build_causal_lm(tok, ArchConfig(n_layer=2, n_embd=32, n_head=2, n_positions=128))
    out = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def policy_dir() -> Path:
    from qstar.models import resolve_path

    path = Path(resolve_path("pkg://qstar_game24/policy"))
    if not (path / "config.json").exists():
        pytest.fail("the bundled policy is missing: train it with `qstar train experiment=game24_policy`")
    return path


def _composer():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from qstar.config import CONFIG_MODULE, store_schemas

    store_schemas()

    def _compose(command: str, overrides: list[str] | None = None):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return hydra_compose(config_name=command, overrides=overrides or [])

    return _compose


@pytest.fixture
def compose():
    """Compose a command's config like the CLI does (schemas stored, Hydra cleared afterwards)."""
    from hydra.core.global_hydra import GlobalHydra

    yield _composer()
    GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def compose_module():
    """``compose`` for module-scoped fixtures (a model trained once for several tests)."""
    from hydra.core.global_hydra import GlobalHydra

    yield _composer()
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run the installed ``qstar`` console script in a fresh process."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    exe = Path(sys.executable).with_name("qstar")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qstar.cli"]
    return subprocess.run([*cmd, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)

"""A non-editable install works from any directory: the wheel holds the Hydra config tree (the
repository's top-level conf/, as qstar.conf), every built-in plugin package and the bundled
policy, and `qstar solve` runs from an installed copy outside the checkout."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    from filelock import FileLock

    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in the checkout's build/: two xdist workers building at once break each
    # other's copy, so they take turns (the lock file sits in the temporary root they share)
    with FileLock(tmp_path_factory.getbasetemp().parent / "qstar-wheel-build.lock"):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("qstar-*.whl")
    return whl


def test_no_yaml_under_the_qstar_package_in_the_checkout():
    assert not list((ROOT / "qstar").rglob("*.yaml"))
    assert (ROOT / "conf" / "solve.yaml").is_file() and (ROOT / "conf" / "__init__.py").is_file()


def test_the_wheel_holds_the_config_tree_every_plugin_and_the_policy(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml in (ROOT / "conf").rglob("*.yaml"):
        assert f"qstar/conf/{yaml.relative_to(ROOT / 'conf').as_posix()}" in names, yaml
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["qstar"]
    for module in entry_points.values():  # a plugin package, or a module of one (qstar.commands)
        path = module.replace(".", "/")
        assert f"{path}/__init__.py" in names or f"{path}.py" in names, module
    for plugin in ("qstar_compare", "qstar_loop"):  # command plugins ship their top-level YAML
        assert any(n.startswith(f"{plugin}/conf/") and n.endswith(".yaml") for n in names), plugin
    for checkpoint in ("policy", "p0", "prm", "prm0", "orm"):  # every bundled model a default points at
        for f in (ROOT / "plugins" / "qstar_game24" / checkpoint).iterdir():
            assert f"qstar_game24/{checkpoint}/{f.name}" in names, f
    assert "qstar_game24/data/puzzles.txt" in names
    assert not any(n.startswith(("conf/", "plugins/", "tests/")) for n in names)  # nothing stray at top level


def test_solve_from_an_installed_copy_outside_the_checkout(wheel, tmp_path):
    # A fresh venv with only the wheel installed; its dependencies (torch, transformers …) are
    # borrowed from the test venv through a .pth line, which adds that directory but runs none of
    # its .pth files — so the editable install of the checkout stays out of sight.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    where = subprocess.run(
        [str(py), "-c", "import qstar, qstar.conf, qstar_game24; print(qstar.__file__, qstar_game24.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout, where.stdout + where.stderr
    proc = subprocess.run(
        [str(venv / "bin" / "qstar"), "solve", "problem=4 9 10 13"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "(correct)" in proc.stdout, proc.stdout
    assert not list(elsewhere.iterdir())  # solve writes nothing into the working directory

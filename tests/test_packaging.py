"""The ways to install the course: pip and conda name the same dependencies; the Makefile
reinstalls when TORCH_SPEC changes and passes the environment on to JupyterLab."""

import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].strip().lower()


def test_environment_yml_has_every_runtime_dependency_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in environment["dependencies"] if isinstance(d, str)}
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"]}
    assert wanted - conda == set(), f"missing from environment.yml: {sorted(wanted - conda)}"
    assert "nodefaults" in environment["channels"] and environment["channels"][0] == "conda-forge"
    assert any(line.startswith("-e .") and "dev" in line for line in pip_section)


def test_torch_requirement_admits_the_course_machines_cpu_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_spec = next(r for r in project["dependencies"] if _name(r) == "torch")
    lower = re.search(r">=\s*([\d.]+)", torch_spec).group(1)
    upper = re.search(r"<\s*([\d.]+)", torch_spec).group(1)
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    assert as_tuple(lower) <= (2, 13, 0) < as_tuple(upper)


def _make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run([make, "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def fake_venv(tmp_path):
    """A venv folder whose stamp is up to date for the default TORCH_SPEC, and whose `course`
    and `jupyter` only print what they were given."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("course", "jupyter"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $* COURSE_QUICK=$COURSE_QUICK"\n')
        script.chmod(0o755)
    (bin_dir / ".installed").write_text("torch==2.13.0\n")
    os.utime(bin_dir / ".installed", (time.time() + 60, time.time() + 60))  # newer than pyproject
    (bin_dir / ".lecture-installed").write_text("")  # the lecture extra, installed after it
    os.utime(bin_dir / ".lecture-installed", (time.time() + 120, time.time() + 120))
    return tmp_path / "venv"


def test_install_stamp_records_torch_spec_and_reinstalls_when_it_changes(fake_venv):
    venv = f"VENV={fake_venv}"
    same = _make("-n", venv, f"{fake_venv}/bin/.installed")
    assert "pip install" not in same.stdout, same.stdout  # the recorded spec: nothing to do
    other = _make("-n", venv, "TORCH_SPEC=torch>=2.3,<3", f"{fake_venv}/bin/.installed")
    assert 'pip install --quiet "torch>=2.3,<3"' in other.stdout
    assert "printf '%s\\n' 'torch>=2.3,<3'" in other.stdout  # the new spec is recorded
    (fake_venv / "bin" / ".installed").write_text("")  # a stamp from before the spec was kept
    assert 'pip install --quiet "torch==2.13.0"' in _make("-n", venv, f"{fake_venv}/bin/.installed").stdout


def test_make_lab_passes_quick_mode_to_jupyter(fake_venv):
    result = _make(f"VENV={fake_venv}", "lab", env={"COURSE_QUICK": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "course doctor COURSE_QUICK=1" in lines
    # the course root, so chapters and exercises are one click apart
    assert any(line.startswith("jupyter lab") and line.endswith(" . COURSE_QUICK=1")
               for line in lines)

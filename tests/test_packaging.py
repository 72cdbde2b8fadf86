"""The two ways to install the course (pip and conda) must name the same dependencies."""

import re
import tomllib
from pathlib import Path

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

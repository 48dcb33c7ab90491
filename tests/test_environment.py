"""environment.yml (for conda users) lists exactly what pyproject.toml gives pip users."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")
CONDA_NAMES = {"redis-py": "redis"}
"""conda-forge names that differ from PyPI's: conda-forge's ``redis`` is the server."""


def parse(requirement: str) -> tuple[str, str]:
    name, spec = REQUIREMENT.match(requirement.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return dict(parse(r) for r in wanted)


def conda_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_lists_the_same_packages_and_minimum_versions_as_pyproject():
    conda = dict(parse(d) for d in conda_environment()["dependencies"] if isinstance(d, str))
    conda = {CONDA_NAMES.get(name, name): spec for name, spec in conda.items()}
    python = conda.pop("python")
    conda.pop("pip")
    assert conda == pip_requirements()
    assert python == "=3.11"


def test_environment_yml_uses_conda_forge_and_installs_the_course_itself():
    env = conda_environment()
    assert env["channels"] == ["conda-forge"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["--editable ."]

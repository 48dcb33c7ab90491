"""The Binder / repo2docker files (apt.txt, postBuild, beside environment.yml) give a hub
everything the lessons use: the system parts CI installs, a Chromium that runs in a container,
and the proxy that carries the in-browser demos."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import playwright
from test_environment import conda_environment, parse

from servers.system import INSTALL_HINTS

ROOT = Path(__file__).resolve().parents[1]
SNAP_STUBS = {"chromium", "chromium-browser"}
"""Ubuntu's apt names for Chromium: transitional packages that need snapd, absent in a container."""


def apt_packages() -> list[str]:
    lines = (ROOT / "apt.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ci_apt_packages() -> set[str]:
    """What .ci/run installs with apt-get."""
    line = next(x for x in (ROOT / ".ci/run").read_text().splitlines() if "apt-get install" in x)
    words = shlex.split(line.split("apt-get install", 1)[1])
    return {word for word in words if not word.startswith("-")}


def playwright_chromium_libraries(distribution: str = "ubuntu22.04-x64") -> set[str]:
    """The apt packages Playwright itself lists for its Chromium on ``distribution`` (read
    from the installed driver's bundle, so the list follows the Playwright version)."""
    bundle = Path(playwright.__file__).parent / "driver/package/lib/coreBundle.js"
    text = bundle.read_text()
    start = text.index(f'"{distribution}": {{')
    block = re.search(r"chromium:\s*\[(.*?)\]", text[start:], re.S)
    assert block, f"no Chromium library list for {distribution} in {bundle}"
    return set(re.findall(r'"([^"]+)"', block.group(1)))


def test_repo2docker_reads_the_files_at_the_top_of_the_repository():
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists(), (
        "a binder/ folder makes repo2docker ignore environment.yml, apt.txt and postBuild here"
    )
    assert {"environment.yml", "apt.txt", "postBuild"} <= {p.name for p in ROOT.iterdir()}


def test_apt_txt_installs_every_system_part_ci_installs_but_a_snap_stub_chromium():
    packages = apt_packages()
    assert len(packages) == len(set(packages)), "a package is listed twice"
    wanted = (ci_apt_packages() - {"make"}) | (set(INSTALL_HINTS) - {"chromium"})
    assert wanted - SNAP_STUBS <= set(packages)
    assert not SNAP_STUBS & set(packages), "Ubuntu's apt Chromium is a snap stub: use Playwright's"


def test_apt_txt_has_the_libraries_playwrights_chromium_needs():
    missing = playwright_chromium_libraries() - set(apt_packages())
    assert not missing, f"apt.txt lacks {sorted(missing)}, which Playwright's Chromium needs"


def test_postbuild_is_an_executable_strict_script_that_installs_playwrights_chromium():
    script = ROOT / "postBuild"
    text = script.read_text()
    assert os.access(script, os.X_OK) and text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    commands = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "python -m playwright install chromium" in commands
    assert "PLAYWRIGHT_BROWSERS_PATH" not in text, "servers.system looks in Playwright's default"
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_the_conda_environment_has_what_the_hub_route_and_postbuild_use():
    conda = dict(parse(d) for d in conda_environment()["dependencies"] if isinstance(d, str))
    assert {"jupyterlab", "jupyter-server-proxy", "playwright", "ipykernel"} <= set(conda)

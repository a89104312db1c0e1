"""requirements.lock (`make lock`) pins every dependency pyproject.toml declares, within its range, and every
install in the Makefile and the GitHub Action takes its versions from it: a pyproject edit without `make lock` fails
here."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from review_slm_tests.light import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = (ROOT / "requirements.lock").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def pins() -> dict[str, tuple[Version, str]]:
    """name -> (version, marker) of each `name==version [; marker]` line."""
    found = {}
    for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)(?:\s*;\s*(.+))?$", LOCK, re.M):
        found[canonicalize_name(match[1])] = (Version(match[2]), match[3] or "")
    return found


def test_every_declared_requirement_is_pinned_within_its_range():
    locked = pins()
    declared = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values() for r in extra]
    outside = {}
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name not in locked or not requirement.specifier.contains(locked[name][0], prereleases=True):
            outside[text] = locked.get(name)
    assert outside == {}, "run `make lock`"


def test_the_lock_is_one_resolution_for_every_platform_and_the_makefile_takes_torch_from_it():
    locked = pins()
    assert re.search(r"^#\s+make lock$", LOCK, re.M)
    assert locked["torch"][1] == "" and "win32" in locked["pywin32"][1]  # universal: Windows-only pins carry a marker
    # the CPU torch installed first is the lock's version (2.13.0+cpu satisfies ==2.13.0)
    assert "TORCH_VERSION := $(shell sed -n 's/^torch==" in MAKEFILE


def test_every_install_of_the_project_in_the_makefile_uses_the_lock():
    installs = re.findall(r"^\t.*(?:pip install|PIP_INSTALL).* (?:-e )?'?\.(?:\[[a-z,]+\])?'?$", MAKEFILE, re.M)
    assert len(installs) >= 4, installs  # the platform, dev, serve, the reviewer
    assert all("-c $(LOCK)" in line or "$(PIP_INSTALL)" in line for line in installs), installs
    assert "PIP_INSTALL := $(BIN)/pip install --quiet -c $(LOCK)" in MAKEFILE


def test_every_install_of_the_project_in_the_action_uses_the_lock_and_its_torch():
    steps = {step["name"]: step for step in ACTION["runs"]["steps"] if "name" in step}
    runs = "\n".join(step.get("run", "") for step in steps.values())
    installs = re.findall(r'^.*pip install .* "\$\{\{ github.action_path \}\}(?:\[[a-z,]+\])?"$', runs, re.M)
    assert len(installs) == 2, installs  # the reviewer alone, the model extra
    assert all('-c "${{ github.action_path }}/requirements.lock"' in line or '-c "$lock"' in line for line in installs)
    # the CPU torch installed first is the lock's version: the step's own lines, run against this checkout's lock
    model = steps["Install review-slm with the model stack"]["run"].replace("${{ github.action_path }}", str(ROOT))
    torch_line = next(line for line in model.splitlines() if "download.pytorch.org" in line)
    assert torch_line.endswith('"torch==$torch_version"'), torch_line
    reads = model[: model.index(torch_line)] + 'echo "$torch_version"'
    read = subprocess.run(["bash", "-c", reads], capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    assert read == str(pins()["torch"][0])
    assert "requirements.lock" in steps["Key the pip cache"]["run"]  # a new lock is a new pip cache


def test_make_lock_uses_one_uv_release_and_the_venvs_uv_is_it():
    pinned = re.search(r"^UV_VERSION := (\S+)$", MAKEFILE, re.M)[1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), pinned  # one release, not a range: the lock changes with uv
    assert "pip install --quiet uv==$(UV_VERSION)" in MAKEFILE
    uv = Path(sys.prefix) / "bin" / "uv"  # there once `make lock` has run in this venv
    if uv.exists():
        version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True, timeout=10)
        assert version.stdout.split()[1] == pinned, (
            f"the venv's uv is not UV_VERSION: rerun `make lock` ({version.stdout})"
        )

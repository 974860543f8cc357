"""Packaging: the wheel builds in an isolated environment with licence, py.typed and templates;
installs are pinned by constraints.txt."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE = ROOT / "src" / "crm_models"


def _pins() -> dict[str, str]:
    """constraints.txt as {normalised name: version}; every line is a comment or name==version."""
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert found, f"constraints.txt line {number} is not name==version: {line!r}"
        name = canonicalize_name(found.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = found.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return [r for r in map(Requirement, reqs) if canonicalize_name(r.name) != "crm-models"]


def test_license_is_mit_and_shipped():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (PACKAGE / "py.typed").is_file()


def test_constraints_pin_every_declared_dependency_within_its_bounds():
    pins = _pins()
    assert "crm-models" not in pins, "constraints.txt must not pin the project itself"
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {req.name}: run `make constraints`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req}: "
            "run `make constraints`"
        )


def test_the_venv_is_installed_from_the_constraints():
    """What `make` installed is what constraints.txt says (a hand upgrade shows up here)."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("checks the project's .venv; run the tests with .venv/bin/python")
    wrong = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = f"{installed} installed, {version} pinned"
    assert not wrong, f"the .venv differs from constraints.txt (run make): {wrong}"


def test_make_installs_with_the_constraints_and_reinstalls_when_they_change():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # -W: as if constraints.txt had just changed; -n: print the commands, run nothing.
    plan = subprocess.run(
        ["make", "-n", "-W", "constraints.txt", "reports"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line and "-e" in line]
    assert installs, f"a changed constraints.txt does not reinstall:\n{plan}"
    assert all("-c constraints.txt" in line for line in installs), installs


@pytest.mark.slow
def test_wheel_builds_in_an_isolated_environment(tmp_path):
    """`pip wheel` with build isolation installs only what [build-system] declares (needs the
    package index); the wheel carries the licence, py.typed and every template."""
    source = tmp_path / "source"  # a copy, so the build leaves no build/ in the checkout
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    if proc.returncode and re.search(r"NewConnectionError|Name or service not known", proc.stderr):
        pytest.skip(f"no package index reachable to build in isolation:\n{proc.stderr[-500:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("crm_models-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = zf.read(f"{dist_info}/METADATA").decode()
    assert "crm_models/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: MIT" in meta.splitlines()
    templates = {
        p.relative_to(ROOT / "src").as_posix()
        for p in (PACKAGE / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert templates, "no templates found in the source"
    assert templates <= names, f"templates missing from the wheel: {sorted(templates - names)}"

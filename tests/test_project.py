"""Project rules that must be impossible to get wrong: notebook format, dependencies, lint."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_notebooks_are_percent_scripts_without_ipynb():
    tracked = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert not tracked.split(), f"commit notebooks as jupytext .py scripts, not {tracked.split()}"
    assert not list((ROOT / "notebooks").glob("*.ipynb")), (
        "stray .ipynb in notebooks/ (outputs could leak)"
    )
    assert NOTEBOOKS, "no notebooks found"


def test_every_notebook_is_numbered_with_a_parameters_cell():
    for path in NOTEBOOKS:
        assert re.match(r"\d\d_[a-z0-9_]+\.py$", path.name), path.name
        nb = jupytext.read(path)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged parameters"
        source = tagged[0].source
        for name in ("dataset", "as_of", "quick", "output_dir", "mlflow_experiment"):
            assert re.search(rf"^{name}\s*=", source, re.M), (
                f"{path.name}: parameter {name} missing"
            )
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert all(not c.get("outputs") for c in nb.cells)


def test_every_catalogued_report_has_its_notebook():
    from crm_models.reporting import discover_reports

    names = {p.name for p in NOTEBOOKS}
    reports = discover_reports()
    assert [r.slug for r in reports][:1] == ["customer_base"]
    for report in reports:
        assert report.notebook in names, f"report {report.slug} points at missing {report.notebook}"


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].strip().lower().replace("_", "-")
        for r in requirements
    }


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = _names(project["dependencies"] + sum(extras.values(), [])) - {"crm-models"}
    env = (ROOT / "environment.yml").read_text()
    listed = {
        re.sub(r"^python-", "", n) if n == "python-duckdb" else n
        for n in _names(re.findall(r"^\s+- ([A-Za-z][\w.\-]*[^\n]*)$", env, re.M))
    }
    listed -= {"python", "pip", "-e ."}
    assert declared <= listed, f"missing from environment.yml: {sorted(declared - listed)}"
    assert "-e ." in env


def test_ruff_is_clean():
    paths = ["src", "tests", "benchmarks", "notebooks", "scripts"]
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, "run `make format`:\n" + fmt.stdout + fmt.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_papermill_reads_every_parameter(caplog):
    """Papermill must parse each parameter line (else -p overrides are reported as unknown)."""
    from papermill.translators import PythonTranslator

    for path in NOTEBOOKS:
        cell = next(
            c for c in jupytext.read(path).cells if "parameters" in c.metadata.get("tags", [])
        )
        caplog.clear()
        names = [p.name for p in PythonTranslator.inspect(cell)]
        assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()], path.name
        assert {"dataset", "as_of", "quick", "output_dir", "mlflow_experiment"} <= set(names)

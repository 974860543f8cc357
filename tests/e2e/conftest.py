"""Shared fixtures for the end-to-end report-pipeline tests.

The tests build tiny fixture notebooks (``tests/e2e/fixtures/``) with a stand-in dataset loader
(``fixtures/fixture_data.py``), so they do not depend on the real data files; MLflow writes to a
temporary SQLite store per test module.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make test` installs it where it can
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def fixture_data():
    """The fixture loader module (``fixture_data.load(spec) -> Dataset``)."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    return importlib.import_module("fixture_data")


@pytest.fixture(scope="module")
def tracking_store(tmp_path_factory):
    """A fresh SQLite MLflow store for the module, set as ``MLFLOW_TRACKING_URI``."""
    root = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("CRM_MODELS_TRACKING", raising=False)
        yield uri


@pytest.fixture
def chromium() -> dict:
    """Launch options for headless Debian Chromium (the test is skipped, with the reason, if absent)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium not installed ({CHROMIUM}); `make test` installs it as root")
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """One data cache per test worker, so the simulated demo is generated once, not per module."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory, demo_data):
    """Build reports in quick mode into a fresh folder with its own MLflow store.

    ``quick_build(name, datasets, only)`` returns ``{"root", "out", "result", "data"}``.
    """
    from crm_models.reporting import build_reports

    def build(name: str, datasets=("demo",), only=None, **kwargs) -> dict:
        root = tmp_path_factory.mktemp(name)
        (root / "mlruns").mkdir()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
            mp.setenv("CRM_MODELS_DATA", str(demo_data))
            mp.setenv("CRM_MODELS_QUIET", "1")
            mp.delenv("CRM_MODELS_TRACKING", raising=False)
            result = build_reports(
                list(datasets),
                only=only,
                quick=True,
                out=root / "reports",
                progress=False,
                **kwargs,
            )
        return {"root": root, "out": root / "reports", "result": result, "data": demo_data}

    return build

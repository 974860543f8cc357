"""Shared fixtures: the real public datasets in ../shared/data (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("CRM_MODELS_QUIET", "1")

pytest_plugins = ["pg_server"]  # postgres_url, pg_demo, pg_cdnow_sample fixtures

SHARED_DATA = Path(
    os.environ.get(
        "CRM_MODELS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real public datasets (Online Retail, Hillstrom, Groceries, CDNOW copies)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public data not found at {SHARED_DATA} (set CRM_MODELS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """Small model fits run much faster on one OpenMP thread when the machine is shared."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


# Property tests draw the same examples on every run (CI must not flip on a new random draw).
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")


# Slow: notebook builds and the browser (tests/e2e), the Spark and PostgreSQL engines, and
# tests listed here by measurement.  `make test` runs everything; `make test-fast` skips these.
SLOW_FILES = {"test_engines_spark.py", "test_engines_postgres.py", "test_database.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if "e2e" in path.parts or path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def demo():
    """The built-in demo retailer (20,000 customers), loaded once per test module."""
    from crm_models.data.loading import load_dataset

    return load_dataset("demo")


@pytest.fixture(scope="module")
def demo_data(demo):
    """The demo's campaign rows with their features (the targeting models' input)."""
    from crm_models.targeting import campaign_data

    return campaign_data(demo)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A simulated shop of 3,000 customers written as Parquet parts (read out of core)."""
    from crm_models.data.simulate_parquet import write_partitioned

    out = tmp_path_factory.mktemp("parquet") / "shop"
    write_partitioned(out, 3000, seed=7, chunk_customers=1000)
    return out


@pytest.fixture
def orphan_contacts_folder(tmp_path, folder):
    """A copy of ``folder`` whose first campaigns file has 7 contacts of no customer (bad data
    the contract refuses: file, column and rows named)."""
    import shutil

    import pandas as pd

    bad = tmp_path / "shop"
    shutil.copytree(folder, bad)
    part = sorted((bad / "campaigns").glob("*.parquet"))[0]
    contacts = pd.read_parquet(part)
    contacts["customer_id"] = contacts["customer_id"].astype("Int64").mask(contacts.index < 7)
    contacts.to_parquet(part)
    return bad


@pytest.fixture
def engine_result_rows(monkeypatch):
    """The size of every result an engine Source hands to pandas during the test (rows of a
    frame, 1 for a scalar): to hold that out of core only aggregates leave the engine."""
    from crm_models.engine import Source

    rows: list[int] = []

    def counted(method):
        def run(self, expr):
            out = method(self, expr)
            rows.append(len(out) if hasattr(out, "__len__") and not isinstance(out, str) else 1)
            return out

        return run

    monkeypatch.setattr(Source, "execute", counted(Source.execute))
    monkeypatch.setattr(Source, "frame", counted(Source.frame))
    return rows

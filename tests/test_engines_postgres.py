"""Aggregations pushed into a real PostgreSQL server equal the file-based results.

The demo retailer's files and the CDNOW sample are loaded into a throwaway server
(:mod:`pg_server`); the same checks as for DuckDB and Spark (:mod:`engine_checks`) then compare
every aggregate, computed inside the database, with the pandas path on the files.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from engine_checks import (
    check_baskets,
    check_cohorts,
    check_customer_view,
    check_period_series,
    check_purchase_days,
    check_rfm,
    check_summary,
)

from crm_models.data.contract import DataError
from crm_models.data.loading import load_dataset
from crm_models.engine import open_database, open_source


@pytest.fixture(scope="module", params=["cdnow_sample", "demo"])
def pair(request):
    url = request.getfixturevalue(f"pg_{request.param}")
    src = open_database(url)
    assert src.engine == "postgres" and "***" in src.location or "@" not in src.location
    return load_dataset(request.param), src


def test_customer_view(pair):
    check_customer_view(*pair)


def test_rfm_scores(pair):
    check_rfm(*pair)


def test_cohorts_and_period_series(pair):
    check_cohorts(*pair, freqs=("M", "W"))
    check_period_series(*pair, freqs=("M", "Q-DEC"))


def test_summary_counts(pair):
    check_summary(*pair)


def test_purchase_days(pair):
    check_purchase_days(*pair)


def test_basket_counts(pg_demo):
    check_baskets(load_dataset("demo"), open_database(pg_demo))


def test_database_sources_open_in_the_database_unless_pandas_is_asked(pg_demo):
    from crm_models.engine import EngineSettings

    assert open_source(pg_demo).engine == "postgres"
    assert open_source(pg_demo, EngineSettings("pandas")) is None


def test_contract_problems_in_the_database_are_listed(postgres_url):
    import pandas as pd
    from pg_server import create_database, load_into_postgres

    url = create_database(postgres_url, "broken_shop")
    tx = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "order_id": ["A", "B"],
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "amount": ["10.5", "n/a"],
        }
    )
    load_into_postgres(url, {"transactions": tx}, types={"transactions": {"amount": "text"}})
    with pytest.raises(DataError, match="not a number"):
        open_database(url)


def test_cli_view_through_the_database(pg_cdnow_sample, tmp_path):
    out = tmp_path / "view.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "crm_models.cli", "view", pg_cdnow_sample, "--out", str(out)]
        + ["--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["customers"] == 2357  # Fader, Hardie & Lee (2005) sample
    assert "secret" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_report_build_from_the_database_keeps_the_password_out(pg_cdnow_sample, tmp_path):
    """A report straight from PostgreSQL with the DuckDB engine: the password reaches the
    kernel only as PGPASSWORD, never a notebook, an HTML page or the MLflow store."""
    import os
    from pathlib import Path

    from pg_server import PASSWORD

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "CRM_MODELS_QUIET": "1",
    }
    env.pop("PGPASSWORD", None)
    proc = subprocess.run(
        [sys.executable, "-m", "crm_models.cli", "reports", "build", "--dataset"]
        + [pg_cdnow_sample, "--only", "customer_base", "--quick", "--engine", "duckdb"]
        + ["--out", str(tmp_path / "reports")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    run = json.loads(next((tmp_path / "reports").rglob("run.json")).read_text())
    assert run["engine"] == "duckdb"
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in proc.stdout + proc.stderr

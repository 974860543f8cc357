"""Spark (local mode) gives the same numbers as the pandas path.

The same checks as the DuckDB module (:mod:`engine_checks`), run through ibis' PySpark backend
on CDNOW (real data) and a smaller ``demo`` (3,000 customers: Spark's per-query overhead, not
the data, dominates here).  Skipped with the reason where Java or PySpark is missing.
"""

from __future__ import annotations

import importlib.util
import shutil

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

from crm_models.data.loading import load_dataset
from crm_models.engine import EngineSettings, as_source, open_folder

if shutil.which("java") is None:
    pytest.skip("Spark needs Java (java not found on PATH)", allow_module_level=True)
if importlib.util.find_spec("pyspark") is None:
    pytest.skip("pyspark missing: pip install 'crm-models[spark]'", allow_module_level=True)

SPARK = EngineSettings("spark")


@pytest.fixture(scope="module", params=["cdnow", "demo"])
def pair(request):
    ds = load_dataset(request.param, n_customers=3000 if request.param == "demo" else None)
    return ds, as_source(ds, SPARK)


def test_customer_view(pair):
    check_customer_view(*pair)


def test_rfm_scores(pair):
    check_rfm(*pair)


def test_cohorts_and_period_series(pair):
    check_cohorts(*pair, freqs=("M",))
    check_period_series(*pair, freqs=("M", "W-SUN"))


def test_summary_counts(pair):
    check_summary(*pair)


def test_purchase_days(pair):
    check_purchase_days(*pair)


def test_basket_counts():
    ds = load_dataset("demo", n_customers=3000)
    check_baskets(ds, as_source(ds, SPARK), min_count=5)


def test_partitioned_parquet_read_by_spark(tmp_path):
    """Spark reads the simulator's Parquet parts (microsecond timestamps) directly."""
    from crm_models.data.simulate_parquet import write_partitioned

    out = tmp_path / "shop"
    write_partitioned(out, 1500, seed=3, chunk_customers=500)
    check_customer_view(load_dataset(out), open_folder(out, SPARK, "spark"))

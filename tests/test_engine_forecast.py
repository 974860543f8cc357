"""`forecast` on an engine gives the pandas numbers without reading the lines into pandas.

The period series (whole business and per level of ``--by``), the campaign calendar and the
bottom-up model's per-customer sums come from engine aggregates; here they are compared with the
in-memory path on DuckDB, PostgreSQL (when a server is available) and Spark local (slow), and
the whole ``forecast --json`` output on ``demo`` and ``cdnow_sample``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from engine_checks import assert_same_json

from crm_models import features
from crm_models.cli import main
from crm_models.data.loading import load_dataset
from crm_models.data.simulate_parquet import write_partitioned
from crm_models.engine import (
    EngineSettings,
    Source,
    aggregates,
    as_source,
    open_database,
    open_folder,
)
from crm_models.engine.aggregates.customers import _by_customer_and_day
from crm_models.forecast import forecast_sales, sales_series, segment_forecasts
from crm_models.forecast.bottom_up import _buyer_sums, _purchase_days
from crm_models.forecast.regressors import campaign_calendar

DUCKDB = EngineSettings("duckdb")
# Period sums differ in the last bits between engines (another summation order, 1e-14
# relative); the SARIMAX likelihood optimiser turns that into differences of about 1e-3 in its
# fitted values and backtest scores, so model outputs are compared to 1e-2 relative, the
# series themselves to 1e-9.
RTOL = 1e-2
QUICK = ["--quick", "--horizon", "2", "--backtest-windows", "2"]


def check_forecast_inputs(ds, src: Source) -> None:
    """Every input the forecast reads from the lines is the same frame on the engine."""
    levels = [c for c in ("channel", "category") if c in ds.transactions.columns]
    for measure in ("revenue", "orders", "customers"):
        for by in [None, *levels]:
            a, b = sales_series(ds, measure, "M", by=by), sales_series(src, measure, "M", by=by)
            assert list(a.values.columns) == list(b.values.columns), (measure, by)
            assert a.values.index.equals(b.values.index)
            np.testing.assert_allclose(b.values, a.values, rtol=1e-9, err_msg=f"{measure} {by}")
            assert a.partial.equals(b.partial)
    if "age_band" in (ds.customers.columns if ds.customers is not None else []):
        a, b = sales_series(ds, by="age_band"), sales_series(src, by="age_band")
        np.testing.assert_allclose(b.values, a.values, rtol=1e-9)
    periods = sales_series(ds, freq="W").values.index
    a, b = campaign_calendar(ds, periods), campaign_calendar(src, periods)
    assert (a is None) == (b is None)
    if a is not None:
        pd.testing.assert_series_equal(b, a)
    cutoff = periods[-2].end_time.normalize()
    since = cutoff - pd.Timedelta(days=365)
    (sa, na), (sb, nb) = _buyer_sums(ds, cutoff, since), _buyer_sums(src, cutoff, since)
    assert na == nb and sa.index.equals(sb.index)
    for col in ("first_day", "last_day", "n_days"):
        assert (sa[col].to_numpy() == sb[col].to_numpy()).all(), col
    np.testing.assert_allclose(sb[["total", "first_amount"]], sa[["total", "first_amount"]])
    # the purchase days every origin cuts: built once per source, the customers as numbers
    customers, rows = _purchase_days(ds)
    got_customers, got = aggregates.purchase_day_codes(src, features.resolve_as_of(ds, None))
    assert got_customers.equals(customers)
    for col in ("customer", "day"):
        assert (got[col].to_numpy() == rows[col].to_numpy()).all(), col
    np.testing.assert_allclose(got["value"], rows["value"], rtol=1e-12)
    assert _purchase_days(src)[1] is _purchase_days(src)[1]


def test_purchase_day_codes_sort_the_customers_as_pandas_does_whatever_the_engine_collation():
    """PostgreSQL sorts text by its locale ('b' before 'B', accents ignored); the customer
    numbers must follow pandas' order of the ids all the same."""
    import pyarrow as pa

    ids = pa.array(["b", "B", "é", "a", "b", "B", "a"])
    day = np.array([3, 1, 2, 5, 1, 2, 4], dtype=np.int32)
    value = np.arange(7, dtype=float)
    got_ids, got_day, got_value = _by_customer_and_day(ids, day, value)
    assert got_ids.to_pylist() == ["B", "B", "a", "a", "b", "b", "é"]
    assert got_day.tolist() == [1, 2, 4, 5, 1, 3, 2]
    assert got_value.tolist() == [1.0, 5.0, 6.0, 3.0, 4.0, 0.0, 2.0]
    assert got_ids.to_pylist() == sorted(ids.to_pylist())


def _forecast_json(capsys, *argv: str) -> dict:
    assert main(["forecast", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "dataset, extra",
    [
        ("demo", []),
        pytest.param("demo", ["--by", "channel"], marks=pytest.mark.slow),  # 30 s
        ("cdnow_sample", []),
    ],
    ids=["demo", "demo-by-channel", "cdnow_sample"],
)
def test_cli_forecast_is_the_same_on_pandas_and_duckdb(capsys, dataset, extra):
    pandas = _forecast_json(capsys, dataset, "--engine", "pandas", *QUICK, *extra)
    duck = _forecast_json(capsys, dataset, "--engine", "duckdb", *QUICK, *extra)
    assert pandas["model"] == duck["model"] and pandas["forecast"]
    assert_same_json(pandas, duck, RTOL, ("notes",))


@pytest.mark.parametrize("name", ["demo", "cdnow_sample"])
def test_forecast_inputs_are_the_same_on_duckdb(name):
    ds = load_dataset(name)
    check_forecast_inputs(ds, as_source(ds, DUCKDB))


def test_forecast_inputs_are_the_same_in_postgres(pg_demo):
    check_forecast_inputs(load_dataset("demo"), open_database(pg_demo))


def test_a_segment_series_on_an_engine_asks_for_pandas():
    ds = load_dataset("cdnow_sample")
    segment = pd.Series("a", index=ds.transactions["customer_id"].unique(), name="segment")
    with pytest.raises(ValueError, match="--engine pandas"):
        sales_series(as_source(ds, DUCKDB), by=segment)
    with pytest.raises(ValueError, match="no 'nope' column"):
        sales_series(as_source(ds, DUCKDB), by="nope")


def test_duckdb_forecast_never_reads_the_lines_into_pandas(tmp_path, engine_result_rows):
    """Out of core, every result the engine hands to pandas is an aggregate: at most one row
    per customer (the bottom-up model's sums), never the lines."""
    folder = tmp_path / "shop"
    write_partitioned(folder, 2000, seed=5, chunk_customers=1000)
    src = open_folder(folder, DUCKDB, "duckdb")
    lines = int(src.execute(src.table("transactions").count()))
    customers = int(src.execute(src.table("transactions").customer_id.nunique()))
    assert customers * 3 < lines
    rows = engine_result_rows
    result = forecast_sales(src, quick=True, horizon=2, windows=2)
    table = segment_forecasts(src, "channel", quick=True, horizon=2, windows=2)
    assert result.bottom_up is not None and len(table) >= 2
    assert rows and max(rows) <= customers < lines


@pytest.mark.slow
def test_forecast_is_the_same_on_spark():
    if shutil.which("java") is None or importlib.util.find_spec("pyspark") is None:
        pytest.skip("Spark needs Java and pyspark (pip install 'crm-models[spark]')")
    ds = load_dataset("demo", n_customers=3000)
    src = as_source(ds, EngineSettings("spark"))
    check_forecast_inputs(ds, src)
    kw = dict(quick=True, horizon=2, windows=2)
    assert_same_json(
        forecast_sales(ds, **kw).to_dict(), forecast_sales(src, **kw).to_dict(), RTOL, ("notes",)
    )
    a, b = segment_forecasts(ds, "channel", **kw), segment_forecasts(src, "channel", **kw)
    assert list(a.index) == list(b.index) and list(a["model"]) == list(b["model"])
    np.testing.assert_allclose(b["next_period"], a["next_period"], rtol=RTOL)

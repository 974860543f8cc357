"""``clv fit`` on an engine: the calibration/holdout summary is summed by DuckDB (or Spark) and
only the per-customer summary reaches pandas; the fit, its checks and intervals are the same.

Tolerances: counts (customers, actual holdout purchases) and texts exactly; every other number
(parameters, standard errors, log-likelihood, predicted totals, intervals, goodness of fit) to
1e-6 relative, 1e-9 absolute (money sums may be added in another order by an engine).
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from engine_checks import assert_same_json

from crm_models.cli import main
from crm_models.data.dataset import UnsupportedData
from crm_models.data.loading import load_dataset
from crm_models.engine import EngineSettings, as_source, open_folder
from crm_models.value import calibration_holdout, default_calibration_end, fit_and_validate

DUCKDB = EngineSettings("duckdb")
EXACT = ("customers", "holdout_actual_total", "calibration_end", "holdout_end", "model")


def clv_fit(capsys, *args: str) -> dict:
    """``crm-models clv fit ARGS --json`` through the CLI's entry point."""
    assert main(["clv", "fit", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_same_fit(expected: dict, got: dict) -> None:
    for key in EXACT:
        assert got[key] == expected[key], key
    assert_same_json(expected, got, rel=1e-6)


@pytest.mark.parametrize("name", ["cdnow_sample", "demo"])
def test_clv_fit_json_is_the_same_on_duckdb(capsys, name):
    pandas = clv_fit(capsys, name, "--engine", "pandas")
    duckdb = clv_fit(capsys, name, "--engine", "duckdb")
    assert pandas["holdout_actual_total"] > 0 and pandas["holdout_predicted_interval_95"]
    assert_same_fit(pandas, duckdb)


def test_clv_fit_on_a_folder_read_out_of_core_is_the_same(capsys, folder):
    pandas = clv_fit(capsys, str(folder), "--engine", "pandas", "--model", "pareto_nbd")
    duckdb = clv_fit(capsys, str(folder), "--engine", "duckdb", "--model", "pareto_nbd")
    assert_same_fit(pandas, duckdb)


def test_summary_columns_equal_on_both_paths():
    ds = load_dataset("cdnow_sample")
    expected = calibration_holdout(ds, time_unit="D", engine="pandas")
    got = calibration_holdout(as_source(ds, DUCKDB), time_unit="D")
    assert list(got.columns) == list(expected.columns)
    assert got.attrs == expected.attrs
    assert got.index.equals(expected.index)
    for col in expected.columns:
        assert got[col].dtype == expected[col].dtype, col
    pd.testing.assert_frame_equal(got, expected, rtol=1e-9)
    assert default_calibration_end(as_source(ds, DUCKDB)) == default_calibration_end(ds)


def test_duckdb_path_never_brings_the_lines_into_pandas(folder):
    """Every result the Source hands to pandas (its ``frame`` and ``execute``) has at most one
    row per customer and no line columns."""
    src = open_folder(folder, DUCKDB, "duckdb")
    lines = int(src.execute(src.tables["transactions"].count()))
    customers = int(src.execute(src.tables["transactions"].customer_id.nunique()))
    assert lines > 2 * customers
    seen: list[tuple[int, list[str]]] = []

    def record(method):
        def wrapped(expr):
            out = method(expr)
            frame = out if isinstance(out, pd.DataFrame) else pd.DataFrame({"value": [out]})
            seen.append((len(frame), list(frame.columns)))
            return out

        return wrapped

    src.frame, src.execute = record(src.frame), record(src.execute)
    result = fit_and_validate(src)
    assert seen, "the engine was not asked for anything"
    assert max(rows for rows, _ in seen) <= customers
    assert not {"order_id", "order_date", "amount"} & {c for _, cols in seen for c in cols}
    assert result.figures["customers"] == len(result.calibration) <= customers


@pytest.mark.parametrize(
    ("calibration_end", "holdout_end", "error", "words"),
    [
        ("1996-12-31", None, ValueError, "no purchases on or before the calibration end"),
        ("1997-01-05", None, UnsupportedData, "repeat"),
        (None, "1997-01-20", UnsupportedData, "too short"),
        ("1998-06-30", "1998-06-30", ValueError, "must be before holdout end"),
    ],
)
def test_the_same_clear_errors_on_duckdb(calibration_end, holdout_end, error, words):
    ds = load_dataset("cdnow_sample")
    messages = []
    for data in (ds, as_source(ds, DUCKDB)):
        with pytest.raises(error, match=words) as info:
            calibration_holdout(data, calibration_end, holdout_end, engine="pandas")
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (java not on PATH)")
@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None,
    reason="pyspark missing: pip install 'crm-models[spark]'",
)
def test_clv_fit_json_is_the_same_on_spark(capsys):
    pandas = clv_fit(capsys, "cdnow_sample", "--engine", "pandas")
    spark = clv_fit(capsys, "cdnow_sample", "--engine", "spark")
    assert np.isfinite(spark["log_likelihood"])
    assert_same_fit(pandas, spark)

"""``segment`` on an engine: the customer view is summed by DuckDB (or Spark), read out of core
from a folder of Parquet files, and the segments' ``--json`` equals the pandas path's.

Tolerances as in ``tests/engine_checks.py``: counts and labels exactly, revenue shares (rounded
to six places by the verb) to 1e-6 relative.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from engine_checks import assert_same_json

from crm_models.cli import main


def segment(capsys, *args: str) -> dict:
    assert main(["segment", *args, "--quick", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["cdnow_sample", "demo"])
def test_segment_json_is_the_same_on_duckdb(capsys, name):
    pandas = segment(capsys, name, "--engine", "pandas")
    duckdb = segment(capsys, name, "--engine", "duckdb")
    assert sum(s["customers"] for s in pandas["rfm_segments"].values()) > 1000
    assert_same_json(pandas, duckdb, rel=1e-6)


def test_segment_on_a_folder_read_out_of_core_is_the_same(capsys, folder):
    pandas = segment(capsys, str(folder), "--engine", "pandas")
    duckdb = segment(capsys, str(folder), "--engine", "duckdb")
    assert_same_json(pandas, duckdb, rel=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None,
    reason="pyspark missing: pip install 'crm-models[spark]'",
)
def test_segment_json_is_the_same_on_spark(capsys):
    pandas = segment(capsys, "cdnow_sample", "--engine", "pandas")
    spark = segment(capsys, "cdnow_sample", "--engine", "spark")
    assert_same_json(pandas, spark, rel=1e-6)

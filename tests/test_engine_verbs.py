"""``segment`` and ``basket`` on an engine: the customer view is summed and the baskets are
collected by DuckDB (or Spark), read out of core from a folder of Parquet files, and each
verb's ``--json`` equals the pandas path's.

Tolerances as in ``tests/engine_checks.py``: counts and labels exactly, revenue shares (rounded
to six places by the verb) to 1e-6 relative; rules are counted on the same baskets, so their
figures are equal.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from engine_checks import assert_same_json

from crm_models.cli import main


def spark(test):
    """A test on Spark local: slow, and skipped where pyspark is missing."""
    missing = importlib.util.find_spec("pyspark") is None
    skip = pytest.mark.skipif(missing, reason="pyspark missing: pip install 'crm-models[spark]'")
    return pytest.mark.slow(skip(test))


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


@spark
def test_segment_json_is_the_same_on_spark(capsys):
    pandas = segment(capsys, "cdnow_sample", "--engine", "pandas")
    spark = segment(capsys, "cdnow_sample", "--engine", "spark")
    assert_same_json(pandas, spark, rel=1e-6)


def basket(capsys, *args: str) -> dict:
    assert main(["basket", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("level", ["product", "category"])
def test_basket_json_is_the_same_on_duckdb(capsys, level):
    args = ("demo", "--level", level, "--min-confidence", "0.1")
    pandas = basket(capsys, *args, "--engine", "pandas")
    duckdb = basket(capsys, *args, "--engine", "duckdb")
    assert pandas["baskets"] > 90_000 and pandas["rules"] > 0
    assert_same_json(pandas, duckdb, rel=1e-12)


def test_basket_on_a_folder_read_out_of_core_is_the_same(capsys, folder):
    args = (str(folder), "--min-support", "0.001", "--min-confidence", "0.1")
    pandas = basket(capsys, *args, "--engine", "pandas")
    duckdb = basket(capsys, *args, "--engine", "duckdb")
    assert pandas["rules"] > 0
    assert_same_json(pandas, duckdb, rel=1e-12)


def test_a_basket_file_on_an_engine_is_mined_as_in_memory(capsys, tmp_path):
    path = tmp_path / "baskets.csv"
    path.write_text("milk,bread\nbread,butter,milk\nmilk,bread\nbutter\n")
    args = (str(path), "--min-support", "0.5", "--min-confidence", "0.5")
    pandas = basket(capsys, *args, "--engine", "pandas")
    assert (pandas["baskets"], pandas["items"]) == (4, 3) and pandas["rules"] > 0
    assert_same_json(pandas, basket(capsys, *args, "--engine", "duckdb"), rel=1e-12)


def test_basket_on_an_engine_fails_as_in_memory_without_products(capsys):
    assert main(["basket", "cdnow_sample", "--engine", "duckdb"]) == 1
    assert "no product_id column" in capsys.readouterr().err


@spark
def test_basket_json_is_the_same_on_spark(capsys):
    pandas = basket(capsys, "demo", "--engine", "pandas")
    spark = basket(capsys, "demo", "--engine", "spark")
    assert_same_json(pandas, spark, rel=1e-12)

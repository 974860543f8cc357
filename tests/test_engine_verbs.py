"""``segment``, ``basket``, ``uplift`` and ``target`` on an engine: the customer views are
summed and the baskets are collected by DuckDB (or Spark), read out of core from a folder of
Parquet files, and each verb's ``--json`` equals the pandas path's.

Tolerances as in ``tests/engine_checks.py``: counts and labels exactly, revenue shares (rounded
to six places by the verb) to 1e-6 relative; rules are counted on the same baskets, so their
figures are equal; the uplift models are fitted on the same inputs (rounded to 10 significant
digits), so they are the same models, and money summed in another order agrees to 1e-9.
"""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
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


def uplift(capsys, *args: str) -> dict:
    assert main(["uplift", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


SAMPLED = ("--max-fit-rows", "5000")  # the sample's features: views of its customers only


def test_uplift_json_is_the_same_on_duckdb(capsys):
    args = ("demo", *SAMPLED, "--repeats", "1")
    pandas = uplift(capsys, *args, "--engine", "pandas")
    assert pandas["fit_sample"]["of"] > 20_000 and len(pandas["arms"]) == 4
    assert_same_json(pandas, uplift(capsys, *args, "--engine", "duckdb"), rel=1e-9)


def same_contact_lists(capsys, tmp_path, dataset: str, *args: str) -> dict:
    """``target`` on pandas and DuckDB: the same --json and the same list; the pandas --json."""
    outputs = {}
    for engine in ("pandas", "duckdb"):
        out = tmp_path / f"{engine}.csv"
        assert (
            main(["target", dataset, *args, "--out", str(out), "--engine", engine, "--json"]) == 0
        )
        outputs[engine] = json.loads(capsys.readouterr().out)
        assert outputs[engine].pop("out") == str(out)
    assert_same_json(outputs["pandas"], outputs["duckdb"], rel=1e-9)
    lists = [pd.read_csv(tmp_path / f"{engine}.csv") for engine in outputs]
    pd.testing.assert_frame_equal(*lists, rtol=1e-9)
    return outputs["pandas"]


def test_target_json_and_list_are_the_same_on_duckdb(capsys, tmp_path):
    summary = same_contact_lists(capsys, tmp_path, "demo", "--budget", "500", *SAMPLED)
    assert summary["contacts"] == 500 and summary["fit_sample"]["rows"] < 6000


def test_target_on_a_folder_read_out_of_core_is_the_same(capsys, tmp_path, folder):
    # the lifetime-value term's value model is chosen on purchase days the engine summed
    summary = same_contact_lists(capsys, tmp_path, str(folder), "--budget", "200")
    assert summary["contacts"] == 200 and "Gamma-Gamma" in summary["clv_term"]


def clv_auto(capsys, *args: str) -> dict:
    assert main(["clv", "fit", *args, "--model", "auto", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["demo", "folder"])
def test_the_value_model_choice_is_the_same_out_of_core(capsys, request, name):
    """``clv fit --model auto``: the models compared on the purchase days the engine summed
    give the in-memory path's comparison and choice."""
    dataset = "demo" if name == "demo" else str(request.getfixturevalue("folder"))
    pandas = clv_auto(capsys, dataset, "--engine", "pandas")
    assert set(pandas["inner_comparison"]) == {"bgnbd", "pareto_nbd", "naive", "stacked"}
    assert_same_json(pandas, clv_auto(capsys, dataset, "--engine", "duckdb"), rel=1e-9)


def test_real_data_gives_the_same_answers_on_duckdb(capsys, tmp_path, shared_data):
    """Online Retail (returns, cancellations, anonymous lines) mined for baskets, and the
    Hillstrom e-mail test (its contacts and customers from the source) targeted, on both paths."""
    retail = shared_data / "online_retail" / "online_retail.csv"
    hillstrom = shared_data / "hillstrom" / "hillstrom.csv"
    for path in (retail, hillstrom):
        if not path.exists():
            pytest.skip(f"{path} not found")
    pandas = basket(capsys, str(retail), "--engine", "pandas")
    assert pandas["baskets"] > 15_000 and pandas["rules"] > 0
    assert_same_json(pandas, basket(capsys, str(retail), "--engine", "duckdb"), rel=1e-12)
    summary = same_contact_lists(capsys, tmp_path, str(hillstrom), "--budget", "2000")
    assert summary["contacts"] == 2000


@spark
@pytest.mark.parametrize(
    ("run", "args", "rel"),
    [
        (segment, ("cdnow_sample",), 1e-6),
        (basket, ("demo",), 1e-12),
        (uplift, ("demo", *SAMPLED, "--repeats", "1"), 1e-9),
    ],
    ids=["segment", "basket", "uplift"],
)
def test_json_is_the_same_on_spark(capsys, run, args, rel):
    pandas = run(capsys, *args, "--engine", "pandas")
    assert_same_json(pandas, run(capsys, *args, "--engine", "spark"), rel=rel)


@pytest.mark.parametrize("verb", [("target", "--budget", "10"), ("uplift",), ("basket",)])
def test_bad_data_read_out_of_core_is_refused_as_on_load(
    capsys, tmp_path, orphan_contacts_folder, verb
):
    """Out of core the engine checks the contract before any analysis: a campaigns file with
    contacts of no customer ends in exit 2 naming file, column and rows, and nothing written."""
    out = tmp_path / "list.csv"
    extra = ("--out", str(out)) if verb[0] == "target" else ()
    assert main([*verb, str(orphan_contacts_folder), *extra, "--engine", "duckdb"]) == 2
    err = capsys.readouterr().err
    assert "campaigns" in err and "customer_id" in err and "(7 rows)" in err
    assert not out.exists()

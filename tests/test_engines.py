"""The DuckDB engine and out-of-core folders give the same numbers as the pandas path.

Issue 9: the aggregations (customer view, RFM, cohorts, period series, basket counts, summary
and validation counts) are written once as ibis expressions; here every one of them is compared
column by column with the NumPy/pandas path on CDNOW (real data) and ``demo``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from engine_checks import (
    assert_same_frame,
    check_baskets,
    check_cohorts,
    check_customer_view,
    check_period_series,
    check_purchase_days,
    check_rfm,
    check_summary,
)

from crm_models import features
from crm_models.data.loading import load_dataset
from crm_models.data.simulate_parquet import write_partitioned
from crm_models.engine import (
    AUTO_PANDAS_LINES,
    EngineSettings,
    MissingExtra,
    Source,
    aggregates,
    as_source,
    open_folder,
    open_source,
    require_extra,
)

DUCKDB = EngineSettings("duckdb")


@pytest.fixture(scope="module", params=["cdnow", "demo"])
def pair(request):
    ds = load_dataset(request.param)
    return ds, as_source(ds, DUCKDB)


def test_customer_view(pair):
    check_customer_view(*pair)


def test_rfm_scores(pair):
    check_rfm(*pair)


def test_cohort_counts(pair):
    check_cohorts(*pair, freqs=("M", "W", "Q"))


def test_period_series(pair):
    check_period_series(*pair)


def test_summary_counts(pair):
    check_summary(*pair)


def test_purchase_days(pair):
    check_purchase_days(*pair)


def test_basket_counts():
    ds = load_dataset("demo")
    check_baskets(ds, as_source(ds, DUCKDB))


def test_auto_picks_pandas_for_small_data_and_the_named_engine_otherwise():
    ds = load_dataset("cdnow_sample")
    assert len(ds.transactions) < AUTO_PANDAS_LINES and as_source(ds, "auto") is None
    assert as_source(ds, "pandas") is None
    assert isinstance(as_source(ds, "duckdb"), Source)
    with pytest.raises(ValueError, match="unknown engine"):
        EngineSettings("oracle")


def test_missing_extra_names_the_pip_command():
    with pytest.raises(MissingExtra, match=r"pip install 'crm-models\[spark\]'"):
        require_extra("crm_models_no_such_module", "spark")


# --- out-of-core folders -------------------------------------------------------------------
@pytest.fixture(scope="module")
def parquet_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("partitioned") / "shop"
    write_partitioned(out, 3000, seed=7, chunk_customers=1000)
    return out


def test_folder_read_out_of_core_equals_the_loaded_dataset(parquet_folder):
    ds = load_dataset(parquet_folder)
    src = open_folder(parquet_folder, DUCKDB, "duckdb")
    assert len(src.tables["transactions"].execute()) == len(ds.transactions)
    check_customer_view(ds, src)
    check_cohorts(ds, src, freqs=("M",))
    check_period_series(ds, src, freqs=("M",))
    check_summary(ds, src)
    assert aggregates.validation_problems(src) == []
    # personal identifiers never leave the files
    assert not {"name", "email", "phone"} & set(features.customer_view(src).columns)


def test_auto_reads_large_folders_out_of_core(parquet_folder, monkeypatch):
    assert open_source(parquet_folder) is None  # small: loaded with the full contract checks
    monkeypatch.setattr("crm_models.engine.sources.AUTO_FILE_BYTES", 1)
    assert open_source(parquet_folder).engine == "duckdb"


def _bad_folder(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    rows = [
        "customer_id,order_id,order_date,amount",
        "1,A,2024-01-05,10.0",
        "2,B,2024-13-45,12.5",  # impossible date
        "3,C,2024-02-01,twelve",  # not a number
        ",D,2024-02-03,4.0",  # no customer: allowed (anonymous), counted in the summary
        "4,,2024-02-03,4.0",  # no order id
        "1,A,2024-01-05,10.0",  # exact duplicate
    ]
    (folder / "transactions.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_validation_counts_every_problem_in_the_engine(tmp_path):
    src = open_folder(_bad_folder(tmp_path), DUCKDB, "duckdb")
    problems = {(p.column, p.issue): p for p in aggregates.validation_problems(src)}
    assert problems[("order_date", "unparseable date")].rows == 1
    assert "2024-13-45" in problems[("order_date", "unparseable date")].examples[0]
    assert problems[("amount", "not a number")].rows == 1
    assert problems[("order_id", "missing value")].rows == 1
    dup = [p for p in problems.values() if p.issue.startswith("duplicate lines")]
    assert dup and dup[0].rows == 1
    assert all(p.file == "transactions.csv" for p in problems.values())


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "crm_models.cli", *args], capture_output=True, text=True
    )


def test_cli_validate_out_of_core_lists_the_problems_and_fails(tmp_path):
    proc = _cli("data", "validate", str(_bad_folder(tmp_path)), "--engine", "duckdb")
    assert proc.returncode == 2
    assert "transactions.csv, column 'amount': not a number (1 rows)" in proc.stderr
    assert "unparseable date" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_view_is_the_same_on_every_engine(parquet_folder, tmp_path):
    views = {}
    for engine in ("pandas", "duckdb"):
        out = tmp_path / f"{engine}.parquet"
        proc = _cli("view", str(parquet_folder), "--engine", engine, "--out", str(out), "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["customers"] == 3000
        views[engine] = pd.read_parquet(out)
    assert_same_frame(views["pandas"], views["duckdb"])
    proc = _cli("data", "summary", str(parquet_folder), "--engine", "duckdb", "--json")
    assert json.loads(proc.stdout)["engine"] == "duckdb"


def test_each_result_hands_duckdb_memory_back_and_keeps_its_limit(parquet_folder):
    # release_duckdb_memory re-applies the memory limit after every result (10M customers:
    # 1.05 GB handed back); the limit the user set must stay what it was
    src = open_folder(parquet_folder, EngineSettings("duckdb", "300MB"), "duckdb")
    limit = "SELECT current_setting('memory_limit')"
    before = src.con.con.execute(limit).fetchall()[0]
    first = features.customer_view(src)
    assert src.con.con.execute(limit).fetchall()[0] == before
    assert before[0].startswith("286")  # 300 MB shown in MiB
    assert_same_frame(features.customer_view(src), first)

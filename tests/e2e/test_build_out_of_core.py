"""``reports build --engine duckdb|spark`` on a folder of files reads it out of core: the build
loads nothing and writes no snapshot of the lines, it checks the contract in the engine, and
each kernel opens the same files on the engine.  Every report is published with the same
metrics as the pandas build of the same folder (counts exactly, money and shares to 1e-6
relative)."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from crm_models.cli import main


def _manifest(tmp_path, folder, engine: str, *extra: str) -> dict:
    out = tmp_path / engine
    args = ["reports", "build", "--dataset", str(folder), "--out", str(out), "--engine", engine]
    assert main([*args, *extra]) == 0
    return json.loads((out / folder.name / "manifest.json").read_text())


def _assert_same_reports(expected: dict, got: dict, reports: int) -> None:
    """The same reports, all published, every metric equal."""
    # the out-of-core build keys its shared results by the files it read, not a content hash
    assert got["fingerprint"].startswith("files:")
    assert not expected["fingerprint"].startswith("files:")
    assert got["tables"] == expected["tables"]
    want = {r["slug"]: r for r in expected["reports"]}
    have = {r["slug"]: r for r in got["reports"]}
    assert sorted(have) == sorted(want) and len(want) == reports
    assert {r["status"] for r in want.values()} == {"ok"}
    compared = 0
    for slug, report in want.items():
        assert have[slug]["status"] == "ok", (slug, have[slug]["reason"])
        assert sorted(have[slug]["metrics"]) == sorted(report["metrics"]), slug
        for key, value in report["metrics"].items():
            other = have[slug]["metrics"][key]
            assert math.isclose(other, value, rel_tol=1e-6, abs_tol=1e-9), (slug, key, value)
            compared += 1
    assert compared > 15 * reports


@pytest.mark.slow
def test_an_out_of_core_build_publishes_the_same_reports(tmp_path, folder, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    pandas = _manifest(tmp_path, folder, "pandas")
    duckdb = _manifest(tmp_path, folder, "duckdb", "--memory-limit", "1GB")
    _assert_same_reports(pandas, duckdb, reports=6)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None,
    reason="pyspark missing: pip install 'crm-models[spark]'",
)
def test_an_out_of_core_build_on_spark_publishes_the_same_reports(tmp_path, folder, monkeypatch):
    """Two reports (each kernel starts its own local Spark: about 40 s each): the customer base
    counts the shared tables, the forecast reads them back."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    only = ("--only", "customer_base", "--only", "forecast")
    pandas = _manifest(tmp_path, folder, "pandas", *only)
    spark = _manifest(tmp_path, folder, "spark", "--spark-master", "local[2]", *only)
    _assert_same_reports(pandas, spark, reports=2)


def test_bad_data_fails_an_out_of_core_build_before_any_report(
    tmp_path, orphan_contacts_folder, capsys
):
    """The engine checks the contract in the build itself: a campaigns file with contacts of
    no customer fails the dataset (file, column, rows named), no kernel runs, nothing is
    published."""
    out = tmp_path / "reports"
    bad = str(orphan_contacts_folder)
    args = ["reports", "build", "--dataset", bad, "--out", str(out), "--engine", "duckdb"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "could not load" in err and "campaigns" in err and "customer_id" in err
    assert "(7 rows)" in err
    assert not (out / "shop").exists()

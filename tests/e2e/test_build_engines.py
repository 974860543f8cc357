"""``reports build --engine duckdb|spark`` publishes the same report as pandas: the kernels
aggregate through the engine and every metric the report logs is equal (counts exactly, money
and shares to 1e-6 relative)."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from crm_models.cli import main


def _metrics(tmp_path, engine: str, *extra: str) -> dict[str, float]:
    out = tmp_path / engine
    args = ["reports", "build", "--dataset", "cdnow_sample", "--only", "customer_base"]
    assert main([*args, "--out", str(out), "--engine", engine, *extra]) == 0
    manifest = json.loads((out / "cdnow_sample" / "manifest.json").read_text())
    (report,) = [r for r in manifest["reports"] if r["slug"] == "customer_base"]
    assert report["status"] == "ok"
    return report["metrics"]


def _assert_same(expected: dict[str, float], got: dict[str, float]) -> None:
    assert sorted(got) == sorted(expected)
    assert expected["customers"] == 2357  # CDNOW sample: 2,357 customers (lifetimes' docs)
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=1e-6, abs_tol=1e-9), (key, value, got[key])


@pytest.mark.slow
def test_a_duckdb_build_publishes_the_same_report(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    pandas = _metrics(tmp_path, "pandas")
    _assert_same(pandas, _metrics(tmp_path, "duckdb", "--memory-limit", "1GB"))


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None,
    reason="pyspark missing: pip install 'crm-models[spark]'",
)
def test_a_spark_build_publishes_the_same_report(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    pandas = _metrics(tmp_path, "pandas")
    _assert_same(pandas, _metrics(tmp_path, "spark", "--spark-master", "local[2]"))

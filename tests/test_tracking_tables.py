"""The tables of a report run in MLflow: small ones as CSV, large ones gzip-compressed (a
10M-customer cross-sell list is 3 GB of CSV, copied into the store by every build)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from crm_models.reporting import tracking
from crm_models.reporting.tracking import ReportRun


def test_large_tables_are_logged_compressed_and_read_back_the_same(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("CRM_MODELS_TRACKING", raising=False)
    monkeypatch.setattr(tracking, "LARGE_TABLE_BYTES", 10_000)
    rng = np.random.default_rng(1)
    big = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(2_000), 5),
            "rank": np.tile(np.arange(1, 6), 2_000),
            "score": rng.random(10_000).round(6),
        }
    )
    small = pd.DataFrame({"segment": ["a", "b"], "customers": [3, 4]})
    run = ReportRun("baskets", "shop", output_dir=tmp_path / "r")
    big_csv, small_csv = run.table("cross_sell_list", big), run.table("sizes", small)
    assert big_csv.stat().st_size > 10_000 > small_csv.stat().st_size
    run_id = run.finish()

    client = MlflowClient(uri)
    logged = {a.path for a in client.list_artifacts(run_id, "tables")}
    assert logged == {"tables/cross_sell_list.csv.gz", "tables/sizes.csv"}
    assert client.get_run(run_id).data.tags[tracking.COMPRESSED_TAG] == "cross_sell_list.csv"
    packed = client.download_artifacts(run_id, "tables/cross_sell_list.csv.gz", str(tmp_path))
    assert gzip.open(packed).read() == big_csv.read_bytes()  # the very bytes of the report's CSV
    pd.testing.assert_frame_equal(pd.read_csv(packed), big)
    assert small_csv.exists() and big_csv.exists()  # the report folder keeps both as CSV

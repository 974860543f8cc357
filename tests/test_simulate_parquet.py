"""The simulated retailer written in chunks as partitioned Parquet (``crm-models simulate``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crm_models.cli import main
from crm_models.data.loading import dataset_summary, load_dataset
from crm_models.data.simulate import IdOffset, simulate_retailer
from crm_models.data.simulate_parquet import MANIFEST, chunk_seeds, write_partitioned

N, CHUNK, SEED = 3_000, 1_000, 5
PARTS = [f"part-{k:05d}.parquet" for k in range(3)]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """3,000 customers in three chunks of 1,000."""
    folder = tmp_path_factory.mktemp("sim") / "retailer"
    write_partitioned(folder, N, seed=SEED, chunk_customers=CHUNK)
    return folder


def _part(out: Path, table: str, k: int) -> pd.DataFrame:
    return pd.read_parquet(out / table / PARTS[k])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_files_and_manifest(out):
    for table in ("transactions", "customers", "campaigns", "truth/customers", "truth/uplift"):
        assert sorted(p.name for p in (out / table).iterdir()) == PARTS, table
    for name in ("affinities", "seasonality", "campaigns", "returns", "attribute_effects"):
        assert (out / "truth" / f"{name}.parquet").is_file()
    assert (out / "products.parquet").is_file()
    manifest = json.loads((out / MANIFEST).read_text())
    lines = sum(pq.ParquetFile(out / "transactions" / p).metadata.num_rows for p in PARTS)
    assert manifest["customers"] == N and manifest["chunks"] == 3 and manifest["seed"] == SEED
    assert manifest["lines"] == lines == sum(p["lines"] for p in manifest["parts"])
    assert manifest["simulator_version"] and manifest["start"] == "2023-01-01"
    params = json.loads((out / "truth" / "params.json").read_text())
    assert params["n_customers"] == N and params["chunking"]["lines"] == lines


def test_parts_share_one_schema_with_microsecond_timestamps(out):
    """DuckDB and Spark read a folder as one table only if every part has the same schema;
    Spark 4 cannot read nanosecond timestamps."""
    for table in ("transactions", "customers", "campaigns", "truth/customers", "truth/uplift"):
        schemas = [pq.read_schema(out / table / p).remove_metadata() for p in PARTS]
        assert all(s.equals(schemas[0]) for s in schemas), table
        stamps = [f for f in schemas[0] if pa.types.is_timestamp(f.type)]
        assert all(f.type.unit == "us" for f in stamps), table
    assert pa.types.is_timestamp(pq.read_schema(out / "transactions" / PARTS[0]).field(2).type)


def test_ids_are_unique_across_chunks(out):
    customers = pd.read_parquet(out / "customers")
    assert (customers["customer_id"].to_numpy() == np.arange(1, N + 1)).all()
    order_sets = []
    for k in range(3):
        ids = range(k * CHUNK + 1, (k + 1) * CHUNK + 1)
        for table in ("transactions", "campaigns"):
            assert _part(out, table, k)["customer_id"].between(ids.start, ids.stop - 1).all()
        order_sets.append(set(_part(out, "transactions", k)["order_id"]))
    assert not (order_sets[0] & order_sets[1] or order_sets[0] & order_sets[2])
    assert not order_sets[1] & order_sets[2]
    tx = pd.read_parquet(out / "transactions")
    owners = tx.groupby("order_id")["customer_id"].nunique()
    assert (owners == 1).all()  # an order id is never shared by customers
    manifest = json.loads((out / MANIFEST).read_text())
    assert len(owners) == sum(manifest["orders"].values())
    truth = pd.read_parquet(out / "truth" / "customers")
    assert truth.index.equals(pd.Index(customers["customer_id"], name="customer_id"))
    uplift = pd.read_parquet(out / "truth" / "uplift")
    assert set(uplift["customer_id"]) <= set(customers["customer_id"])


def test_every_chunk_sells_one_catalogue_and_follows_one_campaign_plan(out):
    products = pd.read_parquet(out / "products.parquet").set_index("product_id")
    plan = pd.read_parquet(out / "truth" / "campaigns.parquet")
    for k in range(3):
        tx = _part(out, "transactions", k)
        price = tx["product_id"].map(products["price"])
        np.testing.assert_allclose(tx["amount"], tx["quantity"] * price, rtol=1e-12)
        sent = _part(out, "campaigns", k).groupby("campaign_id")["sent_date"].first()
        assert sent.to_dict() == plan.set_index("campaign_id")["sent_date"].to_dict()


def test_loads_through_the_contract(out):
    ds = load_dataset(out)  # validates: unique keys, known customers and products, types
    manifest = json.loads((out / MANIFEST).read_text())
    assert len(ds.transactions) == manifest["lines"]
    assert len(ds.customers) == N and len(ds.products) == len(
        pd.read_parquet(out / "products.parquet")
    )
    assert len(ds.campaigns) == manifest["campaign_rows"]
    assert "email" not in ds.customers.columns  # personal identifiers still stripped
    summary = dataset_summary(ds)
    # orders per the contract: purchases (organic O, campaign responses K), not returns (R)
    orders = manifest["orders"]
    assert summary["customers"] == N and summary["orders"] == orders["O"] + orders["K"]
    assert summary["return_orders"] == orders["R"]


def test_same_arguments_write_identical_files(out, tmp_path):
    again = write_partitioned(tmp_path / "again", N, seed=SEED, chunk_customers=CHUNK)
    assert again == json.loads((out / MANIFEST).read_text())
    assert _files(tmp_path / "again") == _files(out)
    # a chunk does not depend on how many follow it
    write_partitioned(tmp_path / "fewer", 2 * CHUNK, seed=SEED, chunk_customers=CHUNK)
    for table in ("transactions", "customers", "campaigns"):
        for part in PARTS[:2]:
            assert (tmp_path / "fewer" / table / part).read_bytes() == (
                out / table / part
            ).read_bytes()


def test_chunk_seeds_depend_only_on_position():
    cat, seeds = chunk_seeds(SEED, 3)
    assert chunk_seeds(SEED, 5)[1][:3] == seeds and chunk_seeds(SEED, 5)[0] == cat
    assert len({cat, *seeds}) == 4 and all(0 <= s < 2**63 for s in (cat, *seeds))


def test_id_offset_only_relabels_and_zero_changes_nothing():
    """The default demo is unchanged by the offset machinery; an offset renumbers ids only."""
    base = simulate_retailer(1_500, seed=3)
    zero = simulate_retailer(1_500, seed=3, id_offset=IdOffset(), catalogue_seed=None)
    for table in ("transactions", "customers", "campaigns", "products"):
        pd.testing.assert_frame_equal(getattr(base, table), getattr(zero, table))
    for name, frame in base.truth.items():
        pd.testing.assert_frame_equal(frame, zero.truth[name])

    shifted = simulate_retailer(1_500, seed=3, id_offset=IdOffset(10_000, (5, 70, 900)))
    tx, tx0 = shifted.transactions, base.transactions
    assert (tx["customer_id"] == tx0["customer_id"] + 10_000).all()
    number = tx["order_id"].str[1:].astype(int) - tx0["order_id"].str[1:].astype(int)
    prefix = tx0["order_id"].str[0]
    assert (tx["order_id"].str[0] == prefix).all()
    assert (number == prefix.map({"K": 5, "O": 70, "R": 900})).all()
    rest = [c for c in tx0.columns if c not in ("customer_id", "order_id")]
    pd.testing.assert_frame_equal(tx[rest], tx0[rest])
    assert (shifted.customers["customer_id"] == base.customers["customer_id"] + 10_000).all()
    assert (shifted.campaigns["customer_id"] == base.campaigns["customer_id"] + 10_000).all()
    assert (shifted.truth["customers"].index == base.truth["customers"].index + 10_000).all()
    same = ["signup_date", "age", "region", "opt_in"]
    pd.testing.assert_frame_equal(shifted.customers[same], base.customers[same])


def test_catalogue_seed_gives_one_catalogue_for_different_seeds():
    a = simulate_retailer(300, seed=1, catalogue_seed=99).products
    b = simulate_retailer(300, seed=2, catalogue_seed=99).products
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_retailer(300, seed=1).products)


def _per_customer(tx: pd.DataFrame, cu: pd.DataFrame, ca: pd.DataFrame) -> pd.DataFrame:
    ids = pd.Index(cu["customer_id"])
    buys = tx[tx["quantity"] > 0]
    return pd.DataFrame(
        {
            "lines": tx.groupby("customer_id").size().reindex(ids, fill_value=0),
            "orders": buys.groupby("customer_id")["order_id"].nunique().reindex(ids, fill_value=0),
            "revenue": tx.groupby("customer_id")["amount"].sum().reindex(ids, fill_value=0),
            "contacts": ca.groupby("customer_id").size().reindex(ids, fill_value=0),
            "repeat": buys.groupby("customer_id")["order_id"].nunique().reindex(ids) > 1,
        }
    ).astype(float)


def test_chunked_retailer_is_plausibly_the_same_shop_as_one_simulation(out):
    """Chunks draw from the same process as one simulation: per-customer statistics agree
    within sampling error (|z| < 4 for each)."""
    one = simulate_retailer(N, seed=SEED)
    a = _per_customer(one.transactions, one.customers, one.campaigns)
    b = _per_customer(
        *(pd.read_parquet(out / t) for t in ("transactions", "customers", "campaigns"))
    )
    assert len(a) == len(b) == N
    z = (b.mean() - a.mean()) / np.sqrt(a.var() / N + b.var() / N)
    assert (z.abs() < 4).all(), z
    assert ((b.mean() / a.mean() - 1).abs() < 0.25).all()


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("crm-models")
    return [str(script)] if script.exists() else [shutil.which("crm-models") or "crm-models"]


def test_cli_simulate_json(tmp_path):
    folder = tmp_path / "cli"
    args = ["simulate", "--customers", "1500", "--chunk-customers", "500", "--seed", "2"]
    env = {**os.environ, "CRM_MODELS_QUIET": "1"}
    proc = subprocess.run(
        [*_cli(), *args, "--out", str(folder), "--json"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # quiet: no progress
    result = json.loads(proc.stdout)
    assert result["out"] == str(folder) and result["customers"] == 1500
    assert result["chunks"] == 3 and result["lines"] > 1500
    assert len(list((folder / "transactions").glob("part-*.parquet"))) == 3
    load_dataset(folder)
    # progress is shown when not quiet
    env.pop("CRM_MODELS_QUIET")
    proc = subprocess.run(
        [*_cli(), *args, "--out", str(folder)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0 and "simulating 1,500 customers" in proc.stderr
    assert "lines:" in proc.stdout


def test_refuses_a_folder_it_did_not_write_and_replaces_its_own(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["simulate", "--customers", "50", "--out", str(tmp_path)]) == 1
    assert "not empty" in capsys.readouterr().err and (tmp_path / "mine.txt").exists()
    folder = tmp_path / "sim"
    write_partitioned(folder, 600, seed=1, chunk_customers=200)
    write_partitioned(folder, 300, seed=1, chunk_customers=300)
    assert sorted(p.name for p in (folder / "transactions").iterdir()) == PARTS[:1]
    assert not list(tmp_path.glob(".*tmp"))


def test_a_failed_run_leaves_no_half_written_folder(tmp_path, monkeypatch):
    import crm_models.data.simulate_parquet as sp

    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("chunk too big")
        return simulate_retailer(*args, **kwargs)

    monkeypatch.setattr(sp, "simulate_retailer", failing)
    with pytest.raises(MemoryError):
        write_partitioned(tmp_path / "sim", 400, seed=1, chunk_customers=200)
    assert list(tmp_path.iterdir()) == []


def test_data_simulate_still_writes_a_file_per_table(tmp_path, capsys):
    assert main(["data", "simulate", "--customers", "300", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["customers"] == 300
    for table in ("transactions", "customers", "campaigns", "products"):
        assert (tmp_path / f"{table}.parquet").is_file()
    assert (tmp_path / "truth" / "params.json").is_file()

"""Data you can trust: point-in-time views, warnings, counts that follow the contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crm_models.cli import main
from crm_models.data import load_dataset
from crm_models.data.loading import dataset_summary
from crm_models.engine import EngineSettings, aggregates, open_dataset


def shop(folder, n_customers=60, seed=1, **overrides):
    """A small clean contract folder: transactions over 2024, one campaign with a control."""
    rng = np.random.default_rng(seed)
    n = n_customers * 4
    tx = pd.DataFrame(
        {
            "customer_id": rng.integers(1, n_customers + 1, n),
            "order_id": [f"O{i}" for i in range(n)],
            "order_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 360, n), unit="D"),
            "amount": rng.gamma(2.0, 25.0, n).round(2),
        }
    )
    camp = pd.DataFrame(
        {
            "campaign_id": "K1",
            "customer_id": np.arange(1, n_customers + 1),
            "sent_date": "2024-06-01",
            "channel": "email",
            "treated": np.arange(n_customers) % 2 == 0,
            "responded": np.arange(n_customers) % 3 == 0,
        }
    )
    camp["response_amount"] = np.where(camp["responded"], 20.0, 0.0)
    tables = {"transactions": tx, "campaigns": camp, **overrides}
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


# --- point in time ---------------------------------------------------------------------------


def test_view_as_of_a_past_day_equals_lifetimes_calibration_summary(tmp_path, capsys):
    """`view cdnow_sample --as-of 1997-09-30` (the calibration end of Fader, Hardie & Lee 2005)
    equals lifetimes' summary_data_from_transaction_data with observation_period_end."""
    from lifetimes.utils import summary_data_from_transaction_data

    out = tmp_path / "view.parquet"
    assert (
        main(["view", "cdnow_sample", "--as-of", "1997-09-30", "--unit", "D", "--out", str(out)])
        == 0
    )
    view = pd.read_parquet(out)
    tx = load_dataset("cdnow_sample").transactions
    ref = summary_data_from_transaction_data(
        tx, "customer_id", "order_date", "amount", observation_period_end="1997-09-30", freq="D"
    )
    assert len(view) == len(ref) == 2_357
    view = view.loc[ref.index]
    np.testing.assert_array_equal(view["frequency"], ref["frequency"])
    for col in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(view[col].to_numpy(float), ref[col].to_numpy(float))


def test_as_of_sets_the_default_day_of_every_analysis():
    ds = load_dataset("cdnow_sample", as_of="1997-09-30")
    assert ds.transactions["order_date"].max() <= pd.Timestamp("1997-09-30")
    assert any("set aside" in str(n) for n in ds.cleaning_log)
    from crm_models.features import customer_view

    assert customer_view(ds).attrs["as_of"] == "1997-09-30"


def test_engine_source_as_of_equals_the_in_memory_path(tmp_path):
    folder = shop(tmp_path / "s")
    (folder / "transactions.csv").rename(folder / "t.csv")
    pd.read_csv(folder / "t.csv").to_parquet(folder / "transactions.parquet")
    (folder / "t.csv").unlink()
    settings = EngineSettings("duckdb")
    src = open_dataset(folder, as_of="2024-06-30", settings=settings)
    mem = load_dataset(folder, as_of="2024-06-30")
    assert src.engine == "duckdb" and src.as_of == pd.Timestamp("2024-06-30")
    got = aggregates.source_summary(src)
    want = dataset_summary(mem)
    for key in ("customers", "orders", "revenue", "last_date"):
        assert got[key] == want[key], key
    assert any("set aside" in n for n in src.notes)


# --- warnings --------------------------------------------------------------------------------


def test_clean_data_has_no_warnings(tmp_path):
    assert load_dataset(shop(tmp_path / "s")).warnings == []


@pytest.mark.parametrize(
    "change, column, words",
    [
        (
            lambda tx, c: tx.assign(
                order_date=tx["order_date"].where(tx.index >= 3, pd.Timestamp("1900-01-01"))
            ),
            "order_date",
            "far before the bulk",
        ),
        (
            lambda tx, c: tx.assign(amount=tx["amount"].where(tx.index != 5, 1e9)),
            "amount",
            "extreme",
        ),
        (lambda tx, c: tx.assign(amount=-tx["amount"]), "amount", "only returns"),
        (lambda tx, c: tx.assign(amount=0.0), "amount", "all amounts are zero"),
        (lambda tx, c: tx[tx["customer_id"] <= 5], "customer_id", "too few"),
    ],
    ids=["far_past", "extreme_amount", "only_returns", "all_zero", "few_customers"],
)
def test_suspicious_transactions_warn_and_still_load(tmp_path, capsys, change, column, words):
    folder = shop(tmp_path / "s")
    tx = pd.read_csv(folder / "transactions.csv", parse_dates=["order_date"])
    change(tx, None).to_csv(folder / "transactions.csv", index=False)
    ds = load_dataset(folder)
    found = [w for w in ds.warnings if w.column == column and words in w.issue]
    assert found and found[0].file == "transactions.csv" and found[0].rows > 0, ds.warnings
    assert main(["data", "validate", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["problems"] == []
    assert any(w["column"] == column and words in w["issue"] for w in report["warnings"])
    assert set(report["warnings"][0]) == {"file", "column", "issue", "rows", "examples"}


@pytest.mark.parametrize(
    "treated, responded, words",
    [(True, None, "without a control group"), (None, False, "without any response")],
)
def test_campaign_warnings(tmp_path, treated, responded, words):
    folder = shop(tmp_path / "s")
    camp = pd.read_csv(folder / "campaigns.csv")
    if treated is not None:
        camp["treated"] = treated
    if responded is not None:
        camp["responded"], camp["response_amount"] = responded, 0.0
    camp.to_csv(folder / "campaigns.csv", index=False)
    ds = load_dataset(folder)
    assert [w.rows for w in ds.warnings if words in w.issue] == [60]
    src = open_dataset(folder, settings=EngineSettings("duckdb"))
    assert [w.rows for w in aggregates.source_warnings(src) if words in w.issue] == [60]


def test_warnings_are_printed_once_on_stderr_by_other_verbs(tmp_path, capsys):
    folder = shop(tmp_path / "s")
    tx = pd.read_csv(folder / "transactions.csv")
    tx.loc[5, "amount"] = 1e9
    tx.to_csv(folder / "transactions.csv", index=False)
    assert main(["view", str(folder), "--out", str(tmp_path / "v.csv")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "transactions.csv, column 'amount'" in lines[0]


# --- problems --------------------------------------------------------------------------------


def test_amounts_too_large_to_add_up_are_a_problem(tmp_path, capsys):
    folder = shop(tmp_path / "s")
    tx = pd.read_csv(folder / "transactions.csv")
    tx.loc[[3, 4], "amount"] = 1e308
    tx.to_csv(folder / "transactions.csv", index=False)
    assert main(["data", "validate", str(folder), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    [problem] = report["problems"]
    assert (problem["file"], problem["column"], problem["rows"]) == (
        "transactions.csv",
        "amount",
        2,
    )
    assert "too large" in problem["issue"]


def test_a_column_name_used_twice_is_a_problem(tmp_path, capsys):
    folder = shop(tmp_path / "s")
    text = (folder / "transactions.csv").read_text().splitlines()
    text = [text[0] + ",amount"] + [line + ",1.0" for line in text[1:]]
    (folder / "transactions.csv").write_text("\n".join(text) + "\n")
    assert main(["view", str(folder), "--out", str(tmp_path / "v.csv")]) == 2
    err = capsys.readouterr().err
    assert "transactions.csv, column 'amount': column names used twice" in err


# --- counts follow the contract --------------------------------------------------------------


def test_orders_are_order_ids_with_positive_net_value(tmp_path):
    folder = shop(tmp_path / "s")
    tx = pd.read_csv(folder / "transactions.csv")
    refund = tx.iloc[:3].assign(amount=-tx["amount"].iloc[:3])  # O0..O2 fully refunded
    tx = pd.concat([tx, refund], ignore_index=True)
    tx.to_csv(folder / "transactions.csv", index=False)
    summary = dataset_summary(load_dataset(folder))
    net = tx.groupby("order_id")["amount"].sum()
    assert summary["orders"] == int((net > 1e-9).sum()) == 240 - 3
    src = open_dataset(folder, settings=EngineSettings("duckdb"))
    assert aggregates.source_summary(src)["orders"] == summary["orders"]


def test_online_retail_counts_follow_the_contract(shared_data):
    """Online Retail (Chen, Sain & Guo 2012; UCI id 352): counted independently with pandas
    from the file itself, after the documented cleaning (exact duplicate lines dropped)."""
    path = shared_data / "online_retail" / "online_retail.csv"
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    # lines identical but for the description (which goes to the products table) are duplicates
    raw = raw.drop_duplicates(subset=[c for c in raw.columns if c != "Description"])
    amount = (raw["Quantity"] * raw["UnitPrice"]).round(2)
    net = amount.groupby(raw["InvoiceNo"]).sum()
    summary = dataset_summary(load_dataset(path))
    assert summary["orders"] == int((net > 0).sum()) == 19_960
    assert summary["customers"] == raw["CustomerID"].nunique() == 4_372
    assert summary["revenue"] == pytest.approx(amount.sum(), abs=0.01)
    assert summary["currency"] == "GBP" if "currency" in summary else True


def test_groceries_is_accepted_by_data_summary_and_validate(shared_data, capsys):
    """arules' Groceries: 9,835 baskets over 169 items (Hahsler et al.; summary(Groceries))."""
    path = str(shared_data / "groceries" / "groceries.csv")
    assert main(["data", "summary", path, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["baskets"], summary["items"]) == (9_835, 169)
    assert main(["data", "validate", path]) == 0


def test_a_table_missing_a_column_is_never_mined_as_baskets(shared_data, tmp_path, capsys):
    raw = pd.read_csv(shared_data / "hillstrom" / "hillstrom.csv", nrows=2_000)
    path = tmp_path / "hillstrom_cut.csv"
    raw.drop(columns=["zip_code"]).to_csv(path, index=False)
    assert main(["basket", str(path)]) == 2
    err = capsys.readouterr().err
    assert "hillstrom_cut.csv" in err and "not a recognised file" in err

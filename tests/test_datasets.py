"""Built-in and recognised public datasets load through the contract with their published counts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from crm_models.cli import main
from crm_models.data.dataset import UnsupportedData
from crm_models.data.loading import dataset_summary, is_basket_file, load_dataset


def test_cdnow_master_counts():
    # Counts of CDNOW_master.txt as documented by its distributor (Hardie, brucehardie.com) and
    # re-measured in ../shared/data/cdnow/SOURCE.md: 23,570 customers, 69,659 records,
    # 1997-01-01..1998-06-30, 167,881 CDs, $2,500,315.63.
    ds = load_dataset("cdnow")
    s = dataset_summary(ds)
    assert (s["customers"], s["transactions"]) == (23_570, 69_659)
    assert (s["first_date"], s["last_date"]) == ("1997-01-01", "1998-06-30")
    assert s["revenue"] == pytest.approx(2_500_315.63, abs=0.005)
    assert ds.transactions["quantity"].sum() == 167_881


def test_cdnow_sample_counts():
    # CDNOW sample (Fader, Hardie & Lee 2005): 2,357 customers, 6,919 records, $244,091.94.
    s = dataset_summary(load_dataset("cdnow_sample"))
    assert (s["customers"], s["transactions"]) == (2_357, 6_919)
    assert s["revenue"] == pytest.approx(244_091.94, abs=0.005)


def test_summary_cli_json_keys(capsys):
    assert main(["data", "summary", "cdnow_sample", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "customers",
        "transactions",
        "orders",
        "revenue",
        "first_date",
        "last_date",
        "tables",
    ):
        assert key in out
    assert out["tables"] == {"transactions": 6919}


def test_unknown_dataset_fails_with_one_line(capsys):
    assert main(["data", "summary", "no_such_dataset"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no dataset 'no_such_dataset'")


def test_cdnow_txt_file_is_recognised(shared_data):
    ds = load_dataset(shared_data / "cdnow" / "CDNOW_sample.txt")
    assert ds.name == "cdnow_sample" and ds.transactions["customer_id"].nunique() == 2_357


def test_online_retail(shared_data):
    # Figures from ../shared/data/online_retail/SOURCE.md (UCI Online Retail, Chen et al. 2012):
    # 541,909 rows, 135,080 without CustomerID, 4,372 customers, 25,900 invoices, 9,288
    # cancellation rows; sum of Quantity x UnitPrice 9,747,747.93.
    ds = load_dataset(shared_data / "online_retail" / "online_retail.csv")
    s = dataset_summary(ds)
    dropped = next(n.rows for n in ds.cleaning_log if "duplicate lines dropped" in n.action)
    assert s["transactions"] + dropped == 541_909
    # 25,900 invoice numbers (UCI documentation); an order is an invoice with positive net
    # value (the contract), so 19,960 orders and 3,838 invoices that net to a return
    assert s["customers"] == 4_372 and s["orders"] == 19_960 and s["return_orders"] == 3_838
    assert ds.transactions["order_id"].nunique() == 25_900
    anonymous = next(n.rows for n in ds.cleaning_log if "without a customer" in n.action)
    assert anonymous == 135_080
    raw_total = 9_747_747.93
    assert abs(s["revenue"] - raw_total) < 30_000  # only the dropped duplicates differ
    assert ds.transactions["order_id"].str.startswith("C").sum() <= 9_288
    assert (
        ds.transactions.loc[ds.transactions["order_id"].str.startswith("C"), "amount"] <= 0
    ).all()
    assert ds.products["product_id"].is_unique and set(ds.customers.columns) == {
        "customer_id",
        "region",
    }


def test_hillstrom_is_campaigns_only(shared_data):
    # Group sizes and totals from ../shared/data/hillstrom/SOURCE.md (Hillstrom 2008).
    ds = load_dataset(shared_data / "hillstrom" / "hillstrom.csv")
    assert ds.transactions is None and ds.has("campaigns", "customers")
    c = ds.campaigns
    assert c["arm"].value_counts().to_dict() == {
        "womens_email": 21_387,
        "mens_email": 21_307,
        "control": 21_306,
    }
    assert c["responded"].sum() == 578
    assert c["response_amount"].sum() == pytest.approx(67_258.13, abs=0.01)
    assert (c["treated"] == (c["arm"] != "control")).all()
    assert "visit" in c.columns and c.groupby("arm")["visit"].mean()["mens_email"] == pytest.approx(
        0.182757, abs=1e-6
    )


def test_demo_dataset_is_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_MODELS_DATA", str(tmp_path))
    a = load_dataset("demo", n_customers=1500, seed=7)
    assert (tmp_path / "demo-1500-7" / "transactions.parquet").exists()
    b = load_dataset("demo", n_customers=1500, seed=7)
    assert a.fingerprint == b.fingerprint
    assert {"name", "email", "phone"}.isdisjoint(a.customers.columns)
    assert a.has("transactions", "customers", "campaigns", "products")
    assert pd.Series(a.info["truth_dir"]).str.endswith("truth").all()


def test_online_retail_xlsx_equals_csv(shared_data, tmp_path):
    """The original UCI file is an .xlsx: the same rows load to the same dataset either way."""
    head = pd.read_csv(shared_data / "online_retail" / "online_retail.csv", nrows=2000, dtype=str)
    head.to_csv(tmp_path / "retail.csv", index=False)
    typed = head.astype({"Quantity": int, "UnitPrice": float})
    typed["CustomerID"] = typed["CustomerID"].astype(float)
    typed["InvoiceDate"] = pd.to_datetime(typed["InvoiceDate"])
    typed.to_excel(tmp_path / "retail.xlsx", index=False)
    a = load_dataset(tmp_path / "retail.csv")
    b = load_dataset(tmp_path / "retail.xlsx")
    assert dataset_summary(a)["revenue"] == dataset_summary(b)["revenue"]
    pd.testing.assert_frame_equal(
        a.transactions.reset_index(drop=True),
        b.transactions.reset_index(drop=True),
        check_dtype=False,
    )


def test_demo_cache_is_rebuilt_when_the_simulator_changes(tmp_path, monkeypatch):
    from crm_models.data.simulate import simulator_version

    monkeypatch.setenv("CRM_MODELS_DATA", str(tmp_path))
    first = load_dataset("demo", n_customers=800, seed=5)
    stamp = tmp_path / "demo-800-5" / "SIMULATOR_VERSION"
    stamp.write_text("an older simulator")
    second = load_dataset("demo", n_customers=800, seed=5)
    assert stamp.read_text() == simulator_version()
    assert first.fingerprint == second.fingerprint


def test_groceries_basket_file_loads_as_a_baskets_only_dataset(shared_data):
    # arules' Groceries (Hahsler, Hornik & Reutterer 2006), per ../shared/data/groceries/SOURCE.md:
    # 9,835 transactions, 169 items, 43,367 item occurrences
    path = shared_data / "groceries" / "groceries.csv"
    assert is_basket_file(path)
    ds = load_dataset(path)
    assert ds.has("baskets") and not ds.has("transactions")
    assert ds.baskets["basket_id"].nunique() == 9_835
    assert ds.baskets["item"].nunique() == 169
    assert len(ds.baskets) == 43_367
    with pytest.raises(UnsupportedData, match="no transactions table"):
        ds.customer_transactions()


def test_basket_lines_become_rows_and_tables_are_not_baskets(tmp_path):
    baskets = tmp_path / "b.csv"
    baskets.write_text("milk,bread\nbread\nmilk,eggs,milk\n")
    ds = load_dataset(baskets)
    assert ds.baskets.to_dict("list") == {
        "basket_id": [1, 1, 2, 3, 3],
        "item": ["milk", "bread", "bread", "milk", "eggs"],
    }
    assert [n.rows for n in ds.cleaning_log] == [1]  # "milk" twice in basket 3, counted once
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    assert not is_basket_file(table)
    assert not is_basket_file(tmp_path / "missing.csv")


def test_a_basket_file_cannot_be_opened_as_of_a_date(tmp_path, capsys):
    path = tmp_path / "b.csv"
    path.write_text("milk,bread\nbread\n")
    with pytest.raises(UnsupportedData, match="basket file: its baskets have no dates"):
        load_dataset(path, as_of="2024-01-01")
    assert main(["basket", str(path), "--as-of", "2024-01-01"]) != 0
    assert "no dates" in capsys.readouterr().err

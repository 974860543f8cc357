"""The data contract: every malformed input gets its own clear error; safe cleaning is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crm_models.cli import main
from crm_models.data.contract import DataError
from crm_models.data.loading import Mapping, load_dataset


def good_tables() -> dict[str, pd.DataFrame]:
    tx = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3"],
            "order_id": ["O1", "O2", "O3", "O4"],
            "order_date": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-01"],
            "amount": [10.0, 25.5, 7.25, -3.0],
            "product_id": ["P1", "P2", "P1", "P1"],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "age": [30, 41, 25, 60],
            "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
            "full_name": ["Ann A", "Bob B", "Cid C", "Dee D"],
            "phone": ["1", "2", "3", "4"],
            "opt_in": ["yes", "no", "1", "true"],
        }
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["K1", "K1", "K1"],
            "customer_id": ["C1", "C2", "C3"],
            "sent_date": ["2024-02-01"] * 3,
            "channel": ["email"] * 3,
            "treated": [1, 0, 1],
            "responded": [1, 0, 0],
            "response_amount": [25.5, 0, 0],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2"],
            "name": ["Mug", "Tea"],
            "category": ["home", "food"],
            "price": [5.0, 12.75],
        }
    )
    return {
        "transactions": tx,
        "customers": customers,
        "campaigns": campaigns,
        "products": products,
    }


def write(folder: Path, tables: dict[str, pd.DataFrame], mapping: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    if mapping:
        (folder / "mapping.json").write_text(json.dumps(mapping))
    return folder


def test_clean_dataset_loads_and_strips_pii(tmp_path):
    ds = load_dataset(write(tmp_path / "shop", good_tables()))
    assert set(ds.tables()) == {"transactions", "customers", "campaigns", "products"}
    assert not {"email", "full_name", "phone"} & set(ds.customers.columns)
    assert ds.customers["opt_in"].tolist() == [True, False, True, True]
    assert ds.transactions["order_date"].dtype == "datetime64[ns]"
    assert any("personal identifiers dropped" in str(n) for n in ds.cleaning_log)
    assert main(["data", "validate", str(tmp_path / "shop")]) == 0


def test_ids_are_trimmed_and_reported(tmp_path):
    t = good_tables()
    t["transactions"]["customer_id"] = [" C1", "C1 ", "C2", "C3"]
    ds = load_dataset(write(tmp_path / "s", t))
    assert ds.transactions["customer_id"].tolist() == ["C1", "C1", "C2", "C3"]
    assert any("trimmed" in str(n) and n.rows == 2 for n in ds.cleaning_log)


def test_email_like_customer_ids_are_hashed(tmp_path):
    t = good_tables()
    for name in ("transactions", "customers", "campaigns"):
        t[name]["customer_id"] = t[name]["customer_id"].str.replace("C", "user") + "@mail.org"
    ds = load_dataset(write(tmp_path / "s", t))
    for df in ds.tables().values():
        if "customer_id" in df.columns:
            assert not df["customer_id"].str.contains("@").any()
    assert set(ds.transactions["customer_id"]) <= set(ds.customers["customer_id"])


def test_fingerprint_follows_content_not_format(tmp_path):
    t = good_tables()
    a = load_dataset(write(tmp_path / "a", t))
    b_folder = tmp_path / "b"
    b_folder.mkdir()
    for name, df in a.tables().items():
        df.to_parquet(b_folder / f"{name}.parquet", index=False)
    b = load_dataset(b_folder)
    assert a.fingerprint == b.fingerprint
    t["transactions"].loc[0, "amount"] = 11.0
    assert load_dataset(write(tmp_path / "c", t)).fingerprint != a.fingerprint


def test_mapping_file_and_cli_pairs_rename_columns(tmp_path):
    t = good_tables()
    t["transactions"] = t["transactions"].rename(
        columns={"customer_id": "Kunde", "order_date": "Datum"}
    )
    t["transactions"]["Datum"] = ["05.01.2024", "10.02.2024", "20.01.2024", "01.03.2024"]
    mapping = {"transactions": {"columns": {"customer_id": "Kunde"}, "date_format": "%d.%m.%Y"}}
    folder = write(tmp_path / "s", t, mapping)
    ds = load_dataset(folder, mapping=Mapping.from_pairs(["transactions.order_date=Datum"]))
    assert ds.transactions["order_date"].tolist()[0] == pd.Timestamp("2024-01-05")


# --- malformed inputs: (description, how to break the tables, expected words in the error) ---


def _drop_col(table, col):
    def f(t):
        t[table] = t[table].drop(columns=[col])

    return f


def _set(table, col, values):
    def f(t):
        t[table][col] = values

    return f


def _empty(table):
    def f(t):
        t[table] = t[table].iloc[0:0]

    return f


def _dup_line(t):
    t["transactions"] = pd.concat(
        [t["transactions"], t["transactions"].iloc[[1]]], ignore_index=True
    )


def _dup_customer(t):
    t["customers"] = pd.concat([t["customers"], t["customers"].iloc[[0]]], ignore_index=True)


def _dup_campaign_row(t):
    extra = t["campaigns"].iloc[[0]].assign(treated=0, responded=0, response_amount=0)
    t["campaigns"] = pd.concat([t["campaigns"], extra], ignore_index=True)


def _only_products(t):
    for name in ("transactions", "customers", "campaigns"):
        del t[name]


MALFORMED = [
    (
        "missing required column",
        _drop_col("transactions", "amount"),
        "transactions.csv",
        "amount",
        "required column missing",
    ),
    (
        "missing order date column",
        _drop_col("transactions", "order_date"),
        "transactions.csv",
        "order_date",
        "required column missing",
    ),
    (
        "amount not a number",
        _set("transactions", "amount", ["10", "abc", "7", "1"]),
        "transactions.csv",
        "amount",
        "not a number",
    ),
    (
        "unparseable dates",
        _set("transactions", "order_date", ["2024-01-05", "31/31/2024", "2024-01-20", "yesterday"]),
        "transactions.csv",
        "order_date",
        "unparseable date",
    ),
    (
        "missing customer ids",
        _set("transactions", "customer_id", ["C1", None, "C2", ""]),
        "transactions.csv",
        "customer_id",
        "missing value",
    ),
    (
        "missing amounts",
        _set("transactions", "amount", [1.0, None, 2.0, 3.0]),
        "transactions.csv",
        "amount",
        "missing value",
    ),
    ("duplicate lines", _dup_line, "transactions.csv", None, "duplicate lines"),
    (
        "unknown customers in transactions",
        _set("transactions", "customer_id", ["C1", "C9", "C2", "C3"]),
        "transactions.csv",
        "customer_id",
        "not found in the customers table",
    ),
    (
        "unknown customers in campaigns",
        _set("campaigns", "customer_id", ["C1", "C2", "C8"]),
        "campaigns.csv",
        "customer_id",
        "not found in the customers table",
    ),
    (
        "unknown products",
        _set("transactions", "product_id", ["P1", "P7", "P1", "P1"]),
        "transactions.csv",
        "product_id",
        "not found in the products table",
    ),
    ("empty table", _empty("transactions"), "transactions.csv", None, "is empty"),
    (
        "treated not yes/no",
        _set("campaigns", "treated", ["1", "maybe", "0"]),
        "campaigns.csv",
        "treated",
        "not a yes/no value",
    ),
    ("duplicate customer key", _dup_customer, "customers.csv", "customer_id", "duplicate key"),
    (
        "customer twice in one campaign",
        _dup_campaign_row,
        "campaigns.csv",
        "campaign_id, customer_id",
        "duplicate key",
    ),
    (
        "order shared by customers",
        _set("transactions", "order_id", ["O1", "O1", "O1", "O4"]),
        "transactions.csv",
        "order_id",
        "more than one customer",
    ),
    (
        "negative price",
        _set("products", "price", [5.0, -1.0]),
        "products.csv",
        "price",
        "negative price",
    ),
    (
        "negative response amount",
        _set("campaigns", "response_amount", [-5.0, 0, 0]),
        "campaigns.csv",
        "response_amount",
        "negative response amount",
    ),
    (
        "amount on non-responder",
        _set("campaigns", "response_amount", [25.5, 9.0, 0]),
        "campaigns.csv",
        "response_amount",
        "did not respond",
    ),
    (
        "infinite amount",
        _set("transactions", "amount", [1.0, float("inf"), 2.0, 3.0]),
        "transactions.csv",
        "amount",
        "infinite value",
    ),
    ("nothing to analyse", _only_products, None, None, "nothing to analyse"),
]


@pytest.mark.parametrize(
    "label,breaker,file,column,words", MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_is_named_precisely(tmp_path, label, breaker, file, column, words):
    tables = good_tables()
    breaker(tables)
    folder = write(tmp_path / "bad", tables)
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    matching = [p for p in info.value.problems if words in p.issue]
    assert matching, f"{label}: expected '{words}' in {info.value}"
    problem = matching[0]
    if file:
        assert problem.file == file
    if column:
        assert problem.column == column
    assert main(["data", "validate", str(folder)]) == 2


def test_wrong_encoding_is_reported_with_the_fix(tmp_path):
    folder = write(tmp_path / "enc", good_tables())
    text = (folder / "customers.csv").read_text().replace("Ann A", "Zoë Ü")
    (folder / "customers.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="not valid utf-8 text.*encoding"):
        load_dataset(folder)
    (folder / "mapping.json").write_text(json.dumps({"customers": {"encoding": "latin-1"}}))
    assert load_dataset(folder).customers is not None


def test_as_of_opens_the_data_as_known_at_the_end_of_that_day(tmp_path, capsys):
    t = good_tables()
    t["customers"]["signup_date"] = ["2023-12-01", "2024-01-10", "2024-01-01", "2024-02-20"]
    t["customers"]["opt_out_date"] = ["", "", "2024-02-01", "2024-03-01"]
    t["customers"]["opt_in"] = ["yes", "yes", "no", "no"]
    folder = write(tmp_path / "s", t)
    ds = load_dataset(folder, as_of="2024-02-15")
    # O3 (2024-03-01) is after the day; a line at 23:59 on the day itself is known
    assert ds.transactions["order_id"].tolist() == ["O1", "O2", "O3"]
    assert ds.as_of == pd.Timestamp("2024-02-15")
    # C4 signed up later and had no earlier activity; C3 opted out before the day, C4 after
    assert ds.customers["customer_id"].tolist() == ["C1", "C2", "C3"]
    assert ds.customers["opt_in"].tolist() == [True, True, False]
    log = [str(n) for n in ds.cleaning_log]
    assert (
        "transactions.order_date: lines after the as-of date 2024-02-15 set aside (1 rows)" in log
    )
    assert any("signed up after the as-of date" in n and "(1 rows)" in n for n in log)
    # on 02-25 C4 had signed up (02-20) and not yet opted out (03-01): opted in that day
    later = load_dataset(folder, as_of="2024-02-25")
    assert later.customers["opt_in"].tolist() == [True, True, False, True]
    assert later.customers["opt_out_date"].isna().tolist() == [True, True, False, True]
    assert load_dataset(folder, as_of="2024-03-05").customers["opt_in"].tolist()[-1] is False
    assert main(["data", "validate", str(folder), "--as-of", "2024-02-15", "--json"]) == 0
    assert "set aside" in capsys.readouterr().out


def test_events_after_today_are_a_problem_even_with_a_past_as_of(tmp_path):
    t = good_tables()
    t["transactions"].loc[3, "order_date"] = "2031-03-01"
    folder = write(tmp_path / "s", t)
    for as_of in (None, "2024-02-15"):
        with pytest.raises(DataError, match="order_date.*date after today") as info:
            load_dataset(folder, as_of=as_of)
        assert info.value.problems[0].file == "transactions.csv"
        assert info.value.problems[0].rows == 1


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    t = good_tables()
    t["transactions"]["amount"] = ["1", "x", "2", "3"]
    t["products"]["price"] = [5.0, -1.0]
    t["campaigns"] = t["campaigns"].drop(columns=["treated"])
    folder = write(tmp_path / "s", t)
    assert main(["data", "validate", str(folder), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    issues = {(p["file"], p["issue"].split(" (")[0]) for p in out["problems"]}
    assert ("transactions.csv", "not a number") in issues
    assert ("products.csv", "negative price") in issues
    assert any(f == "campaigns.csv" and i.startswith("required column missing") for f, i in issues)
    assert all(p["examples"] or p["rows"] for p in out["problems"])


def test_duplicates_policy_from_mapping(tmp_path):
    t = good_tables()
    _dup_line(t)
    folder = write(tmp_path / "s", t, {"options": {"duplicates": "drop"}})
    ds = load_dataset(folder)
    assert len(ds.transactions) == 4
    assert any("duplicate lines dropped" in str(n) and n.rows == 1 for n in ds.cleaning_log)


def test_anonymous_lines_allowed_when_declared(tmp_path):
    t = good_tables()
    t["transactions"]["customer_id"] = ["C1", None, "C2", "C3"]
    ds = load_dataset(write(tmp_path / "s", t, {"options": {"allow_anonymous": True}}))
    assert ds.anonymous_lines == 1
    assert len(ds.customer_transactions()) == 3

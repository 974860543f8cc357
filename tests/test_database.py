"""PostgreSQL as a source: same Dataset as the files, same clear errors (a real server)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pandas as pd
import pytest
from pg_server import PASSWORD, create_database, load_into_postgres, with_database

from crm_models.cli import main
from crm_models.data.contract import DataError
from crm_models.data.database import DatabaseConnectionError, DatabaseSource, is_database_url
from crm_models.data.loading import dataset_summary, load_dataset


def _summary(argv: list[str], capsys) -> dict:
    assert main(["data", "summary", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- no server needed ------------------------------------------------------------------------


def test_url_parsing_and_redaction():
    src = DatabaseSource.from_spec("postgresql://ann:p%40ss@db.example:6543/shop/sales")
    assert (src.host, src.port, src.user, src.database, src.schema) == (
        "db.example",
        6543,
        "ann",
        "shop",
        "sales",
    )
    assert src.redacted_url == "postgresql://ann:***@db.example:6543/shop/sales"
    assert "p%40ss" not in repr(src) and "p@ss" not in repr(src)
    assert is_database_url("postgres://x@h/db") and not is_database_url("demo")
    with pytest.raises(ValueError, match="no database name"):
        DatabaseSource.from_spec("postgresql://ann:pw@db.example:5432/")
    with pytest.raises(ValueError, match=r"port is not a number") as err:
        DatabaseSource.from_spec("postgresql://ann:pw@db.example:x1/shop")
    assert "pw@" not in str(err.value)


def test_mapping_database_entry_is_validated(tmp_path):
    (tmp_path / "mapping.json").write_text(json.dumps({"database": {"uri": "postgresql://h/d"}}))
    with pytest.raises(DataError, match='needs a "url"'):
        load_dataset(tmp_path)


# --- a real server -----------------------------------------------------------------------------


def test_demo_from_postgres_equals_files(pg_demo, demo):
    ds = load_dataset(pg_demo)
    assert ds.name == "demo"
    assert PASSWORD not in ds.source and "***" in ds.source
    assert ds.tables().keys() == demo.tables().keys()
    for name, expected in demo.tables().items():
        pd.testing.assert_frame_equal(ds.tables()[name], expected, check_exact=True, obj=name)
    assert ds.cleaning_log == demo.cleaning_log
    assert ds.fingerprint == demo.fingerprint


def test_cli_summary_equals_file_summary(pg_demo, capsys):
    """Loaded into memory (--engine pandas) the database summary is the file summary, cleaning
    log and fingerprint included; counted inside the database (the default) its counts are."""
    from_db = _summary([pg_demo, "--engine", "pandas"], capsys)
    from_files = _summary(["demo"], capsys)
    assert PASSWORD not in json.dumps(from_db)
    assert from_db.pop("source").startswith("postgresql://crm:***@127.0.0.1:")
    from_files.pop("source")
    # the database states no currency (its mapping could); the simulated demo's files say USD
    assert (from_db.pop("currency"), from_files.pop("currency")) == (None, "USD")
    assert from_db == from_files
    in_db = _summary([pg_demo], capsys)
    assert in_db.pop("engine") == "postgres" and PASSWORD not in json.dumps(in_db)
    assert in_db.pop("currency") is None
    assert in_db.pop("source").startswith("postgresql://crm:***@127.0.0.1:")
    assert in_db.pop("cleaning") == [
        "customers: personal identifiers dropped in the database query (name, email, phone)"
    ]
    assert in_db == {k: v for k, v in from_files.items() if k not in ("fingerprint", "cleaning")}


def test_tables_are_lazy_contract_tables(pg_demo, demo):
    src = DatabaseSource.from_spec(pg_demo)
    assert src.check() == []
    con = src.connect()
    try:
        tables = src.tables(con)
        assert set(tables) == {"transactions", "customers", "campaigns", "products"}
        assert {"name", "email", "phone"}.isdisjoint(tables["customers"].columns)
        tx = tables["transactions"]
        revenue = float(tx.amount.sum().execute())
        customers = int(tx.customer_id.nunique().execute())
    finally:
        con.disconnect()
    # PostgreSQL sums float8 sequentially, pandas pairwise: equal to ~1e-11 relative.
    assert revenue == pytest.approx(demo.transactions["amount"].sum(), rel=1e-9)
    assert customers == demo.transactions["customer_id"].nunique()


def test_cdnow_sample_round_trips_with_typed_dates(pg_cdnow_sample):
    files = load_dataset("cdnow_sample")
    ds = load_dataset(pg_cdnow_sample)
    assert ds.name == "cdnow_sample"
    assert ds.fingerprint == files.fingerprint
    assert not ds.cleaning_log  # dates arrive typed: nothing to parse


def test_mapping_folder_with_renamed_columns(postgres_url, demo, tmp_path):
    """Other table and column names, a schema, DB types date/numeric, URL via ${VAR}."""
    url = create_database(postgres_url, "shop")
    tx = demo.transactions.head(3000).rename(
        columns={"customer_id": "CustNo", "order_date": "Datum", "amount": "Betrag"}
    )
    tx["Datum"] = tx["Datum"].dt.normalize()
    load_into_postgres(
        url,
        {"order_lines": tx},
        schema="sales",
        types={"order_lines": {"Datum": "date", "Betrag": "numeric(12,2)"}},
    )
    user_url = url.replace(PASSWORD, "${CRM_TEST_PG_PASSWORD}")
    mapping = {
        "database": {"url": user_url, "schema": "sales"},
        "transactions": {
            "table": "order_lines",
            "columns": {"customer_id": "CustNo", "order_date": "Datum", "amount": "Betrag"},
        },
    }
    (tmp_path / "mapping.json").write_text(json.dumps(mapping))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_TEST_PG_PASSWORD", PASSWORD)
        ds = load_dataset(tmp_path)
        src = DatabaseSource.from_spec(tmp_path)
        assert src.check() == []
    assert ds.name == "shop"
    expected = demo.transactions.head(3000).copy()
    expected["order_date"] = expected["order_date"].dt.normalize()
    pd.testing.assert_frame_equal(ds.transactions, expected, check_exact=False, rtol=1e-12)


def test_bad_port_is_one_line_with_host_and_no_password(postgres_url, capsys):
    parts = urlsplit(postgres_url)
    free = parts._replace(netloc=parts.netloc.replace(f":{parts.port}", ":1"))
    url = free.geturl()
    with pytest.raises(DatabaseConnectionError, match=r"127\.0\.0\.1:1/crm as crm"):
        load_dataset(url)
    assert main(["data", "summary", url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1")
    assert PASSWORD not in err[0]
    problems = DatabaseSource.from_spec(url).check()
    assert len(problems) == 1 and PASSWORD not in str(problems[0])


def test_wrong_password_and_unknown_database(postgres_url, capsys):
    wrong = postgres_url.replace(PASSWORD, "not-it")
    assert main(["data", "summary", wrong]) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err and "not-it" not in err
    assert main(["data", "summary", with_database(postgres_url, "nope")]) == 1
    assert 'database "nope" does not exist' in capsys.readouterr().err


def test_empty_database_and_missing_tables(postgres_url, tmp_path):
    with pytest.raises(DataError, match="no contract tables found"):
        load_dataset(postgres_url)
    url = create_database(postgres_url, "partial")
    load_into_postgres(url, {"customers": pd.DataFrame({"customer_id": [1, 2]})})
    mapping = {"database": {"url": url}, "products": {"table": "catalogue"}}
    (tmp_path / "mapping.json").write_text(json.dumps(mapping))
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    issues = [str(p) for p in err.value.problems]
    assert any("public.catalogue" in i and "does not exist" in i for i in issues), issues
    assert any("neither a transactions nor a campaigns table" in i for i in issues), issues


def test_every_column_problem_at_once(postgres_url, demo, capsys):
    """Missing columns, wrong types and text that is not a number: all listed, with counts."""
    url = create_database(postgres_url, "broken")
    tx = demo.transactions.head(500).drop(columns=["order_id"])
    tx["amount"] = tx["amount"].map(str)
    tx.loc[[3, 7, 9], "amount"] = ["n/a", "12,50", "abc"]
    camp = demo.campaigns.head(200).copy()
    camp["sent_date"] = 7  # a number where a date belongs
    load_into_postgres(url, {"transactions": tx, "campaigns": camp}, types={})
    problems = DatabaseSource.from_spec(url).check()
    by_col = {(p.file, p.column): p for p in problems}
    assert by_col[("public.transactions", "order_id")].issue.startswith("required column missing")
    amount = by_col[("public.transactions", "amount")]
    assert (amount.issue, amount.rows) == ("not a number", 3)
    assert "amount='n/a'" in amount.examples[0]
    sent = by_col[("public.campaigns", "sent_date")]
    assert "bigint" in sent.issue or "int64" in sent.issue
    assert sent.rows == 200
    assert main(["data", "validate", url]) == 2
    err = capsys.readouterr().err
    assert "public.transactions, column 'amount': not a number (3 rows)" in err
    assert PASSWORD not in err


def test_text_amounts_that_are_numbers_load(postgres_url, demo):
    url = create_database(postgres_url, "textual")
    tx = demo.transactions.head(300).copy()
    tx["amount"] = tx["amount"].map(repr)
    load_into_postgres(url, {"transactions": tx})
    ds = load_dataset(url)
    pd.testing.assert_series_equal(ds.transactions["amount"], demo.transactions["amount"].head(300))


def test_missing_driver_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name == "psycopg":
            raise ImportError("No module named 'psycopg'", name="psycopg")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    src = DatabaseSource.from_spec("postgresql://u@127.0.0.1:1/db")
    with pytest.raises(ImportError, match=r"pip install 'crm-models\[postgres\]'"):
        src.connect()


def test_dataset_summary_of_database_dataset(pg_cdnow_sample):
    summary = dataset_summary(load_dataset(pg_cdnow_sample))
    assert summary["name"] == "cdnow_sample" and summary["customers"] == 2357


def test_unknown_schema_and_views(postgres_url, demo, tmp_path):
    url = create_database(postgres_url, "viewed")
    with pytest.raises(DataError, match="no schema 'nope'"):
        load_dataset(f"{url}/nope")
    load_into_postgres(url, {"lines": demo.transactions.head(400)}, schema="raw")
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE VIEW public.transactions AS SELECT * FROM raw.lines")
    a, b = load_dataset(url), load_dataset(url)
    assert a.fingerprint == b.fingerprint  # a view has no storage order: sorted, so stable
    pd.testing.assert_frame_equal(
        a.transactions.sort_values(
            ["customer_id", "order_date", "order_id", "product_id"]
        ).reset_index(drop=True),
        demo.transactions.head(400)
        .sort_values(["customer_id", "order_date", "order_id", "product_id"])
        .reset_index(drop=True),
    )


def test_unset_password_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_TEST_UNSET_PW", raising=False)
    url = "postgresql://ann:${CRM_TEST_UNSET_PW}@127.0.0.1:1/shop"
    (tmp_path / "mapping.json").write_text(json.dumps({"database": {"url": url}}))
    with pytest.raises(ValueError, match="CRM_TEST_UNSET_PW .* is not set"):
        load_dataset(tmp_path)

"""Personal data: one rule (crm_models.data.privacy) for loading, the out-of-core engines, the
customer view and everything shown or logged; birth dates become age bands; e-mail ids get keyed
pseudonyms that guessed addresses cannot re-identify."""

from __future__ import annotations

import ast
import hashlib
import hmac
import stat
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_models.data import privacy
from crm_models.data.contract import DataError
from crm_models.data.loading import load_dataset
from crm_models.data.privacy import (
    KEY_ENV,
    PersonalDataError,
    age_band,
    find_personal_columns,
    normalise_column,
    personal_column_kind,
    personal_value_kind,
    pseudonym,
)


@pytest.fixture(autouse=True)
def private_key_home(tmp_path, monkeypatch):
    """Every test gets its own key folder (never the user's ~/.config)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(KEY_ENV, raising=False)
    return tmp_path / "config"


# --------------------------------------------------------------------------- names
PERSONAL_NAMES = [
    ("Full Name", "name"),
    ("full-name", "name"),
    ("FullName", "name"),
    ("first_name", "name"),
    ("LastName", "name"),
    ("surname", "name"),
    ("given name", "name"),
    ("Middle Name", "name"),
    ("forename", "name"),
    ("Customer Name", "name"),
    ("customerName", "name"),
    ("contact_person", "name"),
    ("name", "name"),
    ("Vorname", "name"),
    ("Nachname", "name"),
    ("Prénom", "name"),
    ("nom", "name"),
    ("Apellidos", "name"),
    ("cognome", "name"),
    ("achternaam", "name"),
    ("E-Mail", "email"),
    ("email", "email"),
    ("emailAddress", "email"),
    ("E-Mail Address", "email"),
    ("work_email", "email"),
    ("courriel", "email"),
    ("correo", "email"),
    ("Tel.", "phone"),
    ("phoneNumber", "phone"),
    ("phone_number", "phone"),
    ("Mobile No.", "phone"),
    ("Téléphone", "phone"),
    ("Telefon", "phone"),
    ("Handy", "phone"),
    ("cell", "phone"),
    ("Fax", "phone"),
    ("primary_phone_2", "phone"),
    ("Street Address", "address"),
    ("Address Line 1", "address"),
    ("postal_address", "address"),
    ("Straße", "address"),
    ("PLZ", "postcode"),
    ("Post Code", "postcode"),
    ("ZIP", "postcode"),
    ("zip_code", "postcode"),
    ("ZIPCode", "postcode"),
    ("code postal", "postcode"),
    ("Date of Birth", "birth_date"),
    ("DOB", "birth_date"),
    ("Birthday", "birth_date"),
    ("birth_date", "birth_date"),
    ("Geburtsdatum", "birth_date"),
    ("date de naissance", "birth_date"),
    ("fecha de nacimiento", "birth_date"),
    ("IBAN", "iban"),
    ("Card Number", "card"),
    ("credit_card", "card"),
    ("IP Address", "ip_address"),
    ("IPAddress", "ip_address"),
    ("Passport No", "passport"),
    ("National ID", "national_id"),
    ("SSN", "national_id"),
    ("Social Security Number", "national_id"),
    ("tax_id", "national_id"),
]

NOT_PERSONAL = [
    "product_name",
    "category_name",
    "campaign_name",
    "segment_name",
    "store_name",
    "region",
    "country",
    "city",
    "channel",
    "preferred_channel",
    "acquisition_channel",
    "email_opt_in",
    "opt_in",
    "opt_out_reason",
    "opt_out_date",
    "gift_card_amount",
    "age",
    "age_band",
    "signup_date",
    "order_id",
    "order_date",
    "campaign_id",
    "customer_id",
    "customer_number",
    "category",
    "brand",
    "amount",
    "response_amount",
    "gender",
    "history_segment",
    "first",
    "last",
]


@pytest.mark.parametrize(("column", "kind"), PERSONAL_NAMES)
def test_personal_column_names_are_recognised(column, kind):
    assert personal_column_kind(column) == kind
    assert personal_column_kind(column, "customers") == kind


@pytest.mark.parametrize("column", NOT_PERSONAL)
def test_ordinary_column_names_are_not_flagged(column):
    assert personal_column_kind(column) is None


def test_a_products_name_is_the_products_name():
    assert personal_column_kind("name", "products") is None
    assert personal_column_kind("Name", "products") is None
    assert personal_column_kind("name", "customers") == "name"
    assert personal_column_kind("first_name", "products") == "name"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Full Name", "full_name"),
        ("full-name", "full_name"),
        ("FullName", "full_name"),
        ("E-Mail", "e_mail"),
        ("Tel.", "tel"),
        ("Date of Birth", "date_of_birth"),
        ("IPAddress", "ip_address"),
        ("Prénom", "prenom"),
        ("Straße", "strasse"),
    ],
)
def test_normalise_column(raw, normal):
    assert normalise_column(raw) == normal


def test_corpus_is_large_enough():
    assert len(PERSONAL_NAMES) >= 40 and len(NOT_PERSONAL) >= 20
    assert {kind for _, kind in PERSONAL_NAMES} == set(privacy.KINDS)


def test_privacy_sits_at_the_bottom_of_the_package():
    tree = ast.parse(Path(privacy.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert {m for m in imported if m.startswith("crm_models")} <= {"crm_models.data.dataset"}


# --------------------------------------------------------------------------- values
def luhn_numbers(n: int, length: int = 16, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        body = [4, *rng.integers(0, 10, length - 2)]
        total = 0
        for i, d in enumerate(reversed(body)):
            d = d * 2 if i % 2 == 0 else d
            total += d - 9 if d > 9 else d
        out.append("".join(map(str, body)) + str((10 - total % 10) % 10))
    return out


IBANS = [
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([f"user{i}@example.org" for i in range(40)], "email"),
        ([f"Please call me, {i}@mail.example.com" for i in range(40)], "email"),
        ([f"+49 30 {1000000 + i}" for i in range(40)], "phone"),
        ([f"(555) 123-{4000 + i}" for i in range(40)], "phone"),
        ([f"555-123-{4000 + i}" for i in range(40)], "phone"),
        ([f"06 12 34 56 {10 + i}" for i in range(40)], "phone"),
        ([f"06.12.34.56.{10 + i}" for i in range(40)], "phone"),
        ([f"030/{1234567 + i}" for i in range(40)], "phone"),
        ([f"+4930{1234567 + i}" for i in range(40)], "phone"),
        ([f"+00 555 {i:07d}" for i in range(40)], "phone"),  # the simulator's fake phones
        (IBANS * 10, "iban"),
        (luhn_numbers(40), "card"),
        (
            [" ".join(c[i : i + 4] for i in range(0, 16, 4)) for c in luhn_numbers(40, seed=1)],
            "card",
        ),
        ([f"192.168.{i}.{i + 1}" for i in range(40)], "ip_address"),
    ],
)
def test_personal_values_are_found(values, kind):
    assert personal_value_kind(pd.Series(values)) == kind
    assert personal_value_kind(pd.Series(values, dtype="category")) == kind


@pytest.mark.parametrize(
    "values",
    [
        [str(d.date()) for d in pd.date_range("2023-01-01", periods=40)],
        [d.strftime("%d/%m/%Y") for d in pd.date_range("2023-01-01", periods=40)],
        [d.strftime("%d.%m.%Y") for d in pd.date_range("2023-01-01", periods=40)],
        [str(d) for d in pd.date_range("2023-01-01", periods=40, freq="h")],
        ["2024-01/2024-02", "2024-02/2024-03"] * 20,
        [f"O{100000 + i}" for i in range(40)],
        [f"2023-{i:06d}" for i in range(40)],
        [str(x) for x in np.random.default_rng(0).integers(10**15, 10**16, 2000)],  # long ids
        [f"{x:.2f}" for x in np.random.default_rng(1).uniform(0, 1e7, 40)],
        [f"{x:,.2f}" for x in np.random.default_rng(2).uniform(1e6, 1e8, 40)],
        [f"{x:05d}" for x in np.random.default_rng(3).integers(0, 99_999, 40)],  # zip-like codes
        ["2) $100 - $200", "1) $0 - $100", "3) $200 - $350"] * 10,
        ["gold", "silver", "bronze", "email", "sms", "post"] * 10,
        ["123e4567-e89b-12d3-a456-426614174000"] * 10,
        ["10:15:00", "11:00:00"] * 10,
    ],
)
def test_ordinary_values_are_not_flagged(values):
    assert personal_value_kind(pd.Series(values)) is None


def test_values_of_numbers_or_few_hits_are_not_flagged():
    # numbers: only integer columns, only for card numbers (a CSV reader makes them integers)
    assert personal_value_kind(pd.Series([4111111111111111] * 10)) == "card"
    assert personal_value_kind(pd.Series(np.arange(10**15, 10**15 + 5000))) is None  # ids
    assert personal_value_kind(pd.Series([4111111111111111.0] * 10)) is None
    few = ["a@b.org"] * 5 + ["plain"] * 95
    assert personal_value_kind(pd.Series(few)) is None
    assert personal_value_kind(pd.Series(["a@b.org"] * 11 + ["plain"] * 89)) == "email"
    assert personal_value_kind(pd.Series([], dtype="string")) is None


def test_value_sample_is_bounded_but_sees_the_whole_column():
    n = 200_000
    late = pd.Series(["plain"] * n, dtype="string")
    late[n // 2 :] = [f"u{i}@x.org" for i in range(n - n // 2)]  # only in the second half
    assert personal_value_kind(late) == "email"
    sparse = pd.Series([None] * n, dtype="object")
    sparse[::400] = "someone@example.org"  # 0.25 % filled, all e-mails
    assert personal_value_kind(sparse) == "email"
    assert len(privacy._sample(late)) <= privacy.SAMPLE_SIZE


def test_find_personal_columns_by_name_and_by_value():
    frame = pd.DataFrame(
        {
            "customer_id": ["a@x.org", "b@x.org"],  # protected: pseudonymised, not dropped
            "Tel.": ["1", "2"],
            "remark": ["mail me at a@x.org", "b@x.org"],
            "segment": ["12345", "54321"],
        }
    )
    found = find_personal_columns(frame, "customers", protected=["customer_id"])
    assert found == {"Tel.": "phone", "remark": "email"}
    assert find_personal_columns(frame)["customer_id"] == "email"


# --------------------------------------------------------------------------- age bands
def test_age_bands_use_the_simulators_vocabulary():
    from crm_models.data.simulate import AGE_BANDS

    assert privacy.AGE_BANDS[1:] == AGE_BANDS and privacy.AGE_BANDS[0] == "<18"


def test_age_band_edges_and_bad_dates():
    born = pd.Series(
        ["1990-07-01", "1990-06-30", "2007-07-01", "2007-06-30", "1960-06-30", "oops", None]
        + ["2030-01-01", "1850-01-01"]
    )
    bands = age_band(born, pd.Timestamp("2025-06-30"))
    assert bands.iloc[:5].tolist() == ["25-34", "35-44", "<18", "18-24", "65+"]
    assert bands.iloc[5:].isna().all()


# --------------------------------------------------------------------------- loading
PLANTED = {
    "Full Name": ["Ann Example", "Bob Sample", "Cid Placeholder", "Dee Dummy"],
    "E-Mail": ["ann.example@mail.test", "bob@mail.test", "cid@mail.test", "dee@mail.test"],
    "Date of Birth": ["1985-03-14", "2010-01-02", "not a date", "1950-11-30"],
    "Tel.": ["+49 30 5550101", "+49 30 5550102", "+49 30 5550103", "+49 30 5550104"],
    "bank": IBANS,
    "ref": luhn_numbers(4, seed=7),
    "remark": ["write to ann.x@mail.test", "bob.y@mail.test", "cid.z@mail.test", "d@mail.test"],
}


def write_shop(folder: Path, customers_extra: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3", "C4"],
            "order_id": ["O1", "O2", "O3", "O4", "O5"],
            "order_date": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-01", "2024-02-02"],
            "amount": [10.0, 25.5, 7.25, 3.0, 4.0],
        }
    ).to_csv(folder / "transactions.csv", index=False)
    customers = pd.DataFrame(
        {"customer_id": ["C1", "C2", "C3", "C4"], "segment": ["10115", "20095", "80331", "50667"]}
    )
    for column, values in (customers_extra if customers_extra is not None else PLANTED).items():
        customers[column] = values
    customers.to_csv(folder / "customers.csv", index=False)
    return folder


def all_text(ds) -> str:
    parts = []
    for name, df in ds.tables().items():
        parts.append(name + " " + " ".join(map(str, df.columns)))
        for col in df.columns:
            parts.append(" ".join(str(v) for v in df[col].tolist()))
        parts.append(" ".join(str(v) for v in df.index.tolist()))
    return "\n".join(parts)


def test_loading_drops_personal_columns_logs_them_and_bands_birth_dates(tmp_path):
    ds = load_dataset(write_shop(tmp_path / "shop"))
    c = ds.customers
    assert list(c.columns) == ["customer_id", "segment", "age_band"]
    assert c["age_band"].tolist()[:2] == ["35-44", "<18"] and pd.isna(c["age_band"].iloc[2])
    assert c["age_band"].iloc[3] == "65+"
    assert c["segment"].astype(str).tolist() == ["10115", "20095", "80331", "50667"]  # kept
    log = [str(n) for n in ds.cleaning_log]
    dropped = next(n for n in log if "personal identifiers dropped on load" in n)
    for column in PLANTED:
        assert column in dropped
    assert "remark" in dropped and "email seen in its values" in dropped
    assert "card seen in its values" in dropped and "iban seen in its values" in dropped
    band_note = next(n for n in log if "age bands" in n)
    assert "birth dates turned into age bands at 2024-03-01, then dropped" in band_note
    assert "1 unparseable" in band_note
    # nothing of the planted values anywhere: tables, columns, log
    text = all_text(ds) + "\n".join(log)
    for values in PLANTED.values():
        for value in values:
            if value != "not a date":
                assert value not in text
                assert value.replace(" ", "") not in text


def test_birth_dates_banded_at_the_as_of_date_or_dropped_beside_an_age_band(tmp_path):
    ds = load_dataset(write_shop(tmp_path / "a"), as_of="2025-06-30")
    assert ds.customers["age_band"].tolist()[:2] == ["35-44", "<18"]
    assert any("age bands at 2025-06-30" in str(n) for n in ds.cleaning_log)
    extra = {"dob": ["1985-03-14"] * 4, "age_band": ["25-34"] * 4}
    ds = load_dataset(write_shop(tmp_path / "b", extra))
    assert ds.customers["age_band"].tolist() == ["25-34"] * 4
    assert "dob" not in ds.customers.columns
    assert any(
        "birth dates dropped (the table already has age_band)" in str(n) for n in ds.cleaning_log
    )


def test_problems_quote_short_values_and_never_e_mail_addresses(tmp_path):
    folder = write_shop(tmp_path / "s", {})
    tx = pd.read_csv(folder / "transactions.csv")
    tx["order_date"] = tx["order_date"].astype(object)
    tx.loc[0, "order_date"] = "x" * 200
    tx.loc[1, "order_date"] = "john.doe@example.org"
    tx.to_csv(folder / "transactions.csv", index=False)
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    message = str(err.value)
    assert "x" * 41 not in message and "x" * 39 in message
    assert "john.doe" not in message and "e-mail address hidden" in message


def test_missing_column_message_lists_few_short_names(tmp_path):
    secret = "postgres://admin:hunter2-" + "s" * 60 + "@db.internal/prod"
    folder = tmp_path / "s"
    folder.mkdir()
    header = [secret, *(f"col{i}" for i in range(30))]
    pd.DataFrame([range(len(header))], columns=header).to_csv(
        folder / "transactions.csv", index=False
    )
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    message = str(err.value)
    assert secret not in message and "hunter2-" + "s" * 20 not in message
    assert "col11" not in message and "and 19 more" in message


# --------------------------------------------------------------------------- pseudonyms
def old_scheme(value: str) -> str:
    return "h" + hashlib.sha256(value.lower().encode()).hexdigest()[:16]


def keyed(value: str, key: bytes) -> str:
    return "h" + hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def test_pseudonyms_are_keyed_and_stable(monkeypatch):
    values = pd.Series(["Ann@Mail.test", " ann@mail.test ", None, "bob@mail.test"])
    monkeypatch.setenv(KEY_ENV, "first secret")
    a = pseudonym(values)
    assert a.iloc[0] == a.iloc[1] == keyed("ann@mail.test", b"first secret")
    assert pd.isna(a.iloc[2]) and a.iloc[3] != a.iloc[0]
    assert a.iloc[0] != old_scheme("ann@mail.test")
    assert a.dropna().str.fullmatch(r"h[0-9a-f]{16}").all()
    assert pseudonym(values).equals(a)  # stable for one key
    monkeypatch.setenv(KEY_ENV, "second secret")
    b = pseudonym(values)
    assert b.iloc[0] != a.iloc[0] and b.iloc[3] != a.iloc[3]


def test_key_file_is_created_private_once_and_reused(private_key_home):
    path = privacy.key_path()
    assert path == private_key_home / "crm-models" / "pseudonym.key"
    first = pseudonym(pd.Series(["ann@mail.test"])).iloc[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = path.read_text().strip()
    assert len(key) == 64 and first == keyed("ann@mail.test", key.encode())
    privacy._key.cache_clear()  # a new run reads the same file
    assert pseudonym(pd.Series(["ann@mail.test"])).iloc[0] == first
    assert list(path.parent.iterdir()) == [path]  # no temporary files left


def test_key_file_race_keeps_the_first_key(tmp_path):
    path = tmp_path / "race" / "pseudonym.key"
    threads = [threading.Thread(target=privacy._create_key, args=(path,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    key = path.read_text()
    privacy._create_key(path)
    assert path.read_text() == key and len(key.strip()) == 64
    assert sorted(p.name for p in path.parent.iterdir()) == ["pseudonym.key"]


def test_guessed_addresses_do_not_re_identify_customers(tmp_path):
    firsts = ["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal", "ida", "jon"]
    lasts = ["smith", "jones", "brown", "taylor", "wilson", "evans"]
    domains = ["gmail.com", "mail.test", "example.org", "web.de", "yahoo.com"]
    guesses = [f"{f}.{s}@{d}" for f in firsts for s in lasts for d in domains]
    assert len(guesses) == 300
    real = guesses[::15]  # 20 real customers, all among the guesses
    folder = tmp_path / "shop"
    folder.mkdir()
    pd.DataFrame(
        {
            "customer_id": real,
            "order_id": [f"O{i}" for i in range(len(real))],
            "order_date": "2024-01-05",
            "amount": 10.0,
        }
    ).to_csv(folder / "transactions.csv", index=False)
    ds = load_dataset(folder)
    ids = set(ds.transactions["customer_id"])
    assert len(ids) == len(real)
    assert not ids & {old_scheme(g) for g in guesses}  # the old unkeyed hash re-identified all
    assert ids == set(pseudonym(pd.Series(real)))
    assert any("keyed pseudonym" in str(n) for n in ds.cleaning_log)


# --------------------------------------------------------------------------- shown and logged
def test_check_no_pii_refuses_personal_names_and_values():
    from crm_models.reporting.tracking import PIIError, check_no_pii

    assert PIIError is PersonalDataError
    ok = pd.DataFrame({"product_name": ["tea"], "segment": ["A"], "revenue": [1.0]})
    check_no_pii(ok)
    for column in ["Full Name", "E-Mail", "Date of Birth", "Tel.", "IBAN"]:
        with pytest.raises(PIIError, match=column):
            check_no_pii(pd.DataFrame({"customer_id": [1], column: ["x"]}))
    with pytest.raises(PIIError, match="contact.*email values"):
        check_no_pii(pd.DataFrame({"contact": ["a@x.org", "b@y.org"], "n": [1, 2]}))
    with pytest.raises(PIIError, match="email"):
        check_no_pii(pd.DataFrame({"n": [1]}, index=pd.Index(["a@x.org"], name="who")))
    with pytest.raises(PIIError):
        check_no_pii(pd.Series(["+49 30 1234567"] * 3, name="who"))


def test_show_table_refuses_personal_data():
    pytest.importorskip("IPython")
    from crm_models.plotting import show_table

    with pytest.raises(PersonalDataError, match="E-Mail"):
        show_table(pd.DataFrame({"E-Mail": ["x"]}))
    with pytest.raises(PersonalDataError, match="phone values"):
        show_table(pd.DataFrame({"contact": ["+44 20 7946 0018", "+44 20 7946 0019"]}))


def test_customer_view_never_shows_personal_attributes():
    from crm_models.data.dataset import Dataset
    from crm_models.features import customer_view

    tx = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_id": ["O1", "O2"],
            "order_date": pd.to_datetime(["2024-01-05", "2024-01-06"]),
            "amount": [10.0, 20.0],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "email": ["a@x.org", "b@x.org"],
            "contact": ["a@x.org", "b@x.org"],
            "tier": ["gold", "silver"],
        }
    )
    view = customer_view(Dataset("hand", transactions=tx, customers=customers), engine="pandas")
    assert "tier" in view.columns and not {"email", "contact"} & set(view.columns)


def test_out_of_core_folder_follows_the_same_rule(tmp_path):
    pytest.importorskip("duckdb")
    from crm_models.engine import EngineSettings, open_folder

    folder = write_shop(tmp_path / "shop")
    src = open_folder(folder, EngineSettings("duckdb"), "duckdb")
    customers = src.frame(src.tables["customers"]).sort_values("customer_id")
    assert list(customers.columns) == ["customer_id", "segment", "age_band"]
    ds = load_dataset(folder)
    assert customers["age_band"].tolist()[:2] == ds.customers["age_band"].tolist()[:2]
    assert customers["age_band"].iloc[3] == "65+" and pd.isna(customers["age_band"].iloc[2])
    notes = "\n".join(src.notes)
    assert "birth dates turned into age bands at 2024-03-01" in notes
    assert "remark (email)" in notes and "Full Name (name)" in notes


def test_database_source_follows_the_same_rule(postgres_url, tmp_path):
    from pg_server import create_database, load_into_postgres

    from crm_models.data.database import DatabaseSource
    from crm_models.engine import open_database

    url = create_database(postgres_url, "privacy_shop")
    folder = write_shop(tmp_path / "shop")
    tables = {
        "transactions": pd.read_csv(folder / "transactions.csv", parse_dates=["order_date"]),
        "customers": pd.read_csv(folder / "customers.csv", dtype=str),
    }
    load_into_postgres(url, tables)
    db = DatabaseSource.from_spec(url)
    con = db.connect()
    try:
        columns = list(db.tables(con)["customers"].columns)
    finally:
        con.disconnect()
    assert columns == ["customer_id", "segment", "bank", "ref", "remark"]  # by name only
    src = open_database(url)
    customers = src.frame(src.tables["customers"]).sort_values("customer_id")
    assert "age_band" in customers.columns and "Date of Birth" not in customers.columns
    ds = load_dataset(url)  # in memory: names and values, as for files
    assert list(ds.customers.columns) == ["customer_id", "segment", "age_band"]
    assert customers["age_band"].tolist()[:2] == ds.customers["age_band"].tolist()[:2]
    assert pd.isna(customers["age_band"].iloc[2]) and customers["age_band"].iloc[3] == "65+"
    assert any("age bands at 2024-03-01" in n for n in src.notes)


def test_out_of_core_parquet_birth_dates_as_dates(tmp_path):
    pytest.importorskip("duckdb")
    from crm_models.engine import EngineSettings, open_folder

    folder = write_shop(tmp_path / "shop", {"Date of Birth": PLANTED["Date of Birth"]})
    customers = pd.read_csv(folder / "customers.csv", dtype=str)
    customers["Date of Birth"] = pd.to_datetime(customers["Date of Birth"], errors="coerce")
    customers.to_parquet(folder / "customers.parquet", index=False)
    (folder / "customers.csv").unlink()
    src = open_folder(folder, EngineSettings("duckdb"), "duckdb")
    bands = src.frame(src.tables["customers"]).sort_values("customer_id")["age_band"]
    assert bands.iloc[:2].tolist() == ["35-44", "<18"] and bands.iloc[3] == "65+"
    assert pd.isna(bands.iloc[2])
    assert load_dataset(folder).customers["age_band"].equals(bands.reset_index(drop=True))


def test_phone_numbers_inside_free_text_are_found():
    """Found by the planted-value scan: a notes column quoting a phone number."""
    notes = pd.Series([f"call me on +44 20 7946 {k:04d} after six" for k in range(50)])
    assert personal_value_kind(notes) == "phone"
    harmless = pd.Series([f"order 2023-001-{k:04d} shipped, +5 points" for k in range(50)])
    assert personal_value_kind(harmless) is None

"""Dates are read with one format per column: every layout family is recognised, a column that
mixes formats or cannot tell day from month is a problem naming the column, and nothing is
guessed value by value (issue 14: 226 of 2,441 dates once got day and month swapped)."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pg_server import create_database, load_into_postgres

from crm_models.cli import main
from crm_models.data.contract import DataError
from crm_models.data.dates import date_format_issue, read_dates
from crm_models.data.loading import load_dataset
from crm_models.data.mapping import Mapping
from crm_models.engine.settings import EngineSettings
from crm_models.engine.sources import open_database, open_folder

FEB7 = pd.Timestamp("2023-02-07")


def _read(values, date_format=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas "Mixed timezones" or parser warnings
        return read_dates(pd.Series(values), date_format, **kw)


def _transactions(dates) -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i % 40}" for i in range(n)],
            "order_id": [f"O{i}" for i in range(n)],
            "order_date": dates,
            "amount": np.arange(1, n + 1, dtype=float),
        }
    )


def _folder(tmp_path, dates, mapping=None, name="shop"):
    """A contract folder whose transactions carry ``dates`` as written."""
    folder = tmp_path / name
    folder.mkdir()
    _transactions(dates).to_csv(folder / "transactions.csv", index=False)
    if mapping:
        (folder / "mapping.json").write_text(json.dumps(mapping))
    return folder


def _problems(folder, **kw):
    with pytest.raises(DataError) as info:
        load_dataset(folder, **kw)
    return info.value.problems


# --- every family --------------------------------------------------------------------------
FAMILIES = [
    (["2023-02-07", "2023-02-08"], "ISO 8601", "2023-02-07"),
    (["2023-02-07 10:15:00", "2023-02-08 11:00:00"], "ISO 8601", "2023-02-07 10:15"),
    (["2023-02-07T10:15:00", "2023-02-08T11:00:00"], "ISO 8601", "2023-02-07 10:15"),
    (["2023-02-07T10:15:00.250", "2023-02-08T11:00:00"], "ISO 8601", "2023-02-07 10:15:00.25"),
    (["20230207", "20230208"], "%Y%m%d", "2023-02-07"),
    (["2023/02/07", "2023/02/13"], "%Y/%m/%d", "2023-02-07"),
    (["07/02/2023", "13/02/2023"], "%d/%m/%Y", "2023-02-07"),
    (["02/07/2023", "02/13/2023"], "%m/%d/%Y", "2023-02-07"),
    (["7/2/23", "13/2/23"], "%d/%m/%y", "2023-02-07"),
    (["07/02/2023 10:15", "13/02/2023 11:00"], "%d/%m/%Y %H:%M", "2023-02-07 10:15"),
    (["2/7/2023 10:15 PM", "2/13/2023 9:00 AM"], "%m/%d/%Y %I:%M %p", "2023-02-07 22:15"),
    (["07.02.2023", "13.02.2023"], "%d.%m.%Y", "2023-02-07"),
    (["07-02-2023", "13-02-2023"], "%d-%m-%Y", "2023-02-07"),
    (["7 February 2023", "13 March 2023"], "%d %B %Y", "2023-02-07"),
    (["07-Feb-2023", "13-Mar-2023"], "%d %B %Y", "2023-02-07"),
    (["Feb 7, 2023", "March 13, 2023"], "%B %d, %Y", "2023-02-07"),
    (["44964", "44965.5"], "days since 1899-12-30", "2023-02-07"),
    (["1675728000", "1675771200"], "s since 1970-01-01", "2023-02-07"),
    (["1675728000000", "1675771200000"], "ms since 1970-01-01", "2023-02-07"),
]


@pytest.mark.parametrize(
    "values,layout,first", FAMILIES, ids=[f[1] + " " + f[0][0] for f in FAMILIES]
)
def test_every_layout_family_is_recognised(values, layout, first):
    out = _read(values + [None, ""])
    assert not out.problems
    assert layout in out.layout
    assert out.dates.iloc[0] == pd.Timestamp(first)
    assert out.dates.iloc[2:].isna().all() and out.dates.dtype == "datetime64[ns]"
    assert out.notes == [(2, f"dates read as {out.layout} from text")]


def test_numbers_in_csv_files_are_read_as_dates(tmp_path):
    """A CSV column of 19970101 or of Excel serials reaches the contract as numbers."""
    for dates, first in (([19970101, 19970102], "1997-01-01"), ([44964, 44965], "2023-02-07")):
        folder = _folder(tmp_path, dates * 20, name=str(first))
        assert load_dataset(folder).transactions["order_date"].iloc[0] == pd.Timestamp(first)
    assert _read(pd.Series([19970101.0, np.nan])).dates.iloc[0] == pd.Timestamp("1997-01-01")


# --- the issue's column and the day/month rule ---------------------------------------------
def test_the_issues_mixed_column_is_an_error_naming_the_column(tmp_path):
    iso = [str(d.date()) for d in pd.date_range("2023-01-01", periods=300)]
    mixed = iso + ["07/02/2023", "02/07/2023", "7 February 2023"]
    problems = _problems(_folder(tmp_path, mixed))
    formats = [p for p in problems if "more than one format" in p.issue]
    assert len(formats) == 2 and all(p.column == "order_date" for p in formats)
    assert all(p.file == "transactions.csv" for p in formats)
    slashed = next(p for p in formats if "day/month/year or month/day/year" in p.issue)
    assert slashed.rows == 2 and "'07/02/2023'" in slashed.issue
    assert "date_format in mapping.json (or --date-format)" in slashed.issue
    assert "row 301: order_date='07/02/2023'" in slashed.examples[0]
    assert any(p.rows == 1 and "7 February 2023" in p.issue for p in formats)


def test_a_column_of_ambiguous_slashed_dates_is_an_error(tmp_path):
    dates = [d.strftime("%m/%d/%Y") for d in pd.date_range("2023-01-01", "2023-12-12")]
    dates = [d for d in dates if int(d[3:5]) <= 12]  # every day <= 12: either reading works
    problems = _problems(_folder(tmp_path, dates))
    (p,) = problems
    assert p.column == "order_date" and "cannot tell day-first from month-first" in p.issue
    same = sum(d[:2] == d[3:5] for d in dates)  # 03/03/2023 reads the same either way
    assert p.rows == len(dates) - same
    assert f"{p.rows:,} dates like '01/02/2023' read either way" in p.issue
    assert "date_format in mapping.json" in p.issue and "--date-format" in p.issue


def test_one_day_over_12_makes_the_whole_column_day_first(tmp_path):
    dates = ["07/02/2023", "02/07/2023", "01/03/2023", "25/03/2023", "11/12/2023"]
    ds = load_dataset(_folder(tmp_path, dates * 10))
    assert ds.transactions["order_date"].iloc[:5].tolist() == list(
        pd.to_datetime(["2023-02-07", "2023-07-02", "2023-03-01", "2023-03-25", "2023-12-11"])
    )
    assert any("day/month/year (%d/%m/%Y)" in n.action for n in ds.cleaning_log)
    month_first = _read(["07/02/2023", "02/25/2023"]).dates
    assert month_first.tolist() == [pd.Timestamp("2023-07-02"), pd.Timestamp("2023-02-25")]


def test_day_first_and_month_first_in_one_column_is_an_error():
    out = _read(["25/02/2023", "26/02/2023", "02/27/2023", "07/02/2023"])
    (p,) = out.problems
    assert "dates in two orders" in p.issue and not p.of_values
    assert p.rows.tolist() == [False, False, True, False]  # the minority order is listed
    assert pd.isna(out.dates.iloc[3])  # 07/02 stays unread: no guess


def test_unparseable_values_are_counted_apart_from_formats():
    out = _read(["2024-01-05", "31/31/2024", "2024-01-20", "yesterday", "2024-02-30"])
    (p,) = out.problems
    assert p.issue.startswith("unparseable date") and p.of_values
    assert p.rows.tolist() == [False, True, False, True, True]


# --- explicit formats ----------------------------------------------------------------------
def test_an_explicit_format_wins_and_mismatches_are_problems(tmp_path):
    dates = ["07/02/2023", "02/07/2023", "2023-02-07"] * 20
    folder = _folder(tmp_path, dates, {"transactions": {"date_format": "%d/%m/%Y"}}, "table")
    (p,) = _problems(folder)
    assert p.column == "order_date" and p.issue == "does not match date_format '%d/%m/%Y'"
    assert p.rows == 20 and "order_date='2023-02-07'" in p.examples[0]
    ambiguous = _folder(tmp_path, dates[:2] * 20, name="cli")
    in_options = _folder(tmp_path, dates[:2] * 20, {"options": {"date_format": "%d/%m/%Y"}})
    for ds in (
        load_dataset(ambiguous, mapping=Mapping.from_pairs([], "%d/%m/%Y")),  # --date-format
        load_dataset(in_options),  # options.date_format in mapping.json
    ):
        read = ds.transactions["order_date"].iloc[:2].tolist()
        assert read == [FEB7, pd.Timestamp("2023-07-02")]
        assert any("date_format '%d/%m/%Y'" in n.action for n in ds.cleaning_log)


def test_a_tables_date_format_wins_over_the_global_one(tmp_path):
    folder = _folder(tmp_path, ["07.02.2023"] * 40, {"transactions": {"date_format": "%d.%m.%Y"}})
    ds = load_dataset(folder, mapping=Mapping.from_pairs([], "%m/%d/%Y"))
    assert (ds.transactions["order_date"] == FEB7).all()


def test_date_format_on_the_command_line(tmp_path, capsys):
    folder = _folder(tmp_path, ["07/02/2023", "02/07/2023"] * 20)
    assert main(["data", "validate", str(folder)]) == 2
    assert "cannot tell day-first from month-first" in capsys.readouterr().err
    assert main(["data", "validate", str(folder), "--date-format", "%d/%m/%Y"]) == 0
    assert "dates read with date_format '%d/%m/%Y'" in capsys.readouterr().out
    assert main(["data", "validate", str(folder), "--date-format", "%d/%m"]) == 1
    assert "bad --date-format '%d/%m': '%d/%m' does not hold a full date" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["dd/mm/yyyy", "%Q", "%Y-%m", 20230207])
def test_a_date_format_that_cannot_read_dates_is_refused(tmp_path, bad):
    assert date_format_issue(bad)
    for where in ("options", "transactions"):
        folder = _folder(tmp_path, ["2023-02-07"], {where: {"date_format": bad}}, where)
        (p,) = _problems(folder)
        assert p.file == f"mapping.json, key {where}.date_format"
    assert date_format_issue("%d.%m.%Y %H:%M") is None
    assert date_format_issue("%Y-%m-%dT%H:%M:%S%z") is None


# --- time zones ----------------------------------------------------------------------------
def test_mixed_offsets_are_converted_to_utc_with_a_note(tmp_path):
    dates = ["2023-02-07T10:00:00+01:00", "2023-02-07T10:00:00+02:00", "2023-02-07T10:00:00Z"]
    out = _read(dates)
    assert not out.problems and out.aware
    assert out.dates.dt.hour.tolist() == [9, 8, 10]
    assert (3, "time-zone aware dates converted to UTC") in out.notes
    ds = load_dataset(_folder(tmp_path, dates * 20))
    note = next(n for n in ds.cleaning_log if "converted to UTC" in n.action)
    assert (note.column, note.rows) == ("order_date", 60)
    zoned = _read(["2023-02-07 10:00+0100"], "%Y-%m-%d %H:%M%z")
    assert zoned.dates.iloc[0] == pd.Timestamp("2023-02-07 09:00") and zoned.aware


def test_dates_with_and_without_offsets_are_an_error(tmp_path):
    dates = ["2023-02-07T10:00:00+01:00"] * 30 + ["2023-02-07T10:00:00"] * 10
    (p,) = _problems(_folder(tmp_path, dates))
    assert p.column == "order_date" and p.rows == 10
    assert "30 dates have a time-zone offset" in p.issue and "10 have none" in p.issue


def test_typed_dates_pass_through_and_aware_ones_become_utc(tmp_path):
    folder = tmp_path / "typed"
    folder.mkdir()
    when = pd.date_range("2023-02-07 10:00", periods=40, freq="D", tz="Europe/Berlin")
    pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(40)],
            "order_id": [f"O{i}" for i in range(40)],
            "order_date": when,
            "amount": 1.0,
        }
    ).to_parquet(folder / "transactions.parquet")
    ds = load_dataset(folder)
    assert ds.transactions["order_date"].iloc[0] == pd.Timestamp("2023-02-07 09:00")
    assert any(n.action == "time-zone aware dates converted to UTC" for n in ds.cleaning_log)


# --- birth dates ---------------------------------------------------------------------------
def _customers_folder(tmp_path, births, name):
    folder = _folder(tmp_path, ["2024-03-01"] * 40, name=name)
    pd.DataFrame({"customer_id": [f"C{i}" for i in range(40)], "Date of Birth": births}).to_csv(
        folder / "customers.csv", index=False
    )
    return folder


def test_birth_dates_are_read_with_one_format_and_never_guessed(tmp_path):
    day_first = ["14/03/1985", "02/01/2010"] * 20
    ds = load_dataset(_customers_folder(tmp_path, day_first, "dmy"))
    assert ds.customers["age_band"].iloc[:2].tolist() == ["35-44", "<18"]
    ambiguous = ["04/03/1985", "02/01/2010"] * 20
    ds = load_dataset(_customers_folder(tmp_path, ambiguous, "either"))
    assert ds.customers["age_band"].isna().all()
    note = next(n.action for n in ds.cleaning_log if n.column == "age_band")
    assert "40 unparseable or implausible left without a band" in note
    assert "cannot tell day-first from month-first" in note and "--date-format" in note
    assert "1985" not in note  # birth dates are never quoted


# --- real data -----------------------------------------------------------------------------
def test_online_retail_dates_as_the_uci_csv_writes_them(shared_data, tmp_path):
    """UCI's CSV export writes InvoiceDate as 12/1/2010 8:26 (month first, no padding): the
    real column, rewritten so, reads back month-first to the minute."""
    path = shared_data / "online_retail" / "online_retail.csv"
    raw = pd.read_csv(path, dtype=str)
    when = pd.to_datetime(raw["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    us = (
        when.dt.month.astype(str)
        + "/"
        + when.dt.day.astype(str)
        + "/"
        + when.dt.year.astype(str)
        + " "
        + when.dt.hour.astype(str)
        + ":"
        + when.dt.strftime("%M")
    )
    assert us.iloc[0] == "12/1/2010 8:26"
    out = _read(us)
    assert not out.problems and out.layout == "month/day/year (%m/%d/%Y %H:%M)"
    assert (out.dates == when).all()
    sample = raw.iloc[::500].assign(InvoiceDate=us.iloc[::500])
    sample.to_csv(tmp_path / "online_retail.csv", index=False)
    ds = load_dataset(tmp_path / "online_retail.csv")
    kept = ds.transactions["order_date"]
    assert kept.min() == when.iloc[::500].min() and kept.max() == when.iloc[::500].max()


def test_cdnow_dates_are_yyyymmdd(shared_data):
    out = _read(pd.read_csv(shared_data / "cdnow" / "CDNOW_master.txt", sep=r"\s+")["date"])
    assert out.layout == "year, month, day without separators (%Y%m%d)" and not out.problems
    assert (out.dates.min(), out.dates.max()) == (
        pd.Timestamp("1997-01-01"),
        pd.Timestamp("1998-06-30"),
    )


# --- out of core ---------------------------------------------------------------------------
def test_out_of_core_refuses_text_dates_it_cannot_read(tmp_path):
    duckdb = EngineSettings("duckdb")
    for name, dates in (
        ("slashed", ["07/02/2023", "25/02/2023"] * 20),
        ("compact", ["20230207"] * 40),
        ("zoned", ["2023-02-07T10:00:00+01:00"] * 40),
    ):
        with pytest.raises(DataError) as info:
            open_folder(_folder(tmp_path, dates, name=name), duckdb, "duckdb")
        (p,) = info.value.problems
        assert (p.file, p.column) == ("transactions.csv", "order_date")
        assert "--engine pandas" in p.issue and "ISO 8601" in p.issue
    src = open_folder(
        _folder(tmp_path, ["2023-02-07", "2023-2-8"] * 20, name="iso"), duckdb, "duckdb"
    )
    assert src.execute(src.tables["transactions"].order_date.min()) == FEB7


def test_database_text_dates_are_not_read_by_the_servers_datestyle(postgres_url):
    """PostgreSQL would cast 07/02/2023 by its DateStyle (month first by default): the
    in-database path refuses such a column, the in-memory path reads it as the data says."""
    url = create_database(postgres_url, "dates")
    dates = ["07/02/2023", "25/02/2023"] * 20
    tx = _transactions(dates)
    load_into_postgres(url, {"transactions": tx})
    with pytest.raises(DataError) as info:
        open_database(url)
    (p,) = info.value.problems
    assert p.column == "order_date" and "--engine pandas" in p.issue
    assert load_dataset(url).transactions["order_date"].iloc[0] == FEB7


# --- property: format, then read back ------------------------------------------------------
def _excel(d: datetime) -> str:
    return repr((d - datetime(1899, 12, 30)) / timedelta(days=1))


ROUND_TRIPS = {  # layout -> how to write a date; each reads back without a date_format
    "iso": lambda d: d.strftime("%Y-%m-%d"),
    "iso-time": lambda d: d.strftime("%Y-%m-%dT%H:%M:%S"),
    "iso-offset": lambda d: (d + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S+02:00"),
    "compact": lambda d: d.strftime("%Y%m%d"),
    "year-first": lambda d: d.strftime("%Y/%m/%d %H:%M:%S"),
    "day-first": lambda d: d.strftime("%d/%m/%Y %H:%M"),
    "month-first": lambda d: d.strftime("%m/%d/%Y"),
    "dotted": lambda d: d.strftime("%d.%m.%Y"),
    "dashed": lambda d: d.strftime("%m-%d-%Y %I:%M:%S %p"),
    "two-digit-year": lambda d: d.strftime("%d/%m/%y"),
    "month-name": lambda d: d.strftime("%d %B %Y"),
    "oracle": lambda d: d.strftime("%d-%b-%y").upper(),
    "us-month-name": lambda d: d.strftime("%b %d, %Y %H:%M"),
    "excel": _excel,
    "epoch": lambda d: str(int((d - datetime(1970, 1, 1)).total_seconds())),
    "epoch-ms": lambda d: str(int((d - datetime(1970, 1, 1)).total_seconds()) * 1000),
}
PRECISION = {"compact": "D", "day-first": "min", "month-first": "D", "dotted": "D"}
PRECISION |= {"iso": "D", "two-digit-year": "D", "month-name": "D", "oracle": "D"}
PRECISION |= {"us-month-name": "min"}
# one date whose day is over 12 settles day-first / month-first layouts
DECIDER = datetime(2023, 1, 25, 13, 14, 15)


@given(
    st.lists(
        st.datetimes(min_value=datetime(1980, 1, 2), max_value=datetime(2068, 12, 30)),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(sorted(ROUND_TRIPS)),
)
def test_dates_written_in_any_layout_read_back_exactly(dates, layout):
    dates = [d.replace(microsecond=0) for d in dates] + [DECIDER]
    out = _read([ROUND_TRIPS[layout](d) for d in dates])
    assert not out.problems, out.problems
    expected = pd.Series(pd.to_datetime(dates)).dt.floor(PRECISION.get(layout, "s"))
    assert out.dates.tolist() == expected.tolist()

"""A corpus of malformed and awkward datasets, each with the outcome the contract promises.

Every case is a small dataset folder (or a single recognised file) of the kind analysts bring
from shop systems, ERPs and spreadsheets: date formats, time zones, encodings, delimiters,
number formats, ids, keys, booleans, mapping files, file formats, degenerate and extreme data.
Each records what ``crm-models`` must do with it (issue 14):

* ``accept``: loads clean (no problem, no warning); ``truth`` holds the headline numbers
  computed here from the values written, so a verb that exits 0 with a wrong number is caught;
* ``warn``: loads, with a warning naming each ``(file, column)`` in ``where``; ``truth`` too;
* ``reject``: a data problem naming each ``(file, column)`` in ``where``.

A ``column`` of ``None`` means a whole-file issue (any column, or none, may be named); a tuple
of names means any one of them.  ``refuse`` lists verbs that must refuse in plain words (the
data cannot support the analysis, e.g. ``segment`` without transactions), ``may_refuse`` verbs
that may (a model on three customers), ``mention`` words the problem must hold (e.g.
``date_format``: what to do), ``logged`` what the cleaning log must say (a repair is never
silent), ``secrets`` values that must never be printed or written (personal data), ``args``
extra command-line arguments of every verb (``--as-of``).

The base shop (about 200 customers over 2024-2025, returns, two randomised campaigns with a
control group, a catalogue) is drawn from one seeded generator; every case derives from it
with its own seeded generator, so the corpus is the same on every run (byte for byte, except
the save time openpyxl stamps into ``.xlsx`` files).

``python tests/corpus/make_corpus.py OUTDIR`` writes the corpus for a human to inspect.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

SEED = 14
START = pd.Timestamp("2024-01-01")
DAYS = 731  # 2024-01-01 .. 2025-12-31
TABLES = ("transactions", "customers", "campaigns", "products")
VERBS = ("validate", "summary", "view", "clv", "segment", "basket", "uplift", "target", "forecast")
# need transactions (`view` of campaigns-only data is a contacts view: customers, campaigns)
CUSTOMER_VERBS = ("clv", "segment", "forecast", "basket")
CAMPAIGN_VERBS = ("uplift", "target")  # need campaigns
MODEL_VERBS = ("clv", "segment", "uplift", "target", "forecast", "basket")

Where = tuple[str, str | tuple[str, ...] | None]


@dataclass(frozen=True)
class Case:
    """One dataset of the corpus and what crm-models must do with it."""

    name: str
    path: Path
    expected: Literal["accept", "warn", "reject"]
    where: tuple[Where, ...] = ()
    truth: dict | None = None
    args: tuple[str, ...] = ()
    refuse: dict[str, str] = field(default_factory=dict)  # verb -> regex of the plain reason
    may_refuse: frozenset[str] = frozenset()
    mention: tuple[str, ...] = ()  # words the problem or warning must hold (e.g. date_format)
    secrets: tuple[str, ...] = ()
    logged: tuple[str, ...] = ()  # patterns the cleaning log must hold (a repair is never silent)
    ignored_lines: int | None = None  # lines after --as-of, to be counted in the cleaning log
    note: str = ""


# --------------------------------------------------------------------------- the base shop
@dataclass
class Shop:
    """The logical tables of one dataset (typed: dates are Timestamps, ids integers)."""

    transactions: pd.DataFrame | None
    customers: pd.DataFrame | None
    campaigns: pd.DataFrame | None
    products: pd.DataFrame | None

    def copy(self) -> Shop:
        return Shop(*(None if t is None else t.copy() for t in self.tables().values()))

    def tables(self) -> dict[str, pd.DataFrame | None]:
        return {t: getattr(self, t) for t in TABLES}

    def truth(self, as_of: str | None = None) -> dict:
        """Headline numbers as the contract defines them, from the values written: customers
        with a known id, orders = order ids with positive net value, revenue net of returns,
        first and last date (lines after ``as_of`` left out)."""
        tx = self.transactions
        if tx is None:
            c = self.campaigns
            return {
                "customers": int(self.customers["customer_id"].nunique()),
                "orders": 0,
                "revenue": 0.0,
                "first_date": str(c["sent_date"].min().date()),
                "last_date": str(c["sent_date"].max().date()),
            }
        if as_of is not None:
            tx = tx.loc[tx["order_date"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
        net = tx.groupby("order_id")["amount"].sum()
        return {
            "customers": int(tx["customer_id"].dropna().nunique()),
            "orders": int((net.round(6) > 0).sum()),
            "revenue": round(float(tx["amount"].sum()), 2),
            "first_date": str(tx["order_date"].min().date()),
            "last_date": str(tx["order_date"].max().date()),
        }


def base_shop(seed: int = SEED, n_customers: int = 200) -> Shop:
    """About ``n_customers`` buying customers (plus ten who never bought) over two years, with
    returns, two fully cancelled orders, two randomised campaigns and a catalogue whose text
    holds a non-ASCII letter, commas and quotes (quoted in CSV)."""
    rng = np.random.default_rng(seed)
    cats = np.array(["Bücher", "Home, Garden", "Kitchen", "Toys", "Beauty"])
    n_prod = 30
    products = pd.DataFrame(
        {
            "product_id": [f"P{i:03d}" for i in range(1, n_prod + 1)],
            "name": [f"Item {i}" for i in range(1, n_prod)] + ['Mug "Classic", 0.3 l'],
            "category": cats[np.arange(n_prod) % len(cats)],
            "price": rng.integers(3, 60, n_prod) + 0.99,
        }
    )
    ids = np.arange(10001, 10001 + n_customers)
    first = rng.integers(0, DAYS - 120, n_customers)
    n_orders = 1 + rng.poisson(3.5, n_customers)
    cust = np.repeat(np.arange(n_customers), n_orders)
    span = DAYS - first[cust]
    day = first[cust] + (rng.random(len(cust)) * span).astype(int)
    day[np.r_[0, np.cumsum(n_orders)[:-1]]] = first  # each customer's first order on day one
    day[0], day[-1] = 0, DAYS - 1  # the data spans exactly 2024-01-01 .. 2025-12-31
    orders = pd.DataFrame(
        {
            "customer_id": ids[cust],
            "order_id": [f"SO{i:06d}" for i in range(1, len(cust) + 1)],
            "order_date": START + pd.to_timedelta(day, unit="D"),
            "channel": rng.choice(["web", "store", "app"], len(cust), p=[0.6, 0.3, 0.1]),
        }
    )
    lines_per = 1 + np.minimum(rng.poisson(0.8, len(orders)), 3)
    order_of_line = np.repeat(np.arange(len(orders)), lines_per)
    tx = orders.iloc[order_of_line].reset_index(drop=True)
    line_no = tx.groupby("order_id").cumcount().to_numpy()
    # distinct products within an order (7 is coprime with 30)
    pick = (rng.integers(0, n_prod, len(orders))[order_of_line] + 7 * line_no) % n_prod
    qty = 1 + rng.poisson(0.3, len(tx))
    tx["product_id"] = products["product_id"].to_numpy()[pick]
    tx["category"] = products["category"].to_numpy()[pick]
    tx["quantity"] = qty
    tx["amount"] = np.round(products["price"].to_numpy()[pick] * qty, 2)
    # returns: a later order id of the same customer with one negative line
    ret = tx.drop_duplicates("order_id").sample(frac=0.05, random_state=seed)
    ret = ret.assign(
        order_id="RT" + ret["order_id"].str[2:],
        order_date=np.minimum(
            ret["order_date"] + pd.to_timedelta(rng.integers(3, 30, len(ret)), unit="D"),
            START + pd.Timedelta(days=DAYS - 1),
        ),
        amount=-ret["amount"],
        quantity=-ret["quantity"],
    )
    # two orders cancelled within the order: net value 0, so not orders
    cancel = tx.loc[tx["order_id"].isin(tx["order_id"].drop_duplicates().iloc[[5, 40]])]
    cancel = cancel.assign(amount=-cancel["amount"], quantity=-cancel["quantity"])
    tx = pd.concat([tx, ret, cancel], ignore_index=True)
    tx = tx.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)
    tx = tx[
        [
            "customer_id",
            "order_id",
            "order_date",
            "amount",
            "product_id",
            "category",
            "quantity",
            "channel",
        ]
    ]

    all_ids = np.arange(10001, 10001 + n_customers + 10)
    first_all = np.r_[first, rng.integers(0, DAYS - 60, 10)]
    customers = pd.DataFrame(
        {
            "customer_id": all_ids,
            "signup_date": START
            + pd.to_timedelta(first_all, unit="D")
            - pd.to_timedelta(rng.integers(0, 20, len(all_ids)), unit="D"),
            "region": rng.choice(["North", "South", "East", "West"], len(all_ids)),
            "age": rng.integers(18, 80, len(all_ids)),
            "opt_in": rng.random(len(all_ids)) < 0.9,
        }
    )

    sends = [
        ("CMP01", "2024-09-02", ["discount_10"]),
        ("CMP02", "2025-05-05", ["discount_10", "free_shipping"]),
    ]
    parts = []
    for cid, sent, arms in sends:  # one row per customer of the two campaigns
        signed = customers.loc[customers["signup_date"] < pd.Timestamp(sent), "customer_id"]
        who = rng.choice(signed.to_numpy(), min(len(signed), 170), replace=False)
        arm = rng.choice(["control", *arms], len(who), p=[0.25] + [0.75 / len(arms)] * len(arms))
        treated = arm != "control"
        responded = rng.random(len(who)) < np.where(treated, 0.25, 0.12)
        parts.append(
            pd.DataFrame(
                {
                    "campaign_id": cid,
                    "customer_id": who,
                    "sent_date": pd.Timestamp(sent) + pd.Timedelta(hours=9),
                    "channel": rng.choice(["email", "sms", "post"], len(who)),
                    "treated": treated,
                    "responded": responded,
                    "response_amount": np.where(
                        responded, np.round(rng.lognormal(3.5, 0.5, len(who)), 2), 0.0
                    ),
                    "arm": arm,
                }
            )
        )
    campaigns = pd.concat(parts, ignore_index=True)
    return Shop(tx, customers, campaigns, products)


# --------------------------------------------------------------------------- writing
def render(frame: pd.DataFrame, date_format: str = "%Y-%m-%d") -> pd.DataFrame:
    """The frame as text a CSV export would hold: dates in ``date_format`` (a time of day is
    kept where there is one and the format is ISO), blanks for missing values."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            timed = (s.dropna() != s.dropna().dt.normalize()).any()
            fmt = "%Y-%m-%d %H:%M:%S" if timed and date_format == "%Y-%m-%d" else date_format
            out[col] = s.dt.strftime(fmt).fillna("")
    return out


def save(folder: Path, files: dict[str, pd.DataFrame | str | bytes]) -> None:
    """Write each file into ``folder``: a frame as CSV (ISO dates), text as UTF-8, bytes raw."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            render(content).to_csv(path, index=False, lineterminator="\n")


def save_shop(folder: Path, shop: Shop, **replace_files) -> None:
    """Every table of ``shop`` as ``<table>.csv``; ``replace_files`` (table name -> content,
    ``None`` to leave the table out) overrides single files."""
    files: dict[str, pd.DataFrame | str | bytes] = {}
    for table, frame in shop.tables().items():
        if table in replace_files:
            if replace_files[table] is not None:
                files[f"{table}.csv"] = replace_files[table]
        elif frame is not None:
            files[f"{table}.csv"] = frame
    save(folder, files)


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded from the case name: each case is the same on every run."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def refusals(shop: Shop) -> dict[str, str]:
    """Verbs the dataset cannot support, with the plain reason they must give."""
    out = {}
    if shop.transactions is None:
        out.update({v: "transaction" for v in CUSTOMER_VERBS})
    if shop.campaigns is None:
        out.update({v: "campaign" for v in CAMPAIGN_VERBS})
    if shop.transactions is not None and not (
        {"product_id", "category"} & set(shop.transactions.columns)
    ):
        out["basket"] = "product|categor"
    return out


def accept(folder: Path, shop: Shop, **kw) -> Case:
    """A case that loads clean; its truth from ``shop`` unless given."""
    truth = kw.pop("truth", None) or shop.truth()
    refuse = {**refusals(shop), **kw.pop("refuse", {})}
    return Case(folder.name, folder, "accept", truth=truth, refuse=refuse, **kw)


def warn(folder: Path, shop: Shop, *where: Where, **kw) -> Case:
    """A case that loads with a warning naming each of ``where``."""
    truth = kw.pop("truth", None) or shop.truth()
    refuse = {**refusals(shop), **kw.pop("refuse", {})}
    return Case(folder.name, folder, "warn", where, truth, refuse=refuse, **kw)


def reject(folder: Path, *where: Where, **kw) -> Case:
    """A case that must be refused with a data problem naming each of ``where``."""
    return Case(folder.name, folder, "reject", where, **kw)


# --------------------------------------------------------------------------- the cases
Builder = Callable[[Shop, Path], Case]
BUILDERS: dict[str, Builder] = {}


def case(fn: Builder) -> Builder:
    """Register a case builder under its function name (without the ``case_`` prefix)."""
    BUILDERS[fn.__name__.removeprefix("case_")] = fn
    return fn


TX, CU, CA, PR = "transactions.csv", "customers.csv", "campaigns.csv", "products.csv"


@case
def case_baseline(shop: Shop, d: Path) -> Case:
    save_shop(d, shop)
    return accept(d, shop, note="clean contract folder: every verb runs")


# --- dates ------------------------------------------------------------------------------------
def _dates_as(shop: Shop, d: Path, text: pd.Series, **kw) -> None:
    tx = render(shop.transactions)
    tx["order_date"] = text
    save_shop(d, shop, transactions=tx, **kw)


@case
def case_dates_mixed_formats(shop: Shop, d: Path) -> Case:
    dt = shop.transactions["order_date"]
    way = np.arange(len(dt)) % 4
    text = dt.dt.strftime("%Y-%m-%d")
    text = text.where(way != 1, dt.dt.strftime("%d/%m/%Y"))
    text = text.where(way != 2, dt.dt.strftime("%m/%d/%Y"))
    text = text.where(way != 3, dt.dt.day.astype(str) + dt.dt.strftime(" %B %Y"))
    _dates_as(shop, d, text)
    return reject(d, (TX, "order_date"), mention=("date_format",))


def _early_days(shop: Shop) -> Shop:
    """The shop with every date moved to a day of month 1..12 (day-first vs month-first
    cannot be told apart)."""
    s = shop.copy()
    dt = s.transactions["order_date"]
    s.transactions["order_date"] = dt - pd.to_timedelta(
        dt.dt.day - ((dt.dt.day - 1) % 12 + 1), unit="D"
    )
    return s


@case
def case_dates_ambiguous(shop: Shop, d: Path) -> Case:
    s = _early_days(shop)
    _dates_as(s, d, s.transactions["order_date"].dt.strftime("%d/%m/%Y"))
    return reject(d, (TX, "order_date"), mention=("date_format",))


@case
def case_dates_ambiguous_with_mapping(shop: Shop, d: Path) -> Case:
    s = _early_days(shop)
    _dates_as(s, d, s.transactions["order_date"].dt.strftime("%d/%m/%Y"))
    save(d, {"mapping.json": json.dumps({"transactions": {"date_format": "%d/%m/%Y"}})})
    return accept(d, s, note="the user settled day-first in mapping.json")


@case
def case_dates_day_first(shop: Shop, d: Path) -> Case:
    _dates_as(shop, d, shop.transactions["order_date"].dt.strftime("%d/%m/%Y"))
    return accept(d, shop, note="days above 12 settle day-first for the whole column")


@case
def case_dates_month_first(shop: Shop, d: Path) -> Case:
    _dates_as(shop, d, shop.transactions["order_date"].dt.strftime("%m/%d/%Y"))
    return accept(d, shop, note="days above 12 settle month-first for the whole column")


@case
def case_dates_dotted(shop: Shop, d: Path) -> Case:
    _dates_as(shop, d, shop.transactions["order_date"].dt.strftime("%d.%m.%Y"))
    return accept(d, shop, note="German-style 07.02.2024")


@case
def case_dates_month_names(shop: Shop, d: Path) -> Case:
    dt = shop.transactions["order_date"]
    _dates_as(shop, d, dt.dt.day.astype(str) + dt.dt.strftime(" %B %Y"))
    return accept(d, shop, note="'7 February 2024'")


@case
def case_dates_excel_serial(shop: Shop, d: Path) -> Case:
    serial = (shop.transactions["order_date"] - pd.Timestamp("1899-12-30")).dt.days
    _dates_as(shop, d, serial)
    return accept(d, shop, note="Excel serial day numbers (45292 = 2024-01-01)")


@case
def case_dates_epoch_seconds(shop: Shop, d: Path) -> Case:
    epoch = (shop.transactions["order_date"] - pd.Timestamp("1970-01-01")).dt.total_seconds()
    _dates_as(shop, d, epoch.astype("int64"))
    return accept(d, shop, note="Unix epoch seconds")


def _utc_timed(shop: Shop) -> tuple[Shop, np.ndarray]:
    """The shop with a time of day on every line (UTC), and an offset in minutes per line;
    the first line is 01:00 UTC on 2024-01-01 with offset -05:00 (local date 2023-12-31) and
    the last 23:00 UTC on 2025-12-31 with offset +05:30 (local date 2026-01-01), so a loader
    that drops the offsets gets the first and last date wrong.  The same for every case that
    uses it: they must load to the same data."""
    rng = rng_for("timed")
    s = shop.copy()
    tx = s.transactions
    tx["order_date"] = tx["order_date"] + pd.to_timedelta(rng.integers(8, 20, len(tx)), "h")
    offsets = rng.choice([-300, 0, 60, 330], len(tx))
    tx.loc[0, "order_date"] = pd.Timestamp("2024-01-01 01:00")
    tx.loc[len(tx) - 1, "order_date"] = pd.Timestamp("2025-12-31 23:00")
    offsets[0], offsets[-1] = -300, 330
    return s, offsets


@case
def case_dates_with_times(shop: Shop, d: Path) -> Case:
    s, _ = _utc_timed(shop)
    save_shop(d, s)
    return accept(d, s, note="ISO timestamps with a time of day")


def _local_iso(utc: pd.Series, offsets: np.ndarray) -> pd.Series:
    local = utc + pd.to_timedelta(offsets, unit="min")
    sign = np.where(offsets < 0, "-", "+")
    hh = pd.Series(np.abs(offsets) // 60, index=utc.index).astype(str).str.zfill(2)
    mm = pd.Series(np.abs(offsets) % 60, index=utc.index).astype(str).str.zfill(2)
    suffix = sign + hh + ":" + mm
    return local.dt.strftime("%Y-%m-%dT%H:%M:%S") + suffix


@case
def case_dates_mixed_offsets(shop: Shop, d: Path) -> Case:
    s, offsets = _utc_timed(shop)
    _dates_as(s, d, _local_iso(s.transactions["order_date"], offsets))
    return accept(
        d, s, logged=("UTC",), note="ISO with +01:00, -05:00, +05:30, +00:00: converted to UTC"
    )


@case
def case_dates_utc_z(shop: Shop, d: Path) -> Case:
    s, _ = _utc_timed(shop)
    _dates_as(s, d, s.transactions["order_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return accept(d, s, logged=("UTC",), note="ISO UTC with a Z suffix")


@case
def case_dates_aware_and_naive(shop: Shop, d: Path) -> Case:
    s, offsets = _utc_timed(shop)
    text = _local_iso(s.transactions["order_date"], offsets)
    naive = s.transactions["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    _dates_as(s, d, text.where(np.arange(len(text)) % 3 != 0, naive))
    return reject(d, (TX, "order_date"), note="which zone are the naive ones in? unknowable")


@case
def case_dates_in_future(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    rows = rng_for(d.name).choice(len(s.transactions), 20, replace=False)
    s.transactions.loc[rows, "order_date"] = s.transactions.loc[rows, "order_date"] + pd.DateOffset(
        years=6
    )
    save_shop(d, s)
    return reject(d, (TX, "order_date"), note="20 lines typed 2030/2031: after today")


@case
def case_dates_in_future_as_of(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    rows = rng_for(d.name).choice(len(s.transactions), 20, replace=False)
    s.transactions.loc[rows, "order_date"] = pd.Timestamp("2031-03-15")
    save_shop(d, s)
    return reject(
        d,
        (TX, "order_date"),
        args=("--as-of", "2025-06-30"),
        note="a past --as-of does not excuse lines after today",
    )


@case
def case_dates_1900(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    rows = rng_for(d.name).choice(len(s.transactions), 5, replace=False)
    s.transactions.loc[rows, "order_date"] = pd.Timestamp("1900-01-01")
    save_shop(d, s)
    return warn(
        d, s, (TX, "order_date"), may_refuse=frozenset(MODEL_VERBS), note="Excel zero dates"
    )


@case
def case_campaign_sent_in_future(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.campaigns.loc[s.campaigns["campaign_id"] == "CMP02", "sent_date"] = pd.Timestamp(
        "2031-05-05 09:00"
    )
    save_shop(d, s)
    return reject(d, (CA, "sent_date"))


@case
def case_dates_unparseable(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx.loc[[3, 50, 90], "order_date"] = ["not a date", "2024-13-45", "n/a"]
    save_shop(d, shop, transactions=tx)
    return reject(d, (TX, "order_date"))


@case
def case_dates_blank(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx.loc[[7, 70], "order_date"] = ""
    save_shop(d, shop, transactions=tx)
    return reject(d, (TX, "order_date"))


@case
def case_dates_wrong_mapping_format(shop: Shop, d: Path) -> Case:
    save_shop(d, shop)
    save(d, {"mapping.json": json.dumps({"transactions": {"date_format": "%d.%m.%Y"}})})
    return reject(d, (TX, "order_date"), note="mapping.json says 07.02.2024, the file is ISO")


@case
def case_as_of_past(shop: Shop, d: Path) -> Case:
    save_shop(d, shop)
    tx = shop.transactions
    later = int((tx["order_date"] >= pd.Timestamp("2025-07-01")).sum())
    return accept(
        d,
        shop,
        truth=shop.truth(as_of="2025-06-30"),
        args=("--as-of", "2025-06-30"),
        ignored_lines=later,
        note="the base as known at the end of June 2025",
    )


# --- amounts ----------------------------------------------------------------------------------
def _amounts_as(shop: Shop, d: Path, rows, values) -> None:
    tx = render(shop.transactions)
    tx["amount"] = tx["amount"].astype(object)
    tx.loc[rows, "amount"] = values
    save_shop(d, shop, transactions=tx)


@case
def case_amount_overflow(shop: Shop, d: Path) -> Case:
    _amounts_as(shop, d, [10, 11, 12], ["1e308", "1e308", "1.5e308"])
    return reject(d, (TX, "amount"), note="each finite, the sum overflows to inf")


@case
def case_amount_inf_nan_text(shop: Shop, d: Path) -> Case:
    _amounts_as(shop, d, [4, 40, 80, 120], ["inf", "-inf", "nan", "NaN"])
    return reject(d, (TX, "amount"))


@case
def case_amount_extreme(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions.loc[100, "amount"] = 1e9
    save_shop(d, s)
    return warn(d, s, (TX, "amount"), note="one line of 1,000,000,000 among ~50s")


@case
def case_amount_blank(shop: Shop, d: Path) -> Case:
    _amounts_as(shop, d, [9, 99], ["", ""])
    return reject(d, (TX, "amount"))


@case
def case_amount_text(shop: Shop, d: Path) -> Case:
    _amounts_as(shop, d, [9, 99, 199], ["twelve", "12.5.1", "-"])
    return reject(d, (TX, "amount"))


@case
def case_amount_thousands_separators(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions.loc[[20, 21], "amount"] = [1234.5, 2210.0]
    text = s.transactions["amount"].map("{:,.2f}".format)
    _amounts_as(s, d, slice(None), text)
    return reject(d, (TX, "amount"), note="'1,234.50' is text; the contract wants 1234.50")


@case
def case_amount_decimal_comma(shop: Shop, d: Path) -> Case:
    text = shop.transactions["amount"].map("{:.2f}".format).str.replace(".", ",", regex=False)
    _amounts_as(shop, d, slice(None), text)
    return reject(d, (TX, "amount"), note="'12,50': decimal comma (quoted CSV field)")


@case
def case_amount_currency_symbols(shop: Shop, d: Path) -> Case:
    text = "$" + shop.transactions["amount"].map("{:.2f}".format)
    _amounts_as(shop, d, slice(None), text)
    return reject(d, (TX, "amount"), note="'$12.50': symbol inside the number")


@case
def case_amount_padded(shop: Shop, d: Path) -> Case:
    text = "  " + shop.transactions["amount"].map("{:.2f}".format) + " "
    _amounts_as(shop, d, slice(None), text)
    return accept(d, shop, note="spaces around numbers are trimmed")


@case
def case_duplicate_amount_columns(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx["amount_gross"] = (tx["amount"] * 1.2).round(2)
    text = tx.to_csv(index=False, lineterminator="\n").replace("amount_gross", "amount", 1)
    save_shop(d, shop, transactions=text)
    return reject(d, (TX, "amount"), note="net and gross both headed 'amount'")


@case
def case_only_returns(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions["amount"] = -s.transactions["amount"].abs()
    save_shop(d, s)
    return warn(d, s, (TX, "amount"), may_refuse=frozenset(MODEL_VERBS))


@case
def case_all_zero_amounts(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions["amount"] = 0.0
    save_shop(d, s)
    return warn(d, s, (TX, "amount"), may_refuse=frozenset(MODEL_VERBS))


# --- ids and keys -----------------------------------------------------------------------------
@case
def case_ids_with_spaces(shop: Shop, d: Path) -> Case:
    tx, cu = render(shop.transactions), render(shop.customers)
    tx["customer_id"] = " " + tx["customer_id"].astype(str) + "  "
    cu["customer_id"] = cu["customer_id"].astype(str) + " "
    save_shop(d, shop, transactions=tx, customers=cu)
    return accept(d, shop, logged=("trimmed",), note="ids padded with spaces are trimmed")


@case
def case_ids_as_floats(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx["customer_id"] = tx["customer_id"].astype(float)
    save_shop(d, shop, transactions=tx)
    return accept(
        d, shop, logged=("decimal",), note="17850.0-style ids (a spreadsheet round trip) join 17850"
    )


@case
def case_ids_as_emails(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    mail = {i: f"kunde{i}@example.org" for i in s.customers["customer_id"]}
    for t in (s.transactions, s.customers, s.campaigns):
        t["customer_id"] = t["customer_id"].map(mail)
    save_shop(d, s)
    secrets = tuple(mail[i] for i in (10001, 10002, 10150))
    return accept(
        d, s, secrets=secrets, logged=("pseudonym",), note="e-mail ids become keyed pseudonyms"
    )


@case
def case_ids_leading_zeros(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    code = {p: f"{int(p[1:]):06d}" for p in s.products["product_id"]}
    s.products["product_id"] = s.products["product_id"].map(code)
    s.transactions["product_id"] = s.transactions["product_id"].map(code)
    save_shop(d, s)
    return accept(d, s, note="product codes 000007 stay text (joins the catalogue)")


@case
def case_ids_blank(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx["customer_id"] = tx["customer_id"].astype(str)
    tx.loc[[2, 30, 31, 60], "customer_id"] = ["", " ", "", ""]
    save_shop(d, shop, transactions=tx)
    return reject(d, (TX, "customer_id"))


@case
def case_ids_blank_allowed(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions["customer_id"] = s.transactions["customer_id"].astype("Int64")
    s.transactions.loc[[2, 30, 31, 60], "customer_id"] = pd.NA
    save_shop(d, s)
    save(d, {"mapping.json": json.dumps({"options": {"allow_anonymous": True}})})
    return accept(
        d, s, logged=("without a customer",), note="anonymous lines kept for products only"
    )


@case
def case_duplicate_lines(shop: Shop, d: Path) -> Case:
    tx = shop.transactions
    save_shop(d, shop, transactions=pd.concat([tx, tx.iloc[[5, 6, 300]]], ignore_index=True))
    return reject(d, (TX, None), note="an export run twice over a page")


@case
def case_duplicate_lines_dropped(shop: Shop, d: Path) -> Case:
    tx = shop.transactions
    save_shop(d, shop, transactions=pd.concat([tx, tx.iloc[[5, 6, 300]]], ignore_index=True))
    save(d, {"mapping.json": json.dumps({"options": {"duplicates": "drop"}})})
    return accept(d, shop, logged=("duplicate",), note="duplicates: drop in mapping.json")


@case
def case_duplicate_customer_ids(shop: Shop, d: Path) -> Case:
    cu = shop.customers
    save_shop(d, shop, customers=pd.concat([cu, cu.iloc[[3]].assign(region="Elsewhere")]))
    return reject(d, (CU, "customer_id"))


@case
def case_duplicate_product_ids(shop: Shop, d: Path) -> Case:
    pr = shop.products
    save_shop(d, shop, products=pd.concat([pr, pr.iloc[[0]].assign(name="Other")]))
    return reject(d, (PR, "product_id"))


@case
def case_duplicate_campaign_rows(shop: Shop, d: Path) -> Case:
    ca = shop.campaigns
    save_shop(d, shop, campaigns=pd.concat([ca, ca.iloc[[0]].assign(channel="sms")]))
    return reject(d, (CA, ("customer_id", "campaign_id")))


@case
def case_order_shared_by_customers(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    tx = s.transactions
    other = tx.loc[tx["customer_id"] != tx.loc[0, "customer_id"]].index[0]
    tx.loc[other, "order_id"] = tx.loc[0, "order_id"]
    save_shop(d, s)
    return reject(d, (TX, "order_id"))


@case
def case_unknown_customers(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions.loc[[1, 2, 3], "customer_id"] = 99999
    save_shop(d, s)
    return reject(d, (TX, "customer_id"))


@case
def case_unknown_products(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions.loc[[1, 2], "product_id"] = "P999"
    save_shop(d, s)
    return reject(d, (TX, "product_id"))


@case
def case_campaign_unknown_customers(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.campaigns.loc[[0, 1], "customer_id"] = 88888
    save_shop(d, s)
    return reject(d, (CA, "customer_id"))


# --- campaigns --------------------------------------------------------------------------------
@case
def case_responded_yes_no(shop: Shop, d: Path) -> Case:
    ca = render(shop.campaigns)
    r = shop.campaigns["responded"].to_numpy()
    words = np.where(np.arange(len(r)) % 2 == 0, np.where(r, "yes", "no"), np.where(r, "Y", "N"))
    ca["responded"] = words
    ca["treated"] = np.where(shop.campaigns["treated"], "TRUE", "FALSE")
    save_shop(d, shop, campaigns=ca)
    return accept(d, shop, note="yes/no/Y/N and TRUE/FALSE read as booleans")


@case
def case_responded_invalid(shop: Shop, d: Path) -> Case:
    ca = render(shop.campaigns)
    ca["responded"] = ca["responded"].astype(str)
    ca.loc[[3, 33], "responded"] = "maybe"
    save_shop(d, shop, campaigns=ca)
    return reject(d, (CA, "responded"))


@case
def case_response_amount_negative(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    resp = s.campaigns.index[s.campaigns["responded"]][:2]
    s.campaigns.loc[resp, "response_amount"] = -25.0
    save_shop(d, s)
    return reject(d, (CA, "response_amount"))


@case
def case_response_amount_without_response(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    idle = s.campaigns.index[~s.campaigns["responded"]][:2]
    s.campaigns.loc[idle, "response_amount"] = 19.99
    save_shop(d, s)
    return reject(d, (CA, "response_amount"))


@case
def case_campaigns_no_control(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    c = s.campaigns
    c["arm"] = c["arm"].replace("control", "discount_10")
    c["treated"] = True
    save_shop(d, s)
    return warn(
        d,
        s,
        (CA, ("treated", "arm", "campaign_id")),
        refuse={"uplift": "control", "target": "control"},
        note="no random control group: effect of mailing unmeasurable",
    )


@case
def case_campaigns_no_response(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.campaigns["responded"] = False
    s.campaigns["response_amount"] = 0.0
    save_shop(d, s)
    return warn(
        d,
        s,
        (CA, ("responded", "response_amount", "campaign_id")),
        refuse={"uplift": "respon", "target": "respon"},
    )


@case
def case_negative_price(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.products.loc[4, "price"] = -4.99
    save_shop(d, s)
    return reject(d, (PR, "price"))


# --- sizes and shapes -------------------------------------------------------------------------
@case
def case_too_few_customers(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    keep = s.customers["customer_id"].iloc[:3]
    s.transactions = s.transactions.loc[s.transactions["customer_id"].isin(keep)]
    s.customers = s.customers.loc[s.customers["customer_id"].isin(keep)]
    camp = s.campaigns.loc[s.campaigns["customer_id"].isin(keep)]
    s.campaigns = camp if len(camp) else None
    save_shop(d, s)
    return warn(d, s, (TX, None), may_refuse=frozenset(MODEL_VERBS))


@case
def case_missing_required_column(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=shop.transactions.drop(columns="amount"))
    return reject(d, (TX, "amount"))


@case
def case_missing_campaign_column(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, campaigns=shop.campaigns.drop(columns="treated"))
    return reject(d, (CA, "treated"))


@case
def case_empty_file(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=b"")
    return reject(d, (TX, None))


@case
def case_header_only(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=",".join(shop.transactions.columns) + "\n")
    return reject(d, (TX, None))


@case
def case_trailing_blank_rows(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, lineterminator="\n")
    save_shop(d, shop, transactions=text + ",,,,,,,\n" * 3)
    return accept(
        d,
        shop,
        logged=(r"empty lines \(every cell blank\) skipped \(3 rows\)",),
        note="spreadsheet rows of empty cells: skipped, and said so",
    )


@case
def case_blank_lines(shop: Shop, d: Path) -> Case:
    lines = render(shop.transactions).to_csv(index=False, lineterminator="\n").splitlines()
    text = "\n".join(lines[:50] + [""] + lines[50:]) + "\n\n\n"
    save_shop(d, shop, transactions=text)
    return accept(d, shop, note="empty lines are not rows")


@case
def case_semicolon_delimiter(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, sep=";", lineterminator="\n")
    save_shop(d, shop, transactions=text)
    return reject(d, (TX, None), note="a European export; the contract reads commas")


@case
def case_crlf_line_endings(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, lineterminator="\r\n")
    save_shop(d, shop, transactions=text.encode())
    return accept(d, shop, note="Windows line endings")


@case
def case_quoted_everything(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    for table, frame in shop.tables().items():
        render(frame).to_csv(d / f"{table}.csv", index=False, quoting=csv.QUOTE_ALL)
    return accept(d, shop, note='every field quoted, numbers too ("12.50")')


@case
def case_latin1(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, lineterminator="\n")
    save_shop(d, shop, transactions=text.encode("latin-1"))
    return reject(d, (TX, None), mention=("encoding",), note="an old ERP export in Latin-1")


@case
def case_latin1_with_mapping(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, lineterminator="\n")
    save_shop(d, shop, transactions=text.encode("latin-1"))
    save(d, {"mapping.json": json.dumps({"transactions": {"encoding": "latin-1"}})})
    return accept(d, shop, note="'Bücher' in Latin-1, encoding set in mapping.json")


@case
def case_utf8_bom(shop: Shop, d: Path) -> Case:
    text = render(shop.transactions).to_csv(index=False, lineterminator="\n")
    save_shop(d, shop, transactions=b"\xef\xbb\xbf" + text.encode())
    return accept(d, shop, note="Excel's 'CSV UTF-8' starts with a byte-order mark")


@case
def case_headers_padded(shop: Shop, d: Path) -> Case:
    tx = render(shop.transactions)
    tx.columns = [f" {c} " for c in tx.columns]
    save_shop(d, shop, transactions=tx)
    return accept(d, shop, note="header cells with spaces around the names")


@case
def case_personal_columns(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    cu = s.customers
    n = np.arange(len(cu))
    cu["name"] = [f"Anna Beispiel{i}" for i in n]
    cu["email"] = [f"anna.beispiel{i}@mail.example" for i in n]
    cu["phone"] = [f"+49 30 5550{i:04d}" for i in n]
    s.transactions["contact_email"] = s.transactions["customer_id"].map(
        cu.set_index("customer_id")["email"]
    )
    save_shop(d, s)
    secrets = ("Anna Beispiel7", "anna.beispiel7@mail.example", "+49 30 55500007")
    return accept(
        d, s, secrets=secrets, logged=("personal",), note="name, email, phone dropped, unprinted"
    )


# --- mapping.json -----------------------------------------------------------------------------
@case
def case_mapping_invalid_json(shop: Shop, d: Path) -> Case:
    save_shop(d, shop)
    save(d, {"mapping.json": '{\n  "transactions": {"encoding": "utf-8",}\n}\n'})
    return reject(d, ("mapping.json", None), mention=("line",))


@case
def case_mapping_renames(shop: Shop, d: Path) -> Case:
    names = {
        "customer_id": "Kundennummer",
        "order_id": "Belegnummer",
        "order_date": "Belegdatum",
        "amount": "Nettobetrag",
    }
    tx = shop.transactions.rename(columns=names)
    save_shop(d, shop, transactions=None)
    save(d, {"umsatz_2025.csv": tx})
    mapping = {"transactions": {"file": "umsatz_2025.csv", "columns": names}}
    save(d, {"mapping.json": json.dumps(mapping, indent=2)})
    return accept(d, shop, note="a German ERP export mapped onto the contract")


@case
def case_mapping_outside_folder(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=None)
    mapping = {"transactions": {"file": "../baseline/transactions.csv"}}
    save(d, {"mapping.json": json.dumps(mapping)})
    return reject(d, ("mapping.json", None), note="a path that leaves the dataset folder")


@case
def case_mapping_missing_file(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=None)
    save(d, {"mapping.json": json.dumps({"transactions": {"file": "sales_2025.csv"}})})
    return reject(d, ("mapping.json", None))


@case
def case_mapping_unknown_table(shop: Shop, d: Path) -> Case:
    save_shop(d, shop)
    save(d, {"mapping.json": json.dumps({"orders": {"file": "transactions.csv"}})})
    return reject(d, ("mapping.json", None))


# --- which tables -----------------------------------------------------------------------------
@case
def case_campaigns_only(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    s.transactions, s.products = None, None
    s.customers = s.customers.loc[s.customers["customer_id"].isin(s.campaigns["customer_id"])]
    save_shop(d, s)
    return accept(d, s, note="segment/view/clv/forecast/basket: 'no transactions'")


@case
def case_transactions_only(shop: Shop, d: Path) -> Case:
    s = Shop(shop.transactions, None, None, None)
    save_shop(d, s)
    return accept(d, s, note="uplift/target: 'no campaigns'")


@case
def case_no_products_or_categories(shop: Shop, d: Path) -> Case:
    s = shop.copy()
    keys = ["customer_id", "order_id", "order_date", "channel"]
    s.transactions = s.transactions.groupby(keys, as_index=False, sort=False)[
        ["amount", "quantity"]
    ].sum()  # one line per order, as a till export without products writes
    s.products = None
    save_shop(d, s)
    return accept(d, s, note="basket: nothing to put in a basket")


@case
def case_customers_only(shop: Shop, d: Path) -> Case:
    save(d, {CU: shop.customers})
    return reject(d, (CU, None), note="neither transactions nor campaigns")


@case
def case_empty_folder(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.txt").write_text("exports go here\n")
    return reject(d, (d.name, None))


# --- file formats -----------------------------------------------------------------------------
@case
def case_parquet(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    for table, frame in shop.tables().items():
        frame.to_parquet(d / f"{table}.parquet", index=False)
    return accept(d, shop)


@case
def case_parquet_parts(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=None)
    (d / "transactions").mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(shop.transactions)), 3)):
        shop.transactions.iloc[part].to_parquet(d / f"transactions/part-{i:05d}.parquet")
    return accept(d, shop, note="as Spark and DuckDB write a table")


@case
def case_xlsx(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    for table, frame in shop.tables().items():
        frame.to_excel(d / f"{table}.xlsx", index=False)
    return accept(d, shop)


@case
def case_csv_gz(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=None)
    data = render(shop.transactions).to_csv(index=False, lineterminator="\n").encode()
    (d / "transactions.csv.gz").write_bytes(gzip.compress(data, mtime=0))
    return accept(d, shop)


@case
def case_tsv(shop: Shop, d: Path) -> Case:
    save_shop(d, shop, transactions=None)
    render(shop.transactions).to_csv(d / "transactions.tsv", sep="\t", index=False)
    return accept(d, shop)


# --- recognised single files ------------------------------------------------------------------
def _hillstrom(n: int, seed: int) -> pd.DataFrame:
    """A Hillstrom-shaped e-mail test (columns and coding of the 2008 file), with a higher
    conversion rate so that a few hundred rows carry responders."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    visit = rng.random(n) < np.where(segment == "No E-Mail", 0.12, 0.2)
    conversion = visit & (rng.random(n) < 0.5)
    history = np.round(rng.lognormal(5, 0.8, n), 2)
    bands = pd.cut(
        history,
        [0, 100, 200, 350, 500, 750, 1000, np.inf],
        labels=[
            "1) $0 - $100",
            "2) $100 - $200",
            "3) $200 - $350",
            "4) $350 - $500",
            "5) $500 - $750",
            "6) $750 - $1,000",
            "7) $1,000 +",
        ],
    )
    return pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history_segment": bands.astype(str),
            "history": history,
            "mens": rng.integers(0, 2, n),
            "womens": rng.integers(0, 2, n),
            "zip_code": rng.choice(["Surburban", "Rural", "Urban"], n),
            "newbie": rng.integers(0, 2, n),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
            "segment": segment,
            "visit": visit.astype(int),
            "conversion": conversion.astype(int),
            "spend": np.where(conversion, np.round(rng.lognormal(4.5, 0.6, n), 2), 0.0),
        }
    )


@case
def case_hillstrom_file(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    path = d / "hillstrom.csv"
    _hillstrom(300, SEED).to_csv(path, index=False)
    truth = {
        "customers": 300,
        "orders": 0,
        "revenue": 0.0,
        "first_date": "2008-03-20",
        "last_date": "2008-03-20",
    }
    return Case(
        d.name,
        path,
        "accept",
        truth=truth,
        refuse={v: "transaction" for v in CUSTOMER_VERBS},
        may_refuse=frozenset({"target"}),
        note="a recognised campaigns-only file",
    )


@case
def case_hillstrom_column_removed(shop: Shop, d: Path) -> Case:
    d.mkdir(parents=True, exist_ok=True)
    path = d / "hillstrom_export.csv"
    _hillstrom(300, SEED).drop(columns="history").to_csv(path, index=False)
    return replace(
        reject(d, ("hillstrom_export.csv", None), note="not recognised; never mined as baskets"),
        path=path,
    )


# --------------------------------------------------------------------------- building
def build_corpus(root: Path) -> list[Case]:
    """Write every case into its own folder under ``root``; the same files on every run."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shop = base_shop()
    return [build(shop.copy(), root / name) for name, build in BUILDERS.items()]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/corpus/make_corpus.py OUTDIR", file=sys.stderr)
        return 2
    root = Path(argv[0])
    cases = build_corpus(root)
    index = [
        {
            "name": c.name,
            "path": str(c.path.relative_to(root)),
            "expected": c.expected,
            "where": [list(w) for w in c.where],
            "truth": c.truth,
            "args": list(c.args),
            "refuse": c.refuse,
            "note": c.note,
        }
        for c in cases
    ]
    (root / "corpus.json").write_text(json.dumps(index, indent=2, default=str) + "\n")
    for c in cases:
        where = "; ".join(f"{f}/{col}" for f, col in c.where)
        print(f"{c.expected:7s} {c.name:40s} {where}")
    print(f"{len(cases)} cases in {root} (index: corpus.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

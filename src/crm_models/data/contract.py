"""The data contract: what each table must hold, how raw columns are conformed, what is an error.

A dataset is up to four tables (``transactions``, ``customers``, ``campaigns``, ``products``).
:func:`conform` takes the raw frames (already renamed to contract names by the loader's column
mapping), makes the safe repairs (trim ids, parse dates and booleans, drop personal identifiers)
and records each repair as a :class:`~crm_models.data.dataset.CleaningNote`; everything that is not
safe to repair becomes a :class:`Problem`.  All problems are collected before anything fails, so
a user sees every issue of every file at once (:class:`DataError`).

Personal data is recognised by one rule (:mod:`crm_models.data.privacy`): columns named like, or
(text columns outside the contract) holding values like names, e-mail addresses, phone numbers,
addresses, post codes, birth dates, account, card, passport or national id numbers are dropped
on load and never reach features, reports, logs or MLflow; a customers' birth date first becomes
an ``age_band``.  Customer ids that look like e-mail addresses are replaced by a keyed pseudonym
(:func:`crm_models.data.privacy.pseudonym`: stable on one installation, so lists still join, but not
recomputable from guessed addresses).  Problems never quote more than a short piece of a value,
and never an e-mail address.

Returns and cancellations are negative ``amount`` lines; the contract accepts them (see the
metric modules for how each metric treats them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from crm_models.data.dataset import CleaningNote
from crm_models.data.dates import read_dates
from crm_models.data.privacy import (
    age_band,
    find_personal_columns,
    personal_column_kind,
    pseudonym,
    quote_value,
    shorten,
)

Kind = Literal["id", "date", "number", "bool", "text"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = False


SCHEMAS: dict[str, tuple[ColumnSpec, ...]] = {
    "transactions": (
        ColumnSpec("customer_id", "id", True),
        ColumnSpec("order_id", "id", True),
        ColumnSpec("order_date", "date", True),
        ColumnSpec("amount", "number", True),
        ColumnSpec("product_id", "id"),
        ColumnSpec("category", "text"),
        ColumnSpec("quantity", "number"),
        ColumnSpec("channel", "text"),
        ColumnSpec("region", "text"),
    ),
    "customers": (
        ColumnSpec("customer_id", "id", True),
        ColumnSpec("signup_date", "date"),
        ColumnSpec("opt_in", "bool"),
        ColumnSpec("opt_out_date", "date"),
        ColumnSpec("age", "number"),
    ),
    "campaigns": (
        ColumnSpec("campaign_id", "id", True),
        ColumnSpec("customer_id", "id", True),
        ColumnSpec("sent_date", "date", True),
        ColumnSpec("channel", "text", True),
        ColumnSpec("treated", "bool", True),
        ColumnSpec("responded", "bool", True),
        ColumnSpec("response_amount", "number", True),
        ColumnSpec("arm", "text"),
    ),
    "products": (
        ColumnSpec("product_id", "id", True),
        ColumnSpec("name", "text", True),
        ColumnSpec("category", "text"),
        ColumnSpec("price", "number", True),
    ),
}

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


@dataclass
class Problem:
    """One thing wrong with the input: where, what, how many rows, a few examples."""

    file: str
    column: str | None
    issue: str
    rows: int
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        ex = f"; e.g. {'; '.join(self.examples)}" if self.examples else ""
        return f"{where}: {self.issue} ({self.rows:,} rows){ex}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "column": self.column,
            "issue": self.issue,
            "rows": self.rows,
            "examples": self.examples,
        }


class DataError(ValueError):
    """The input breaks the contract; ``problems`` lists every issue found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} data problem(s) found:\n{lines}")


@dataclass
class RawTable:
    """A table as read from its file, columns already renamed to contract names."""

    frame: pd.DataFrame
    file: str
    date_format: str | None = None


@dataclass
class ConformOptions:
    """Policies a user can choose in the dataset's mapping (documented in the README)."""

    as_of: pd.Timestamp | None = None  # point in time: what was known at the end of this day
    allow_anonymous: bool = False  # transactions without customer_id kept for product analyses
    duplicates: Literal["error", "drop", "keep"] = "error"
    today: pd.Timestamp | None = None  # events after this day are a problem (default: today)

    def day_after_as_of(self) -> pd.Timestamp | None:
        """The first instant *not* known at the as-of date (its next midnight)."""
        if self.as_of is None:
            return None
        return pd.Timestamp(self.as_of).normalize() + pd.Timedelta(days=1)

    def day_after_today(self) -> pd.Timestamp:
        return (self.today or pd.Timestamp.today()).normalize() + pd.Timedelta(days=1)


# Amounts whose cents a float64 cannot hold: 2**53 cents.  Sums of such values lose money, and
# values like 1e308 overflow to infinity when added up.
MAX_MONEY = 2.0**53 / 100
MONEY_COLUMNS = {
    "transactions": "amount",
    "campaigns": "response_amount",
    "products": "price",
}


MAX_LISTED = 12  # column names listed in a message
DECIMAL_IDS = "ids written as decimals (e.g. 17850.0) read as whole numbers"


def column_list(columns) -> str:
    """At most :data:`MAX_LISTED` column names, each cut short (a header may be anything)."""
    names = [shorten(c) for c in list(columns)[:MAX_LISTED]]
    more = len(columns) - MAX_LISTED
    return ", ".join(names) + (f" and {more:,} more" if more > 0 else "")


def examples(frame: pd.DataFrame, mask: np.ndarray | pd.Series, cols: list[str]) -> list[str]:
    """Up to three offending rows, as 'row N: col=value' (row = 1-based data row); values of
    columns named like personal data are never quoted."""
    idx = np.flatnonzero(np.asarray(mask))[:3]
    cols = [c for c in cols if c in frame.columns and personal_column_kind(c) is None]
    out = []
    for i in idx:
        values = ", ".join(f"{shorten(c)}={quote_value(frame[c].iloc[i])}" for c in cols)
        out.append(f"row {i + 1}: {values}" if values else f"row {i + 1}")
    return out


class _Conformer:
    """Conform one dataset's tables, collecting problems and cleaning notes."""

    def __init__(self, options: ConformOptions):
        self.options = options
        self.problems: list[Problem] = []
        self.notes: list[CleaningNote] = []
        self.tables: dict[str, pd.DataFrame] = {}  # conformed so far

    def problem(self, file, column, issue, frame, mask, cols=None):
        n = int(np.asarray(mask).sum())
        if n:
            self.problems.append(
                Problem(file, column, issue, n, examples(frame, mask, cols or [column]))
            )

    def note(self, table, column, rows, action):
        if rows:
            self.notes.append(CleaningNote(table, column, int(rows), action))

    # --- columns -------------------------------------------------------------------------
    def conform_id(self, table: str, raw: RawTable, col: str) -> pd.Series:
        s = raw.frame[col]
        if pd.api.types.is_float_dtype(s):
            whole = s.dropna()
            if (whole == np.floor(whole)).all():
                s = s.astype("Int64") if s.isna().any() else s.astype("int64")
                self.note(
                    table,
                    col,
                    len(whole),
                    DECIMAL_IDS,
                )
        elif not pd.api.types.is_integer_dtype(s):
            import pyarrow as pa

            s = s.astype("string")
            # one look at the bytes of the text says whether spaces (any byte below "!" or
            # beyond ASCII), "." or "@" occur at all (in UTF-8 none of them is ever part of
            # another character): going id by id (a tenth to a third of a second per
            # million) is then needed in few files only
            text = pa.array(s)
            data = []  # each piece's own bytes (pieces may share one buffer)
            for c in getattr(text, "chunks", [text]):
                if len(c) and c.buffers()[2] is not None:
                    width = np.int64 if pa.types.is_large_string(c.type) else np.int32
                    ends = np.frombuffer(c.buffers()[1], width)[[c.offset, c.offset + len(c)]]
                    data.append(np.frombuffer(c.buffers()[2], np.uint8)[ends[0] : ends[1]])
            occurs = {char for char in ".@" if any((d == ord(char)).any() for d in data)}
            if any(((d < ord("!")) | (d > ord("~"))).any() for d in data):
                stripped = s.str.strip()
                changed = int((stripped != s).fillna(False).sum())
                self.note(table, col, changed, "leading/trailing spaces trimmed from ids")
                s = stripped
            s = s.mask(s == "")
            decimal = s.str.fullmatch(r"[0-9]+\.0+") if "." in occurs else None
            if decimal is not None and len(s) and decimal.fillna(True).all() and decimal.any():
                s = s.str.replace(r"\.0+$", "", regex=True)
                self.note(
                    table,
                    col,
                    decimal.sum(),
                    DECIMAL_IDS,
                )
            emails = np.zeros(len(s), dtype=bool)
            if "@" in occurs:
                emails = s.str.contains("@", regex=False).fillna(False).to_numpy(dtype=bool)
            if emails.any():
                s = s.where(~emails, pseudonym(s[emails]))
                self.note(
                    table,
                    col,
                    emails.sum(),
                    "ids that were e-mail addresses replaced by a keyed pseudonym",
                )
        return s

    def conform_date(self, table: str, raw: RawTable, col: str) -> pd.Series:
        """Typed dates as they are (time-zone aware ones in UTC); text and numbers read with
        one format for the whole column (:func:`crm_models.data.dates.read_dates`)."""
        parsed = raw.frame[col]
        if not pd.api.types.is_datetime64_any_dtype(parsed):
            reading = read_dates(parsed, raw.date_format)
            for problem in reading.problems:
                self.problem(raw.file, col, problem.issue, raw.frame, problem.rows)
            for rows, action in reading.notes:
                self.note(table, col, rows, action)
            return reading.dates
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
            self.note(table, col, parsed.notna().sum(), "time-zone aware dates converted to UTC")
        return parsed.astype("datetime64[ns]")

    def conform_number(self, table: str, raw: RawTable, col: str) -> pd.Series:
        s = raw.frame[col]
        if pd.api.types.is_bool_dtype(s):
            return s.astype("float64")
        if not pd.api.types.is_numeric_dtype(s):
            text = s.astype("string").str.strip()
            num = pd.to_numeric(text, errors="coerce")
            bad = num.isna() & text.notna() & (text != "")
            self.problem(raw.file, col, "not a number", raw.frame, bad)
            s = num
        s = s.astype("float64")
        self.problem(raw.file, col, "infinite value", raw.frame, np.isinf(s.to_numpy()))
        return s

    def conform_bool(self, table: str, raw: RawTable, col: str) -> pd.Series:
        s = raw.frame[col]
        if pd.api.types.is_bool_dtype(s) and not s.isna().any():
            return s.astype(bool)
        text = s.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=s.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False)] = True
        out[text.isin(_FALSE).fillna(False)] = False
        bad = out.isna() & text.notna()
        self.problem(
            raw.file, col, "not a yes/no value (expected true/false, 1/0, yes/no)", raw.frame, bad
        )
        return out

    def conform_text(self, table: str, raw: RawTable, col: str) -> pd.Series:
        s = raw.frame[col].astype("string").str.strip()
        return s.mask(s == "")

    # --- tables --------------------------------------------------------------------------
    def conform_table(self, table: str, raw: RawTable) -> pd.DataFrame | None:
        df = raw.frame
        if df.shape[1] and df.iloc[:, 0].isna().any():  # cheap pre-check on a large table
            blank = df.isna().all(axis=1).to_numpy()
            if blank.any():
                self.note(table, None, blank.sum(), "empty lines (every cell blank) skipped")
                df = df.loc[~blank].reset_index(drop=True)
                raw = RawTable(df, raw.file, raw.date_format)
        if len(df) == 0:
            self.problems.append(Problem(raw.file, None, f"the {table} table is empty", 0))
            return None
        specs = {c.name: c for c in SCHEMAS[table]}
        df = self.drop_personal(table, raw, specs)
        missing = [c.name for c in specs.values() if c.required and c.name not in df.columns]
        for col in missing:
            self.problems.append(
                Problem(
                    raw.file,
                    col,
                    f"required column missing (found: {column_list(df.columns)})",
                    len(df),
                )
            )
        raw = RawTable(df.reset_index(drop=True), raw.file, raw.date_format)
        out = {}
        for col in raw.frame.columns:
            spec = specs.get(col)
            kind = spec.kind if spec else None
            if kind is None:
                out[col] = raw.frame[col]
                continue
            out[col] = getattr(self, f"conform_{kind}")(table, raw, col)
            if spec.required and kind in ("id", "date", "number", "bool"):
                anonymous_ok = (
                    table == "transactions"
                    and col == "customer_id"
                    and self.options.allow_anonymous
                )
                values = raw.frame[col]
                if kind == "id":  # conform_id made blank ids missing and kept every other value
                    was_missing = out[col].isna()
                elif values.dtype.kind in "biufmM":  # typed: no blank text (and no string copy)
                    was_missing = values.isna()
                else:
                    blank = (values.astype("string").str.strip() == "").fillna(False)
                    was_missing = values.isna() | blank
                if anonymous_ok:
                    self.note(
                        table,
                        col,
                        was_missing.sum(),
                        "lines without a customer kept for product analyses, excluded from customer analyses",
                    )
                else:
                    self.problem(raw.file, col, "missing value", raw.frame, was_missing)
        # copy=False: the columns as conformed, not copied into blocks (copy-on-write keeps
        # the raw frame apart)
        return self.check_duplicates(table, raw, pd.DataFrame(out, copy=False))

    def drop_personal(self, table: str, raw: RawTable, specs: dict) -> pd.DataFrame:
        """The table without its personal columns (a customers' birth date first becomes an
        ``age_band``), each dropped column noted by name and kind, never by value."""
        df = raw.frame
        personal = find_personal_columns(df, table, protected=specs)
        if not personal:
            return df
        births = [c for c, kind in personal.items() if kind == "birth_date"]
        if table == "customers" and births:
            if "age_band" in df.columns:
                self.note(
                    table,
                    shorten(births[0]),
                    len(df),
                    "birth dates dropped (the table already has age_band)",
                )
            else:
                df = df.assign(age_band=self.age_bands(table, df[births[0]], raw.date_format))
        kinds = [
            kind if personal_column_kind(c, table) else f"{kind} seen in its values"
            for c, kind in personal.items()
        ]
        self.note(
            table,
            ", ".join(shorten(c) for c in personal),
            len(df),
            f"personal identifiers dropped on load ({', '.join(kinds)})",
        )
        return df.drop(columns=list(personal))

    def age_bands(self, table: str, born: pd.Series, date_format: str | None) -> pd.Series:
        """Age bands at the as-of date (else the latest order or send date, else today).
        Birth dates are read with one format (:func:`crm_models.data.dates.read_dates`);
        those it cannot read, or not for certain (mixed formats, day or month first), get no
        band, and the note says why."""
        as_of = self.options.as_of
        if as_of is None:
            last = [
                df[col].max()
                for name, col in (("transactions", "order_date"), ("campaigns", "sent_date"))
                if (df := self.tables.get(name)) is not None and col in df.columns
            ]
            last = [d for d in last if not pd.isna(d)]
            as_of = max(last) if last else pd.Timestamp.today()
        as_of = pd.Timestamp(as_of).normalize()
        present = born.notna()
        why = []
        if not pd.api.types.is_datetime64_any_dtype(born):
            text = born.astype("string").str.strip()
            present = (text.notna() & (text != "")).fillna(False)
            reading = read_dates(born, date_format, quote=False)
            why = [problem.issue for problem in reading.problems if not problem.of_values]
            born = reading.dates
        bands = age_band(born, as_of)
        without = int((bands.isna() & present).sum())
        self.note(
            table,
            "age_band",
            len(bands),
            f"birth dates turned into age bands at {as_of.date()}, then dropped"
            + (f"; {without:,} unparseable or implausible left without a band" if without else "")
            + (f" ({'; '.join(why)})" if why else ""),
        )
        return bands

    def check_duplicates(self, table: str, raw: RawTable, frame: pd.DataFrame) -> pd.DataFrame:
        """Exact duplicate lines (every column equal; the first of each set is not counted).

        Comparing every column of millions of lines takes seconds (text above all), so the
        typed columns (numbers, dates, flags) are hashed first, their 64-bit words mixed in
        place: only lines whose hashes repeat can be duplicates, and those are compared
        exactly on every column."""
        typed = []
        for col in frame.columns:
            values = frame[col]
            if values.dtype.kind not in "biufmM":
                continue
            if not isinstance(values.dtype, np.dtype):  # nullable or with a time zone
                typed.append(pd.util.hash_array(values.array))
            else:
                typed.append(values.to_numpy(np.float64 if values.dtype.kind == "f" else None))
        hashes = np.zeros(len(frame), dtype=np.uint64)
        block = 1 << 16  # lines at a time, so each step works in the CPU cache
        for start in range(0, len(frame) if typed else 0, block):
            h = hashes[start : start + block]
            for x in typed:
                x = x[start : start + block]
                if x.dtype.kind == "f":  # equal values, equal words: -0.0 is 0.0, one NaN
                    x = np.where(np.isnan(x), np.nan, x + 0.0)
                h ^= x.view(np.uint64) if x.itemsize == 8 else x.astype(np.uint64)
                h *= np.uint64(0x9E3779B97F4A7C15)
                h ^= h >> np.uint64(29)
        maybe = np.ones(len(frame), dtype=bool)
        if typed:
            ordered = np.sort(hashes)
            repeated = ordered[1:][ordered[1:] == ordered[:-1]]
            maybe = pd.Series(hashes, copy=False).isin(repeated).to_numpy()
        dup = np.zeros(len(frame), dtype=bool)
        if maybe.any():
            rows = np.flatnonzero(maybe)  # take by position: twice as fast as a boolean .loc
            dup[rows] = frame.take(rows).duplicated().to_numpy()
        if not dup.any():
            return frame
        policy = self.options.duplicates
        if policy == "error":
            self.problem(
                raw.file,
                None,
                "duplicate lines (set duplicates: drop or keep in mapping.json)",
                frame,
                dup,
                list(frame.columns[:5]),
            )
        elif policy == "drop":
            self.note(table, None, dup.sum(), "exact duplicate lines dropped")
            frame = frame.loc[~dup].reset_index(drop=True)
        else:
            self.note(table, None, dup.sum(), "exact duplicate lines kept as separate lines")
        return frame

    def check_keys(self, tables: dict[str, pd.DataFrame], files: dict[str, str]) -> None:
        """Uniqueness and cross-table checks that need conformed columns."""
        unique_keys = {
            "customers": ["customer_id"],
            "products": ["product_id"],
            "campaigns": ["campaign_id", "customer_id"],
        }
        for table, keys in unique_keys.items():
            df = tables.get(table)
            if df is not None and all(k in df.columns for k in keys):
                dup = df.duplicated(keys, keep=False) & df[keys].notna().all(axis=1)
                self.problem(files[table], ", ".join(keys), "duplicate key", df, dup, keys)
        tx = tables.get("transactions")
        if tx is not None and {"order_id", "customer_id"} <= set(tx.columns):
            # every line against one known owner of its order (any one: an order of two
            # customers has a line that differs from whichever was kept); integer ids as they are
            order, orders = pd.factorize(tx["order_id"])
            customer = tx["customer_id"]
            typed = isinstance(customer.dtype, np.dtype) and customer.dtype.kind in "iu"
            owner = customer.to_numpy() if typed else pd.factorize(customer)[0]
            known = (order >= 0) & customer.notna().to_numpy()
            lines, owners = (order, owner) if known.all() else (order[known], owner[known])
            kept = np.zeros(len(orders), dtype=owner.dtype)
            kept[lines] = owners
            shared_orders = np.zeros(len(orders) + 1, dtype=bool)  # the last: no order id (-1)
            shared_orders[lines[owners != kept[lines]]] = True
            shared = shared_orders[order]
            self.problem(
                files["transactions"],
                "order_id",
                "order id used by more than one customer",
                tx,
                shared,
                ["order_id", "customer_id"],
            )
        self.check_dates_and_money(tables, files)
        camp = tables.get("campaigns")
        if camp is not None and {"response_amount", "responded"} <= set(camp.columns):
            self.problem(
                files["campaigns"],
                "response_amount",
                "negative response amount",
                camp,
                (camp["response_amount"] < 0).fillna(False),
            )
            self.problem(
                files["campaigns"],
                "response_amount",
                "response amount on a row that did not respond",
                camp,
                ((camp["response_amount"] > 0) & (camp["responded"] == False)).fillna(False),  # noqa: E712
                ["customer_id", "responded", "response_amount"],
            )
        prod = tables.get("products")
        if prod is not None and "price" in prod.columns:
            self.problem(
                files["products"],
                "price",
                "negative price",
                prod,
                (prod["price"] < 0).fillna(False),
            )
        self.check_references(tables, files)

    def check_dates_and_money(self, tables: dict[str, pd.DataFrame], files: dict[str, str]) -> None:
        """Events dated after today (a wrong clock or date format, never a real sale: use
        ``--as-of`` for a past point in time) and amounts too large to add up to the cent."""
        tomorrow = self.options.day_after_today()
        for table, col in (("transactions", "order_date"), ("campaigns", "sent_date")):
            df = tables.get(table)
            if df is not None and col in df.columns:
                self.problem(
                    files[table],
                    col,
                    f"date after today ({(tomorrow - pd.Timedelta(days=1)).date()}): check the "
                    "export's clock and date format",
                    df,
                    (df[col] >= tomorrow).fillna(False),
                )
        for table, col in MONEY_COLUMNS.items():
            df = tables.get(table)
            if df is not None and col in df.columns:
                self.problem(
                    files[table],
                    col,
                    f"amount too large to add up to the cent (above {MAX_MONEY:,.0f}): "
                    "check the export's units and decimal separator",
                    df,
                    (df[col].abs() > MAX_MONEY).fillna(False),
                )

    def point_in_time(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """The tables as known at the end of the as-of day: later orders, campaigns sent later,
        customers who signed up later (and have no earlier activity) are set aside and later
        opt-outs ignored, each counted in the cleaning log."""
        cut = self.options.day_after_as_of()
        if cut is None:
            return tables
        day = (cut - pd.Timedelta(days=1)).date()
        out = dict(tables)
        for table, col, what in (
            ("transactions", "order_date", "lines"),
            ("campaigns", "sent_date", "contacts"),
        ):
            df = out.get(table)
            if df is not None and col in df.columns:
                later = (df[col] >= cut).to_numpy()
                if later.any():
                    self.note(
                        table, col, later.sum(), f"{what} after the as-of date {day} set aside"
                    )
                    out[table] = df.loc[~later].reset_index(drop=True)
        cust = out.get("customers")
        if cust is not None and "signup_date" in cust.columns:
            active = pd.concat(
                [out[t]["customer_id"] for t in ("transactions", "campaigns") if t in out]
                or [pd.Series([], dtype=cust["customer_id"].dtype)]
            )
            later = ((cust["signup_date"] >= cut) & ~cust["customer_id"].isin(active)).to_numpy()
            if later.any():
                self.note(
                    "customers",
                    "signup_date",
                    later.sum(),
                    f"customers who signed up after the as-of date {day} set aside",
                )
                cust = cust.loc[~later].reset_index(drop=True)
        if cust is not None and "opt_out_date" in cust.columns:
            later = (cust["opt_out_date"] >= cut).to_numpy()
            if later.any():
                cust = cust.copy()
                cust.loc[later, "opt_out_date"] = pd.NaT
                if "opt_in" in cust.columns:
                    cust.loc[later, "opt_in"] = True
                self.note(
                    "customers",
                    "opt_out_date",
                    later.sum(),
                    f"opt-outs after the as-of date {day} ignored (still opted in on that day)",
                )
        if cust is not None:
            out["customers"] = cust
        return out

    def check_references(self, tables: dict[str, pd.DataFrame], files: dict[str, str]) -> None:
        refs = [
            ("transactions", "customer_id", "customers", "customer_id"),
            ("campaigns", "customer_id", "customers", "customer_id"),
            ("transactions", "product_id", "products", "product_id"),
        ]
        for child, col, parent, key in refs:
            c, p = tables.get(child), tables.get(parent)
            if c is None or p is None or col not in c.columns or key not in p.columns:
                continue
            if c[col].dtype != p[key].dtype:
                c[col], p[key] = c[col].astype("string"), p[key].astype("string")
            unknown = c[col].notna() & ~c[col].isin(p[key])
            self.problem(files[child], col, f"{col} not found in the {parent} table", c, unknown)


def conform(
    raw_tables: dict[str, RawTable], options: ConformOptions | None = None
) -> tuple[dict[str, pd.DataFrame], list[CleaningNote]]:
    """Conform raw tables to the contract; raise :class:`DataError` listing every problem."""
    c = _Conformer(options or ConformOptions())
    files = {name: raw.file for name, raw in raw_tables.items()}
    order = list(raw_tables)
    if "customers" in raw_tables and any(  # birth dates need the latest event date first
        personal_column_kind(col, "customers") == "birth_date"
        for col in raw_tables["customers"].frame.columns
    ):
        order = [name for name in order if name != "customers"] + ["customers"]
    for name in order:
        frame = c.conform_table(name, raw_tables[name])
        if frame is not None:
            c.tables[name] = frame
    tables = {name: c.tables[name] for name in raw_tables if name in c.tables}
    if "transactions" not in raw_tables and "campaigns" not in raw_tables:
        c.problems.append(
            Problem(
                ", ".join(files.values()) or "(no files)",
                None,
                "neither a transactions nor a campaigns table: nothing to analyse",
                0,
            )
        )
    c.check_keys(tables, files)
    if c.problems:
        raise DataError(c.problems)
    tables = c.point_in_time(tables)
    for name, frame in tables.items():
        frame.attrs["file"] = files[name]  # where warnings about this table point
    return tables, c.notes

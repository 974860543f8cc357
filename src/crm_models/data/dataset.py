"""The one type that carries data through crm-models.

A :class:`Dataset` holds the four contract tables (any of them may be absent), a content
fingerprint and the log of what loading cleaned.  Every analysis takes a ``Dataset``; none of
them re-reads files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

TABLES = ("transactions", "customers", "campaigns", "products")


class UnsupportedData(ValueError):
    """The data cannot support an analysis (no control group, no purchases, too few customers).

    The message is one sentence in plain words for a marketing reader: it is shown on the
    report's card (the build publishes the report as "not applicable" with it), never a raw
    exception.

    A notebook's kernel reports only the *name* of the exception it raised, and the build
    recognises a data condition by that name; so every subclass (e.g. a model's "not enough
    data") carries the name ``UnsupportedData`` too.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.__name__ = "UnsupportedData"


@dataclass(frozen=True)
class CleaningNote:
    """One thing loading changed or set aside, said in words a reader can check."""

    table: str
    column: str | None
    rows: int
    action: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.action} ({self.rows:,} rows)"


@dataclass
class Dataset:
    """A named set of contract tables plus their fingerprint and cleaning log.

    ``currency`` is how the amounts are denominated (an ISO 4217 code such as ``"GBP"``); it
    is not part of the fingerprint, which hashes the tables only.

    ``transactions`` may hold lines without a ``customer_id`` (anonymous sales, kept for product
    analyses); customer analyses use :meth:`customer_transactions`, which leaves them out.
    """

    name: str
    transactions: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    source: str = ""
    cleaning_log: list[CleaningNote] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None  # ISO 4217 code of the amounts; None: not stated (no sign shown)
    fingerprint: str = ""
    as_of: pd.Timestamp | None = None  # a point-in-time view: later events were set aside
    warnings: list[Any] = field(default_factory=list)  # suspicious but usable (Problem shape)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint_tables(self.tables())

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables that are present, by contract name."""
        return {t: getattr(self, t) for t in TABLES if getattr(self, t) is not None}

    def has(self, *tables: str) -> bool:
        """True when every named table is present and non-empty."""
        return all(getattr(self, t) is not None and len(getattr(self, t)) > 0 for t in tables)

    def customer_transactions(self) -> pd.DataFrame:
        """Transaction lines that belong to a known customer (anonymous lines left out)."""
        if self.transactions is None:
            raise ValueError(f"dataset {self.name!r} has no transactions table")
        tx = self.transactions
        missing = tx["customer_id"].isna()
        return tx.loc[~missing] if missing.any() else tx

    @property
    def anonymous_lines(self) -> int:
        """Number of transaction lines without a customer (excluded from customer analyses)."""
        if self.transactions is None:
            return 0
        return int(self.transactions["customer_id"].isna().sum())

    def last_date(self) -> pd.Timestamp | None:
        """Latest event date in the data: the default as-of date of every analysis."""
        dates = []
        if self.transactions is not None and len(self.transactions):
            dates.append(self.transactions["order_date"].max())
        if self.campaigns is not None and len(self.campaigns):
            dates.append(self.campaigns["sent_date"].max())
        return max(dates) if dates else None

    def __repr__(self) -> str:
        parts = ", ".join(f"{t}={len(df):,}" for t, df in self.tables().items())
        return f"Dataset({self.name!r}, {parts}, fingerprint={self.fingerprint[:12]})"


def fingerprint_tables(tables: dict[str, pd.DataFrame]) -> str:
    """A content hash of the tables: same data, same fingerprint, whatever the file format."""
    h = hashlib.sha256()
    for name in sorted(tables):
        df = tables[name]
        h.update(name.encode())
        h.update("\x1f".join(map(str, df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def resolve_as_of(ds: Any, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    """The as-of day (midnight): the given date, else the point in time the dataset was
    opened at (``--as-of``), else the last event date in the data.

    ``ds`` is a :class:`Dataset` or anything with ``name`` and ``last_date()`` (an engine
    source)."""
    if as_of is None:
        as_of = getattr(ds, "as_of", None)
    if as_of is not None:
        return pd.Timestamp(as_of).normalize()
    last = ds.last_date()
    if last is None:
        raise ValueError(f"dataset {ds.name!r} has no dated events to take an as-of date from")
    return pd.Timestamp(last).normalize()

"""The one type that carries data through crm-models.

A :class:`Dataset` holds the four contract tables (any of them may be absent), a content
fingerprint and the log of what loading cleaned.  Every analysis takes a ``Dataset``; none of
them re-reads files.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")

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


def no_transactions(name: str) -> UnsupportedData:
    """The dataset has no transactions table (e.g. a campaigns-only test like Hillstrom)."""
    return UnsupportedData(
        f"Dataset {name!r} has no transactions table: this analysis needs purchases (order lines)."
    )


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

    ``baskets`` holds a basket file's item lists instead (one row per basket and item:
    ``basket_id``, ``item``; e.g. arules' Groceries): no customers, dates or amounts, so only
    the basket analyses apply.  It is not a contract table (:data:`TABLES`).
    """

    name: str
    transactions: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    baskets: pd.DataFrame | None = None
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
        """The tables that are present, by contract name (then a basket file's ``baskets``)."""
        return {t: getattr(self, t) for t in (*TABLES, "baskets") if getattr(self, t) is not None}

    def table_rows(self) -> dict[str, int]:
        """Rows per table (as :meth:`crm_models.engine.Source.table_rows`)."""
        return {name: len(df) for name, df in self.tables().items()}

    def columns(self, table: str) -> list[str]:
        """The columns of a table that is present (as :meth:`crm_models.engine.Source.columns`)."""
        return list(getattr(self, table).columns)

    def has(self, *tables: str) -> bool:
        """True when every named table is present and non-empty."""
        return all(getattr(self, t) is not None and len(getattr(self, t)) > 0 for t in tables)

    def customer_transactions(self) -> pd.DataFrame:
        """Transaction lines that belong to a known customer (anonymous lines left out)."""
        if self.transactions is None:
            raise no_transactions(self.name)
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


_DERIVED: dict[tuple[int, str], tuple[weakref.ref, Any]] = {}


def derived(frame: object, what: str, compute: Callable[[], T], keep: bool = True) -> T:
    """``compute()`` once per loaded table (or other object never changed in place, such as
    campaign data) and ``what``: several steps of a report that need the same costly result of
    it (order codes, purchase days, a fitting sample) compute it once.  Results of one object
    are kept at a time, and only while the object itself lives.  ``keep=False``: the caller is
    the last step that needs it, so it is returned and no longer held (a gigabyte at scale)."""
    key = (id(frame), what)
    hit = _DERIVED.get(key)
    if hit is not None and hit[0]() is frame:
        if not keep:
            del _DERIVED[key]
        return hit[1]
    value = compute()
    if not keep:
        return value
    for stale in [k for k, v in _DERIVED.items() if v[0]() is not frame]:
        del _DERIVED[stale]
    _DERIVED[key] = (weakref.ref(frame), value)
    return value


def fingerprint_tables(tables: dict[str, pd.DataFrame]) -> str:
    """A content hash of the tables: same data, same fingerprint, whatever the file format.

    Every value of every column, the column names and the row order count.  Values are hashed
    by what they are, not by how a reader stored them: text (object, ``str`` or Arrow) as its
    UTF-8 bytes plus each value's length, whole numbers as 64-bit integers, decimals as 64-bit
    floats (one bit pattern for 0.0 and for NaN), dates as UTC nanoseconds, flags as bytes,
    each with where its values are missing; anything else through pandas' own hash.  Each
    column's bytes go straight into SHA-256, columns side by side: about five times faster
    than a hash per row, which spent most of its time on text."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def column(values: pd.Series) -> tuple[str, list]:
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(np.asarray(values))
        kind, missing = values.dtype.kind, values.isna().to_numpy()
        nulls = f" {missing.sum()} missing", np.packbits(missing)
        if kind in "iu":
            return "int" + nulls[0], [values.to_numpy(dtype=np.int64, na_value=0), nulls[1]]
        if kind == "b":
            return "bool" + nulls[0], [values.to_numpy(dtype=np.uint8, na_value=0), nulls[1]]
        if kind == "f":
            data = values.to_numpy(dtype=np.float64, na_value=np.nan)
            return "float" + nulls[0], [np.where(missing, 0.0, data) + 0.0, nulls[1]]
        if kind == "M":
            naive = values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz else values
            try:  # one unit, so the same instants hash alike however they were read
                naive = naive.dt.as_unit("ns")
            except pd.errors.OutOfBoundsDatetime:  # beyond 2262: as stored
                pass
            return f"date {naive.dt.unit} {values.dt.tz}", [naive.to_numpy().view(np.int64)]
        try:
            text = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values
            return "other", [pd.util.hash_pandas_object(values, index=False).to_numpy()]
        if pa.types.is_null(text.type):  # no value at all: text without any
            text = pa.nulls(len(text), pa.large_string())
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            return "other", [pd.util.hash_pandas_object(values, index=False).to_numpy()]
        lengths = np.asarray(pc.binary_length(text).fill_null(-1))  # -1: missing
        lengths = lengths.astype(np.int8 if lengths.max(initial=0) < 128 else np.int32)
        parts = [lengths]
        for piece in getattr(text, "chunks", [text]):  # the bytes of each piece's values
            piece = piece.fill_null("") if piece.null_count else piece
            if len(piece) and piece.buffers()[2] is not None:
                width = np.int64 if pa.types.is_large_string(piece.type) else np.int32
                ends = np.frombuffer(piece.buffers()[1], width)[
                    [piece.offset, piece.offset + len(piece)]
                ]
                parts.append(memoryview(piece.buffers()[2])[ends[0] : ends[1]])
        return f"text {lengths.dtype}", parts

    def digest(values: pd.Series) -> bytes:
        kind, parts = column(values)
        h = hashlib.sha256(kind.encode() + b"\x1f")
        for part in parts:
            h.update(part if isinstance(part, memoryview) else np.ascontiguousarray(part))
        return h.digest()

    h = hashlib.sha256()
    with ThreadPoolExecutor() as pool:  # SHA-256 and Arrow let go of the GIL: columns at once
        for name in sorted(tables):
            df = tables[name]
            h.update(f"\x1e{name}\x1e{len(df)}".encode())
            columns = [df.iloc[:, i] for i in range(df.shape[1])]
            for col, column_digest in zip(df.columns, pool.map(digest, columns), strict=True):
                h.update(f"\x1f{col}\x1f".encode() + column_digest)
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

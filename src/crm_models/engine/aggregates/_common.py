"""Shared ibis helpers of the aggregates: lazy ibis, day and period numbers, lines, frames."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pandas as pd

from crm_models.engine.settings import release_duckdb_memory

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine.sources import Source


EPOCH = "1970-01-01"


def load_ibis():
    import ibis

    return ibis


@contextmanager
def stored(src: Source, expr: ir.Table, what: str) -> Iterator[ir.Table]:
    """``expr`` computed once and kept in a temporary table of the engine while the block
    runs, for several queries to read instead of computing it again each time.  Only DuckDB,
    whose database is the build's own, stores it; a user's database (PostgreSQL) is only read,
    and Spark's temporary tables are views computed again at each use, so both get the
    expression itself.  ``what`` names the table (letters and underscores)."""
    if src.engine != "duckdb":
        yield expr
        return
    name = f"crm_{what}_{secrets.token_hex(6)}"
    table = src.con.create_table(name, obj=expr, temp=True)
    try:
        yield table
    finally:  # ibis' drop_table writes SQL this DuckDB refuses
        src.con.raw_sql(f'DROP TABLE "{name}"')
        release_duckdb_memory(src.con)


def day_number(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole days since 1970-01-01 of a timestamp's date (as :func:`features._day_numbers`)."""
    ibis = load_ibis()
    return ts.date().delta(ibis.date(EPOCH), unit="day")


def count_if(condition: ir.BooleanValue) -> ir.IntegerValue:
    """Rows where a condition holds (portable: PostgreSQL cannot cast booleans to integers)."""
    return load_ibis().ifelse(condition, 1, 0).sum()


def lines_as_of(src: Source, as_of: pd.Timestamp) -> ir.Table:
    """Known customers' lines dated on or before the as-of day."""
    ibis = load_ibis()
    tx = src.customer_lines()
    return tx.filter(tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1)))


def customer_frame(src: Source, expr: ir.Table) -> pd.DataFrame:
    """Execute and return a customer-indexed frame in the dtypes pandas itself would give
    (nanosecond datetimes, inferred string columns), sorted by customer id."""
    df = src.frame(expr)
    for col in df.columns:
        if df[col].dtype.kind == "M" and df[col].dtype != "datetime64[ns]":
            df[col] = df[col].astype("datetime64[ns]")
        elif df[col].dtype == object:
            df[col] = df[col].infer_objects()
    return df.set_index("customer_id").sort_index()


def period_code(ts: ir.TimestampValue, freq: str) -> ir.IntegerValue:
    """Integer period numbers as :func:`crm_models.value.retention._period_codes` (months since
    1970, quarters, Monday-based weeks)."""
    if freq in ("M", "Q"):
        months = (ts.year() - 1970) * 12 + ts.month() - 1
        return months if freq == "M" else (months.cast("float64") / 3).floor().cast("int64")
    if freq == "W":
        return ((day_number(ts) + 3).cast("float64") / 7).floor().cast("int64")
    raise ValueError(f"unknown period {freq!r}; use M, Q or W")

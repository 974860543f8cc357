"""The heavy aggregations as relational (ibis) expressions: written once, run on DuckDB, Spark
or PostgreSQL (:mod:`crm_models.engine`).

Each function here returns the *same* compact frame as its NumPy counterpart in the analysis
modules (per-customer sums for the customer view, RFM scores, cohort counts, basket item and
pair counts, period totals), so the models downstream never know which engine ran; tests
compare the two column by column on CDNOW and ``demo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_models.features import CHANNEL_GROSS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine import Source

EPOCH = "1970-01-01"
MAX_CHANNELS = 50  # beyond this many channels, per-channel shares are left out (as in NumPy)


def _ibis():
    import ibis

    return ibis


def day_number(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole days since 1970-01-01 of a timestamp's date (as :func:`features._day_numbers`)."""
    ibis = _ibis()
    return ts.date().delta(ibis.date(EPOCH), unit="day")


def lines_as_of(src: Source, as_of: pd.Timestamp) -> ir.Table:
    """Known customers' lines dated on or before the as-of day."""
    ibis = _ibis()
    tx = src.customer_lines()
    return tx.filter(tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1)))


def _mode(t: ir.Table, column: str, weight: str, label: str, count: str) -> ir.Table:
    """Per customer: the ``column`` value with the largest total ``weight`` (ties: the first
    label alphabetically) as ``label``, and the number of distinct values as ``count``."""
    ibis = _ibis()
    g = t.filter(t[column].notnull()).group_by(["customer_id", column]).agg(w=t[weight].sum())
    ranked = g.mutate(
        rn=ibis.row_number().over(
            group_by=g.customer_id, order_by=[ibis.desc(g.w), ibis.asc(g[column])]
        ),
        n=g.count().over(group_by=g.customer_id),
    )
    top = ranked.filter(ranked.rn == 0)
    return top.select("customer_id", **{label: top[column], count: top.n})


def _frame(src: Source, expr: ir.Table) -> pd.DataFrame:
    """Execute and return a customer-indexed frame in the dtypes pandas itself would give
    (nanosecond datetimes, inferred string columns), sorted by customer id."""
    df = src.execute(expr)
    for col in df.columns:
        if df[col].dtype.kind == "M" and df[col].dtype != "datetime64[ns]":
            df[col] = df[col].astype("datetime64[ns]")
        elif df[col].dtype == object:
            df[col] = df[col].infer_objects()
    return df.set_index("customer_id").sort_index()


def customer_sums(src: Source, as_of: pd.Timestamp) -> pd.DataFrame:
    """The per-customer sums of :func:`crm_models.features._transaction_sums`, in the engine."""
    ibis = _ibis()
    t = lines_as_of(src, as_of)
    cols = set(t.columns)
    t = t.mutate(
        day=day_number(t.order_date),
        gross=ibis.ifelse(t.amount >= 0, t.amount, 0.0),
    )
    buys = t.filter(t.amount >= 0)
    days = buys.group_by(["customer_id", "day"]).agg(day_amount=buys.amount.sum())
    days = days.mutate(first=days.day.min().over(group_by=days.customer_id))
    btyd = days.group_by("customer_id").agg(
        first_day=days.first.min(),
        last_day=days.day.max(),
        n_days=days.count(),
        total=days.day_amount.sum(),
        first_amount=ibis.ifelse(days.day == days.first, days.day_amount, 0.0).sum(),
    )
    line_sums: dict[str, Any] = {
        "revenue": t.amount.sum(),
        "gross_sales": t.gross.sum(),
    }
    if "quantity" in cols:
        line_sums["items"] = ibis.ifelse(t.amount >= 0, t.quantity.fill_null(0.0), 0.0).sum()
    if "channel" in cols:
        channels = src.execute(t.select("channel").distinct().limit(MAX_CHANNELS + 1))["channel"]
        channels = sorted(c for c in channels.dropna())
        if len(channels) <= MAX_CHANNELS:
            for ch in channels:
                line_sums[f"{CHANNEL_GROSS}{ch}"] = ibis.ifelse(t.channel == ch, t.gross, 0.0).sum()
    per_customer = t.group_by("customer_id").agg(**line_sums)
    orders = t.group_by(["customer_id", "order_id"]).agg(net=t.amount.sum())
    order_counts = orders.group_by("customer_id").agg(
        orders=(orders.net > 0).cast("int64").sum(),
        return_orders=(orders.net < 0).cast("int64").sum(),
    )
    view = per_customer
    parts = [btyd, order_counts]
    if "category" in cols:
        parts.append(_mode(t, "category", "gross", "favourite_category", "n_categories"))
    if "region" in cols:
        parts.append(_mode(t, "region", "gross", "region", "n_regions").drop("n_regions"))
    for part in parts:
        joined = view.left_join(part, "customer_id")
        view = joined.drop("customer_id_right") if "customer_id_right" in joined.columns else joined
    out = _frame(src, view)
    return _conform_sums(out)


def _conform_sums(out: pd.DataFrame) -> pd.DataFrame:
    """Engine results in the NumPy path's dtypes (integers, object labels)."""
    for col in ("n_days", "orders", "return_orders"):
        if col in out.columns:
            out[col] = out[col].fillna(0).astype(np.int64)
    if "n_categories" in out.columns:
        out["n_categories"] = out["n_categories"].fillna(0).astype(np.int64)
    return out


def attributes_as_of(src: Source, as_of: pd.Timestamp) -> pd.DataFrame:
    """Customer attributes of those signed up by the as-of day (as the NumPy path)."""
    ibis = _ibis()
    c = src.table("customers")
    if "signup_date" in c.columns:
        c = c.filter(
            c.signup_date.isnull() | (c.signup_date < ibis.timestamp(as_of + pd.Timedelta(days=1)))
        )
    return _frame(src, c)


def campaign_features(src: Source, as_of: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """Contacts sent by the as-of day and the responses whose window has closed (the same
    frame as :func:`crm_models.features._campaign_features`)."""
    ibis = _ibis()
    c = src.table("campaigns")
    day_after = ibis.timestamp(as_of + pd.Timedelta(days=1))
    t = c.filter((c.sent_date < day_after) & c.treated.fill_null(False))
    closed = t.sent_date + ibis.interval(days=window_days) < day_after
    out = t.group_by("customer_id").agg(
        contacts=t.count(),
        last_contact=t.sent_date.max(),
        measured_contacts=closed.cast("int64").sum(),
        responses=ibis.ifelse(closed, t.responded.fill_null(False).cast("int64"), 0).sum(),
        response_amount=ibis.ifelse(closed, t.response_amount, None).sum(),
    )
    frame = _frame(src, out)
    frame["contacts"] = frame["contacts"].astype(np.int64)
    return frame

"""Purchase timing: seasonality of categories, what customers buy next, and repurchase intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.dataset import Dataset
from crm_models.features import resolve_as_of

__all__ = [
    "category_seasonality",
    "category_transitions",
    "has_times",
    "repeat_category_lift",
    "repurchase_intervals",
    "seasonal_peak",
]


def _category_lines(ds: Dataset, as_of=None) -> pd.DataFrame:
    if ds.transactions is None or "category" not in ds.transactions.columns:
        raise ValueError(f"dataset {ds.name!r} has no category information")
    as_of_day = resolve_as_of(ds, as_of)
    tx = ds.transactions
    keep = (tx["amount"] > 0) & tx["category"].notna()
    keep &= tx["order_date"] < as_of_day + pd.Timedelta(days=1)
    return tx.loc[keep]


def category_seasonality(ds: Dataset, by: str = "month", as_of=None) -> pd.DataFrame:
    """Seasonal index of each category: its share of lines in a month / weekday / hour divided
    by its share overall (1.0 = no seasonality; 1.3 = 30% more of this category then).

    Rows are categories, columns the periods (1-12, Mon..Sun or 0-23).  ``by="hour"`` raises
    when the data carries no times of day.
    """
    tx = _category_lines(ds, as_of)
    dates = tx["order_date"]
    if by == "month":
        key, labels = dates.dt.month, dict(enumerate(
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
        ))  # fmt: skip
    elif by == "weekday":
        key, labels = (
            dates.dt.dayofweek,
            dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
        )
    elif by == "hour":
        if not has_times(ds):
            raise ValueError("the data has no times of day")
        key, labels = dates.dt.hour, {h: f"{h:02d}" for h in range(24)}
    else:
        raise ValueError("by must be 'month', 'weekday' or 'hour'")
    table = pd.crosstab(tx["category"].astype(str), key.to_numpy())
    share_in_period = table / table.sum(axis=0)
    overall = table.sum(axis=1) / table.to_numpy().sum()
    index = share_in_period.div(overall, axis=0)
    index.columns = [labels[c] for c in index.columns]
    index.index.name = "category"
    index.attrs["lines"] = table
    return index


def has_times(ds: Dataset) -> bool:
    """True when order dates carry times of day (not all at midnight)."""
    if ds.transactions is None or ds.transactions.empty:
        return False
    d = ds.transactions["order_date"]
    return bool((d != d.dt.normalize()).any())


def category_transitions(ds: Dataset, which: str = "first", as_of=None) -> pd.DataFrame:
    """What customers buy next: category of an order -> categories of the customer's next order.

    ``which="first"`` uses each customer's first order and second order; ``"all"`` every pair of
    consecutive orders.  Returns a long table: ``from_category``, ``to_category``, ``customers``
    (pairs), ``share`` (of the pairs starting in that category) and ``lift`` (share divided by
    the category's share of all next orders).  An order in several categories counts in each.
    """
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    orders = (
        tx.groupby("order_id", sort=False)
        .agg(customer_id=("customer_id", "first"), order_date=("order_date", "min"))
        .sort_values(["customer_id", "order_date"], kind="stable")
    )
    orders["seq"] = orders.groupby("customer_id").cumcount()
    nxt = orders.groupby("customer_id")["seq"].shift(-1)
    orders = orders.assign(next_seq=nxt)
    if which == "first":
        orders = orders.loc[orders["seq"] == 0]
    elif which != "all":
        raise ValueError("which must be 'first' or 'all'")
    orders = orders.dropna(subset=["next_seq"])
    cats = tx[["order_id", "category"]].drop_duplicates()
    pairs = orders.reset_index()[["order_id", "customer_id", "next_seq"]].merge(cats, on="order_id")
    pairs = pairs.rename(columns={"category": "from_category"})
    all_orders = (
        tx.groupby("order_id", sort=False)
        .agg(customer_id=("customer_id", "first"), order_date=("order_date", "min"))
        .sort_values(["customer_id", "order_date"], kind="stable")
    )
    all_orders["seq"] = all_orders.groupby("customer_id").cumcount()
    nxt_cats = all_orders.reset_index()[["order_id", "customer_id", "seq"]].merge(
        cats, on="order_id"
    )
    nxt_cats = nxt_cats.rename(columns={"category": "to_category", "seq": "next_seq"})
    pairs["next_seq"] = pairs["next_seq"].astype(np.int64)
    joined = pairs.merge(
        nxt_cats[["customer_id", "next_seq", "to_category"]], on=["customer_id", "next_seq"]
    )
    table = (
        joined.groupby(["from_category", "to_category"]).size().rename("customers").reset_index()
    )
    table["share"] = table["customers"] / table.groupby("from_category")["customers"].transform(
        "sum"
    )
    base = table.groupby("to_category")["customers"].sum()
    table["lift"] = table["share"] / table["to_category"].map(base / base.sum())
    return table.sort_values(["from_category", "share"], ascending=[True, False]).reset_index(
        drop=True
    )


def repurchase_intervals(ds: Dataset, as_of=None) -> pd.DataFrame:
    """Typical days between a customer's purchases in the same category.

    Per category: ``customers`` (with at least two purchase days in it), ``intervals``,
    ``median_days``, ``mean_days``, ``p25_days``, ``p75_days`` and ``repeat_share`` (share of
    the category's buyers who bought it again).  Purchases on one day are one purchase.
    """
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    days = (
        pd.DataFrame(
            {
                "customer_id": tx["customer_id"].to_numpy(),
                "category": tx["category"].astype(str).to_numpy(),
                "day": tx["order_date"].dt.normalize().to_numpy(),
            }
        )
        .drop_duplicates()
        .sort_values(["category", "customer_id", "day"], kind="stable")
    )
    same = (days["customer_id"].to_numpy()[1:] == days["customer_id"].to_numpy()[:-1]) & (
        days["category"].to_numpy()[1:] == days["category"].to_numpy()[:-1]
    )
    gaps = (days["day"].to_numpy()[1:] - days["day"].to_numpy()[:-1]) / np.timedelta64(1, "D")
    g = pd.DataFrame(
        {"category": days["category"].to_numpy()[1:][same], "days": gaps[same],
         "customer_id": days["customer_id"].to_numpy()[1:][same]}
    )  # fmt: skip
    buyers = days.groupby("category")["customer_id"].nunique()
    stats = g.groupby("category").agg(
        customers=("customer_id", "nunique"),
        intervals=("days", "size"),
        median_days=("days", "median"),
        mean_days=("days", "mean"),
        p25_days=("days", lambda s: s.quantile(0.25)),
        p75_days=("days", lambda s: s.quantile(0.75)),
    )
    stats = stats.reindex(buyers.index)
    stats["customers"] = stats["customers"].fillna(0).astype(np.int64)
    stats["intervals"] = stats["intervals"].fillna(0).astype(np.int64)
    stats["repeat_share"] = stats["customers"] / buyers
    return stats.sort_values("median_days")


def seasonal_peak(
    season: pd.DataFrame, min_share: float = 0.02, flat: float = 0.15
) -> dict[str, Any]:
    """The busiest period and the most seasonal category of a :func:`category_seasonality`
    table.  Periods with less than ``min_share`` of all lines are skipped (quiet hours).

    Returns ``busiest`` (period with most lines), ``category``, ``period`` and ``index`` of the
    largest index among the busy periods, and ``flat`` (every index within ``flat`` of 1)."""
    lines_by = season.attrs["lines"].sum(axis=0)
    busy = season.loc[:, (lines_by >= min_share * lines_by.sum()).to_numpy()]
    category, period = busy.stack().idxmax()
    return {
        "busiest": season.columns[int(np.argmax(lines_by.to_numpy()))],
        "category": category,
        "period": period,
        "index": float(busy.loc[category, period]),
        "flat": float((busy - 1).abs().to_numpy().max()) < flat,
    }


def repeat_category_lift(moves: pd.DataFrame) -> float:
    """How much more often than chance customers' next order returns to the category they came
    from (mean lift of the same-category moves of :func:`category_transitions`)."""
    return float(moves.loc[moves["from_category"] == moves["to_category"], "lift"].mean())

"""Purchase timing: seasonality of categories, what customers buy next, and repurchase intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models.data.dataset import Dataset
from crm_models.engine import Source, aggregates
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
    as_of_day = resolve_as_of(ds, as_of)
    tx = ds.transactions
    keep = (tx["amount"] > 0) & tx["category"].notna()
    keep &= tx["order_date"] < as_of_day + pd.Timedelta(days=1)
    return tx.loc[keep, ["customer_id", "order_id", "order_date", "category"]]


def _check_categories(ds: Dataset | Source) -> None:
    if not ds.has("transactions") or "category" not in ds.columns("transactions"):
        raise ValueError(f"dataset {ds.name!r} has no category information")


PERIOD_LABELS = {
    "month": dict(enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )),
    "weekday": dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
    "hour": {h: f"{h:02d}" for h in range(24)},
}  # fmt: skip


def category_seasonality(ds: Dataset | Source, by: str = "month", as_of=None) -> pd.DataFrame:
    """Seasonal index of each category: its share of lines in a month / weekday / hour divided
    by its share overall (1.0 = no seasonality; 1.3 = 30% more of this category then).

    Rows are categories, columns the periods (1-12, Mon..Sun or 0-23).  ``by="hour"`` raises
    when the data carries no times of day.  On an engine source the engine counts the lines
    per category and period.
    """
    if by not in PERIOD_LABELS:
        raise ValueError("by must be 'month', 'weekday' or 'hour'")
    _check_categories(ds)
    if by == "hour" and not has_times(ds):
        raise ValueError("the data has no times of day")
    if isinstance(ds, Source):
        lines = aggregates.category_period_lines(ds, by, resolve_as_of(ds, as_of))
    else:
        tx = _category_lines(ds, as_of)
        dates = tx["order_date"]
        period = {"month": dates.dt.month, "weekday": dates.dt.day_of_week, "hour": dates.dt.hour}
        key = period[by].astype(np.int64).rename("period")
        lines = tx.groupby([tx["category"].astype(str), key]).size()
    table = lines.unstack(fill_value=0).sort_index().sort_index(axis=1).astype(np.int64)
    share_in_period = table / table.sum(axis=0)
    overall = table.sum(axis=1) / table.to_numpy().sum()
    index = share_in_period.div(overall, axis=0)
    index.columns = [PERIOD_LABELS[by][c] for c in index.columns]
    index.index.name = "category"
    index.attrs["lines"] = table
    return index


def has_times(ds: Dataset | Source) -> bool:
    """True when order dates carry times of day (not all at midnight)."""
    if isinstance(ds, Source):
        return ds.has("transactions") and aggregates.has_times(ds)
    if ds.transactions is None or ds.transactions.empty:
        return False
    d = ds.transactions["order_date"]
    return bool((d != d.dt.normalize()).any())


def category_transitions(ds: Dataset | Source, which: str = "first", as_of=None) -> pd.DataFrame:
    """What customers buy next: category of an order -> categories of the customer's next order.

    ``which="first"`` uses each customer's first order and second order; ``"all"`` every pair of
    consecutive orders (a customer's orders ranked by date, ties by order id).  Returns a long
    table: ``from_category``, ``to_category``, ``customers`` (pairs), ``share`` (of the pairs
    starting in that category) and ``lift`` (share divided by the category's share of all next
    orders).  An order in several categories counts in each.  On an engine source the engine
    pairs the orders and counts the moves (:func:`~crm_models.engine.aggregates.category_moves`).
    """
    if which not in ("first", "all"):
        raise ValueError("which must be 'first' or 'all'")
    _check_categories(ds)
    if isinstance(ds, Source):
        counts = aggregates.category_moves(ds, resolve_as_of(ds, as_of), which)
        return _transition_table(counts.sort_values(["from_category", "to_category"]))
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    # orders numbered by order id, then ranked by customer and date (ties keep that order)
    order, _ = pd.factorize(tx["order_id"], sort=True)
    n_orders = int(order.max()) + 1 if len(order) else 0
    first_line = np.empty(n_orders, dtype=np.int64)
    first_line[order[::-1]] = np.arange(len(order) - 1, -1, -1)
    customer, _ = pd.factorize(tx["customer_id"].to_numpy()[first_line], sort=True)
    date = tx["order_date"].reset_index(drop=True).groupby(order).min().to_numpy()
    by_customer = np.lexsort((date, customer))
    same = customer[by_customer][1:] == customer[by_customer][:-1]  # next order, same customer
    start = np.r_[True, ~same]  # each customer's first order
    frm = by_customer[:-1][same & (start[:-1] if which == "first" else True)]
    to = by_customer[1:][same & (start[:-1] if which == "first" else True)]
    # categories of each order; a move counts every (category before, category after) pair
    cat, categories = pd.factorize(tx["category"], sort=True)
    held = sp.csr_matrix(
        (np.ones(len(cat), dtype=np.int64), (order, cat)), shape=(n_orders, len(categories))
    )
    held.data[:] = 1
    held.sum_duplicates()
    held.data[:] = 1
    moves = (held[frm].T @ held[to]).tocoo()
    keep = moves.data > 0
    pos = np.lexsort((moves.col[keep], moves.row[keep]))
    f, t = moves.row[keep][pos], moves.col[keep][pos]
    counts = pd.DataFrame(
        {
            "from_category": categories.take(f),
            "to_category": categories.take(t),
            "customers": moves.data[keep][pos].astype(np.int64),
        }
    )
    return _transition_table(counts)


def _transition_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Share and lift of the moves counted per (from, to) category, rows sorted by the two;
    categories as text whatever their type in the data."""
    table = counts.reset_index(drop=True)
    for col in ("from_category", "to_category"):
        table[col] = table[col].astype(str)
    from_total = table.groupby("from_category")["customers"].transform("sum")
    table["share"] = table["customers"] / from_total
    to_total = table.groupby("to_category")["customers"].transform("sum")
    table["lift"] = table["share"] / (to_total / table["customers"].sum())
    return table.sort_values(["from_category", "share"], ascending=[True, False]).reset_index(
        drop=True
    )


def repurchase_intervals(ds: Dataset | Source, as_of=None) -> pd.DataFrame:
    """Typical days between a customer's purchases in the same category.

    Per category: ``customers`` (with at least two purchase days in it), ``intervals``,
    ``median_days``, ``mean_days``, ``p25_days``, ``p75_days`` and ``repeat_share`` (share of
    the category's buyers who bought it again).  Purchases on one day are one purchase.  Both
    paths count the intervals per category and length in days (on an engine source the engine
    does, :func:`~crm_models.engine.aggregates.repurchase_gaps`); the statistics come from
    those counts.
    """
    _check_categories(ds)
    if isinstance(ds, Source):
        gaps, buyers = aggregates.repurchase_gaps(ds, resolve_as_of(ds, as_of))
        return _interval_stats(gaps, buyers)
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    # distinct (category, customer, day), sorted so: one integer key per line
    cat, categories = pd.factorize(tx["category"].astype(str), sort=True)
    customer, _ = pd.factorize(tx["customer_id"], sort=True)
    day = tx["order_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    first = int(day.min()) if len(day) else 0
    span, n_customers = int(day.max()) - first + 1 if len(day) else 1, customer.max(initial=-1) + 1
    key = np.sort((cat.astype(np.int64) * n_customers + customer) * span + (day - first))
    key = key[np.r_[True, key[1:] != key[:-1]]]
    who, day = key // span, key % span  # who: category and customer
    same = who[1:] == who[:-1]
    gaps = pd.DataFrame(
        {
            "category": categories.take(who[1:][same] // n_customers),
            "days": (day[1:] - day[:-1])[same],
        }
    )
    gaps = gaps.groupby(["category", "days"]).size().rename("intervals").reset_index()
    buyer = who[np.r_[True, ~same]]  # each (category, customer) once
    again = np.unique(who[1:][same])  # ... with an interval
    buyers = pd.DataFrame(
        {
            "category": categories,
            "buyers": np.bincount(buyer // n_customers, minlength=len(categories)),
            "customers": np.bincount(again // n_customers, minlength=len(categories)),
        }
    )
    return _interval_stats(gaps, buyers)


def _interval_stats(gaps: pd.DataFrame, buyers: pd.DataFrame) -> pd.DataFrame:
    """The statistics of :func:`repurchase_intervals` from the intervals counted per
    (``category``, ``days``) and the ``buyers`` and repeat ``customers`` per category: the
    quantiles interpolate linearly between the sorted intervals (as pandas' ``quantile``)."""
    gaps = gaps.sort_values(["category", "days"]).reset_index(drop=True)
    code, categories = pd.factorize(gaps["category"])
    days = gaps["days"].to_numpy(dtype=float)
    n = gaps["intervals"].to_numpy(dtype=np.int64)
    total = np.bincount(code, weights=n, minlength=len(categories)).astype(np.int64)
    first = np.cumsum(total) - total  # rank of each category's first interval
    ends = np.cumsum(n)  # intervals up to and including each row

    def at(rank: np.ndarray) -> np.ndarray:  # the interval of this rank in its category
        return days[np.searchsorted(ends, first + rank, side="right")]

    def quantile(q: float) -> np.ndarray:
        h = (total - 1) * q
        low = np.floor(h)
        a, b = at(low.astype(np.int64)), at(np.ceil(h).astype(np.int64))
        return a + (h - low) * (b - a)

    stats = pd.DataFrame(
        {
            "customers": 0,
            "intervals": total,
            "median_days": quantile(0.5),
            "mean_days": np.bincount(code, weights=days * n, minlength=len(categories)) / total,
            "p25_days": quantile(0.25),
            "p75_days": quantile(0.75),
        },
        index=pd.Index(categories, name="category"),
    )
    per = buyers.set_index("category").sort_index()
    stats = stats.reindex(per.index)
    stats["customers"] = per["customers"].astype(np.int64)
    stats["intervals"] = stats["intervals"].fillna(0).astype(np.int64)
    stats["repeat_share"] = stats["customers"] / per["buyers"]
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

"""Retention: cohorts, repeat purchase, churn, survival to lapse, payback, at-risk and top lists.

Definitions (every function uses them):

* **Activity.** A customer is *active* in a period when they have a purchase line
  (``amount >= 0``) dated in it; returns never make a customer active.
* **Cohort.** The period (month by default) of a customer's first purchase.
* **Lapse.** A customer is *lost* on their last purchase before a gap of more than
  ``lapse_days`` without buying.  The *active lifetime* runs from the first purchase to that
  last purchase; customers who have not lapsed are censored at their latest purchase, which is
  what Kaplan-Meier (``statsmodels`` ``SurvfuncRight``) handles.
* **Payback.** Cumulative margin (net revenue × ``margin_rate``) per acquired customer since
  acquisition; a cohort (or a customer) has paid back when it reaches ``acquisition_cost``.

Everything is computed from the transaction log as of a date (inclusive), vectorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.dataset import Dataset
from crm_models.engine import EngineSettings, Source, aggregates, as_source
from crm_models.features import customer_codes, resolve_as_of
from crm_models.units import as_of_day, period_label
from crm_models.value.common import distinct

__all__ = [
    "Cohorts",
    "churn_risk_list",
    "cohort_matrix",
    "cohorts",
    "first_purchase_channel",
    "monthly_retention",
    "payback",
    "payback_figures",
    "p_overdue",
    "risk_rule",
    "period_churn",
    "period_label",
    "repeat_rate",
    "retention_by",
    "summary_figures",
    "survival",
    "time_to_payback",
    "time_to_lapse",
    "top_customers",
]

LIST_COLUMNS = [
    "frequency",
    "orders",
    "revenue",
    "days_since_last",
    "p_alive",
    "p_alive_change",
    "p_overdue",
    "expected_purchases",
    "clv",
    "clv_low",  # 80 % interval of the expected CLV (crm_models.value.uncertainty), when given
    "clv_high",
    "potential_value",
    "value_at_risk",
    "value_decile",
    "lifecycle_stage",
    "contactable",
]
PAYBACK_TOLERANCE = 1e-12  # relative: a margin this close to the acquisition cost reaches it


def _day_numbers(dates) -> np.ndarray:
    """Days since 1970-01-01 of dates (the day of a timestamp)."""
    return np.asarray(dates).astype("datetime64[D]").astype(np.int64)


def _lines(ds: Dataset, as_of, purchases_only: bool = False):
    """The customer lines dated on or before the as-of day as arrays, only the columns the
    retention figures use and no copy of the line table: ``(as_of, codes, ids, day, amount,
    kept)`` with customer codes 0..n-1 in the order of the sorted ``ids``, day numbers
    (:func:`_day_numbers`), amounts and the kept rows of the line table; with
    ``purchases_only`` only purchase lines (``amount >= 0``)."""
    as_of = resolve_as_of(ds, as_of)
    tx = ds.customer_transactions()
    day = _day_numbers(tx["order_date"])
    amount = tx["amount"].to_numpy(dtype=float)
    kept = day <= _day_numbers([as_of])[0]
    if purchases_only:
        kept &= amount >= 0
    ids = tx["customer_id"].to_numpy()
    if not kept.all():
        ids, day, amount = ids[kept], day[kept], amount[kept]
    codes, index = customer_codes(ids)
    return as_of, codes, index, day, amount, kept


def _period_codes(dates: pd.Series | np.ndarray, freq: str) -> np.ndarray:
    """Integer period numbers (months since 1970, weeks, quarters) of dates."""
    d = np.asarray(dates, dtype="datetime64[ns]")
    if freq == "M":
        return d.astype("datetime64[M]").astype(np.int64)
    if freq == "Q":
        return d.astype("datetime64[M]").astype(np.int64) // 3
    if freq == "W":  # weeks starting on Monday (1970-01-01 was a Thursday)
        return (d.astype("datetime64[D]").astype(np.int64) + 3) // 7
    raise ValueError(f"unknown period {freq!r}; use M, Q or W")


# --------------------------------------------------------------------------- cohorts
class Cohorts:
    """Cohort tables by acquisition period (rows) × periods since acquisition (columns).

    ``sizes`` customers per cohort; ``active`` customers who bought in each period; ``retention``
    = active / size (NaN where the period is not yet complete or in the future); ``revenue`` net
    revenue per period; ``freq`` the period.
    """

    def __init__(self, sizes, active, revenue, complete, freq):
        self.sizes = sizes
        self.active = active
        self.revenue = revenue
        self.freq = freq
        self.retention = (active.div(sizes, axis=0)).where(complete)
        self.complete = complete

    def average_retention(self) -> pd.Series:
        """Customer-weighted retention by period since acquisition over all cohorts that
        completed that period."""
        w = self.sizes.to_numpy()[:, None] * self.complete.to_numpy()
        num = (self.active.to_numpy() * self.complete.to_numpy()).sum(axis=0)
        den = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, np.nan)
        return pd.Series(out, index=self.active.columns, name="retention")

    def to_frame(self) -> pd.DataFrame:
        out = self.retention.copy()
        out.insert(0, "customers", self.sizes)
        return out


def _cohort_cells(
    cust: np.ndarray, n: int, day: np.ndarray, amount: np.ndarray, freq: str
) -> tuple[pd.Series, pd.DataFrame]:
    """Cohort sizes by acquisition period code, and per (cohort, periods since acquisition)
    the customers who bought and the net revenue, from line arrays (customer codes 0..n-1, day
    numbers, amounts; NumPy counts over cells, the engines run
    :func:`crm_models.engine.aggregates.cohort_counts`)."""
    buy = amount >= 0
    per = _period_codes(day.astype("datetime64[D]"), freq)
    none = np.iinfo(np.int64).max
    first = np.full(n, none)
    np.minimum.at(first, cust[buy], per[buy])
    has = first < none
    k = per - first[cust]
    ok = has[cust] & (k >= 0)
    lo = int(first[has].min())
    span = int(k[ok].max()) + 1
    cell = (first[cust[ok]] - lo) * span + k[ok]  # (cohort, k) of each line
    lines = np.bincount(cell)
    revenue = np.zeros(len(lines))  # pandas sums (compensated), as the (cohort, k) group-by
    by_cell = pd.Series(amount[ok]).groupby(cell).sum()
    revenue[by_cell.index.to_numpy()] = by_cell.to_numpy()
    bought = ok & buy  # distinct (customer, k) of purchase lines, counted per cell
    pairs = distinct(cust[bought].astype(np.int64) * span + k[bought])
    active = np.bincount((first[pairs // span] - lo) * span + pairs % span, minlength=len(lines))
    present = np.flatnonzero(lines)
    cells = pd.DataFrame(
        {
            "cohort": present // span + lo,
            "k": present % span,
            "revenue": revenue[present],
            "active": active[present].astype(np.int64),
        }
    )
    sizes = pd.Series(first[has]).value_counts().sort_index().rename("customers")
    return sizes, cells


def cohorts(
    ds: Dataset | Source, as_of=None, freq: str = "M", engine: str | EngineSettings = "auto"
) -> Cohorts:
    """Cohort retention matrix: share of each acquisition cohort active k periods later.

    ``engine`` says where the counting runs (:mod:`crm_models.engine`); every engine gives the
    same tables."""
    src = as_source(ds, engine)
    if src is None:
        as_of, cust, cid, day, amount, _ = _lines(ds, as_of)
        sizes_by_code, cells = _cohort_cells(cust, len(cid), day, amount, freq)
    else:
        as_of = resolve_as_of(src, as_of)
        sizes_by_code, cells = aggregates.cohort_counts(src, as_of, freq)
    lo, hi = int(sizes_by_code.index.min()), int(_period_codes([as_of], freq)[0])
    n_c = n_k = hi - lo + 1
    sizes = np.zeros(n_c, dtype=np.int64)
    sizes[sizes_by_code.index.to_numpy(dtype=np.int64) - lo] = sizes_by_code.to_numpy()
    flat = (cells["cohort"].to_numpy(dtype=np.int64) - lo) * n_k + cells["k"].to_numpy(np.int64)
    active = np.zeros(n_c * n_k, dtype=np.int64)
    active[flat] = cells["active"].to_numpy()
    revenue = np.zeros(n_c * n_k)
    revenue[flat] = cells["revenue"].to_numpy(dtype=float)
    active, revenue = active.reshape(n_c, n_k), revenue.reshape(n_c, n_k)
    # a cell is complete when its whole period lies on or before the as-of day
    last_complete = hi if _period_end(hi, freq) <= as_of else hi - 1
    cohort_code = np.arange(n_c) + lo
    complete = (cohort_code[:, None] + np.arange(n_k)[None, :]) <= last_complete
    index = pd.Index(period_label(cohort_code, freq).astype(str), name="cohort")
    cols = pd.Index(np.arange(n_k), name="periods since acquisition")
    keep = sizes > 0
    frame = lambda a: pd.DataFrame(a[keep], index=index[keep], columns=cols)  # noqa: E731
    return Cohorts(
        pd.Series(sizes[keep], index=index[keep], name="customers"),
        frame(active),
        frame(revenue),
        frame(complete),
        freq,
    )


def _period_end(code: int, freq: str) -> pd.Timestamp:
    return period_label(np.array([code]), freq)[0].end_time.normalize()


def repeat_rate(
    ds: Dataset | Source,
    as_of=None,
    windows=(90, 180, 365),
    engine: str | EngineSettings = "auto",
) -> pd.DataFrame:
    """Share of customers who made a repeat purchase (on a later day) within each window of days
    after their first purchase, by acquisition month; only customers observed for the whole
    window count.  The row ``all`` pools every cohort.  ``engine`` as in :func:`cohorts`."""
    as_of, gaps = _purchase_day_gaps(ds, as_of, None, engine)
    first = gaps["first_day"].to_numpy()
    second = gaps["second_day"].to_numpy()
    gap = np.where(np.isnan(second), np.inf, second - first)
    observed = as_of_day(as_of) - first
    months, cohort = np.unique(
        _period_codes(first.astype(np.int64).astype("datetime64[D]"), "M"), return_inverse=True
    )
    data = {"customers": np.ones(len(first))}
    for w in windows:
        eligible = observed >= w
        data[f"eligible_{w}d"] = eligible.astype(float)
        data[f"repeat_{w}d"] = np.where(eligible, (gap <= w).astype(float), 0.0)
    labels = pd.Index(period_label(months, "M").astype(str), name="cohort")
    g = pd.DataFrame(
        {k: np.bincount(cohort, weights=v, minlength=len(months)) for k, v in data.items()},
        index=labels,
    )
    g.loc["all"] = {k: v.sum() for k, v in data.items()}
    out = pd.DataFrame({"customers": g["customers"].astype(int)})
    for w in windows:
        out[f"repeat_within_{w}d"] = g[f"repeat_{w}d"] / g[f"eligible_{w}d"].replace(0, np.nan)
    out["repeat_ever"] = np.nan
    out.loc["all", "repeat_ever"] = float(np.isfinite(gap).mean())
    return out


def _purchase_day_gaps(
    ds: Dataset | Source, as_of, lapse_days: int | None, engine: str | EngineSettings
) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The as-of day and, per buyer, the day numbers (float, NaN for none) of the first, the
    second and the last purchase day and, with ``lapse_days``, of the first purchase day
    followed by a lapse (:func:`~crm_models.engine.aggregates.purchase_day_gaps` on an engine,
    NumPy on the sorted distinct (customer, day) pairs otherwise)."""
    src = as_source(ds, engine)
    if src is not None:
        as_of = resolve_as_of(src, as_of)
        return as_of, aggregates.purchase_day_gaps(src, as_of, lapse_days)
    as_of, cust, cid, day, _, _ = _lines(ds, as_of, purchases_only=True)
    base = int(day.min())
    keys = distinct(cust.astype(np.int64) * (2**32) + (day - base))
    c = keys // (2**32)
    d = keys % (2**32) + base
    start = np.ones(len(keys), dtype=bool)
    start[1:] = c[1:] != c[:-1]
    last = np.ones(len(keys), dtype=bool)
    last[:-1] = c[1:] != c[:-1]
    second = np.full(len(cid), np.nan)
    after_first = np.flatnonzero(start & ~last) + 1
    second[c[after_first]] = d[after_first]
    out = pd.DataFrame(
        {"first_day": d[start], "second_day": second, "last_day": d[last]},
        index=cid,
        dtype=np.float64,
    )
    if lapse_days is not None:  # a purchase followed by more than lapse_days without buying
        nxt = np.empty(len(keys), dtype=np.int64)
        nxt[:-1] = d[1:]
        nxt[last] = as_of_day(as_of) + 1
        lapses = nxt - d > lapse_days
        lapse = np.full(len(cid), np.nan)
        np.fmin.at(lapse, c[lapses], d[lapses].astype(np.float64))
        out["lapse_day"] = lapse
    return as_of, out


def period_churn(
    ds: Dataset | Source, as_of=None, freq: str = "M", engine: str | EngineSettings = "auto"
) -> pd.DataFrame:
    """Per period: active customers, how many of the previous period's active customers bought
    again (retained), the retention rate and its complement, the churn rate; new customers.
    The last period is dropped when incomplete.  ``engine`` as in :func:`cohorts` (there
    :func:`~crm_models.engine.aggregates.period_activity` counts per period)."""
    src = as_source(ds, engine)
    if src is None:
        as_of, cells = _period_activity(ds, as_of, freq)
    else:
        as_of = resolve_as_of(src, as_of)
        cells = aggregates.period_activity(src, as_of, freq)
    codes = np.arange(int(cells.index.min()), int(cells.index.max()) + 1)
    cells = cells.reindex(codes, fill_value=0)
    active = cells["active"].to_numpy()
    out = pd.DataFrame(
        {
            "active_customers": active,
            "new_customers": cells["new"].to_numpy(),
            "retained_from_previous": cells["retained"].to_numpy(),
        },
        index=pd.Index(period_label(codes, freq).astype(str), name="period"),
    )
    prev_active = np.concatenate([[np.nan], active[:-1]]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["retention_rate"] = out["retained_from_previous"] / np.where(
            prev_active > 0, prev_active, np.nan
        )
    out["churn_rate"] = 1 - out["retention_rate"]
    if _period_end(int(codes[-1]), freq) > as_of:
        out = out.iloc[:-1]
    return out


def _period_activity(ds: Dataset, as_of, freq: str) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The as-of day and, per period code with a purchase, the customers ``active``, ``new``
    and ``retained`` from the period before, from the customer lines (NumPy)."""
    as_of, cust, _, day, _, _ = _lines(ds, as_of, purchases_only=True)
    per = _period_codes(day.astype("datetime64[D]"), freq)
    lo = int(per.min())
    span = int(per.max()) - lo + 2
    keys = distinct(cust.astype(np.int64) * span + (per - lo))
    c, p = keys // span, keys % span
    prev = np.zeros(len(keys), dtype=bool)
    prev[1:] = (c[1:] == c[:-1]) & (p[1:] == p[:-1] + 1)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = c[1:] != c[:-1]
    cells = pd.DataFrame(
        {
            "active": np.bincount(p, minlength=span),
            "new": np.bincount(p[first], minlength=span),
            "retained": np.bincount(p[prev], minlength=span),
        },
        index=pd.Index(np.arange(span) + lo, name="period"),
    )
    return as_of, cells.loc[cells["active"] > 0]


# --------------------------------------------------------------------------- survival
def time_to_lapse(
    ds: Dataset | Source,
    as_of=None,
    lapse_days: int = 180,
    engine: str | EngineSettings = "auto",
) -> pd.DataFrame:
    """Per customer: active lifetime in days and whether it has ended (``lapsed``).

    A customer is lost on their last purchase before the first gap of more than
    ``lapse_days`` without buying (the gap must have fully passed by the as-of day to count).
    ``duration_days`` runs from the first purchase to that last purchase (0 for a one-time buyer
    who lapsed); customers not (yet) lapsed are censored at their latest purchase, since all we
    know is that they were still buying then.  ``engine`` as in :func:`cohorts`.
    """
    if lapse_days <= 0:
        raise ValueError("lapse_days must be positive")
    as_of, gaps = _purchase_day_gaps(ds, as_of, lapse_days, engine)
    first = gaps["first_day"].to_numpy()
    lapse = gaps["lapse_day"].to_numpy()
    lapsed = ~np.isnan(lapse)
    duration = np.where(lapsed, lapse, gaps["last_day"].to_numpy()) - first
    out = pd.DataFrame(
        {
            "first_purchase": first.astype(np.int64)
            .astype("datetime64[D]")
            .astype("datetime64[ns]"),
            "duration_days": duration,
            "lapsed": lapsed,
        },
        index=gaps.index.rename("customer_id"),
    )
    out.attrs.update(lapse_days=lapse_days, as_of=str(as_of.date()))
    return out


def survival(
    durations: pd.DataFrame, groups: pd.Series | None = None, min_group: int = 50
) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """Kaplan-Meier survival (statsmodels ``SurvfuncRight``) of ``duration_days``/``lapsed``.

    Returns ``(curves, summary, logrank_p)``: curves with ``group``, ``days``, ``survival``,
    ``lower``, ``upper`` (95% pointwise); a summary per group (customers, lapses, median days to
    lapse, survival at 90/180/365 days); the log-rank test p-value across groups (None for
    one group).  Groups smaller than ``min_group`` are pooled as "other".
    """
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    data = durations[["duration_days", "lapsed"]].copy()
    if groups is None:
        data["group"] = "all customers"
    else:
        g = groups.reindex(data.index).astype("object").fillna("unknown").astype(str)
        counts = g.value_counts()
        small = counts.index[counts < min_group]
        data["group"] = g.where(~g.isin(small), "other")
    curves, rows = [], {}
    for name, part in data.groupby("group", sort=True):
        sf = SurvfuncRight(part["duration_days"].to_numpy(), part["lapsed"].to_numpy(int))
        lower, upper = _pointwise_ci(sf)
        curves.append(
            pd.DataFrame(
                {
                    "group": name,
                    "days": np.concatenate([[0.0], sf.surv_times]),
                    "survival": np.concatenate([[1.0], sf.surv_prob]),
                    "lower": np.concatenate([[1.0], lower]),
                    "upper": np.concatenate([[1.0], upper]),
                }
            )
        )

        def at(t, sf=sf):
            idx = np.searchsorted(sf.surv_times, t, side="right") - 1
            return float(sf.surv_prob[idx]) if idx >= 0 else 1.0

        observed_to = part["duration_days"].max()
        median = np.nan
        below = np.flatnonzero(sf.surv_prob <= 0.5)
        if len(below):
            median = float(sf.surv_times[below[0]])
        rows[name] = {
            "customers": len(part),
            "lapses": int(part["lapsed"].sum()),
            "median_days_to_lapse": median,
            **{f"survival_{t}d": (at(t) if observed_to >= t else np.nan) for t in (90, 180, 365)},
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "group"
    p_value = None
    if data["group"].nunique() > 1:
        _, p_value = survdiff(
            data["duration_days"].to_numpy(),
            data["lapsed"].to_numpy(int),
            pd.factorize(data["group"], sort=True)[0],  # codes in the names' order: same test
        )
        p_value = float(p_value)
    return pd.concat(curves, ignore_index=True), summary, p_value


def _pointwise_ci(sf) -> tuple[np.ndarray, np.ndarray]:
    """95% pointwise interval of a Kaplan-Meier curve (log-log transform, Greenwood SE)."""
    s = np.clip(sf.surv_prob, 1e-12, 1 - 1e-12)
    se = np.asarray(sf.surv_prob_se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = se / (s * np.abs(np.log(s)))
        lo = s ** np.exp(1.96 * sd)
        hi = s ** np.exp(-1.96 * sd)
    lo = np.where(np.isfinite(lo), lo, s)
    hi = np.where(np.isfinite(hi), hi, s)
    return lo, hi


def first_purchase_channel(
    ds: Dataset | Source, as_of=None, engine: str | EngineSettings = "auto"
) -> pd.Series:
    """The channel of each customer's first purchase: that of the largest purchase line of the
    first purchase day (ties: the first channel alphabetically), by customer id."""
    src = as_source(ds, engine)
    if src is not None:
        if "channel" not in src.columns("transactions"):
            raise ValueError(f"dataset {src.name!r} has no channel column")
        best = aggregates.first_day_channel(src, resolve_as_of(src, as_of))
    else:
        if "channel" not in ds.customer_transactions().columns:
            raise ValueError(f"dataset {ds.name!r} has no channel column")
        _, cust, cid, day, _, kept = _lines(ds, as_of, purchases_only=True)
        first = np.full(len(cid), np.iinfo(np.int64).max)
        np.minimum.at(first, cust, day)
        rows = np.flatnonzero(kept)[day == first[cust]]  # the purchase lines of the first day
        on_first = ds.customer_transactions()[["customer_id", "channel", "amount"]].take(rows)
        ranked = on_first.sort_values(["amount", "channel"], ascending=[False, True], kind="stable")
        best = ranked.drop_duplicates("customer_id").set_index("customer_id")["channel"]
        best = best.sort_index()
    return best.where(best.notna()).astype(str).rename("first_channel")


def retention_by(
    ds: Dataset | Source,
    view: pd.DataFrame,
    durations: pd.DataFrame,
    dimensions=("first_channel", "region", "acquisition_channel", "age_band"),
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, float | None]]:
    """Kaplan-Meier survival split by each dimension the data has: ``first_channel`` (channel of
    the first purchase), and any of the customer view's columns (``region``,
    ``acquisition_channel``, ``age_band``, ``lifecycle_stage``...)."""
    out = {}
    for dim in dimensions:
        if dim == "first_channel":
            try:
                groups = first_purchase_channel(ds, view.attrs.get("as_of"))
            except ValueError:
                continue
        elif dim in view.columns:
            groups = view[dim]
        else:
            continue
        if groups.dropna().nunique() < 2:
            continue
        out[dim] = survival(durations, groups)
    return out


def cohort_matrix(co: Cohorts, last: int | None = None) -> pd.DataFrame:
    """The retention matrix of ``co`` without the acquisition period (always 100%), only the
    ``last`` cohorts when given, and without periods no cohort has reached yet."""
    matrix = co.retention.iloc[:, 1:]
    if last is not None:
        matrix = matrix.tail(last)
    return matrix.loc[:, matrix.notna().any()]


def monthly_retention(churn: pd.DataFrame, periods: int = 12) -> float:
    """Mean period-to-period retention rate of :func:`period_churn` over the last ``periods``."""
    return float(churn["retention_rate"].tail(periods).mean())


# --------------------------------------------------------------------------- payback
def payback(
    ds: Dataset | Source,
    margin_rate: float = 0.30,
    acquisition_cost: float = 30.0,
    as_of=None,
    freq: str = "M",
    co: Cohorts | None = None,
) -> pd.DataFrame:
    """Cumulative margin per acquired customer by periods since acquisition, per cohort.

    Returns a frame (rows: cohorts, columns: periods since acquisition, NaN for periods not yet
    complete) with ``attrs["payback_period"]``, a Series of the first period in which each
    cohort's cumulative margin per customer reaches ``acquisition_cost`` (NaN: not yet).
    ``co``: the :func:`cohorts` of the same ``ds``, ``as_of`` and ``freq`` when already at hand
    (they are not counted again).
    """
    if not 0 < margin_rate <= 1:
        raise ValueError("margin_rate must be in (0, 1]")
    co = cohorts(ds, as_of=as_of, freq=freq) if co is None else co
    per_customer = co.revenue.cumsum(axis=1).div(co.sizes, axis=0) * margin_rate
    per_customer = per_customer.where(co.complete)
    reached = per_customer.ge(acquisition_cost) & co.complete
    first = reached.to_numpy().argmax(axis=1).astype(float)
    first[~reached.to_numpy().any(axis=1)] = np.nan
    per_customer.attrs["payback_period"] = pd.Series(
        first, index=per_customer.index, name="payback_period"
    )
    per_customer.attrs.update(margin_rate=margin_rate, acquisition_cost=acquisition_cost)
    return per_customer


def time_to_payback(
    ds: Dataset | Source,
    margin_rate: float = 0.30,
    acquisition_cost: float = 30.0,
    as_of=None,
    engine: str | EngineSettings = "auto",
) -> pd.DataFrame:
    """Per customer: days from the first purchase until the cumulative margin of their lines
    (a day's lines together) reaches ``acquisition_cost`` (``paid_back``), or to the as-of day
    (censored); for Kaplan-Meier.  A margin within :data:`PAYBACK_TOLERANCE` (relative) of the
    cost counts as reached, so that money summed in another order gives the same day.
    ``engine`` as in :func:`cohorts` (there
    :func:`~crm_models.engine.aggregates.payback_days` finds the days)."""
    if not 0 < margin_rate <= 1:
        raise ValueError("margin_rate must be in (0, 1]")
    threshold = acquisition_cost / margin_rate * (1 - PAYBACK_TOLERANCE)  # in net revenue
    src = as_source(ds, engine)
    if src is None:
        as_of, days = _payback_days(ds, as_of, threshold)
    else:
        as_of = resolve_as_of(src, as_of)
        days = aggregates.payback_days(src, as_of, threshold)
    paid_day = days["paid_day"].to_numpy()
    paid = ~np.isnan(paid_day)
    end = np.where(paid, paid_day, as_of_day(as_of))
    return pd.DataFrame(
        {
            "duration_days": end - days["first_day"].to_numpy(),
            "lapsed": paid,  # named for survival(): the event is "paid back"
        },
        index=days.index.rename("customer_id"),
    )


def _payback_days(ds: Dataset, as_of, threshold: float) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The as-of day and, per buyer, the day numbers (float, NaN for none) of the first
    purchase (``first_day``) and of the first day whose cumulative net amount reaches
    ``threshold`` (``paid_day``), from the customer lines (NumPy)."""
    as_of, cust, cid, day, amount, _ = _lines(ds, as_of)
    base = int(day.min())
    span = int(day.max()) - base + 1
    net = pd.Series(amount).groupby(cust.astype(np.int64) * span + (day - base)).sum()
    key = net.index.to_numpy()  # sorted: by customer, then day
    c, d = key // span, (key % span + base).astype(np.float64)
    cum = net.groupby(c).cumsum().to_numpy()
    buy = amount >= 0
    first = np.full(len(cid), np.nan)
    np.fmin.at(first, cust[buy], day[buy].astype(np.float64))
    paid = np.full(len(cid), np.nan)
    hit = cum >= threshold
    np.fmin.at(paid, c[hit], d[hit])
    out = pd.DataFrame({"first_day": first, "paid_day": paid}, index=cid)
    return as_of, out.loc[~np.isnan(first)]


def payback_figures(pb: pd.DataFrame, paid: pd.DataFrame) -> dict[str, float]:
    """Median payback period of the cohorts of :func:`payback` (NaN: none has paid back) and the
    Kaplan-Meier share of customers paid back within 365 days (``paid``: :func:`time_to_payback`).
    """
    _, summary, _ = survival(paid)
    return {
        "median_periods": float(pb.attrs["payback_period"].median()),
        "share_paid_back_1y": float(1 - summary["survival_365d"].iloc[0]),
    }


# --------------------------------------------------------------------------- lists
def _contactable(view: pd.DataFrame) -> pd.Series | None:
    if "opt_in" not in view.columns:
        return None
    ok = view["opt_in"].fillna(False).astype(bool)
    if "opt_out_date" in view.columns:
        ok &= view["opt_out_date"].isna()
    return ok


def _list_frame(values: pd.DataFrame, view: pd.DataFrame) -> pd.DataFrame:
    out = values.join(
        view[
            [
                c
                for c in ("orders", "revenue", "days_since_last", "lifecycle_stage")
                if c in view.columns and c not in values.columns
            ]
        ],
        how="left",
    )
    contact = _contactable(view)
    if contact is not None:
        out["contactable"] = contact.reindex(out.index).fillna(False)
    return out[[c for c in LIST_COLUMNS if c in out.columns]]


def p_overdue(values: pd.DataFrame) -> pd.Series:
    """Chance that a repeat buyer still buying at their own pace would have bought again by now.

    The pace is the customer's repeat purchases per period between first and last purchase
    (``frequency / recency``); with purchases as a Poisson process at that pace, the chance of at
    least one purchase in the time since the last one is ``1 - exp(-pace * (T - recency))``.
    NaN for customers without a repeat purchase (no pace to go by).  A model-free reading of
    "overdue", used when the purchase model sees nobody leave (:func:`risk_rule`).
    """
    x = values["frequency"].to_numpy(dtype=float)
    tx = values["recency"].to_numpy(dtype=float)
    gap = values["T"].to_numpy(dtype=float) - tx
    with np.errstate(divide="ignore", invalid="ignore"):
        pace = np.where((x > 0) & (tx > 0), x / tx, np.nan)
    return pd.Series(-np.expm1(-pace * gap), index=values.index, name="p_overdue")


def risk_rule(
    values: pd.DataFrame,
    p_alive_threshold: float = 0.5,
    p_alive_trusted: bool = True,
    overdue_at: float = 0.9,
    min_share: float = 0.01,
) -> dict[str, Any]:
    """Which rule finds customers at risk: ``p_alive`` (the purchase model) or ``overdue``.

    The model's P(alive) is used unless it cannot be: the fit leaned on a prior for the
    drop-out part (``p_alive_trusted`` false), or the model sees almost nobody leaving (fewer
    than ``min_share`` of repeat buyers below ``p_alive_threshold``) while at least five times
    that share of repeat buyers are overdue at their own pace (:func:`p_overdue` at least
    ``overdue_at``): a collapsed drop-out process, not a loyal base.  Returns ``rule`` and the
    shares behind the choice (``repeat_buyers``, ``low_p_alive``, ``overdue``).
    """
    repeat = values["frequency"].to_numpy(dtype=float) > 0
    n = int(repeat.sum())
    low = int((values["p_alive"].to_numpy(dtype=float)[repeat] < p_alive_threshold).sum())
    overdue = int((p_overdue(values).to_numpy()[repeat] >= overdue_at).sum())
    collapsed = n > 0 and low < min_share * n and overdue >= 5 * min_share * n
    return {
        "rule": "p_alive" if p_alive_trusted and not collapsed else "overdue",
        "p_alive_trusted": bool(p_alive_trusted),
        "repeat_buyers": n,
        "low_p_alive": low,
        "overdue": overdue,
        "p_alive_threshold": float(p_alive_threshold),
        "overdue_at": float(overdue_at),
    }


def churn_risk_list(
    values: pd.DataFrame,
    view: pd.DataFrame,
    p_alive_threshold: float = 0.5,
    p_alive_floor: float = 0.05,
    falling_by: float = 0.10,
    min_value_quantile: float = 0.75,
    top: int | None = None,
    p_alive_trusted: bool = True,
    overdue_at: float = 0.9,
) -> pd.DataFrame:
    """Valuable customers who may be leaving but can still be won back, by value at risk.

    Valuable: ``potential_value`` (CLV if still active) in the top ``1 - min_value_quantile``
    of buyers.  The rule comes from :func:`risk_rule` (in ``attrs["rule"]``):

    * ``p_alive``: P(alive) below ``p_alive_threshold``, or fallen by at least ``falling_by``
      over the recent window (``p_alive_change`` from
      :func:`crm_models.value.scoring.p_alive_change`, when ``values`` has it); customers below
      ``p_alive_floor`` are almost surely gone already (a win-back, not a retention, question)
      and are left out.  Rank: ``value_at_risk`` = potential value × (1 - P(alive)).
    * ``overdue`` (the model sees nobody leave): repeat buyers whose :func:`p_overdue` is at
      least ``overdue_at``; ``value_at_risk`` is then their whole potential value (what goes if
      they have left), since no model estimate of the chance that they have is available.

    ``contactable`` marks customers who agreed to marketing (permission).
    """
    floor = values["potential_value"].quantile(min_value_quantile)
    rule = risk_rule(values, p_alive_threshold, p_alive_trusted, overdue_at)
    values = values.assign(p_overdue=p_overdue(values))
    if rule["rule"] == "overdue":
        risky = values["p_overdue"] >= overdue_at
        values = values.assign(value_at_risk=values["potential_value"])
    else:
        risky = values["p_alive"] < p_alive_threshold
        if "p_alive_change" in values.columns:
            risky |= values["p_alive_change"] <= -falling_by
        risky &= values["p_alive"] >= p_alive_floor
    chosen = values.loc[(values["potential_value"] >= floor) & risky]
    out = _list_frame(chosen, view).sort_values("value_at_risk", ascending=False)
    out.attrs.update(
        rule,
        p_alive_floor=p_alive_floor,
        falling_by=falling_by,
        value_floor=float(floor),
    )
    return out.head(top) if top else out


def top_customers(values: pd.DataFrame, view: pd.DataFrame, n: int = 500) -> pd.DataFrame:
    """The ``n`` customers with the highest expected (discounted) value, best first."""
    return _list_frame(values.nsmallest(n, "value_rank"), view)


def summary_figures(values: pd.DataFrame, risk: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of a value table and its risk list."""
    total = float(values["clv"].sum())
    top = values.loc[values["value_decile"] == 1, "clv"].sum()
    return {
        "expected_value": total,
        "top_decile_share": float(top / total) if total else float("nan"),
        "customers_at_risk": int(len(risk)),
        "value_at_risk": float(risk["value_at_risk"].sum()),
        "risk_rule": risk.attrs.get("rule", "p_alive"),
    }

"""Where does revenue come from?  Revenue = customers x loyalty x order value (R = N · L · V).

The source articles give the "success formula" R = N · V · L: revenue is the number of
customers times their value times their loyalty, and raising any factor raises revenue.  This
module measures the three factors per calendar period, splits a revenue change into their
effects, and answers the related questions of the "Customer base and revenue" report: how
concentrated revenue is, how much comes from new versus returning customers, from which
channel / region / category, and how the active base moves.

Definitions (shared by every function here)
-------------------------------------------
* **Scope.**  Customer analyses use :meth:`Dataset.customer_transactions` (anonymous lines are
  left out; only :func:`revenue_by` / :func:`revenue_share_by` can include them, on request).
* **as_of** is a *day*, inclusive: lines dated on or before that day are used, later ones are
  ignored.  Default: :meth:`Dataset.last_date`, the project-wide default as-of date.
* **Order** = one distinct ``(customer_id, order_id)``; its *net value* is the sum of its lines'
  ``amount`` (returns are negative lines, so a partly returned order nets them off) and its date
  is the date of its earliest line.  Every line is assigned to the period of its order's date, so
  all tables in this module add up to the same period revenue.
* **Returns.**  Revenue is always **net of returns**.  A return booked as its own order (net
  value <= 0) lowers revenue in the period of that return but is **not counted as an order**,
  does not make its customer active and cannot make a customer "new".  ``gross_revenue`` (sum of
  positive orders) + ``returns_amount`` (sum of non-positive orders, <= 0) = ``revenue``.
* **Active customer** = at least one order with positive net value in the period.
* **New customer** in a period = the customer's first positive order in the data falls in it
  (the first data period is therefore inflated: everybody who buys in it looks "new").
* **Factors**: N = ``active_customers``, L = ``orders_per_customer`` = orders / N (loyalty),
  V = ``avg_order_value`` = revenue / orders (net value per order).  Hence R = N · L · V holds
  exactly (up to float rounding) in every period that has at least one order, even with returns.
  A period with no orders (``empty``) has N = 0 and L, V undefined (NaN); its revenue is 0 unless
  returns were booked in it, the one case N · L · V cannot carry (see :func:`decompose_change`).
* **Calendar.**  Periods are pandas ``Period`` s on a regular calendar from the first transaction
  (of any kind) to ``as_of``; periods without sales are kept (zeros / NaN, ``empty`` = True).
  ``partial`` flags the first period when the data starts after its first day and the last one
  when ``as_of`` is before its last day.  Compare partial periods with care.
* **Concentration** is measured on each customer's net revenue with negative values clipped to 0
  (a customer whose returns exceed purchases in the window holds no share of revenue); the
  number of such customers and the clipped amount are reported.
* **Engines.**  Every table here also takes an engine :class:`~crm_models.engine.Source`: the
  same per-period, per-level or per-customer figures are then counted by the engine
  (:mod:`crm_models.engine.aggregates`) and finished by the same pandas code, so no line or
  order reaches memory.  Only :func:`netted_orders` (one row per order) needs a Dataset.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from crm_models.data.conditions import no_sales, no_transactions
from crm_models.data.dataset import Dataset
from crm_models.data.snapshot import cached_frame
from crm_models.engine import EngineSettings, Source, aggregates, as_source
from crm_models.features import STAGES, resolve_as_of
from crm_models.units import period_label

__all__ = [
    "Concentration",
    "base_activity",
    "base_summary",
    "change_effects",
    "concentration",
    "decompose_change",
    "decompose_changes",
    "decompose_latest",
    "latest_change",
    "largest_effect",
    "lifecycle_mix",
    "new_vs_returning",
    "nlv_table",
    "recent_new_share",
    "available_dimensions",
    "revenue_by",
    "revenue_by_each",
    "revenue_share_by",
    "stage_share",
]

DateLike = str | pd.Timestamp | np.datetime64 | None
PeriodLike = str | pd.Period | pd.Timestamp
Against = Literal["previous", "year"]

NLV_COLUMNS = [
    "revenue",
    "active_customers",
    "orders_per_customer",
    "avg_order_value",
    "orders",
    "new_customers",
    "gross_revenue",
    "returns_amount",
    "empty",
    "partial",
]

# Factor symbol -> column of the nlv table.
FACTORS = {"N": "active_customers", "L": "orders_per_customer", "V": "avg_order_value"}


# --------------------------------------------------------------------------------------------
# Shared private helpers: line selection, order netting, period assignment, calendar.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OrderCodes:
    """Every line's order in a transactions frame: ``code`` per line (orders numbered by first
    appearance), per order ``first_row`` (its first line) and ``start`` (date of its earliest
    line); ``netted`` keeps the last few :class:`NettedOrders` built on them and ``levels`` the
    codes of the columns tables are split by."""

    code: np.ndarray
    first_row: np.ndarray
    start: pd.api.extensions.ExtensionArray
    customer: np.ndarray  # per line: its customer's number (missing ids share one)
    netted: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)


_ORDER_CODES: dict[int, tuple[weakref.ref, _OrderCodes]] = {}


def _order_codes(tx: pd.DataFrame) -> _OrderCodes:
    """The orders of all lines of ``tx`` (one per distinct ``(customer_id, order_id)``; a line
    without an order id is an order of its own).  Computed once per transactions frame and
    reused by every table of this module: telling 9M lines apart by two text ids is the costly
    step of a report, and a loaded frame is never changed in place."""
    hit = _ORDER_CODES.get(id(tx))
    if hit is not None and hit[0]() is tx and len(hit[1].code) == len(tx):
        return hit[1]
    customer, _ = pd.factorize(tx["customer_id"], use_na_sentinel=False)
    order, uniques = pd.factorize(tx["order_id"])
    n_ids = len(uniques)
    if (order < 0).any():
        order = np.where(order < 0, n_ids + np.arange(len(tx)), order)
        n_ids += len(tx)
    code, _ = pd.factorize(customer.astype(np.int64) * max(n_ids, 1) + order)
    n = int(code.max()) + 1 if len(code) else 0
    first_row = np.empty(n, dtype=np.int64)
    first_row[code[::-1]] = np.arange(len(code) - 1, -1, -1)
    start = tx["order_date"].reset_index(drop=True).groupby(code, sort=True).min().array
    found = _OrderCodes(code, first_row, start, customer)
    _ORDER_CODES.clear()  # one frame at a time: a report works on one dataset
    _ORDER_CODES[id(tx)] = (weakref.ref(tx), found)
    return found


@dataclass(frozen=True)
class NettedOrders:
    """Lines and netted orders of a dataset, assigned to periods on a regular calendar.

    ``rows`` are the positions of the selected lines in the dataset's transactions and
    ``line_order`` the row of each one's order in ``orders``; the line table itself
    (:attr:`lines`) is only built when asked for."""

    orders: pd.DataFrame  # one row per order: customer_id, order_id, order_date, period, amount
    calendar: pd.PeriodIndex
    partial: pd.Series  # bool, indexed by calendar
    first_period: pd.Series  # customer_id -> period of the first positive order
    source: pd.DataFrame  # the dataset's transactions
    rows: np.ndarray
    line_order: np.ndarray

    @property
    def purchases(self) -> pd.DataFrame:
        """Orders with positive net value: the only ones that count as orders."""
        return self.orders.loc[self.orders["amount"] > 0]

    @cached_property
    def lines(self) -> pd.DataFrame:
        """One row per selected line: customer_id, order_id, order_date, amount, ``order_key``
        (row in :attr:`orders`), ``order_start`` and ``period``."""
        cols = ["customer_id", "order_id", "order_date", "amount"]
        lines = self.source[cols].take(self.rows)
        if lines["order_id"].isna().any():
            synthetic = pd.Series(self.rows.astype(str), index=lines.index)
            lines["order_id"] = (
                lines["order_id"]
                .astype(object)
                .where(lines["order_id"].notna(), "__line_" + synthetic)
            )
        lines["order_key"] = self.line_order
        lines["order_start"] = self.orders["order_date"].to_numpy()[self.line_order]
        lines["period"] = self.orders["period"].array.take(self.line_order)
        return lines

    def line_periods(self) -> np.ndarray:
        """Period ordinal of each selected line (its order's period)."""
        return self.orders["period"].array.asi8[self.line_order]


def netted_orders(
    ds: Dataset,
    freq: str = "M",
    as_of: DateLike = None,
    *,
    include_anonymous: bool = False,
) -> NettedOrders:
    """Select lines up to ``as_of``, net them into orders and assign periods (see module doc)."""
    if isinstance(ds, Source):
        raise TypeError(
            "netted_orders holds one row per order in memory and needs a loaded Dataset; on an "
            "engine source use the tables of crm_models.revenue, counted by the engine"
        )
    if ds.transactions is None:
        raise no_transactions(ds.name)
    end = resolve_as_of(ds, as_of)
    tx = ds.transactions
    codes = _order_codes(tx)
    key = (freq, end, include_anonymous)
    if key in codes.netted:  # a report asks for the same table several times
        return codes.netted[key]
    keep = np.ones(len(tx), dtype=bool)
    if not include_anonymous:
        keep &= tx["customer_id"].notna().to_numpy()
    start = None
    if end is not None:
        in_time = (tx["order_date"] < end.normalize() + pd.Timedelta(days=1)).to_numpy()
        keep &= in_time
        if in_time.any():
            start = tx["order_date"].to_numpy()[in_time].min()
    rows = np.flatnonzero(keep)
    code = codes.code[rows]
    # net value per order, summed over its lines in line order (as a groupby of the lines)
    amount = pd.Series(tx["amount"].to_numpy(dtype=float)[rows]).groupby(code, sort=True).sum()
    present = amount.index.to_numpy(dtype=np.int64)
    row_of = np.zeros(len(codes.start), dtype=np.int64)
    row_of[present] = np.arange(len(present))
    first = codes.first_row[present]
    order_date = pd.Series(codes.start.take(present))
    orders = pd.DataFrame(
        {
            "customer_id": tx["customer_id"].array.take(first),
            "order_id": tx["order_id"].array.take(first),
            "order_date": order_date,
            "period": order_date.dt.to_period(freq),
            "amount": amount.to_numpy(),
        }
    )
    if orders["order_id"].isna().any():
        synthetic = pd.Series(first.astype(str))
        orders["order_id"] = (
            orders["order_id"]
            .astype(object)
            .where(orders["order_id"].notna(), "__line_" + synthetic)
        )

    calendar, partial = _calendar(start, end, freq)
    buys = orders.loc[orders["amount"] > 0]
    first_period = buys.groupby("customer_id")["order_date"].min().dt.to_period(freq)
    netted = NettedOrders(orders, calendar, partial, first_period, tx, rows, row_of[code])
    if len(codes.netted) >= 4:
        codes.netted.clear()
    codes.netted[key] = netted
    return netted


def _calendar(start, end, freq: str) -> tuple[pd.PeriodIndex, pd.Series]:
    """The regular calendar from the first line's period to the as-of period, and which of
    its periods are only partly covered by the data."""
    if start is None or pd.isna(start) or end is None:
        calendar = pd.PeriodIndex([], freq=freq, name="period")
        return calendar, pd.Series(False, index=calendar, name="partial")
    start = pd.Timestamp(start)
    calendar = pd.period_range(start.to_period(freq), end.to_period(freq), freq=freq, name="period")
    partial = pd.Series(False, index=calendar, name="partial")
    first, last = calendar[0], calendar[-1]
    if start.normalize() > first.start_time.normalize():
        partial.loc[first] = True
    if end.normalize() < last.end_time.normalize():
        partial.loc[last] = True
    return calendar, partial


def _engine_calendar(
    src: Source, freq: str, as_of: DateLike
) -> tuple[pd.Timestamp, str, pd.PeriodIndex, pd.Series]:
    """On an engine source: the as-of day, the engine's code of ``freq``
    (:func:`~crm_models.engine.aggregates.period_code`), and the calendar and partial flags of
    :func:`_calendar` (from the first line of any kind, as :func:`netted_orders`)."""
    end = resolve_as_of(src, as_of)
    code = {"M": "M", "W": "W", "Q": "Q"}[pd.Period(end, freq).freqstr[0]]
    calendar, partial = _calendar(aggregates.first_line_date(src, end), end, freq)
    return end, code, calendar, partial


def _engine_periods(codes: Any, code: str, freq: str) -> pd.PeriodIndex:
    """The pandas periods of the engine's integer period codes."""
    return period_label(np.asarray(codes, dtype=np.int64), code).asfreq(freq)


def _active_customers(buys: pd.DataFrame) -> pd.Series:
    """Distinct customers per period of these orders (``groupby("period").customer_id.nunique()``
    from one sort of integer keys: about five times faster on millions of orders)."""
    period, periods = pd.factorize(buys["period"], sort=True)
    customer, _ = pd.factorize(buys["customer_id"])
    known = customer >= 0
    n = int(customer.max()) + 1 if known.any() else 1
    key = np.sort(period[known].astype(np.int64) * n + customer[known])
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    counts = np.bincount(key[first] // n, minlength=len(periods))
    return pd.Series(counts, index=pd.Index(periods, name="period"), name="customer_id")


def _safe_div(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0."""
    return num.astype(float) / den.astype(float).where(den != 0)


# --------------------------------------------------------------------------------------------
# 1. The R = N · L · V table.
# --------------------------------------------------------------------------------------------


def nlv_table(
    ds: Dataset | Source,
    freq: str = "M",
    as_of: DateLike = None,
    engine: str | EngineSettings = "auto",
    require_sales: bool = False,
) -> pd.DataFrame:
    """Revenue and its factors per period: R = N (customers) · L (loyalty) · V (order value).

    Returns a DataFrame indexed by ``period`` (pandas Period, regular calendar) with columns
    ``revenue`` (net), ``active_customers`` (N), ``orders_per_customer`` (L),
    ``avg_order_value`` (V = revenue / orders), ``orders``, ``new_customers``,
    ``gross_revenue``, ``returns_amount`` (<= 0), ``empty`` (no orders) and ``partial``.
    ``revenue == active_customers * orders_per_customer * avg_order_value`` in every non-empty
    period.  Definitions and the treatment of returns: see the module docstring.  ``engine``
    says where the period totals are counted (:mod:`crm_models.engine`; same numbers).
    With ``require_sales`` (a report on the business, a forecast) a log without any order of
    positive value up to ``as_of`` raises :class:`~crm_models.data.dataset.UnsupportedData`.
    Inside a report build each table is counted once and read back by the other reports
    (:func:`crm_models.data.snapshot.cached_frame`).
    """
    key = {
        "freq": getattr(freq, "freqstr", str(freq)),
        "as_of": None if as_of is None else str(pd.Timestamp(as_of)),
        "engine": engine,
    }
    out = cached_frame(ds, "nlv_table", key, lambda: _nlv_table(ds, freq, as_of, engine))
    if require_sales and not (out["orders"] > 0).any():
        raise no_sales("there is no revenue to analyse", resolve_as_of(ds, as_of))
    return out


def _nlv_table(
    ds: Dataset | Any, freq: str, as_of: DateLike, engine: str | EngineSettings
) -> pd.DataFrame:
    src = as_source(ds, engine)
    if src is None:
        base = netted_orders(ds, freq, as_of)
        calendar, partial = base.calendar, base.partial
        orders, buys = base.orders, base.purchases
        returned = orders.loc[orders["amount"] <= 0]
        totals = pd.DataFrame(
            {
                "revenue": orders.groupby("period")["amount"].sum(),
                "gross_revenue": buys.groupby("period")["amount"].sum(),
                "returns_amount": returned.groupby("period")["amount"].sum(),
                "orders": buys.groupby("period").size(),
                "active_customers": _active_customers(buys),
                "new_customers": base.first_period.value_counts(),
            }
        )
    else:
        end, code, calendar, partial = _engine_calendar(src, freq, as_of)
        totals = aggregates.order_period_totals(src, end, code)
        totals.index = _engine_periods(totals.index, code, freq)
    totals = totals.reindex(calendar).fillna(0)
    n_orders = totals["orders"].astype("int64")
    active = totals["active_customers"].astype("int64")
    revenue = totals["revenue"].astype(float)
    out = pd.DataFrame(
        {
            "revenue": revenue,
            "active_customers": active,
            "orders_per_customer": _safe_div(n_orders, active),
            "avg_order_value": _safe_div(revenue, n_orders),
            "orders": n_orders,
            "new_customers": totals["new_customers"].astype("int64"),
            "gross_revenue": totals["gross_revenue"].astype(float),
            "returns_amount": totals["returns_amount"].astype(float),  # exactly <= 0
            "empty": n_orders == 0,
            "partial": partial,
        },
        index=calendar,
    )
    return out[NLV_COLUMNS]


# --------------------------------------------------------------------------------------------
# 2. Decomposition of a revenue change into the effects of N, L and V.
# --------------------------------------------------------------------------------------------


def _log_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / (ln a - ln b), L(a, a) = a, for a, b > 0."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (a - b) / b
        # log1p keeps precision when a is close to b; log(a / b) when they are far apart
        log_ratio = np.where(np.abs(rel) < 0.5, np.log1p(rel), np.log(a / b))
        out = (a - b) / log_ratio
    return np.where(a == b, a, out)


def _shapley(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Exact Shapley effects of the three factors of a product x[0]·x[1]·x[2]; shape (3, n)."""
    effects = []
    for i in range(3):
        j, k = [m for m in range(3) if m != i]
        weight = (x0[j] * x0[k] + x1[j] * x1[k]) / 3 + (x0[j] * x1[k] + x1[j] * x0[k]) / 6
        effects.append((x1[i] - x0[i]) * weight)
    return np.array(effects)


def _decompose_arrays(
    r0: np.ndarray, r1: np.ndarray, x0: np.ndarray, x1: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised core: effects (3, n) of N, L, V, the residual (n,) and method labels (n,).

    ``x0``/``x1`` have shape (3, n) (rows N, L, V).  In an empty period (N = 0, L and V NaN) L
    and V are taken from the other period (0 if both are empty), so the whole change is put on
    N.  Revenue that N·L·V cannot carry (returns booked in a period without orders) goes to the
    residual ``other``; it is 0 whenever both periods have orders.
    """
    if method not in ("lmdi", "shapley"):
        raise ValueError(f"method must be 'lmdi' or 'shapley', not {method!r}")
    x0 = np.array(x0, dtype=float)
    x1 = np.array(x1, dtype=float)
    for row in (1, 2):
        a, b = x0[row], x1[row]
        x0[row] = np.where(np.isnan(a), np.where(np.isnan(b), 0.0, b), a)
        x1[row] = np.where(np.isnan(b), x0[row], b)
    r0 = np.asarray(r0, dtype=float)
    r1 = np.asarray(r1, dtype=float)
    # Residual only where a period has no orders (N = 0); elsewhere R = N·L·V by construction.
    other = np.where(x1[0] == 0, r1, 0.0) - np.where(x0[0] == 0, r0, 0.0)

    lmdi_ok = np.all((x0 > 0) & (x1 > 0) & np.isfinite(x0) & np.isfinite(x1), axis=0)
    use_lmdi = lmdi_ok if method == "lmdi" else np.zeros_like(lmdi_ok)
    effects = _shapley(x0, x1)
    if use_lmdi.any():
        safe0 = np.where(use_lmdi, x0, 1.0)
        safe1 = np.where(use_lmdi, x1, 1.0)
        weight = _log_mean(safe1.prod(axis=0), safe0.prod(axis=0))
        lmdi = weight * np.log(safe1 / safe0)
        effects = np.where(use_lmdi, lmdi, effects)
    labels = np.where(use_lmdi, "lmdi", "shapley")
    return effects, other, labels


def _decomposition_frame(
    nlv: pd.DataFrame, p_from: pd.PeriodIndex, p_to: pd.PeriodIndex, method: str
) -> pd.DataFrame:
    """Decompose R(p_to) - R(p_from) for aligned arrays of periods (one row per pair)."""
    missing = [str(p) for p in list(p_from) + list(p_to) if p not in nlv.index]
    if missing:
        raise ValueError(f"period(s) not in the nlv table: {', '.join(sorted(set(missing)))}")
    a, b = nlv.loc[p_from], nlv.loc[p_to]
    x0 = np.array([a[c].to_numpy(dtype=float) for c in FACTORS.values()])
    x1 = np.array([b[c].to_numpy(dtype=float) for c in FACTORS.values()])
    r0, r1 = a["revenue"].to_numpy(dtype=float), b["revenue"].to_numpy(dtype=float)
    effects, other, labels = _decompose_arrays(r0, r1, x0, x1, method)
    fallback = (labels == "shapley") & (method == "lmdi")
    note = np.where(fallback, "LMDI undefined (a factor is zero, negative or missing): Shapley", "")
    note = np.where(
        other != 0,
        np.char.add(note, np.where(fallback, "; ", "")).astype(object)
        + "returns in a period without orders are in effect_other",
        note.astype(object),
    )
    out = pd.DataFrame(
        {
            "period_from": np.asarray(p_from, dtype=object),
            "period_to": np.asarray(p_to, dtype=object),
            "revenue_from": r0,
            "revenue_to": r1,
            "change": r1 - r0,
            **{f"{s}_from": x0[i] for i, s in enumerate(FACTORS)},
            **{f"{s}_to": x1[i] for i, s in enumerate(FACTORS)},
            "effect_N": effects[0],
            "effect_L": effects[1],
            "effect_V": effects[2],
            "effect_other": other,
            "method": labels,
            "note": note,
        }
    )
    return out


def _to_period(p: PeriodLike, nlv: pd.DataFrame) -> pd.Period:
    return pd.Period(p, freq=nlv.index.freq)


def decompose_change(
    nlv: pd.DataFrame,
    period_from: PeriodLike,
    period_to: PeriodLike,
    method: Literal["lmdi", "shapley"] = "lmdi",
) -> pd.Series:
    """Split R(period_to) - R(period_from) into the effects of N, L and V (they add up exactly).

    ``nlv`` is a :func:`nlv_table`.  With ``method="lmdi"`` (log-mean Divisia index, LMDI-I)
    effect_X = L(R1, R0) · ln(X1 / X0); when a factor is zero, negative or missing in either
    period LMDI is undefined and the exact Shapley split of the three-factor product is used
    instead (``method`` in the result says which one was used, ``note`` why).  ``effect_other``
    holds revenue N·L·V cannot carry (returns booked in a period without any order) and is 0
    otherwise, so ``effect_N + effect_L + effect_V + effect_other == change``.

    Returns a Series: period_from, period_to, revenue_from, revenue_to, change, N/L/V_from,
    N/L/V_to, effect_N, effect_L, effect_V, effect_other, method, note.
    """
    p0, p1 = _to_period(period_from, nlv), _to_period(period_to, nlv)
    frame = _decomposition_frame(nlv, pd.PeriodIndex([p0]), pd.PeriodIndex([p1]), method)
    row = frame.iloc[0]
    row.name = f"{p0} -> {p1}"
    return row


def _period_before(periods: pd.PeriodIndex, against: Against) -> pd.PeriodIndex:
    """The comparison period of each period: the previous one, or the one a year earlier."""
    if against == "previous":
        return periods - 1
    if against == "year":
        start = periods.start_time - pd.DateOffset(years=1)
        return pd.PeriodIndex(start.to_period(periods.freq), name=periods.name)
    raise ValueError(f"against must be 'previous' or 'year', not {against!r}")


def decompose_changes(
    nlv: pd.DataFrame,
    against: Against = "previous",
    method: Literal["lmdi", "shapley"] = "lmdi",
) -> pd.DataFrame:
    """Decompose every period's change versus the previous period (or the same period a year
    earlier): one row per ``period_to`` that has a comparison period in the table.

    Columns as in :func:`decompose_change`, plus ``partial`` (either period is partial).
    """
    periods = nlv.index
    before = _period_before(periods, against)
    ok = before.isin(periods)
    frame = _decomposition_frame(nlv, before[ok], periods[ok], method)
    frame.index = pd.PeriodIndex(periods[ok], name="period")
    frame["partial"] = (
        nlv["partial"].reindex(before[ok]).to_numpy() | nlv["partial"].loc[periods[ok]].to_numpy()
    )
    return frame


def decompose_latest(
    nlv: pd.DataFrame,
    against: Against = "year",
    method: Literal["lmdi", "shapley"] = "lmdi",
) -> pd.Series:
    """Decompose the change of the last full (non-partial) period versus the period before it
    (``against="previous"``) or the same period a year earlier (``against="year"``).

    Raises ValueError when there is no full period or its comparison period is not in ``nlv``.
    """
    full = nlv.index[~nlv["partial"].to_numpy(dtype=bool)]
    if len(full) == 0:
        raise ValueError("the nlv table has no full (non-partial) period")
    p1 = full[-1]
    p0 = _period_before(pd.PeriodIndex([p1]), against)[0]
    if p0 not in nlv.index:
        raise ValueError(f"no {against!r} comparison for {p1}: {p0} is not in the nlv table")
    return decompose_change(nlv, p0, p1, method)


# --------------------------------------------------------------------------------------------
# 3. Concentration: top shares, Lorenz curve, Gini.
# --------------------------------------------------------------------------------------------

TOP_FRACTIONS = (0.01, 0.10, 0.20)
NOISE = 1e-9  # relative size of a net revenue taken as the float noise of a zero


@dataclass(frozen=True)
class Concentration:
    """How concentrated customer revenue is (negative net revenues counted as 0).

    ``per_customer``: net revenue per customer (unclipped, descending); ``lorenz``: columns
    ``customer_share`` and ``revenue_share``, customers sorted ascending, from (0, 0) to (1, 1);
    ``top_shares``: share of (clipped) revenue held by the top 1 %, 10 %, 20 % of customers.
    """

    per_customer: pd.Series
    lorenz: pd.DataFrame
    gini: float
    top_shares: pd.Series
    n_customers: int
    total_revenue: float
    n_negative: int
    negative_revenue: float
    as_of: pd.Timestamp | None

    def top_share(self, fraction: float) -> float:
        """Share of revenue held by the top ``fraction`` of customers (Lorenz interpolation)."""
        return _top_share(self.lorenz, fraction)

    def to_frame(self) -> pd.DataFrame:
        """The headline numbers as a one-column table (``value``) for a report."""
        rows = {
            "customers": self.n_customers,
            "net revenue": self.total_revenue,
            "customers with negative net revenue (counted as 0)": self.n_negative,
            "their net revenue": self.negative_revenue,
            **{f"revenue share of top {f:.0%} customers": s for f, s in self.top_shares.items()},
            "Gini coefficient": self.gini,
        }
        return pd.DataFrame({"value": pd.Series(rows, dtype=float)}).rename_axis("metric")


def _top_share(lorenz: pd.DataFrame, fraction: float) -> float:
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], not {fraction}")
    x = lorenz["customer_share"].to_numpy()
    y = lorenz["revenue_share"].to_numpy()
    if len(x) < 2 or np.isnan(y).any():
        return float("nan")
    return float(1.0 - np.interp(1.0 - fraction, x, y))


def _gini(sorted_values: np.ndarray) -> float:
    """Gini of non-negative values sorted ascending: 0 all equal, (n-1)/n one holds all."""
    n = len(sorted_values)
    total = sorted_values.sum()
    if n == 0 or total <= 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    g = 2.0 * np.dot(ranks, sorted_values) / (n * total) - (n + 1) / n
    return float(min(max(g, 0.0), 1.0))


def concentration(
    ds: Dataset | Source, as_of: DateLike = None, start: DateLike = None
) -> Concentration:
    """Per-customer net revenue, top 1/10/20 % shares, Lorenz curve and Gini coefficient.

    Customers are those with at least one line in the window (``start``, inclusive, to
    ``as_of``; default: all history).  A customer whose net revenue is negative (returns exceed
    purchases in the window) is counted with 0 in shares, Lorenz curve and Gini; how many and how
    much is reported; a net revenue within :data:`NOISE` of the customer's turnover (sum of
    absolute order values) is a rounding error and counts as 0.  Top shares interpolate the
    Lorenz curve, so "top 1 %" of 50 customers is half of the largest customer's share.  On an
    engine source only the per-customer sums leave the engine.
    """
    since = None if start is None else pd.Timestamp(start).normalize()
    if isinstance(ds, Source):
        sums = aggregates.customer_net_revenue(ds, resolve_as_of(ds, as_of), since)
    else:
        orders = netted_orders(ds, "M", as_of).orders  # periods unused: the monthly table is shared
        if since is not None:
            orders = orders.loc[orders["order_date"] >= since]
        orders = orders.assign(revenue=orders["amount"], turnover=orders["amount"].abs())
        sums = orders.groupby("customer_id")[["revenue", "turnover"]].sum()
    # a fully returned order nets to a rounding error whose sign depends on the order of the
    # additions (an engine adds in its own order): within 1e-9 of the turnover it is 0
    noise = sums["revenue"].abs() <= NOISE * sums["turnover"]
    per_customer = sums["revenue"].mask(noise, 0.0).sort_values(ascending=False)
    clipped = np.sort(per_customer.clip(lower=0).to_numpy(dtype=float))
    n = len(clipped)
    cum = np.concatenate([[0.0], np.cumsum(clipped)])
    total = cum[-1]
    lorenz = pd.DataFrame(
        {
            "customer_share": np.arange(n + 1) / max(n, 1),
            "revenue_share": cum / total if total > 0 else np.full(n + 1, np.nan),
        }
    )
    if n == 0:
        lorenz = lorenz.iloc[:0]
    negative = per_customer[per_customer < 0]
    top = pd.Series(
        {f: _top_share(lorenz, f) for f in TOP_FRACTIONS}, name="revenue_share", dtype=float
    ).rename_axis("top_fraction")
    return Concentration(
        per_customer=per_customer,
        lorenz=lorenz,
        gini=_gini(clipped),
        top_shares=top,
        n_customers=n,
        total_revenue=float(per_customer.sum()),
        n_negative=len(negative),
        negative_revenue=float(negative.sum()),
        as_of=resolve_as_of(ds, as_of),
    )


# --------------------------------------------------------------------------------------------
# 4-6. New vs returning revenue, revenue by dimension, base activity.
# --------------------------------------------------------------------------------------------


def _is_new(frame: pd.DataFrame, base: NettedOrders) -> pd.Series:
    """True for rows (orders or lines) in their customer's first-purchase period."""
    first = pd.Series(base.first_period.array.asi8, index=base.first_period.index)
    first = frame["customer_id"].map(first).to_numpy(dtype=float)  # NaN: never purchased
    return pd.Series(frame["period"].array.asi8 == first, index=frame.index)


def new_vs_returning(ds: Dataset | Source, freq: str = "M", as_of: DateLike = None) -> pd.DataFrame:
    """Net revenue per period from customers in their first-purchase period vs returning ones.

    Columns: ``revenue`` (same as :func:`nlv_table`), ``new_revenue``, ``returning_revenue``
    (everyone else, including returns of customers whose purchase predates the data),
    ``new_share`` (new / revenue; NaN when revenue <= 0) and ``partial``.
    """
    if isinstance(ds, Source):
        end, code, calendar, partial = _engine_calendar(ds, freq, as_of)
        cells = aggregates.new_revenue_per_period(ds, end, code)
        cells.index = _engine_periods(cells.index, code, freq)
        total, new_rev = cells["revenue"], cells["new_revenue"]
    else:
        base = netted_orders(ds, freq, as_of)
        orders, calendar, partial = base.orders, base.calendar, base.partial
        total = orders.groupby("period")["amount"].sum()
        new_rev = orders.loc[_is_new(orders, base)].groupby("period")["amount"].sum()
    total = total.reindex(calendar, fill_value=0.0).astype(float)
    new_rev = new_rev.reindex(calendar, fill_value=0.0).astype(float)
    return pd.DataFrame(
        {
            "revenue": total,
            "new_revenue": new_rev,
            "returning_revenue": total - new_rev,
            "new_share": new_rev / total.where(total > 0),
            "partial": partial,
        },
        index=calendar,
    )


def _columns(ds: Dataset | Source, table: str) -> list[str] | None:
    """The columns of a table of a dataset or engine source (None when absent)."""
    if isinstance(ds, Source):
        return ds.columns(table) if ds.has(table) else None
    frame = getattr(ds, table)
    return None if frame is None else list(frame.columns)


def _dimension_column(ds: Dataset | Source, dimension: str) -> tuple[str, ...]:
    """Check that ``dimension`` can be read; returns the extra transaction columns needed."""
    tx = _columns(ds, "transactions")
    if tx is None:
        raise no_transactions(ds.name)
    if dimension in tx:
        return (dimension,)
    products = _columns(ds, "products")
    if (
        products is not None
        and dimension in products
        and "product_id" in products
        and "product_id" in tx
    ):
        return ("product_id",)
    raise ValueError(
        f"dataset {ds.name!r} has no {dimension!r} column: it is neither in the transactions "
        f"(columns: {', '.join(map(str, tx))}) nor in a products table joined by product_id"
    )


def _levels(ds: Dataset, dimension: str, base: NettedOrders) -> tuple[np.ndarray, pd.Index]:
    """The ``dimension`` value of each selected line of ``base`` as codes into the returned
    labels ("(missing)" when absent): codes keep 9M lines of text out of the group-bys."""
    extra = _dimension_column(ds, dimension)
    found = _order_codes(base.source).levels
    if extra[0] not in found:  # each column of the transactions is coded once
        found[extra[0]] = pd.factorize(base.source[extra[0]])
    codes, uniques = found[extra[0]]
    codes = codes[base.rows]
    if extra != (dimension,):
        lookup = ds.products.drop_duplicates("product_id", keep="last").set_index("product_id")
        named, uniques = pd.factorize(pd.Series(uniques).map(lookup[dimension]))
        codes = np.where(codes >= 0, named[np.maximum(codes, 0)], -1)
    labels = pd.Index(np.asarray(uniques, dtype=object))
    if (codes < 0).any():
        missing = labels.get_loc("(missing)") if "(missing)" in labels else len(labels)
        labels = labels if missing < len(labels) else labels.append(pd.Index(["(missing)"]))
        codes = np.where(codes < 0, missing, codes)
    return codes, labels


def lines_by(
    ds: Dataset, dimension: str, freq: str, as_of: DateLike, include_anonymous: bool
) -> tuple[pd.DataFrame, NettedOrders]:
    """Lines with a ``level`` column holding the dimension value ("(missing)" when absent)."""
    base = netted_orders(ds, freq, as_of, include_anonymous=include_anonymous)
    codes, labels = _levels(ds, dimension, base)
    return base.lines.assign(level=labels.to_numpy()[codes]), base


def available_dimensions(ds: Dataset | Source, dimensions: Sequence[str]) -> list[str]:
    """Those of ``dimensions`` the data can split revenue by (:func:`revenue_by`)."""
    out = []
    for dimension in dimensions:
        try:
            _dimension_column(ds, dimension)
        except ValueError:
            continue
        out.append(dimension)
    return out


def revenue_by(
    ds: Dataset | Source,
    dimension: str,
    freq: str = "M",
    as_of: DateLike = None,
    include_anonymous: bool = False,
) -> pd.DataFrame:
    """Net revenue per period (rows) and level of ``dimension`` (columns), e.g. ``channel``.

    ``dimension`` is a transactions column (``channel``, ``region``, ``category`` ...) or a
    products column reached through ``product_id``; ValueError naming it when absent.  Lines
    without a value go to ``"(missing)"``.  Columns are sorted by total revenue, descending.
    Customer lines only unless ``include_anonymous``; then row sums exceed nlv revenue.
    """
    return revenue_by_each(ds, [dimension], freq, as_of, include_anonymous)[dimension]


def revenue_by_each(
    ds: Dataset | Source,
    dimensions: Sequence[str],
    freq: str = "M",
    as_of: DateLike = None,
    include_anonymous: bool = False,
) -> dict[str, pd.DataFrame]:
    """:func:`revenue_by` of each of ``dimensions``; an engine source sums them all in one
    pass over the lines (10M customers: one pass instead of three for the customer-base
    report's channel, region and category)."""
    for dimension in dimensions:
        _dimension_column(ds, dimension)
    if not dimensions:
        return {}
    if isinstance(ds, Source):
        end, code, calendar, _ = _engine_calendar(ds, freq, as_of)
        cells = aggregates.period_level_revenue(ds, end, dimensions, code, include_anonymous)
        out = {}
        for dimension in dimensions:
            per = cells.groupby(["period", dimension])["revenue"].sum()
            per.index = pd.MultiIndex.from_arrays(
                [
                    _engine_periods(per.index.get_level_values(0), code, freq),
                    per.index.get_level_values(1),
                ]
            )
            out[dimension] = _wide(per, calendar, dimension)
        return out
    base = netted_orders(ds, freq, as_of, include_anonymous=include_anonymous)
    amount = pd.Series(base.source["amount"].to_numpy(dtype=float)[base.rows])
    out = {}
    for dimension in dimensions:
        codes, labels = _levels(ds, dimension, base)
        cells = amount.groupby([base.line_periods(), codes]).sum()
        ordinals = cells.index.get_level_values(0).to_numpy()
        cells.index = pd.MultiIndex.from_arrays(
            [
                pd.PeriodIndex.from_ordinals(ordinals, freq=base.calendar.freq),
                labels[cells.index.get_level_values(1).to_numpy()],
            ]
        )
        out[dimension] = _wide(cells, base.calendar, dimension)
    return out


def _wide(cells: pd.Series, calendar: pd.PeriodIndex, dimension: str) -> pd.DataFrame:
    """Revenue ``cells`` per (period, level) as periods of ``calendar`` x levels, the levels
    sorted by total revenue, descending."""
    wide = cells.unstack(fill_value=0.0)
    wide = wide.sort_index(axis=1).reindex(calendar, fill_value=0.0).astype(float)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    wide.columns.name = dimension
    return wide


def revenue_share_by(
    ds: Dataset | Source, dimension: str, as_of: DateLike = None, include_anonymous: bool = False
) -> pd.DataFrame:
    """Overall net revenue, its share and the number of buying customers per level of
    ``dimension``, sorted by revenue (shares of net revenue; a level can be negative)."""
    if isinstance(ds, Source):
        _dimension_column(ds, dimension)
        end = resolve_as_of(ds, as_of)
        cells = aggregates.level_revenue(ds, end, dimension, include_anonymous=include_anonymous)
        revenue, buyers = cells["revenue"], cells["customers"]
    else:
        base = netted_orders(ds, "M", as_of, include_anonymous=include_anonymous)  # shared
        codes, labels = _levels(ds, dimension, base)
        amount = base.source["amount"].to_numpy(dtype=float)[base.rows]
        revenue = pd.Series(amount).groupby(codes).sum().astype(float)
        sold = (amount > 0) & base.source["customer_id"].notna().to_numpy()[base.rows]
        # buyers per level: the distinct (level, customer) pairs of the purchase lines
        customer = _order_codes(base.source).customer[base.rows[sold]].astype(np.int64)
        n = int(customer.max(initial=0)) + 1
        pairs = np.sort(codes[sold].astype(np.int64) * n + customer)
        first = np.r_[True, pairs[1:] != pairs[:-1]] if len(pairs) else np.zeros(0, bool)
        buyers = pd.Series(np.bincount(pairs[first] // n, minlength=len(labels)), dtype="int64")
        revenue.index = labels[revenue.index.to_numpy()]
        buyers.index = labels
    revenue = revenue.sort_index()
    total = revenue.sum()
    out = pd.DataFrame(
        {
            "revenue": revenue,
            "share": revenue / total if total != 0 else np.nan,
            "customers": buyers.reindex(revenue.index, fill_value=0).astype("int64"),
        }
    ).sort_values("revenue", ascending=False)
    out.index.name = dimension
    return out


def base_activity(ds: Dataset | Source, freq: str = "M", as_of: DateLike = None) -> pd.DataFrame:
    """How the customer base moves: per period ``active_customers``, ``new_customers``,
    ``returning_customers`` (active, not new), ``cumulative_customers`` (acquired so far) and
    ``partial``, read from the :func:`nlv_table` (same definitions, counted once)."""
    nlv = nlv_table(ds, freq, as_of)
    active, new = nlv["active_customers"], nlv["new_customers"]
    return pd.DataFrame(
        {
            "active_customers": active,
            "new_customers": new,
            "returning_customers": active - new,
            "cumulative_customers": new.cumsum(),
            "partial": nlv["partial"],
        },
        index=nlv.index,
    )


# --------------------------------------------------------------------------------------------
# 7. Report figures: the base at a glance, life-cycle mix, recent new share, latest change.
# --------------------------------------------------------------------------------------------


def base_summary(view: pd.DataFrame, nlv: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, Any]:
    """The base at a glance: ``customers`` (bought at least once), ``active_12m`` (of them,
    bought in the 365 days before ``as_of``) and ``revenue_12m`` (net revenue of the periods of
    ``nlv`` that end within the year before ``as_of``).  ``view`` is a ``customer_view``."""
    bought = view["first_purchase"].notna()  # two columns read, not a copy of the view
    recent = (as_of - view["last_purchase"]).dt.days < 365
    year = nlv.loc[nlv.index.end_time > as_of - pd.DateOffset(years=1)]
    return {
        "customers": int(bought.sum()),
        "active_12m": int((recent & bought).sum()),
        "revenue_12m": float(year["revenue"].sum()),
    }


def lifecycle_mix(view: pd.DataFrame) -> pd.DataFrame:
    """Customers, their share and revenue to date per life-cycle stage of a ``customer_view``
    (stages in life-cycle order; stages without customers left out)."""
    stages = view["lifecycle_stage"].value_counts().reindex(list(STAGES), fill_value=0)
    stage_revenue = (
        view.groupby("lifecycle_stage", observed=False)["revenue"].sum().reindex(list(STAGES))
    )
    table = pd.DataFrame(
        {
            "customers": stages,
            "share of customers": stages / stages.sum(),
            "revenue to date": stage_revenue,
        }
    )
    return table.loc[table["customers"] > 0]


def stage_share(mix: pd.DataFrame, stage: str) -> float:
    """Share of customers in ``stage`` in a :func:`lifecycle_mix` table (0 when absent)."""
    return float(mix["customers"].get(stage, 0) / max(mix["customers"].sum(), 1))


def recent_new_share(nvr: pd.DataFrame, periods: int = 12) -> tuple[float, int]:
    """Share of revenue from new customers over the last ``periods`` full periods of a
    :func:`new_vs_returning` table, and the number of periods used."""
    recent = nvr.loc[~nvr["partial"]].tail(periods)
    return recent["new_revenue"].sum() / recent["revenue"].sum(), len(recent)


def latest_change(nlv: pd.DataFrame, method: Literal["lmdi", "shapley"] = "lmdi") -> pd.Series:
    """:func:`decompose_latest` against the same period a year earlier, or against the
    previous period when the data do not reach back a year."""
    try:
        return decompose_latest(nlv, against="year", method=method)
    except ValueError:
        return decompose_latest(nlv, against="previous", method=method)


EFFECT_LABELS = {
    "effect_N": "active customers (N)",
    "effect_L": "orders per customer (L)",
    "effect_V": "order value (V)",
    "effect_other": "returns in empty periods",
}


def change_effects(change: pd.Series, tolerance: float = 0.005) -> pd.Series:
    """The effects of a :func:`decompose_change` result labelled in words (N, L, V, then
    returns in empty periods only when larger than ``tolerance``)."""
    keys = ["effect_N", "effect_L", "effect_V"]
    if abs(change["effect_other"]) > tolerance:
        keys.append("effect_other")
    return pd.Series([change[k] for k in keys], index=[EFFECT_LABELS[k] for k in keys])


def largest_effect(effects: pd.Series) -> tuple[str, float]:
    """The largest (in absolute value) of the N, L and V effects of :func:`change_effects`."""
    return max(list(effects.iloc[:3].items()), key=lambda e: abs(e[1]))

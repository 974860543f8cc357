"""The bottom-up forecast from the customer base (purchase and spend models) and its backtest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crm_models import revenue
from crm_models import value as clv
from crm_models.data.dataset import Dataset, derived
from crm_models.engine import Source, aggregates
from crm_models.features import btyd_columns, resolve_as_of
from crm_models.forecast.metrics import mase_scale
from crm_models.forecast.models import Z
from crm_models.forecast.periods import (
    fourier_terms,
    freq_of,
    future_index,
    season_length,
    yearly_seasonality_ok,
)
from crm_models.units import as_of_day, unit_days

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["bottom_up_backtest", "bottom_up_forecast"]


def _period_bounds(periods: pd.PeriodIndex, cutoff: pd.Timestamp) -> np.ndarray:
    """Weeks from the cutoff day's end to each period's end, starting with 0."""
    ends = (periods.end_time.normalize() - cutoff.normalize()).days.to_numpy(dtype=float)
    return np.concatenate([[0.0], ends / 7.0])


def _seasonal_index(y: pd.Series, periods: pd.PeriodIndex) -> np.ndarray:
    """Multiplicative yearly index at ``periods`` from log(y) ~ trend + Fourier terms (mean 1
    over a year); ones with less than two years or non-positive values."""
    freq = freq_of(y.index)
    if not yearly_seasonality_ok(y) or (y <= 0).any():
        return np.ones(len(periods))
    k = {"W": 6, "M": 4, "Q": 1}[freq]
    X = np.column_stack([np.ones(len(y)), np.arange(len(y)), fourier_terms(y.index, k)])
    coef, *_ = np.linalg.lstsq(X, np.log(y.to_numpy(dtype=float)), rcond=None)
    season = coef[2:]
    grid = pd.period_range(y.index[-1] + 1, periods=season_length(freq), freq=y.index.freq)
    norm = np.mean(np.exp(fourier_terms(grid, k) @ season))
    return np.exp(fourier_terms(periods, k) @ season) / norm


def _purchase_days(ds: Dataset) -> pd.DataFrame:
    """Purchase lines (``amount >= 0``) of known customers summed per customer and day, sorted
    by both: ``customer_id``, ``day`` (days since 1970), ``value``.  Built once per loaded
    dataset (:func:`~crm_models.data.dataset.derived`: the monthly and the weekly forecast
    share it) and cut at each cutoff of a backtest (a day's sum does not depend on the cutoff:
    cutoffs are whole days)."""

    def compute() -> pd.DataFrame:
        tx = ds.customer_transactions()
        buy = tx["amount"].to_numpy() >= 0
        return (
            pd.DataFrame(
                {
                    "customer_id": tx["customer_id"].to_numpy()[buy],
                    "day": tx["order_date"]
                    .to_numpy()[buy]
                    .astype("datetime64[D]")
                    .astype(np.int64),
                    "value": tx["amount"].to_numpy()[buy],
                }
            )
            .groupby(["customer_id", "day"])["value"]
            .sum()
            .reset_index()
        )

    return compute() if ds.transactions is None else derived(ds.transactions, "days", compute)


def _buyer_sums(
    ds: Dataset | Source,
    cutoff: pd.Timestamp,
    since: pd.Timestamp,
    days: pd.DataFrame | ir.Table | None = None,
) -> tuple[pd.DataFrame, int]:
    """Per buyer up to the cutoff day, from purchase days (purchase lines, ``amount >= 0``,
    summed per customer and day; ``days`` when already built: :func:`_purchase_days`, or on a
    Source :func:`~crm_models.engine.aggregates.stored_purchase_days`):
    ``first_day``, ``last_day`` (day numbers since 1970), ``n_days``, ``total`` and
    ``first_amount`` (spend of the first day), sorted by customer; and the number of
    (customer, purchase day) pairs after ``since``.  On a Source the engine counts them
    (:func:`crm_models.engine.aggregates.purchase_day_summary`)."""
    if isinstance(ds, Source):
        return aggregates.purchase_day_summary(ds, cutoff, since, days)
    days = _purchase_days(ds) if days is None else days
    days = days.loc[days["day"].to_numpy() <= as_of_day(cutoff)]
    customer = days["customer_id"].to_numpy()
    day = days["day"].to_numpy()
    new_buyer = np.r_[True, customer[1:] != customer[:-1]] if len(days) else np.zeros(0, bool)
    starts = np.flatnonzero(new_buyer)
    ends = np.r_[starts[1:], len(days)].astype(np.int64)
    buyer = np.cumsum(new_buyer) - 1
    index = pd.Index(customer[starts], name="customer_id")
    sums = pd.DataFrame(
        {
            "first_day": day[starts],
            "last_day": day[ends - 1],
            "n_days": (ends - starts).astype(np.int64),
            "total": days["value"].groupby(buyer).sum().to_numpy(),  # as a group-by sums
            "first_amount": days["value"].to_numpy()[starts],
        },
        index=index,
    )
    return sums, int((day > as_of_day(since)).sum())


def _fit_purchase_model(summary: pd.DataFrame, name: str):
    """The requested purchase model; when its fit is degenerate (e.g. BG/NBD's drop-out
    parameter running off to 0 on a short history), the other model, then both with a small
    penalty (0.001, as lifetimes users do); FitError naming every attempt when none fits."""
    other = "pareto_nbd" if name == "bgnbd" else "bgnbd"
    errors = []
    for model_name, penalizer in ((name, 0.0), (other, 0.0), (name, 1e-3), (other, 1e-3)):
        try:
            model = clv.make_purchase_model(model_name, time_unit="W", penalizer=penalizer)
            return model.fit(summary)
        except clv.FitError as err:
            errors.append(f"{model_name} (penalty {penalizer:g}): {err}")
    raise clv.FitError("no purchase model could be fitted: " + " | ".join(errors))


def bottom_up_forecast(
    ds: Dataset | Source,
    series: pd.Series,
    horizon: int,
    measure: str = "revenue",
    purchase_model: str = "bgnbd",
    nlv: pd.DataFrame | None = None,
    days: pd.DataFrame | ir.Table | None = None,
) -> pd.DataFrame:
    """Bottom-up point forecast for the ``horizon`` periods after ``series`` (a full-period
    series of ``measure``; its last period's end is the cutoff, nothing later is read).

    It forecasts from the customer base instead of the series: the expected purchases of
    existing customers from ``purchase_model`` (any of :data:`crm_models.value.CANDIDATES`:
    BG/NBD or Pareto/NBD, or the naive rate or stacked model correcting BG/NBD customer by
    customer, :func:`crm_models.value.forecast_multiplier`) times their
    Gamma-Gamma expected spend, plus new customers at the forecast acquisition rate times the
    new-customer first-purchase value and their own expected repeat purchases; converted to net
    revenue (or orders) with the trailing year's ratios and, with two years of history,
    multiplied by the yearly seasonal index of the series.

    Returns a frame indexed by the future periods: ``existing`` (from customers known at the
    cutoff), ``new`` (from customers still to be acquired), ``mean`` (their sum, times the
    yearly seasonal index when two years are available), ``new_customers`` (forecast
    acquisitions), ``seasonal_index``.  ``measure`` is ``revenue`` or ``orders``; raises
    ValueError for ``customers`` (the purchase models give expected purchases, not the chance of
    buying in a period) and ``clv.FitError`` when the purchase model cannot be fitted.
    ``days`` (:func:`_purchase_days`, or the engine's stored purchase days on a Source) spares
    a backtest rebuilding the purchase days at every origin.
    """
    if measure not in ("revenue", "orders"):
        raise ValueError("the bottom-up forecast covers revenue and orders, not active customers")
    freq = freq_of(series.index)
    pfreq = series.index.freq
    cutoff = series.index[-1].end_time.normalize()
    future = future_index(series.index, horizon)
    year_ago = cutoff - pd.Timedelta(days=365)
    sums, recent_days = _buyer_sums(ds, cutoff, year_ago, days)
    if sums.empty:
        raise ValueError("no purchases before the cutoff")
    summary = pd.DataFrame(btyd_columns(sums, as_of_day(cutoff), unit_days("W")), index=sums.index)
    summary["frequency"] = summary["frequency"].astype(np.int64)
    model = _fit_purchase_model(summary, clv.purchase_model_for(purchase_model))
    spend = clv.GammaGammaModel().fit(summary)

    # existing customers: expected purchase days per future period and their value (a naive
    # or stacked forecast corrects each customer's BTYD purchases over the whole horizon)
    bounds = _period_bounds(future, cutoff)
    cum = model.expected_purchases_by_horizon(summary, bounds[1:])
    per_period = np.diff(cum, axis=1, prepend=0.0)  # customers × periods
    del cum  # 10M customers × 13 weeks: 1 GB each
    factor = clv.forecast_multiplier(purchase_model, ds, cutoff, bounds[-1], model, summary)
    if factor is not None:
        per_period *= factor.to_numpy()[:, None]
    value = spend.conditional_expected_spend(summary).to_numpy()
    existing_days = per_period.sum(axis=0)
    existing_value = value @ per_period

    # acquisition: new customers per period, from the series of first purchases
    first = pd.PeriodIndex(sums["first_day"].to_numpy().astype("datetime64[D]"), freq=pfreq)
    new_hist = first.value_counts().reindex(series.index, fill_value=0)
    new_hist = new_hist.astype(float)
    m = season_length(freq)
    recent = max(1, min(m // 4 or 1, len(new_hist)))  # a quarter of a year
    rate = float(new_hist.iloc[-recent:].mean())
    if len(new_hist) >= m + recent and new_hist.iloc[-m - recent : -m].sum() > 0:
        growth = new_hist.iloc[-recent:].sum() / new_hist.iloc[-m - recent : -m].sum()
        same = np.array([new_hist.iloc[len(new_hist) - m + (i % m)] for i in range(horizon)])
        new_counts = same * growth
    else:
        new_counts = np.full(horizon, rate)
    recent_first = sums["first_day"] > as_of_day(year_ago)
    first_rows = sums.loc[recent_first] if recent_first.any() else sums
    first_value = float(first_rows["first_amount"].mean())
    # newcomers arrive mid-period and start repeat buying (E[X(t)] since arrival)
    mid = (bounds[:-1] + bounds[1:]) / 2
    new_days = np.array(new_counts, dtype=float).copy()  # their first purchase days
    for k in range(horizon):
        for j in range(k, horizon):
            t1 = max(bounds[j + 1] - mid[k], 0.0)
            t0 = max(bounds[j] - mid[k], 0.0)
            inc = float(model.expected_purchases(t1) - model.expected_purchases(t0))
            new_days[j] += new_counts[k] * inc
    repeat_days = new_days - np.asarray(new_counts, dtype=float)
    new_value = np.asarray(new_counts) * first_value + repeat_days * spend.population_mean()

    # convert purchase days / gross value to the measure with the trailing year's ratios
    if nlv is None:
        nlv = revenue.nlv_table(ds, pfreq, cutoff)
    last_year = nlv.loc[nlv.index.end_time > year_ago]
    if measure == "revenue":
        gross = float(last_year["gross_revenue"].sum())
        ratio = float(last_year["revenue"].sum()) / gross if gross > 0 else 1.0
        existing, new = existing_value * ratio, new_value * ratio
    else:
        ratio = float(last_year["orders"].sum()) / recent_days if recent_days else 1.0
        existing, new = existing_days * ratio, new_days * ratio
    index = _seasonal_index(series, future)
    out = pd.DataFrame(
        {
            "existing": existing * index,
            "new": new * index,
            "new_customers": np.asarray(new_counts, dtype=float),
            "seasonal_index": index,
        },
        index=future,
    )
    out["mean"] = out["existing"] + out["new"]
    out.attrs.update(
        value_model=purchase_model,
        purchase_model=model.label,
        penalizer=model.penalizer,
        params=model.params_,
        first_purchase_value=first_value,
        measure_ratio=ratio,
    )
    return out


def _log_interval(mean: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    out = {"mean": mean}
    for level in (80, 95):
        out[f"lower_{level}"] = mean * np.exp(-Z[level] * sigma)
        out[f"upper_{level}"] = mean * np.exp(Z[level] * sigma)
    return out


def _sigma_from(errors: pd.DataFrame, y_train: pd.Series, horizon: int) -> np.ndarray:
    """Per-horizon log-error sd: from earlier bottom-up errors known at the origin when there
    are at least 3, else from the period-to-period log changes of the series (sqrt(h) growth)."""
    if len(errors) >= 3:
        sd = float(np.sqrt(np.mean(errors["log_error"].to_numpy() ** 2)))
        return np.full(horizon, sd)
    pos = y_train.to_numpy(dtype=float)
    pos = pos[pos > 0]
    sd = float(np.std(np.diff(np.log(pos)))) if len(pos) > 2 else 0.5
    return sd * np.sqrt(np.arange(1, horizon + 1))


def bottom_up_backtest(
    ds: Dataset | Source,
    y: pd.Series,
    origins: Sequence[pd.Period],
    horizon: int,
    measure: str = "revenue",
    purchase_model: str = "bgnbd",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bottom-up forecasts at the backtest ``origins`` (same windows as
    :func:`~crm_models.forecast.backtest.backtest`) and for the future; intervals come from the
    log errors of earlier origins on periods that were already over at the origin, so no
    window's interval uses its own outcome.

    Returns ``(backtest_rows, future)`` in the layout of :attr:`BacktestResult.forecasts`.
    """
    nlv = revenue.nlv_table(ds, y.index.freq, resolve_as_of(ds, y.index[-1].end_time))
    args = (ds, y, origins, horizon, measure, purchase_model, nlv)
    if not isinstance(ds, Source):
        return _backtest(*args, _purchase_days(ds))  # purchase days once for every origin
    with aggregates.stored_purchase_days(ds, y.index[-1].end_time.normalize()) as days:
        return _backtest(*args, days)


def _backtest(
    ds: Dataset | Source,
    y: pd.Series,
    origins: Sequence[pd.Period],
    horizon: int,
    measure: str,
    purchase_model: str,
    nlv: pd.DataFrame,
    days: pd.DataFrame | ir.Table,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`bottom_up_backtest` on purchase days built once (``days``)."""
    scale = mase_scale(y.to_numpy(dtype=float), season_length(freq_of(y.index)))
    rows, errors = [], []
    for origin in origins:
        o = y.index.get_loc(origin)
        train, actual = y.iloc[:o], y.iloc[o : o + horizon]
        fc = bottom_up_forecast(ds, train, len(actual), measure, purchase_model, nlv, days)
        known = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=["period"])
        known = known.loc[[p < origin for p in known["period"]]] if len(known) else known
        sigma = _sigma_from(known, train, len(actual))
        mean = fc["mean"].to_numpy()
        frame = pd.DataFrame(_log_interval(mean, sigma[: len(actual)]), index=fc.index)
        frame = frame.assign(
            actual=actual.to_numpy(dtype=float),
            model="bottom_up",
            origin=origin,
            horizon=np.arange(1, len(actual) + 1),
            scale=scale,
        )
        rows.append(frame.rename_axis("period").reset_index())
        ok = (actual.to_numpy() > 0) & (mean > 0)
        errors.append(
            pd.DataFrame(
                {
                    "period": actual.index[ok],
                    "log_error": np.log(actual.to_numpy()[ok] / mean[ok]),
                }
            )
        )
    fc = bottom_up_forecast(ds, y, horizon, measure, purchase_model, nlv, days)
    known = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=["log_error"])
    sigma = _sigma_from(known, y, horizon)
    future = pd.DataFrame(_log_interval(fc["mean"].to_numpy(), sigma), index=fc.index)
    for col in ("existing", "new", "new_customers", "seasonal_index"):
        future[col] = fc[col]
    future.attrs.update(fc.attrs)
    bt = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return bt, future

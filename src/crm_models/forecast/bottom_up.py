"""The bottom-up forecast from the customer base (purchase and spend models) and its backtest."""

from __future__ import annotations

from collections.abc import Sequence

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


def _purchase_days(ds: Dataset | Source) -> tuple[pd.Index, pd.DataFrame]:
    """Purchase lines (``amount >= 0``) of known customers summed per customer and day, with
    customers as numbers: the sorted customer ids and the rows ``customer`` (int32 position in
    them), ``day`` (days since 1970) and ``value``, sorted by customer and day
    (:func:`~crm_models.engine.aggregates.purchase_day_codes` on a Source, up to its last day).
    Built once per loaded dataset or source (:func:`~crm_models.data.dataset.derived`: the
    monthly and the weekly forecast and every origin of their backtests share it) and cut at
    each cutoff (a day's sum does not depend on the cutoff: cutoffs are whole days)."""
    if isinstance(ds, Source):
        return derived(
            ds, "purchase_days", lambda: aggregates.purchase_day_codes(ds, resolve_as_of(ds, None))
        )

    def compute() -> tuple[pd.Index, pd.DataFrame]:
        tx = ds.customer_transactions()
        buy = tx["amount"].to_numpy() >= 0
        days = (
            pd.DataFrame(
                {
                    "customer_id": tx["customer_id"].to_numpy()[buy],
                    "day": tx["order_date"]
                    .to_numpy()[buy]
                    .astype("datetime64[D]")
                    .astype(np.int32),
                    "value": tx["amount"].to_numpy()[buy],
                }
            )
            .groupby(["customer_id", "day"])["value"]
            .sum()
            .reset_index()
        )
        codes, customers = pd.factorize(days["customer_id"], sort=True)
        rows = pd.DataFrame(
            {"customer": codes.astype(np.int32), "day": days["day"], "value": days["value"]}
        )
        return pd.Index(customers, name="customer_id"), rows

    return compute() if ds.transactions is None else derived(ds.transactions, "days", compute)


def _buyer_sums(
    ds: Dataset | Source, cutoff: pd.Timestamp, since: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """Per buyer up to the cutoff day, from the purchase days (:func:`_purchase_days`):
    ``first_day``, ``last_day`` (day numbers since 1970),
    ``n_days``, ``total`` and ``first_amount`` (spend of the first day), sorted by customer;
    and the number of (customer, purchase day) pairs after ``since``.  The same sums as the
    customer view's (:func:`~crm_models.engine.aggregates.btyd_sums_expr` on an engine)."""
    customers, rows = _purchase_days(ds)
    keep = rows["day"].to_numpy() <= as_of_day(cutoff)
    customer = rows["customer"].to_numpy()[keep]
    day = rows["day"].to_numpy()[keep]
    value = rows["value"].to_numpy()[keep]
    del keep
    new_buyer = np.r_[True, customer[1:] != customer[:-1]] if len(day) else np.zeros(0, bool)
    starts = np.flatnonzero(new_buyer)
    del new_buyer
    ends = np.r_[starts[1:], len(day)].astype(np.int64)
    sums = pd.DataFrame(
        {
            "first_day": day[starts].astype(np.int64),
            "last_day": day[ends - 1].astype(np.int64),
            "n_days": (ends - starts).astype(np.int64),
            # each buyer's days are side by side: summed in place, no group-by tables
            "total": np.add.reduceat(value, starts) if len(starts) else np.zeros(0),
            "first_amount": value[starts],
        },
        index=customers[customer[starts]],
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
    The purchase days are built once per dataset or source (:func:`_purchase_days`): every
    origin of a backtest cuts them.
    """
    if measure not in ("revenue", "orders"):
        raise ValueError("the bottom-up forecast covers revenue and orders, not active customers")
    freq = freq_of(series.index)
    pfreq = series.index.freq
    cutoff = series.index[-1].end_time.normalize()
    future = future_index(series.index, horizon)
    year_ago = cutoff - pd.Timedelta(days=365)
    sums, recent_days = _buyer_sums(ds, cutoff, year_ago)
    if sums.empty:
        raise ValueError("no purchases before the cutoff")
    summary = pd.DataFrame(btyd_columns(sums, as_of_day(cutoff), unit_days("W")), index=sums.index)
    summary["frequency"] = summary["frequency"].astype(np.int64)
    model = _fit_purchase_model(summary, clv.purchase_model_for(purchase_model))
    spend = clv.GammaGammaModel().fit(summary)

    # existing customers: expected purchase days per future period and their value (a naive
    # or stacked forecast corrects each customer's BTYD purchases over the whole horizon)
    bounds = _period_bounds(future, cutoff)
    factor = clv.forecast_multiplier(purchase_model, ds, cutoff, bounds[-1], model, summary)
    factor = None if factor is None else factor.to_numpy()
    value = spend.conditional_expected_spend(summary).to_numpy()
    cum = model.total_expected_purchases(
        summary, bounds[1:], [factor, value if factor is None else value * factor]
    )
    existing_days, existing_value = np.diff(cum, axis=1, prepend=0.0)

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
    scale = mase_scale(y.to_numpy(dtype=float), season_length(freq_of(y.index)))
    rows, errors = [], []
    for origin in origins:
        o = y.index.get_loc(origin)
        train, actual = y.iloc[:o], y.iloc[o : o + horizon]
        fc = bottom_up_forecast(ds, train, len(actual), measure, purchase_model, nlv)
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
    fc = bottom_up_forecast(ds, y, horizon, measure, purchase_model, nlv)
    known = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=["log_error"])
    sigma = _sigma_from(known, y, horizon)
    future = pd.DataFrame(_log_interval(fc["mean"].to_numpy(), sigma), index=fc.index)
    for col in ("existing", "new", "new_customers", "seasonal_index"):
        future[col] = fc[col]
    future.attrs.update(fc.attrs)
    bt = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return bt, future

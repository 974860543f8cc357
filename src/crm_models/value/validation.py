"""Calibration/holdout validation of the value models against a naive baseline; comparisons."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.conditions import no_sales, plural
from crm_models.data.dataset import Dataset, UnsupportedData, no_transactions
from crm_models.engine import aggregates
from crm_models.engine.settings import EngineSettings
from crm_models.engine.sources import Source, as_source
from crm_models.features import btyd_columns, btyd_summary, resolve_as_of, transactions_as_of
from crm_models.units import as_of_day, unit_days
from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import (
    MIN_REPEAT_BUYERS,
    FitError,
    distinct,
    too_few_repeat_buyers,
)
from crm_models.value.fit_quality import (
    decile_calibration,
    fit_warnings,
    fit_with_fallback,
    frequency_histogram,
)
from crm_models.value.gamma_gamma import GammaGammaModel
from crm_models.value.pareto_nbd import ParetoNBDModel
from crm_models.value.purchase import PurchaseModel
from crm_models.value.uncertainty import holdout_interval

MODELS = ("bgnbd", "pareto_nbd")
COMPARISON_COLUMNS = (
    "log_likelihood",
    "parameters",
    "holdout_predicted_total",
    "holdout_actual_total",
    "total_error",
    "mae",
    "rmse",
    "baseline_mae",
    "baseline_rmse",
)
MIN_HOLDOUT_DAYS = 28  # the automatic holdout period is at least four weeks


# --------------------------------------------------------------------------- metrics
def mae(actual, predicted) -> float:
    """Mean absolute error."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(a - p)))


def rmse(actual, predicted) -> float:
    """Root mean squared error."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean((a - p) ** 2)))


# --------------------------------------------------------------------------- models by name
def make_purchase_model(name: str, **kwargs) -> PurchaseModel:
    """``"bgnbd"`` → :class:`BetaGeoModel`, ``"pareto_nbd"`` → :class:`ParetoNBDModel`."""
    key = name.lower().replace("/", "").replace("-", "_")
    if key in ("bgnbd", "bg_nbd", "betageo"):
        return BetaGeoModel(**kwargs)
    if key in ("pareto_nbd", "paretonbd", "pnbd"):
        return ParetoNBDModel(**kwargs)
    raise ValueError(f"unknown purchase model {name!r}; use one of {', '.join(MODELS)}")


# --------------------------------------------------------------------------- holdout
def default_calibration_end(ds: Dataset | Source, as_of=None) -> pd.Timestamp:
    """Half-way between the first purchase date and the as-of date, with the holdout capped at
    52 weeks (gives the classic 39 + 39 weeks on CDNOW).  An engine source gives the first date
    by a query."""
    end = resolve_as_of(ds, as_of)
    if isinstance(ds, Source):
        first = aggregates.sales_span(ds, end)[1]
    else:
        first = ds.customer_transactions()["order_date"].min()
    return _halfway(first, end)


def _halfway(first, end: pd.Timestamp) -> pd.Timestamp:
    """The calibration end of :func:`default_calibration_end` from the first line's date."""
    days = (end - pd.Timestamp(first).normalize()).days
    return end - pd.Timedelta(days=min((days + 1) // 2, 364))


def calibration_holdout(
    ds: Dataset | Source,
    calibration_end=None,
    holdout_end=None,
    time_unit: str = "W",
    engine: str | EngineSettings = "auto",
) -> pd.DataFrame:
    """BTYD summary in the calibration period and what happened in the holdout period.

    Customers are those who bought on or before ``calibration_end`` (inclusive).  Columns:
    ``frequency``, ``recency``, ``T``, ``monetary_value`` (calibration, as in the customer view),
    ``first_purchase``, ``frequency_holdout`` (purchase days in the holdout),
    ``monetary_value_holdout`` (mean value of those days, NaN without any), ``duration_holdout``
    (holdout length in ``time_unit``).  ``attrs`` records both dates.

    ``engine`` picks where the lines are summed, as in
    :func:`~crm_models.features.customer_view`: a :class:`~crm_models.engine.Source` (files
    read out of core) sums them in its engine
    (:func:`~crm_models.engine.aggregates.calibration_holdout_sums`), so only the per-customer
    summary reaches pandas.

    Raises :class:`~crm_models.data.dataset.UnsupportedData` when the data cannot support the check:
    no sales, a history too short for the automatic holdout (under twice
    :data:`MIN_HOLDOUT_DAYS`), fewer than :data:`MIN_REPEAT_BUYERS` customers with a repeat
    purchase in the calibration period, or nobody of them buying in the holdout.
    """
    src = as_source(ds, engine)
    data = ds if src is None else src
    holdout_end = resolve_as_of(data, holdout_end)
    if src is None:
        tx = transactions_as_of(ds, holdout_end)
        sales, first = int((tx["amount"].to_numpy() > 0).sum()), tx["order_date"].min()
    elif src.has("transactions"):
        sales, first = aggregates.sales_span(src, holdout_end)
    else:
        raise no_transactions(src.name)
    if not sales:
        raise no_sales("customer value cannot be estimated", holdout_end)
    if calibration_end is None:
        days = (holdout_end - pd.Timestamp(first).normalize()).days
        if days < 2 * MIN_HOLDOUT_DAYS:
            raise UnsupportedData(
                f"The sales history covers only {plural(days + 1, 'day')}, too short to fit the "
                "value model on its first part and check it on the rest; at least "
                f"{2 * MIN_HOLDOUT_DAYS} days are needed."
            )
    calibration_end = (  # as default_calibration_end (with sales by the holdout end, same first)
        _halfway(first, holdout_end)
        if calibration_end is None
        else pd.Timestamp(calibration_end).normalize()
    )
    if calibration_end >= holdout_end:
        raise ValueError(
            f"calibration end {calibration_end.date()} must be before holdout end "
            f"{holdout_end.date()}"
        )
    summary = (
        _summary_in_memory(tx, calibration_end, time_unit)
        if src is None
        else _summary_in_engine(src, calibration_end, holdout_end, time_unit)
    )
    if summary.empty:
        raise ValueError(f"no purchases on or before the calibration end {calibration_end.date()}")
    repeat = int((summary["frequency"] > 0).sum())
    if repeat < MIN_REPEAT_BUYERS:
        raise too_few_repeat_buyers(repeat, f" by {calibration_end.date()}")
    if not summary["frequency_holdout"].any():
        raise UnsupportedData(
            f"None of the {len(summary):,} customers who bought by {calibration_end.date()} bought "
            f"again up to {holdout_end.date()}, so the value model cannot be checked against "
            "what they did."
        )
    summary["duration_holdout"] = (holdout_end - calibration_end).days / unit_days(time_unit)
    summary.attrs.update(
        calibration_end=str(calibration_end.date()),
        holdout_end=str(holdout_end.date()),
        time_unit=time_unit,
    )
    return summary


def _summary_in_memory(
    tx: pd.DataFrame, calibration_end: pd.Timestamp, time_unit: str
) -> pd.DataFrame:
    """The calibration summary and holdout columns of :func:`calibration_holdout` from the
    customer lines up to the holdout end (NumPy on the needed columns, no copy of the lines)."""
    amount = tx["amount"].to_numpy(dtype=float)
    dates = tx["order_date"].to_numpy()
    day = dates.astype("datetime64[D]").astype(np.int64)
    ids = tx["customer_id"].to_numpy()
    buy = amount >= 0
    in_cal = day <= as_of_day(calibration_end)
    cal = buy & in_cal
    summary = btyd_summary(ids[cal], dates[cal], amount[cal], calibration_end, time_unit)
    # holdout: purchase days (lines of a day summed) of the calibration customers
    hold = np.flatnonzero(buy & ~in_cal)
    who = summary.index.get_indexer(ids[hold])
    hold, who = hold[who >= 0], who[who >= 0]
    per_day = (  # pandas sums (compensated) on integer keys: the numbers of the id group-by
        pd.Series(amount[hold])
        .groupby([who, day[hold]], sort=False)
        .sum()
        .groupby(level=0)
        .agg(["size", "mean"])
        .reindex(np.arange(len(summary)))
    )
    summary["frequency_holdout"] = per_day["size"].fillna(0).to_numpy().astype(np.int64)
    summary["monetary_value_holdout"] = per_day["mean"].to_numpy()
    return summary


def _summary_in_engine(
    src: Source, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp, time_unit: str
) -> pd.DataFrame:
    """The same columns as :func:`_summary_in_memory`, summed in the source's engine: the
    calibration columns by the customer view's own formulas
    (:func:`~crm_models.features.btyd_columns`) from the per-customer sums."""
    sums = aggregates.calibration_holdout_sums(src, calibration_end, holdout_end)
    summary = pd.DataFrame(
        btyd_columns(sums, as_of_day(calibration_end), unit_days(time_unit)), index=sums.index
    )
    summary["frequency"] = summary["frequency"].astype(np.int64)
    summary["frequency_holdout"] = sums["frequency_holdout"]
    summary["monetary_value_holdout"] = sums["monetary_value_holdout"].astype(np.float64)
    return summary


def evaluate_holdout(model: PurchaseModel, cal: pd.DataFrame) -> dict[str, Any]:
    """Holdout figures of a model fitted on the calibration summary ``cal``.

    Total predicted vs. actual holdout repeat purchases, customer-level MAE/RMSE of the model
    and of the naive baseline (calibration repeat rate ``frequency / T`` × holdout length).
    """
    duration = float(cal["duration_holdout"].iloc[0])
    predicted = model.conditional_expected_purchases(cal, duration).to_numpy()
    actual = cal["frequency_holdout"].to_numpy(dtype=float)
    naive = (cal["frequency"] / cal["T"].where(cal["T"] > 0)).fillna(0).to_numpy() * duration
    return {
        "customers": int(len(cal)),
        "holdout_periods": duration,
        "holdout_predicted_total": float(predicted.sum()),
        "holdout_actual_total": float(actual.sum()),
        "holdout_naive_total": float(naive.sum()),
        "mae": mae(actual, predicted),
        "rmse": rmse(actual, predicted),
        "baseline_mae": mae(actual, naive),
        "baseline_rmse": rmse(actual, naive),
        "predicted": pd.Series(predicted, index=cal.index, name="predicted"),
        "naive": pd.Series(naive, index=cal.index, name="naive"),
    }


def conditional_expectations(
    cal: pd.DataFrame, predicted: pd.Series, naive: pd.Series | None = None, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency (``max_frequency`` and more pooled):
    actual vs. predicted (FHL 2005, Figure 4)."""
    freq = cal["frequency"].clip(upper=max_frequency).astype(int)
    frame = pd.DataFrame(
        {
            "calibration_purchases": freq,
            "actual": cal["frequency_holdout"].astype(float),
            "predicted": predicted.reindex(cal.index),
        }
    )
    if naive is not None:
        frame["naive"] = naive.reindex(cal.index)
    out = frame.groupby("calibration_purchases").agg(
        customers=("actual", "size"), **{c: (c, "mean") for c in frame.columns[1:]}
    )
    labels = [f"{i}+" if i == max_frequency else str(i) for i in out.index]
    out.index = pd.Index(labels, name="calibration repeat purchases")
    return out


def tracking(
    ds: Dataset | Source,
    model: PurchaseModel,
    cal: pd.DataFrame,
    engine: str | EngineSettings = "auto",
) -> pd.DataFrame:
    """Weekly (time-unit) repeat purchases of the calibration customers, actual vs. predicted,
    from the first purchase in the data to the holdout end (FHL 2005, Figures 2-3).

    Predicted counts are the sum over customers of E[X(t)] since each customer's first
    purchase (computed once per distinct first-purchase day).  The actual counts come from the
    repeat purchase days per day (:func:`_repeat_day_counts`), summed by the engine on a
    :class:`~crm_models.engine.Source` (``engine`` as in :func:`calibration_holdout`).
    """
    unit = cal.attrs.get("time_unit", "W")
    per = unit_days(unit)
    cal_end = pd.Timestamp(cal.attrs["calibration_end"])
    hold_end = pd.Timestamp(cal.attrs["holdout_end"])
    first = cal["first_purchase"]
    start = first.min()
    n_bins = int(math.ceil(((hold_end - start).days + 1) / per))
    counts = _repeat_day_counts(ds, cal, hold_end, engine)
    offset = ((counts.index.to_numpy() - as_of_day(start)) / per).astype(int)
    actual = np.bincount(offset, weights=counts.to_numpy(dtype=float), minlength=n_bins)[:n_bins]
    # predicted: E[X(end of bin - first purchase day)] per distinct first day
    fd = first.value_counts()
    fd_days = ((fd.index - start).days).to_numpy(dtype=float)
    ends = np.minimum(np.arange(1, n_bins + 1) * per, (hold_end - start).days + 1)
    # time since first purchase at the end of each bin (purchases counted through end-of-day)
    elapsed = (ends[:, None] - 1 - fd_days[None, :]) / per
    cum = np.where(
        elapsed > 0,
        model.expected_purchases(np.clip(elapsed, 0, None).ravel()).reshape(elapsed.shape),
        0.0,
    )
    cum_pred = (cum * fd.to_numpy(dtype=float)).sum(axis=1)
    out = pd.DataFrame(
        {
            "period_start": start + pd.to_timedelta(np.arange(n_bins) * per, unit="D"),
            "actual": actual,
            "predicted": np.diff(np.concatenate([[0.0], cum_pred])),
        }
    )
    out["actual_cumulative"] = out["actual"].cumsum()
    out["predicted_cumulative"] = cum_pred
    out["holdout"] = out["period_start"] > cal_end
    out.attrs.update(calibration_end=str(cal_end.date()), time_unit=unit)
    return out


def _repeat_day_counts(
    ds: Dataset | Source,
    cal: pd.DataFrame,
    holdout_end: pd.Timestamp,
    engine: str | EngineSettings,
) -> pd.Series:
    """Repeat purchase days (purchase days after the first) of the customers of ``cal`` up to
    ``holdout_end``, counted per day number: from the customer lines in NumPy, or by the engine
    (:func:`~crm_models.engine.aggregates.repeat_day_counts`, the same customers: those who
    first bought by the calibration end)."""
    src = as_source(ds, engine)
    if src is not None:
        return aggregates.repeat_day_counts(
            src, pd.Timestamp(cal.attrs["calibration_end"]), holdout_end
        )
    tx = ds.customer_transactions()  # purchase days of the calibration customers, as arrays
    day = tx["order_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    who = cal.index.get_indexer(tx["customer_id"].to_numpy())
    keep = (day <= as_of_day(holdout_end)) & (tx["amount"].to_numpy() >= 0) & (who >= 0)
    first_day = cal["first_purchase"].to_numpy().astype("datetime64[D]").astype(np.int64)
    span = int(day[keep].max()) + 1 if keep.any() else 1
    days = distinct(who[keep].astype(np.int64) * span + day[keep])  # distinct (customer, day)
    c, d = days // span, days % span
    repeat = d[d > first_day[c]]
    lo = int(repeat.min()) if len(repeat) else 0
    per_day = np.bincount(repeat - lo)
    present = np.flatnonzero(per_day)
    return aggregates.day_counts(present + lo, per_day[present])


def evaluate_spend_holdout(spend_model: GammaGammaModel, cal: pd.DataFrame) -> dict[str, Any]:
    """Gamma-Gamma's expected spend per purchase vs. the actual mean holdout spend, for
    customers who bought in the holdout; baseline: their calibration average (all purchases
    of one-time buyers count as their first-day value is not in the summary, so the baseline
    falls back to the population mean for them)."""
    got = cal.loc[cal["frequency_holdout"] > 0]
    if got.empty:
        return {"customers": 0}
    predicted = spend_model.conditional_expected_spend(got).to_numpy()
    actual = got["monetary_value_holdout"].to_numpy(dtype=float)
    naive = np.where(
        got["frequency"] > 0, got["monetary_value"].to_numpy(), spend_model.population_mean()
    )
    return {
        "customers": int(len(got)),
        "spend_mae": mae(actual, predicted),
        "spend_baseline_mae": mae(actual, naive),
        "spend_predicted_mean": float(predicted.mean()),
        "spend_actual_mean": float(actual.mean()),
    }


def compare_models(cal: pd.DataFrame, models=MODELS, time_unit: str = "W") -> pd.DataFrame:
    """Fit each purchase model on ``cal`` and compare log-likelihood and holdout error.

    A model that cannot be fitted, or whose fit is degenerate (see
    :mod:`crm_models.value.fit_quality`), keeps its row with NaN figures and the reason in
    ``note``: a comparison with a collapsed fit would be meaningless.
    """
    rows = {}
    for name in models:
        model = make_purchase_model(name, time_unit=time_unit)
        try:
            model.fit(cal)
            problems = model.diagnostics_["warnings"] if model.diagnostics_["degenerate"] else []
        except FitError as err:
            problems = [str(err)]
        if problems:
            rows[model.label] = {"parameters": len(model._names), "note": " ".join(problems)}
            continue
        ev = evaluate_holdout(model, cal)
        rows[model.label] = {
            "log_likelihood": model.log_likelihood_,
            "parameters": len(model.params_),
            "holdout_predicted_total": ev["holdout_predicted_total"],
            "holdout_actual_total": ev["holdout_actual_total"],
            "total_error": ev["holdout_predicted_total"] / ev["holdout_actual_total"] - 1
            if ev["holdout_actual_total"]
            else float("nan"),
            "mae": ev["mae"],
            "rmse": ev["rmse"],
            "baseline_mae": ev["baseline_mae"],
            "baseline_rmse": ev["baseline_rmse"],
            "note": "",
        }
    columns = [*COMPARISON_COLUMNS, "note"]
    out = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    out.index.name = "model"
    return out


@dataclass
class ValidationResult:
    """What :func:`fit_and_validate` returns: the fitted model, the summary and the figures."""

    model: PurchaseModel
    calibration: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.figures)


def fit_and_validate(
    ds: Dataset | Source,
    calibration_end=None,
    holdout_end=None,
    model: str = "bgnbd",
    time_unit: str = "W",
    engine: str | EngineSettings = "auto",
) -> ValidationResult:
    """Fit a purchase model on the calibration period and score it on the holdout (the CLI's
    ``clv fit``).

    The model is chosen by the fallback rule of :mod:`crm_models.value.fit_quality` (the
    requested one unless its fit is degenerate).  Besides the holdout figures, ``figures`` holds
    ``diagnostics`` and ``warnings`` of the fit, ``fallback`` (what the rule did, in words) and
    ``goodness_of_fit`` (chi-square of the calibration frequency histogram, calibration by
    decile of predicted P(any purchase in the holdout), conditional expectations; each against
    the naive forecast).  Standard errors the data do not identify are ``None``.
    ``holdout_predicted_interval_80`` and ``_95`` (``[low, high]``) bound the holdout total
    (parameter uncertainty plus simulated purchases, :mod:`crm_models.value.uncertainty`;
    ``holdout_interval_method`` says how the parameters were drawn).  ``engine`` as in
    :func:`calibration_holdout`: on a Source the lines are summed by its engine and everything
    after the per-customer summary (fits on compressed rows, figures, intervals) is the same.
    """
    src = as_source(ds, engine)
    data = ds if src is None else src
    fitted, cal, fallback = fit_with_fallback(  # the engine is chosen: a Dataset stays in pandas
        lambda unit: calibration_holdout(data, calibration_end, holdout_end, unit, "pandas"),
        model,
        time_unit,
    )
    ev = evaluate_holdout(fitted, cal)
    diagnostics = fitted.diagnostics_
    figures = {
        "dataset": ds.name,
        "model": fallback["model"],
        "time_unit": fallback["time_unit"],
        "calibration_end": cal.attrs["calibration_end"],
        "holdout_end": cal.attrs["holdout_end"],
        "customers": int(len(cal)),
        "params": fitted.params_,
        "standard_errors": fitted.standard_errors_,
        "log_likelihood": fitted.log_likelihood_,
        **{k: v for k, v in ev.items() if k not in ("predicted", "naive", "customers")},
        **holdout_interval(fitted, cal),
        "diagnostics": {k: v for k, v in diagnostics.items() if k != "warnings"},
        "warnings": fit_warnings(fallback, fitted),
        "fallback": fallback,
        "goodness_of_fit": goodness_of_fit(fitted, cal, ev),
    }
    return ValidationResult(fitted, cal, figures)


def goodness_of_fit(model: PurchaseModel, cal: pd.DataFrame, ev: dict[str, Any]) -> dict[str, Any]:
    """The goodness-of-fit figures of :mod:`crm_models.value.fit_quality` as JSON-ready values:
    ``chi_square``, ``df``, ``p_value``, ``histogram``, ``decile_calibration`` and
    ``conditional_expectations`` (records with the naive comparison)."""
    deciles = decile_calibration(model, cal)
    ce = conditional_expectations(cal, ev["predicted"], ev["naive"])
    return {
        **frequency_histogram(model, cal),
        "decile_calibration": deciles.reset_index(names="decile").to_dict("records"),
        "conditional_expectations": ce.reset_index(names="calibration_repeat_purchases").to_dict(
            "records"
        ),
    }


def holdout_accuracy(ev: dict[str, Any], label: str = "BG/NBD") -> pd.DataFrame:
    """The holdout figures of :func:`evaluate_holdout` as a table: total holdout purchases,
    MAE and RMSE per customer for the actual purchases, the model and the naive forecast."""
    return pd.DataFrame(
        {
            "total holdout purchases": [
                ev["holdout_actual_total"],
                ev["holdout_predicted_total"],
                ev["holdout_naive_total"],
            ],
            "MAE per customer": [np.nan, ev["mae"], ev["baseline_mae"]],
            "RMSE per customer": [np.nan, ev["rmse"], ev["baseline_rmse"]],
        },
        index=pd.Index(["actual", label, "naive (calibration rate)"], name=""),
    )


def holdout_total_error(ev: dict[str, Any]) -> float:
    """Relative error of the predicted holdout total: predicted / actual - 1."""
    return ev["holdout_predicted_total"] / ev["holdout_actual_total"] - 1


def comparison_metrics(comparison: pd.DataFrame) -> dict[str, float]:
    """Calibration-period log-likelihood and holdout MAE of each model of
    :func:`compare_models`, keyed like ``bgnbd_calibration_log_likelihood``,
    ``bgnbd_holdout_mae`` (the label without "/", lower case; ``bgnbd_log_likelihood`` is the
    value report's fit on all data up to the report date)."""
    out = {}
    for label, row in comparison.dropna(subset=["mae"]).iterrows():
        key = str(label).replace("/", "").lower()
        out[f"{key}_calibration_log_likelihood"] = row["log_likelihood"]
        out[f"{key}_holdout_mae"] = row["mae"]
    return out

"""The whole-business forecast: the best series model, the bottom-up forecast, their average."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crm_models import value as clv
from crm_models.data.conditions import few
from crm_models.data.dataset import Dataset
from crm_models.engine import Source
from crm_models.forecast.backtest import (
    BacktestResult,
    default_min_train,
    origins_for,
    summarise_backtest,
)
from crm_models.forecast.bottom_up import bottom_up_backtest
from crm_models.forecast.calibration import apply_factors, own_bounds
from crm_models.forecast.models import INTERVAL_COLUMNS, MODELS
from crm_models.forecast.periods import freq_of, season_length
from crm_models.forecast.regressors import exog_for
from crm_models.forecast.selection import (
    SeriesForecast,
    backtest_plan,
    forecast_series,
)
from crm_models.forecast.series import SeriesSet, sales_series

__all__ = [
    "SalesForecast",
    "compare_bottom_up",
    "forecast_sales",
    "report_metrics",
    "same_period_last_year",
    "scale_sentence",
]


def _combine(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Equal-weight combination of two forecasts (bounds averaged too: an approximation that
    assumes the two errors are strongly correlated, so it does not narrow the range)."""
    return (a[INTERVAL_COLUMNS] + b[INTERVAL_COLUMNS]) / 2


@dataclass
class SalesForecast:
    """Everything the report and the CLI show (see :func:`forecast_sales`)."""

    dataset: str
    measure: str
    freq: str
    horizon: int
    as_of: pd.Timestamp
    series: SeriesSet
    result: SeriesForecast
    bottom_up: pd.DataFrame | None = None
    bottom_up_backtest: BacktestResult | None = None
    combination: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    booked: pd.Series | None = None  # sales already booked in the in-progress period
    partial_period: dict[str, Any] | None = None  # see partial_period_info

    @property
    def model(self) -> str:
        """The backtest winner among every model scored, bottom-up and combination included."""
        metrics = self.metrics()
        return str(metrics.index[0]) if len(metrics) else self.result.model

    @property
    def series_model(self) -> str:
        """The best of the time-series models (the one the combination uses)."""
        return self.result.model

    @property
    def whole_period_forecast(self) -> pd.DataFrame:
        """The forecast of :attr:`model` as fitted (calibrated 80 % / 95 % bounds), the period
        in progress forecast as a whole one, ignoring what is already booked in it."""
        if self.model == "bottom_up" and self.bottom_up is not None:
            return self.bottom_up[INTERVAL_COLUMNS]
        if self.model == "combination" and self.combination is not None:
            return self.combination[INTERVAL_COLUMNS]
        return self.result.forecast[INTERVAL_COLUMNS]

    @property
    def forecast(self) -> pd.DataFrame:
        """The forecast of :attr:`model` (mean and 80 % / 95 % bounds per future period); the
        period in progress is what is booked plus the forecast remainder
        (:func:`book_partial`)."""
        return book_partial(self.whole_period_forecast, self.booked)

    @property
    def backtest(self) -> BacktestResult:
        return self.result.backtest

    def backtest_rows(self, model: str | None = None) -> pd.DataFrame:
        """Backtest forecasts (one row per origin and period) of ``model`` (default: all)."""
        bt = self.bottom_up_backtest or self.backtest
        rows = bt.forecasts
        if model is None or rows.empty:
            return rows
        return rows.loc[rows["model"] == model]

    def metrics(self) -> pd.DataFrame:
        """The backtest table of all models, including bottom-up and combination if run."""
        if self.bottom_up_backtest is not None:
            return self.bottom_up_backtest.metrics
        return self.backtest.metrics

    def coverage(self) -> dict[str, float | None]:
        """Backtest coverage of :attr:`model`'s 80 % / 95 % intervals, calibrated (held-out
        windows) and the model's own (``*_before_calibration``)."""
        metrics = self.metrics()
        if self.model not in metrics.index:
            return {}
        row = metrics.loc[self.model]
        return {
            "80": _float(row["coverage_80"]),
            "95": _float(row["coverage_95"]),
            "80_before_calibration": _float(row["coverage_80_raw"]),
            "95_before_calibration": _float(row["coverage_95_raw"]),
        }

    def factors_of(self, model: str) -> list[dict[str, float]]:
        """The conformal factors of ``model`` (per horizon step, 0 = pooled)."""
        bt = self.bottom_up_backtest or self.backtest
        if bt.factors.empty:
            return []
        mine = bt.factors.loc[bt.factors["model"] == model].drop(columns="model")
        return [
            {k: int(v) if k in ("horizon", "points") else float(v) for k, v in r.items()}
            for r in mine.to_dict(orient="records")
        ]

    def _partial_dict(self) -> dict[str, Any] | None:
        """:attr:`partial_period` with the model's ``whole_period_forecast``, the forecast
        ``remainder`` and the ``total`` (booked + remainder)."""
        if self.partial_period is None:
            return None
        whole = float(self.whole_period_forecast["mean"].iloc[0])
        total = float(self.forecast["mean"].iloc[0])
        return {
            **self.partial_period,
            "whole_period_forecast": whole,
            "remainder": total - self.partial_period["booked"],
            "total": total,
        }

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: measure, freq, horizon, model, forecast, backtest, notes, and the
        error ``scale``, the chosen model's ``choice_score``, ``coverage`` (calibrated and own),
        ``calibration`` (method, factors) and ``partial_period`` (None when the as-of day ends a
        period)."""
        fc = self.forecast
        out = {
            "dataset": self.dataset,
            "measure": self.measure,
            "freq": self.freq,
            "horizon": self.horizon,
            "as_of": str(self.as_of.date()),
            "model": self.model,
            "series_model": self.series_model,
            "series_model_config": self.result.config,
            "forecast": [
                {
                    "date": str(p),
                    "start": str(p.start_time.date()),
                    **{c: float(r[c]) for c in INTERVAL_COLUMNS},
                }
                for p, r in fc.iterrows()
            ],
            "backtest": {
                name: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                for name, row in self.metrics().iterrows()
            },
            "backtest_windows": len(self.backtest.origins),
            "notes": list(self.notes),
            "scale": dict(self.backtest.scale),
            "choice_score": _float(self.metrics().loc[self.model, "choice_score"])
            if len(self.metrics())
            else None,
            "coverage": self.coverage(),
            "calibration": {
                "method": CALIBRATION_METHOD,
                "factors": self.factors_of(self.model),
            },
            "partial_period": self._partial_dict(),
        }
        if self.bottom_up is not None:
            out["bottom_up"] = [
                {"date": str(p), **{c: float(r[c]) for c in INTERVAL_COLUMNS}}
                for p, r in self.bottom_up.iterrows()
            ]
        return out


CALIBRATION_METHOD = (
    "conformal: interval half-widths scaled so that the backtest errors fall inside at the "
    "nominal rate (per horizon step with 20 points a step, else pooled); backtest coverage is "
    "measured with factors from the other windows only"
)


def _float(v) -> float | None:
    return None if pd.isna(v) else float(v)


def book_partial(frame: pd.DataFrame, booked: pd.Series | None) -> pd.DataFrame:
    """``frame`` with its first period, when it is the period in progress, forecast as booked +
    remainder: remainder = max(whole-period forecast - booked, 0), so the period's total is never
    below what is already booked; bounds below the booked figure are raised to it."""
    if booked is None or not len(booked) or booked.index[0] != frame.index[0]:
        return frame
    out = frame.copy()
    out.iloc[0] = out.iloc[0].clip(lower=float(booked.iloc[0]))
    return out


def partial_period_info(series: SeriesSet, last_full: pd.Period) -> dict[str, Any] | None:
    """The period in progress after ``last_full`` (the as-of day is not its last day):
    ``period``, ``booked`` so far, ``days_booked``, ``days_in_period`` and ``treatment``; None
    when the as-of day ends a period."""
    after = series.values.index[series.values.index > last_full]
    if not len(after):
        return None
    period = after[0]
    start = period.start_time.normalize()
    return {
        "period": str(period),
        "booked": float(series.values.loc[period, "total"]),
        "days_booked": int((series.as_of.normalize() - start).days + 1),
        "days_in_period": int((period.end_time.normalize() - start).days + 1),
        "treatment": "remainder",
    }


def forecast_sales(
    ds: Dataset | Source,
    measure: str = "revenue",
    freq: str = "M",
    horizon: int | None = None,
    windows: int | None = None,
    step: int | None = None,
    models: Sequence[str] | None = None,
    as_of=None,
    quick: bool = False,
    bottom_up: bool = True,
    purchase_model: str = "bgnbd",
    holidays: Iterable | None = None,
    use_campaigns: bool = True,
) -> SalesForecast:
    """Forecast the whole business's ``measure``: backtest every model, show the winner's
    forecast, and (``bottom_up``, revenue and orders) the customer-base forecast beside it with
    their combination, all scored on the same windows.  Raises
    :class:`~crm_models.data.dataset.UnsupportedData` when there is no sale, or the history is too
    short for one backtest window.

    The bottom-up forecast is backtested on the same windows as the series models, with
    intervals from its own earlier errors (only errors that were already known at each origin),
    and averaged with the chosen series model into a ``combination``.  Every model's intervals
    are calibrated on its backtest errors and the winner has the lowest ``choice_score``.  A
    period in progress at the as-of day is left out of fitting and forecast as what is booked
    plus the forecast remainder (:func:`book_partial`, ``partial_period``).

    ``ds`` is a loaded Dataset or an engine :class:`~crm_models.engine.Source` (DuckDB, Spark,
    PostgreSQL): there the period series, the campaign calendar and the customer sums of the
    bottom-up model come from engine aggregates, and no transaction line is read into pandas."""
    freq, horizon, windows, step, models = backtest_plan(
        freq, quick, horizon, windows, step, models
    )
    series = sales_series(ds, measure, freq, as_of)
    y = series.fitting("total")
    _check_history(len(y), freq, horizon, windows, step)
    exog = exog_for(ds, series, horizon, holidays) if use_campaigns or holidays else None
    if exog is not None and not use_campaigns:
        exog = exog.drop(columns=["campaign_contacts_k"], errors="ignore")
    result = forecast_series(y, horizon, windows, step, models, exog)
    notes = list(result.notes)
    if exog is not None and "campaign_contacts_k" in exog.columns:
        notes.append(
            "the campaign calendar enters the SARIMAX model as a regressor; no campaigns are "
            "assumed after the last date in the data"
        )
    notes.append(scale_sentence(result.backtest.scale, freq))
    # sales already booked in the period in progress after the last full one
    partial = partial_period_info(series, y.index[-1])
    booked = None
    if partial is not None:
        booked = series.values.loc[[pd.Period(partial["period"], y.index.freq)], "total"]
    out = SalesForecast(
        ds.name,
        measure,
        freq,
        horizon,
        series.as_of,
        series,
        result,
        notes=notes,
        booked=booked,
        partial_period=partial,
    )
    if bottom_up:
        _add_bottom_up(out, ds, purchase_model)
    if partial is not None:
        out.notes.append(partial_sentence(out._partial_dict()))
    return out


def scale_sentence(scale: dict[str, Any], freq: str) -> str:
    """The error scale in words."""
    unit = {"W": "weeks", "M": "months", "Q": "quarters"}[freq]
    which = (
        f"the same {unit[:-1]} a year earlier (seasonal naive)"
        if scale.get("naive") == "seasonal_naive"
        else f"the previous {unit[:-1]} (naive; fewer than two years of full {unit})"
    )
    return (
        f"MASE divides every backtest error by one scale for all windows: "
        f"{scale.get('value', float('nan')):,.0f}, the average error of forecasting each "
        f"{unit[:-1]} by {which} over the whole history"
    )


def partial_sentence(info: dict[str, Any]) -> str:
    """The period in progress in words."""
    text = (
        f"{info['period']} is in progress ({info['days_booked']} of {info['days_in_period']} "
        f"days, {info['booked']:,.0f} booked): it is left out of fitting and forecast as booked "
        f"+ remainder = {info['booked']:,.0f} + {info['remainder']:,.0f} = {info['total']:,.0f}"
    )
    if info["whole_period_forecast"] < info["booked"]:
        text += (
            f" (the model's {info['whole_period_forecast']:,.0f} for the whole period is below "
            "what is already booked, so no more is expected)"
        )
    return text


def _check_history(n: int, freq: str, horizon: int, windows: int, step: int) -> None:
    """UnsupportedData when ``n`` full periods leave no backtest window for the horizon."""
    m = season_length(freq)
    if origins_for(n, horizon, windows, step, default_min_train(n, m)):
        return
    need = next(k for k in range(n + 1, n + 10 * m + 100) if k - horizon >= default_min_train(k, m))
    unit = {"W": "week", "M": "month", "Q": "quarter"}[freq]
    raise few(
        n,
        f"full {unit} of sales history",
        f"full {unit}s of sales history",
        f"check a forecast {horizon} {unit if horizon == 1 else unit + 's'} ahead on past {unit}s",
        need,
    )


def _add_bottom_up(out: SalesForecast, ds: Dataset | Source, purchase_model: str) -> None:
    if out.measure == "customers":
        out.notes.append(
            "no bottom-up forecast for active customers: the purchase models give expected "
            "purchases, not the chance that a customer buys within a period"
        )
        return
    if not ds.has("transactions"):
        return
    res = out.result
    y = res.history
    try:
        bt_rows, future = bottom_up_backtest(
            ds, y, res.backtest.origins, out.horizon, out.measure, purchase_model
        )
    except (clv.FitError, ValueError) as err:
        out.notes.append(f"no bottom-up forecast: {err}")
        return
    ts_rows = own_bounds(res.backtest.forecasts) if len(res.backtest.forecasts) else pd.DataFrame()
    chosen_rows = ts_rows.loc[ts_rows["model"] == res.model] if len(ts_rows) else ts_rows
    parts = [ts_rows, bt_rows]
    if len(chosen_rows) and len(bt_rows):
        keys = ["origin", "period"]
        merged = chosen_rows.merge(bt_rows, on=keys, suffixes=("_ts", "_bu"))
        comb = pd.DataFrame({k: merged[k] for k in keys})
        for c in INTERVAL_COLUMNS:
            comb[c] = (merged[f"{c}_ts"] + merged[f"{c}_bu"]) / 2
        comb["actual"] = merged["actual_ts"]
        comb["model"] = "combination"
        comb["horizon"] = merged["horizon_ts"]
        comb["scale"] = merged["scale_ts"]
        parts.append(comb)
    allrows = pd.concat([p for p in parts if len(p)], ignore_index=True)
    order = [*MODELS, "bottom_up", "combination"]
    allrows, metrics, per_window, factors = summarise_backtest(allrows, order)

    def calibrated(frame: pd.DataFrame, model: str) -> pd.DataFrame:
        mine = factors.loc[factors["model"] == model]
        return apply_factors(frame, mine) if len(mine) else frame

    out.bottom_up = calibrated(future, "bottom_up")
    raw_series = res.raw_forecast if res.raw_forecast is not None else res.forecast
    out.combination = calibrated(_combine(raw_series, future), "combination")
    out.bottom_up_backtest = BacktestResult(
        allrows,
        metrics,
        per_window,
        res.backtest.origins,
        res.backtest.horizon,
        res.backtest.step,
        dict(res.backtest.failures),
        dict(res.backtest.scale),
        factors,
    )
    comp = pd.DataFrame(
        {
            "series_model": res.forecast["mean"],
            "bottom_up": future["mean"],
            "combination": out.combination["mean"],
            "bottom_up_existing": future["existing"],
            "bottom_up_new": future["new"],
            "new_customers": future["new_customers"],
        }
    )
    out.comparison = comp


# ------------------------------------------------------------------------------ report figures
def same_period_last_year(history: pd.Series, period: pd.Period) -> tuple[pd.Period, float] | None:
    """The period one year before ``period`` and its value in ``history``, or None when the
    history does not reach back that far."""
    year_ago = period - season_length(freq_of(history.index))
    if year_ago not in history.index:
        return None
    return year_ago, history.loc[year_ago]


def report_metrics(result: SalesForecast) -> dict[str, float]:
    """The figures the report logs: the chosen model's backtest scores (coverage calibrated and
    of the model's own intervals, choice score) and horizon total, the error scale, the
    seasonal-naive MASE (when scored), the number of backtest windows and, per model,
    ``mase_<model>`` and ``coverage_80_<model>``."""
    metrics = result.metrics()
    win = metrics.loc[result.model]
    out: dict[str, float] = {
        "forecast_horizon_total": float(result.forecast["mean"].sum()),
        "chosen_mase": float(win["mase"]),
        "chosen_coverage_80": float(win["coverage_80"]),
        "chosen_coverage_95": float(win["coverage_95"]),
        "chosen_coverage_80_raw": float(win["coverage_80_raw"]),
        "chosen_coverage_95_raw": float(win["coverage_95_raw"]),
        "chosen_choice_score": float(win["choice_score"]),
        "error_scale": float(result.backtest.scale.get("value", float("nan"))),
    }
    if "seasonal_naive" in metrics.index:
        out["seasonal_naive_mase"] = float(metrics.loc["seasonal_naive", "mase"])
    out["backtest_windows"] = len(result.backtest.origins)
    for name, row in metrics.iterrows():
        out[f"mase_{name}"] = float(row["mase"])
        out[f"coverage_80_{name}"] = float(row["coverage_80"])
    return out


def compare_bottom_up(result: SalesForecast) -> dict[str, Any]:
    """The bottom-up forecast against the best time-series model: their backtest MASE
    (``bottom_up_mase``, ``series_mase``), the more accurate one (``better``: "bottom-up" or
    "time-series"), the relative ``gap`` of bottom-up to time series in the first future
    ``period`` (NaN when the time series forecasts 0), ``bottom_up_next`` and ``no_new_customers``
    (no new customer expected over the horizon).  ValueError without a bottom-up forecast."""
    if result.comparison is None:
        raise ValueError("no bottom-up forecast to compare")
    metrics = result.metrics()
    ts_row, bu_row = metrics.loc[result.series_model], metrics.loc["bottom_up"]
    first = result.comparison.iloc[0]
    gap = first["bottom_up"] / first["series_model"] - 1 if first["series_model"] else float("nan")
    return {
        "bottom_up_mase": float(bu_row["mase"]),
        "series_mase": float(ts_row["mase"]),
        "better": "bottom-up" if bu_row["mase"] < ts_row["mase"] else "time-series",
        "gap": gap,
        "period": result.comparison.index[0],
        "bottom_up_next": float(first["bottom_up"]),
        "no_new_customers": bool(result.comparison["new_customers"].sum() == 0),
    }

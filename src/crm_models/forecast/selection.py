"""Model choice for one series: default settings, backtest every model, refit the best one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_models.forecast.backtest import BacktestResult, backtest
from crm_models.forecast.calibration import apply_factors
from crm_models.forecast.models import MODELS, QUICK_MODELS, make_model
from crm_models.forecast.periods import freq_code, freq_of, season_length, yearly_seasonality_ok

__all__ = ["SeriesForecast", "default_settings", "forecast_series"]


def default_settings(freq: str, quick: bool = False) -> dict[str, int]:
    """Default horizon, backtest windows and step per frequency (quick: fewer windows)."""
    freq = freq_code(freq)
    base = {
        "W": {"horizon": 13, "windows": 4, "step": 4},
        "M": {"horizon": 3, "windows": 6, "step": 1},
        "Q": {"horizon": 2, "windows": 4, "step": 1},
    }[freq]
    if quick:
        base = {**base, "windows": max(2, base["windows"] // 2)}
    return dict(base)


def backtest_plan(
    freq: str,
    quick: bool,
    horizon: int | None,
    windows: int | None,
    step: int | None,
    models: Sequence[str] | None,
) -> tuple[str, int, int, int, tuple[str, ...]]:
    """``(freq, horizon, windows, step, models)`` with the defaults filled in for ``freq``."""
    freq = freq_code(freq)
    settings = default_settings(freq, quick)
    return (
        freq,
        int(horizon or settings["horizon"]),
        int(windows or settings["windows"]),
        int(step or settings["step"]),
        tuple(models or (QUICK_MODELS if quick else MODELS)),
    )


@dataclass
class SeriesForecast:
    """One series' result: the chosen model, its future forecast (calibrated intervals; the
    model's own ones in ``raw_forecast``), the backtest and notes."""

    name: str
    history: pd.Series
    model: str
    forecast: pd.DataFrame
    backtest: BacktestResult
    notes: list[str]
    config: str = ""
    seconds: float = 0.0
    raw_forecast: pd.DataFrame | None = None


def _history_notes(y: pd.Series) -> list[str]:
    freq = freq_of(y.index)
    m = season_length(freq)
    unit = {"W": "weeks", "M": "months", "Q": "quarters"}[freq]
    notes = []
    if len(y) == 0 or float(np.abs(y.to_numpy()).sum()) == 0:
        notes.append("the series is all zeros: every model forecasts zero")
    if not yearly_seasonality_ok(y):
        notes.append(
            f"yearly seasonality is not estimated: the history has {len(y)} full {unit}, "
            f"fewer than two yearly cycles ({2 * m} {unit})"
        )
    return notes


def forecast_series(
    y: pd.Series,
    horizon: int,
    windows: int,
    step: int,
    models: Sequence[str] = MODELS,
    exog: pd.DataFrame | None = None,
    name: str = "total",
) -> SeriesForecast:
    """Backtest ``models`` on ``y``, refit the winner (lowest backtest ``choice_score``, the
    scaled weighted interval score, which rewards accuracy and intervals that cover) on all of
    ``y`` and forecast ``horizon`` periods, its interval half-widths scaled by the winner's
    conformal factors from the backtest errors.  The forecast shown is never the best in-sample
    fit.  Series too short for a backtest get the naive forecast with its own intervals
    (noted)."""
    started = time.perf_counter()
    y = y.astype(float)
    notes = _history_notes(y)
    if len(y) == 0:
        raise ValueError(f"series {name!r} has no full period to fit")
    bt = backtest(y, models, horizon, windows, step, exog=exog)
    chosen = bt.best
    if chosen is None:
        chosen = "naive"
        notes.append(
            f"too short for a backtest ({len(y)} periods for a {horizon}-period horizon): "
            "the naive forecast is shown, unvalidated"
        )
    elif len(bt.origins) < windows:
        notes.append(f"only {len(bt.origins)} of {windows} backtest windows fit in the history")
    model = make_model(chosen).fit(y, exog)
    raw = model.predict(horizon, exog)
    factors = bt.factors.loc[bt.factors["model"] == chosen] if len(bt.factors) else bt.factors
    fc = apply_factors(raw, factors) if len(factors) else raw
    points = int(factors["points"].min()) if len(factors) else 0
    if 0 < points < 19:
        notes.append(
            f"the ranges are calibrated on only {points} test forecasts of the past (19 are needed "
            "to place a 95 % range): the 95 % range is as wide as the largest test error, and "
            "coverage on so few tests is a rough guide"
        )
    config = getattr(model, "config_", "")
    seconds = time.perf_counter() - started
    return SeriesForecast(name, y, chosen, fc, bt, notes, config, seconds, raw)

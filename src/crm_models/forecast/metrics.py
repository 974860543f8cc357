"""Forecast accuracy metrics: MASE and its scale, sMAPE, and the scores of one backtest window."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["METRIC_COLUMNS", "mase", "mase_scale", "smape", "window_metrics"]

METRIC_COLUMNS = [
    "mase",
    "smape",
    "rmse",
    "bias",
    "bias_pct",
    "coverage_80",
    "coverage_95",
    "width_80",
    "width_95",
]


def mase(actual, predicted, scale: float) -> float:
    """Mean absolute error divided by ``scale`` (the in-sample seasonal-naive MAE)."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(a - p)) / scale)


def smape(actual, predicted) -> float:
    """Symmetric MAPE, mean of 2|y - f| / (|y| + |f|) in 0..2 (0 where both are 0)."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    den = np.abs(a) + np.abs(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(den > 0, 2 * np.abs(a - p) / den, 0.0)
    return float(np.mean(terms))


def mase_scale(y: np.ndarray, m: int) -> float:
    """In-sample MAE of the seasonal naive forecast (lag ``m``; lag 1 when the series is not
    longer than ``m``); 1 when that is 0 (a flat or zero series) so MASE stays finite."""
    y = np.asarray(y, dtype=float)
    lag = m if len(y) > m else 1
    if len(y) <= lag:
        return 1.0
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
    if scale <= 0 and lag != 1:
        scale = float(np.mean(np.abs(np.diff(y))))
    return scale if scale > 0 else 1.0


def window_metrics(frame: pd.DataFrame) -> pd.Series:
    """:data:`METRIC_COLUMNS` of one backtest window (``actual``, ``mean``, the bounds and the
    MASE ``scale`` per forecast period).

    ``mase`` (MAE scaled by the in-sample MAE of the seasonal naive forecast of the training
    data, lag 1 when shorter than a year; Hyndman & Koehler 2006), ``smape`` (mean of
    2|e| / (|y| + |f|), 0..2), ``rmse``, ``bias`` (mean forecast - actual), ``bias_pct`` (sum of
    errors / sum of actuals), ``coverage_80``/``coverage_95`` (share of actuals inside the
    intervals) and ``width_80``/``width_95`` (mean interval width relative to the mean actual).
    """
    a, f = frame["actual"].to_numpy(), frame["mean"].to_numpy()
    scale = float(frame["scale"].iloc[0])
    level = max(float(np.mean(np.abs(a))), 1e-12)
    return pd.Series(
        {
            "mase": mase(a, f, scale),
            "smape": smape(a, f),
            "rmse": float(np.sqrt(np.mean((a - f) ** 2))),
            "bias": float(np.mean(f - a)),
            "bias_pct": float(np.sum(f - a) / np.sum(np.abs(a))) if np.sum(np.abs(a)) else 0.0,
            "coverage_80": float(
                np.mean((a >= frame["lower_80"].to_numpy()) & (a <= frame["upper_80"].to_numpy()))
            ),
            "coverage_95": float(
                np.mean((a >= frame["lower_95"].to_numpy()) & (a <= frame["upper_95"].to_numpy()))
            ),
            "width_80": float(np.mean(frame["upper_80"] - frame["lower_80"]) / level),
            "width_95": float(np.mean(frame["upper_95"] - frame["lower_95"]) / level),
        }
    )

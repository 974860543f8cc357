"""Forecast accuracy metrics: MASE and its one scale per series, sMAPE, the weighted interval
score, and the scores of one backtest window."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_COLUMNS",
    "error_scale",
    "interval_score",
    "mase",
    "mase_scale",
    "smape",
    "weighted_interval_score",
    "window_metrics",
]

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
    "coverage_80_raw",
    "coverage_95_raw",
    "choice_score",
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


def error_scale(y: np.ndarray, m: int) -> dict[str, float | int | str]:
    """The one MASE scale of a series (Hyndman & Koehler 2006), used for every backtest window:
    the in-sample MAE of the seasonal naive forecast (lag ``m``) when the series holds two full
    seasons (``2 m`` periods), of the naive forecast (lag 1) otherwise.  ``{"naive": name, "lag":
    lag, "value": MAE}``; the value is 1 when that MAE is 0 (a flat series) so MASE stays finite."""
    y = np.asarray(y, dtype=float)
    lag = m if len(y) >= 2 * m else 1
    value = float(np.mean(np.abs(y[lag:] - y[:-lag]))) if len(y) > lag else 0.0
    return {
        "naive": "seasonal_naive" if lag > 1 else "naive",
        "lag": lag,
        "value": value if value > 0 else 1.0,
    }


def mase_scale(y: np.ndarray, m: int) -> float:
    """The value of :func:`error_scale`."""
    return float(error_scale(y, m)["value"])


def interval_score(actual, lower, upper, alpha: float) -> np.ndarray:
    """Interval score of a central (1 - alpha) interval per point (Gneiting & Raftery 2007):
    its width plus 2 / alpha times the distance by which the actual falls outside it."""
    a, lo, hi = (np.asarray(v, dtype=float) for v in (actual, lower, upper))
    return (hi - lo) + 2 / alpha * (np.maximum(lo - a, 0) + np.maximum(a - hi, 0))


def weighted_interval_score(frame: pd.DataFrame) -> np.ndarray:
    """Weighted interval score per point of the mean and the 80 % and 95 % intervals (Bracher et
    al. 2021): (|y - mean| / 2 + 0.2 / 2 IS_80 + 0.05 / 2 IS_95) / 2.5.  It rewards accuracy
    (the first term) and intervals that are narrow yet cover (the others); it approximates the
    CRPS."""
    a = frame["actual"].to_numpy(dtype=float)
    terms = 0.5 * np.abs(a - frame["mean"].to_numpy(dtype=float))
    for level, alpha in ((80, 0.2), (95, 0.05)):
        terms = terms + alpha / 2 * interval_score(
            a, frame[f"lower_{level}"], frame[f"upper_{level}"], alpha
        )
    return terms / 2.5


def window_metrics(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """:data:`METRIC_COLUMNS` per backtest window (one row per group of ``keys``, e.g. model and
    origin) from ``actual``, ``mean``, the bounds and the MASE ``scale`` per forecast period;
    vectorised over windows (sums of per-point terms by ``np.bincount``, no call per window).

    ``mase`` (MAE divided by the series' one :func:`error_scale`), ``smape`` (mean of
    2|e| / (|y| + |f|), 0..2), ``rmse``, ``bias`` (mean forecast - actual), ``bias_pct`` (sum of
    errors / sum of |actuals|, 0 when that is 0), ``coverage_80``/``coverage_95`` (share of
    actuals inside the intervals; ``*_raw`` for the models' own ``raw_*`` bounds, NaN without
    them), ``width_80``/``width_95`` (mean interval width relative to the mean |actual|) and
    ``choice_score`` (mean weighted interval score over the scale).
    """
    a, f = frame["actual"].to_numpy(dtype=float), frame["mean"].to_numpy(dtype=float)
    err = f - a
    den = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        smape_terms = np.where(den > 0, 2 * np.abs(err) / den, 0.0)
    terms = {
        "abs_err": np.abs(err),
        "smape": smape_terms,
        "sq_err": err**2,
        "bias": err,
        "abs_actual": np.abs(a),
        "wis": weighted_interval_score(frame),
    }
    for k in (80, 95):
        lo, hi = (
            frame[f"lower_{k}"].to_numpy(dtype=float),
            frame[f"upper_{k}"].to_numpy(dtype=float),
        )
        terms[f"coverage_{k}"] = ((a >= lo) & (a <= hi)).astype(float)
        terms[f"width_{k}"] = hi - lo
        if f"raw_lower_{k}" in frame:
            lo, hi = (
                frame[f"raw_lower_{k}"].to_numpy(float),
                frame[f"raw_upper_{k}"].to_numpy(float),
            )
            terms[f"coverage_{k}_raw"] = ((a >= lo) & (a <= hi)).astype(float)
        else:
            terms[f"coverage_{k}_raw"] = np.full(len(a), np.nan)
    codes, uniques = zip(*(pd.factorize(frame[k]) for k in keys), strict=True)
    group = pd.factorize(np.ravel_multi_index(codes, [len(u) for u in uniques]))[0]
    first = np.unique(group, return_index=True)[1]  # groups in order of appearance
    index = pd.MultiIndex.from_arrays(
        [u.take(c[first]) for u, c in zip(uniques, codes, strict=True)], names=keys
    )
    count = np.bincount(group)
    total = {k: np.bincount(group, weights=v) for k, v in terms.items()}
    mean = {k: v / count for k, v in total.items()}
    scale = frame["scale"].to_numpy(dtype=float)[first]
    level = np.maximum(mean["abs_actual"], 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias_pct = np.where(total["abs_actual"] > 0, total["bias"] / total["abs_actual"], 0.0)
    out = pd.DataFrame(
        {
            "mase": mean["abs_err"] / scale,
            "smape": mean["smape"],
            "rmse": np.sqrt(mean["sq_err"]),
            "bias": mean["bias"],
            "bias_pct": bias_pct,
            "coverage_80": mean["coverage_80"],
            "coverage_95": mean["coverage_95"],
            "width_80": mean["width_80"] / level,
            "width_95": mean["width_95"] / level,
            "coverage_80_raw": mean["coverage_80_raw"],
            "coverage_95_raw": mean["coverage_95_raw"],
            "choice_score": mean["wis"] / scale,
        },
        index=index,
    )
    out.index.names = keys
    return out

"""Rolling-origin backtests: origins, forecasts of every model at every origin, their scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.forecast.calibration import calibrate_backtest
from crm_models.forecast.metrics import METRIC_COLUMNS, error_scale, window_metrics
from crm_models.forecast.models import INTERVAL_COLUMNS, MODELS, make_model
from crm_models.forecast.periods import freq_of, season_length

__all__ = [
    "BacktestResult",
    "backtest",
    "default_min_train",
    "origins_for",
    "summarise_backtest",
]


@dataclass
class BacktestResult:
    """Forecasts of every model at every origin (``forecasts``: one row per origin, model and
    period with ``actual``, ``mean``, calibrated bounds, the models' own ``raw_*`` bounds,
    ``horizon`` and ``scale``), the metrics per model averaged over windows (``metrics``, best
    ``choice_score`` first) and per window (``window_metrics``), the series' one error ``scale``
    (:func:`~crm_models.forecast.metrics.error_scale`) and the conformal ``factors`` per model
    (:mod:`~crm_models.forecast.calibration`)."""

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    window_metrics: pd.DataFrame
    origins: list[pd.Period]
    horizon: int
    step: int
    failures: dict[str, str] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    factors: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def best(self) -> str | None:
        """The model with the lowest choice score (None when nothing could be evaluated)."""
        return None if self.metrics.empty else str(self.metrics.index[0])

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
            for name, row in self.metrics.iterrows()
        }


def default_min_train(n: int, m: int) -> int:
    """Fewest training periods of a backtest window on a series of ``n`` periods with season
    length ``m``: half the series, at least 4, at most one season plus one."""
    return max(4, min(m + 1, n // 2))


def origins_for(n: int, horizon: int, windows: int, step: int, min_train: int) -> list[int]:
    """Positions of the rolling origins (number of training periods), oldest first: the last
    leaves exactly ``horizon`` periods; origins with fewer than ``min_train`` periods are dropped."""
    last = n - horizon
    out = [last - i * step for i in range(windows)]
    return sorted(o for o in out if o >= min_train)


def summarise_backtest(
    forecasts: pd.DataFrame, order: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Calibrated rows, averaged and per-window metrics (best ``choice_score`` first; ties in
    the order of ``order``) and conformal factors from a long frame of backtest forecasts (the
    models' own bounds)."""
    if forecasts.empty:
        empty = pd.DataFrame(columns=METRIC_COLUMNS)
        return forecasts, empty, empty, pd.DataFrame()
    forecasts, factors = calibrate_backtest(forecasts)
    per_window = window_metrics(forecasts, ["model", "origin"]).reset_index()
    # mean over windows per model (NaN skipped), by NumPy: a groupby costs more than the sums
    codes, names = pd.factorize(per_window["model"], sort=True)
    values = per_window[METRIC_COLUMNS].to_numpy(dtype=float)
    known = ~np.isnan(values)
    sums, counts = np.zeros((len(names), values.shape[1])), np.zeros((len(names), values.shape[1]))
    np.add.at(sums, codes, np.where(known, values, 0.0))
    np.add.at(counts, codes, known)
    with np.errstate(invalid="ignore"):
        means = sums / counts
    metrics = pd.DataFrame(means, index=pd.Index(names, name="model"), columns=METRIC_COLUMNS)
    metrics["windows"] = np.bincount(codes)
    rank = {name: i for i, name in enumerate(order)}
    ties = [rank.get(m, len(rank)) for m in metrics.index]
    metrics = metrics.iloc[np.lexsort((ties, metrics["choice_score"].to_numpy()))]
    return forecasts, metrics, per_window, factors


def backtest(
    y: pd.Series,
    models: Sequence[str] = MODELS,
    horizon: int = 3,
    windows: int = 4,
    step: int = 1,
    exog: pd.DataFrame | None = None,
    min_train: int | None = None,
    model_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of ``models`` on ``y`` (Tashman 2000).

    The last origin leaves exactly ``horizon`` periods to forecast, earlier origins step back by
    ``step``.  At each origin every model is fitted on ``y`` cut just before the origin (later
    values are not passed at all: the series is cut, not masked), and its forecasts of the next
    ``horizon`` periods are scored (:func:`~crm_models.forecast.metrics.window_metrics`; the
    metrics per model are averaged over windows) with one error scale for every window: the
    in-sample MAE of the seasonal naive (two full seasons in ``y``) or naive forecast over all
    of ``y`` (:func:`~crm_models.forecast.metrics.error_scale`; a scale, not a forecast input,
    so it leaks nothing).  Intervals are calibrated on the other windows' errors
    (:func:`~crm_models.forecast.calibration.calibrate_backtest`).  ``exog`` (regressors known in advance, e.g.
    the campaign calendar) may cover the test windows.  A model that fails at an origin is
    recorded in ``failures`` and left out of that window.
    """
    n = len(y)
    m = season_length(freq_of(y.index))
    horizon = int(horizon)
    if min_train is None:
        min_train = default_min_train(n, m)
    origin_pos = origins_for(n, horizon, windows, step, min_train)
    scale = error_scale(y.to_numpy(dtype=float), m)
    values, names, starts, failures = [], [], [], {}
    for o in origin_pos:
        train = y.iloc[:o]
        steps = min(horizon, n - o)
        for name in models:
            model = make_model(name, **dict((model_kwargs or {}).get(name, {})))
            try:
                values.append(model.fit(train, exog).predict_values(steps, exog))
            except Exception as err:  # noqa: BLE001 - recorded, the other models go on
                failures[name] = f"{type(err).__name__}: {err}"
                continue
            names.append(name)
            starts.append(o)
    forecasts = pd.DataFrame()
    if values:  # one frame for every window and model (no frame per fit)
        lengths = np.array([len(v) for v in values])
        at = np.repeat(np.array(starts), lengths)
        ahead = np.concatenate([np.arange(1, k + 1) for k in lengths])
        pos = at + ahead - 1
        forecasts = pd.DataFrame(np.vstack(values), columns=INTERVAL_COLUMNS)
        forecasts.insert(0, "period", y.index[pos])
        forecasts["actual"] = y.to_numpy(dtype=float)[pos]
        forecasts["model"] = np.repeat(np.array(names, dtype=object), lengths)
        forecasts["origin"] = y.index[at]
        forecasts["horizon"] = ahead
        forecasts["scale"] = scale["value"]
    forecasts, metrics, per_window, factors = summarise_backtest(forecasts, list(models))
    origins = [y.index[o] for o in origin_pos]
    return BacktestResult(
        forecasts, metrics, per_window, origins, horizon, step, failures, scale, factors
    )

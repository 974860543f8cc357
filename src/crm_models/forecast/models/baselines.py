"""Baseline models: naive, seasonal naive, drift and historic mean, with normal intervals."""

# Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., §5.2 and §5.5 for
# the interval formulas; normal intervals from the in-sample one-step residuals.

from __future__ import annotations

import numpy as np

from crm_models.forecast.models.base import Forecaster, interval_values

__all__ = ["Drift", "HistoricMean", "Naive", "SeasonalNaive"]


def _resid_sd(resid: np.ndarray) -> float:
    resid = resid[np.isfinite(resid)]
    if len(resid) < 2:
        return 0.0
    return float(np.sqrt(np.mean(resid**2)))


class Naive(Forecaster):
    """Last value; sd_h = sigma sqrt(h)."""

    name = "naive"

    def _fit(self, y, exog):
        self.sigma_ = _resid_sd(np.diff(y))

    def _predict(self, h, exog):
        steps = np.arange(1, h + 1)
        return interval_values(np.full(h, self.y_[-1]), self.sigma_ * np.sqrt(steps))


class SeasonalNaive(Forecaster):
    """The value one year (``m`` periods) earlier; sd_h = sigma sqrt(floor((h-1)/m) + 1).
    With less than a year plus one period of data it is the naive forecast."""

    name = "seasonal_naive"

    def _fit(self, y, exog):
        self.lag_ = self.m_ if len(y) > self.m_ else 1
        self.sigma_ = _resid_sd(y[self.lag_ :] - y[: -self.lag_]) if len(y) > self.lag_ else 0.0

    def _predict(self, h, exog):
        lag = self.lag_
        steps = np.arange(1, h + 1)
        k = (steps - 1) // lag
        mean = self.y_[len(self.y_) - lag + (steps - 1) % lag]
        return interval_values(mean, self.sigma_ * np.sqrt(k + 1))


class Drift(Forecaster):
    """Line through the first and last values; sd_h = sigma sqrt(h (1 + h / (T - 1)))."""

    name = "drift"

    def _fit(self, y, exog):
        n = len(y)
        self.slope_ = (y[-1] - y[0]) / (n - 1) if n > 1 else 0.0
        self.sigma_ = _resid_sd(np.diff(y) - self.slope_) if n > 2 else 0.0

    def _predict(self, h, exog):
        steps = np.arange(1, h + 1)
        n = len(self.y_)
        sd = self.sigma_ * np.sqrt(steps * (1 + steps / max(n - 1, 1)))
        return interval_values(self.y_[-1] + self.slope_ * steps, sd)


class HistoricMean(Forecaster):
    """Mean of the history; sd = sigma sqrt(1 + 1/T)."""

    name = "mean"

    def _fit(self, y, exog):
        self.mean_ = float(y.mean())
        self.sigma_ = float(y.std(ddof=1)) if len(y) > 1 else 0.0

    def _predict(self, h, exog):
        n = len(self.y_)
        return interval_values(np.full(h, self.mean_), np.full(h, self.sigma_ * np.sqrt(1 + 1 / n)))

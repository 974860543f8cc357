"""The standard Theta method in NumPy/SciPy, deseasonalised with two years of data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models.forecast.models.base import Forecaster, interval_values, is_flat, quiet_fit
from crm_models.forecast.models.baselines import Naive
from crm_models.forecast.models.ets import fit_ets

__all__ = ["Theta"]


class Theta(Forecaster):
    """The standard Theta method (Assimakopoulos & Nikolopoulos 2000) as simple exponential
    smoothing with drift equal to half the slope of the linear trend (Hyndman & Billah 2003),
    as statsmodels' ``ThetaModel`` computes it (tests/test_forecast.py compares them): with
    two years of data and a significant yearly autocorrelation, classical additive
    deseasonalising first.  Intervals use the variance of the equivalent ARIMA(0,1,1) with
    drift, sigma^2 (1 + (h - 1)(1 + (alpha - 1)^2)), sigma^2 from :func:`~.ets.fit_ets` of
    simple exponential smoothing on the (deseasonalised) series: statsmodels fits an ARIMA on
    the series before deseasonalising, which widens seasonal series' intervals by their
    seasonal swings.  Own code instead of ``ThetaModel``: about 50x faster (issue 15)."""

    name = "theta"

    def _fit(self, y, exog):
        self.fallback_ = None
        if len(y) < 6 or is_flat(y):
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            return
        m = self.m_
        self.seasonal_index_ = np.zeros(m)
        if self.seasonal_ and _seasonality_test(y, m):
            self.seasonal_index_ = _additive_seasonal_index(y, m)
        t = np.arange(len(y))
        deseasonalised = y - self.seasonal_index_[t % m]
        try:
            self.alpha_, self.level_ = quiet_fit(lambda: _ses_known_start(deseasonalised))
            self.sigma2_ = quiet_fit(lambda: fit_ets(deseasonalised)["sigma2"])
        except (ValueError, np.linalg.LinAlgError):  # fall back to the naive forecast
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            return
        self.b0_ = float(np.polyfit(t, deseasonalised, 1)[0])

    def _predict(self, h, exog):
        if self.fallback_ is not None:
            return self.fallback_._predict(h, exog)
        n, alpha = len(self.y_), self.alpha_
        steps = np.arange(h) + 1 / alpha - (1 - alpha) ** n / alpha
        season = self.seasonal_index_[(n + np.arange(h)) % self.m_]
        mean = self.level_ + 0.5 * self.b0_ * steps + season  # theta = 2: half the slope
        var = self.sigma2_ * (1 + np.arange(h) * (1 + (alpha - 1) ** 2))
        return interval_values(mean, np.sqrt(var))


def _seasonality_test(y: np.ndarray, m: int) -> bool:
    """statsmodels' ThetaModel test: n r_m^2 / sum_(j<m) r_j^2 above the 90 % chi^2(1) point."""
    x = y - y.mean()
    denom = x @ x
    rho = np.array([x[j:] @ x[: len(x) - j] for j in range(m + 1)]) / denom
    return bool(len(y) * rho[-1] ** 2 / np.sum(rho[:-1] ** 2) > 2.705543454095404)


def _additive_seasonal_index(y: np.ndarray, m: int) -> np.ndarray:
    """Classical additive decomposition: centred moving average (2 x m for even m), mean
    detrended value per season position, centred on zero (statsmodels' seasonal_decompose)."""
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.full(len(y), np.nan)
    half = len(weights) // 2
    trend[half : len(y) - half] = np.convolve(y, weights, mode="valid")
    detrended = y - trend
    pad = (-len(y)) % m
    table = np.concatenate([detrended, np.full(pad, np.nan)]).reshape(-1, m)
    index = np.nanmean(table, axis=0)
    return index - index.mean()


def _ses_known_start(y: np.ndarray) -> tuple[float, float]:
    """Simple exponential smoothing started at the first value (statsmodels' ThetaModel):
    alpha minimising the squared one-step errors, and the last level."""
    from scipy.optimize import minimize_scalar
    from scipy.signal import lfilter

    def levels(alpha):  # l_t = alpha y_t + (1 - alpha) l_(t-1), l_0 = y_0
        return lfilter([alpha], [1.0, alpha - 1.0], y, zi=[(1 - alpha) * y[0]])[0]

    def sse(alpha):
        return float(np.sum((y[1:] - levels(alpha)[:-1]) ** 2))

    alpha = float(minimize_scalar(sse, bounds=(1e-4, 1.0), method="bounded").x)
    return alpha, float(levels(alpha)[-1])

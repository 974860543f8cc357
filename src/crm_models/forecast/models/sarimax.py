"""Dynamic harmonic regression: statsmodels SARIMAX on yearly Fourier terms, drift, regressors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_models.forecast.models.base import Forecaster, df_factor, is_flat, quiet_fit, widen
from crm_models.forecast.models.baselines import Drift
from crm_models.forecast.periods import fourier_terms, future_index

__all__ = ["SARIMAXFourier"]


class SARIMAXFourier(Forecaster):
    """Regression on yearly Fourier terms (``k`` pairs, only with two years of data), a drift
    and exogenous regressors, with ARIMA(p, 1, q) errors; ``orders`` are tried and the lowest
    AIC kept.  Exogenous columns that are constant in the training data are dropped.

    The Fourier terms of the day of the year (dynamic harmonic regression, FPP3 §10.5) work for
    52.18-week years; the regressors are the campaign calendar (contacts whose 14-day response
    window overlaps the period) when the data has campaigns, and holiday days when given.
    Intervals from the state-space forecast, widened by :func:`~.base.df_factor`.
    """

    name = "sarimax"
    uses_exog = True

    def __init__(self, k: int | None = None, orders: Sequence[tuple[int, int, int]] | None = None):
        self.k = k
        self.orders = orders

    def _design(self, periods: pd.PeriodIndex, exog) -> np.ndarray:
        parts = [fourier_terms(periods, self.k_)]
        if exog is not None and len(self.exog_columns_):
            parts.append(
                np.asarray(exog[self.exog_columns_], dtype=float).reshape(len(periods), -1)
            )
        return np.column_stack(parts) if parts else np.empty((len(periods), 0))

    def _fit(self, y, exog):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        self.fallback_ = None
        n = len(y)
        if n < 8 or is_flat(y):
            self.fallback_ = Drift().fit(pd.Series(y, index=self.index_))
            self.config_ = "drift (series too short or flat)"
            return
        default_k = {"W": 6, "M": 4, "Q": 1}[self.freq_]
        self.k_ = (self.k if self.k is not None else default_k) if self.seasonal_ else 0
        self.exog_columns_ = []
        if exog is not None:
            exog = exog.reindex(self.index_)
            self.exog_columns_ = [
                c for c in exog.columns if np.ptp(exog[c].to_numpy(dtype=float)) > 0
            ]
        X = self._design(self.index_, exog)
        # keep the regression identifiable on short series
        max_cols = max(0, n // 3)
        X = X[:, :max_cols]
        self.n_cols_ = X.shape[1]
        orders = self.orders or ([(0, 1, 1)] if n < 60 else [(0, 1, 1), (1, 1, 1)])
        best = None
        scale = float(np.std(y)) or 1.0
        self.scale_ = scale
        for order in orders:
            try:
                model = SARIMAX(
                    y / scale,
                    exog=X if X.shape[1] else None,
                    order=order,
                    trend="t",
                    enforce_stationarity=True,
                    enforce_invertibility=True,
                )
                res = quiet_fit(lambda m=model: m.fit(disp=False, maxiter=200))
                score = float(res.aic)
            except Exception:  # noqa: BLE001 - a candidate that cannot be fitted is skipped
                continue
            if np.isfinite(score) and (best is None or score < best[0]):
                best = (score, order, res)
        if best is None:
            self.fallback_ = Drift().fit(pd.Series(y, index=self.index_))
            self.config_ = "drift (no SARIMAX candidate could be fitted)"
            return
        _, order, self.result_ = best
        self.df_factor_ = df_factor(n - 1, len(self.result_.params))
        extra = f" + {', '.join(self.exog_columns_)}" if self.exog_columns_ else ""
        season = f" + {self.k_} Fourier pairs" if self.k_ else " (no yearly seasonality)"
        self.config_ = f"ARIMA{order} + drift{season}{extra}"

    def _predict(self, h, exog):
        if self.fallback_ is not None:
            return self.fallback_._predict(h, exog)
        future = future_index(self.index_, h)
        X = None
        if self.n_cols_:
            if exog is not None and len(self.exog_columns_):
                exog = exog.reindex(future).fillna(0.0)
            X = self._design(future, exog if len(self.exog_columns_) else None)
            if X.shape[1] < self.n_cols_:  # exog not given for the future: no campaigns assumed
                X = np.column_stack([X, np.zeros((h, self.n_cols_ - X.shape[1]))])
            X = X[:, : self.n_cols_]
        fc = quiet_fit(lambda: self.result_.get_forecast(h, exog=X))
        s = self.scale_
        f80 = fc.summary_frame(alpha=0.20)
        f95 = fc.summary_frame(alpha=0.05)
        return widen(
            f80["mean"].to_numpy() * s,
            f80["mean_ci_lower"].to_numpy() * s,
            f80["mean_ci_upper"].to_numpy() * s,
            f95["mean_ci_lower"].to_numpy() * s,
            f95["mean_ci_upper"].to_numpy() * s,
            self.df_factor_,
        )

"""Exponential smoothing: statsmodels ETSModel with additive errors, chosen by AICc."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_models.forecast.models.base import Forecaster, df_factor, is_flat, quiet_fit, widen
from crm_models.forecast.models.baselines import Naive

__all__ = ["ETS"]


class ETS(Forecaster):
    """statsmodels ``ETSModel`` (additive errors), chosen by AICc among no trend / damped
    additive trend and, with at least two years of monthly or quarterly data, no / additive
    yearly seasonality; analytic intervals widened by :func:`~.base.df_factor`.  Weekly data get
    no seasonal ETS (52 seasonal states on two or three years of data are not estimable
    honestly); the weekly yearly pattern is the job of ``sarimax``.

    ``trends``/``seasonals`` restrict the candidates; ``configs_`` lists their AICc,
    ``config_`` the chosen one.  Falls back to the naive forecast on series too short
    (fewer than 6 periods) or flat.
    """

    name = "ets"

    def __init__(self, trends: Sequence[str | None] = (None, "damped"), seasonal: bool = True):
        self.trends = tuple(trends)
        self.seasonal = seasonal

    def _fit(self, y, exog):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        self.fallback_ = None
        if len(y) < 6 or is_flat(y):
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            self.config_ = "naive (series too short or flat)"
            return
        seasonals: list[str | None] = [None]
        if self.seasonal and self.seasonal_ and self.freq_ in ("M", "Q"):
            seasonals.append("add")
        best, configs = None, {}
        for trend in self.trends:
            for seas in seasonals:
                # heuristic initial states when seasonal candidates are compared (12 estimated
                # initial states on 24-30 points do not converge reliably); AICc is only
                # compared between candidates initialised the same way
                init = "heuristic" if len(seasonals) > 1 else "estimated"
                kwargs = dict(
                    error="add",
                    trend=None,
                    damped_trend=False,
                    seasonal=seas,
                    initialization_method=init,
                )
                if trend is not None:
                    kwargs.update(trend="add", damped_trend=trend == "damped")
                if seas:
                    kwargs["seasonal_periods"] = self.m_
                label = f"ETS(A,{'Ad' if trend == 'damped' else ('A' if trend else 'N')},"
                label += f"{'A' if seas else 'N'})"
                try:
                    res = quiet_fit(
                        lambda kw=kwargs: ETSModel(pd.Series(y), **kw).fit(disp=False, maxiter=200)
                    )
                    score = float(res.aicc)
                except Exception:  # noqa: BLE001 - a candidate that cannot be fitted is skipped
                    continue
                if not np.isfinite(score):
                    continue
                configs[label] = score
                if best is None or score < best[0]:
                    best = (score, label, res)
        if best is None:
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            self.config_ = "naive (no ETS candidate could be fitted)"
            return
        self.configs_ = configs
        _, self.config_, self.result_ = best
        res = self.result_
        k = len(res.params)
        if res.model.initialization_method == "heuristic":  # initial states come from the data
            k += 1 + bool(res.model.trend) + (self.m_ if res.model.seasonal else 0)
        self.n_params_ = k
        self.df_factor_ = df_factor(len(y), k)

    def _predict(self, h, exog):
        if self.fallback_ is not None:
            return self.fallback_._predict(h, exog)
        n = len(self.y_)
        pred = quiet_fit(lambda: self.result_.get_prediction(start=n, end=n + h - 1))
        f80 = pred.summary_frame(alpha=0.20)
        f95 = pred.summary_frame(alpha=0.05)
        return widen(
            f80["mean"].to_numpy(),
            f80["pi_lower"].to_numpy(),
            f80["pi_upper"].to_numpy(),
            f95["pi_lower"].to_numpy(),
            f95["pi_upper"].to_numpy(),
            self.df_factor_,
        )

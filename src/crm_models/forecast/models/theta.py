"""The Theta method: statsmodels ThetaModel, deseasonalised with two years of data."""

from __future__ import annotations

import pandas as pd

from crm_models.forecast.models.base import Forecaster, interval_frame, is_flat, quiet_fit
from crm_models.forecast.models.baselines import Naive

__all__ = ["Theta"]


class Theta(Forecaster):
    """statsmodels ``ThetaModel`` (Assimakopoulos & Nikolopoulos 2000; Hyndman & Billah 2003),
    additive deseasonalising when yearly seasonality may be estimated (two years of data); its
    own intervals."""

    name = "theta"

    def _fit(self, y, exog):
        from statsmodels.tsa.forecasting.theta import ThetaModel

        self.fallback_ = None
        if len(y) < 6 or is_flat(y):
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            return
        deseason = bool(self.seasonal_)
        try:
            self.result_ = quiet_fit(
                lambda: ThetaModel(
                    y,
                    period=self.m_ if deseason else 1,
                    deseasonalize=deseason,
                    method="additive",
                ).fit()
            )
        except Exception:  # noqa: BLE001 - fall back to the naive forecast
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))

    def _predict(self, h, exog):
        if self.fallback_ is not None:
            return self.fallback_._predict(h, exog)
        mean = quiet_fit(lambda: self.result_.forecast(h)).to_numpy()
        p80 = quiet_fit(lambda: self.result_.prediction_intervals(h, alpha=0.20))
        p95 = quiet_fit(lambda: self.result_.prediction_intervals(h, alpha=0.05))
        return interval_frame(
            None,
            mean,
            lo80=p80["lower"].to_numpy(),
            hi80=p80["upper"].to_numpy(),
            lo95=p95["lower"].to_numpy(),
            hi95=p95["upper"].to_numpy(),
        )

"""Forecasting models, one file per family, registered by name for :func:`make_model`.

- ``base.py``: the shared shape (``fit``/``predict`` with 80 % and 95 % intervals), helpers
- ``baselines.py``: naive, seasonal naive, drift, historic mean
- ``ets.py``: exponential smoothing (ETS) chosen by AICc
- ``sarimax.py``: regression on yearly Fourier terms with ARIMA errors (SARIMAX)
- ``theta.py``: the Theta method
"""

from __future__ import annotations

from crm_models.forecast.models.base import INTERVAL_COLUMNS, Forecaster, Z
from crm_models.forecast.models.baselines import Drift, HistoricMean, Naive, SeasonalNaive
from crm_models.forecast.models.ets import ETS
from crm_models.forecast.models.sarimax import SARIMAXFourier
from crm_models.forecast.models.theta import Theta

__all__ = [
    "BASELINES",
    "ETS",
    "INTERVAL_COLUMNS",
    "MODELS",
    "MODEL_CLASSES",
    "MODEL_LABELS",
    "QUICK_MODELS",
    "Z",
    "Drift",
    "Forecaster",
    "HistoricMean",
    "Naive",
    "SARIMAXFourier",
    "SeasonalNaive",
    "Theta",
    "make_model",
]

BASELINES = ("naive", "seasonal_naive", "drift", "mean")
MODELS = (*BASELINES, "ets", "sarimax", "theta")
QUICK_MODELS = (*BASELINES, "ets", "sarimax")

MODEL_CLASSES: dict[str, type[Forecaster]] = {
    "naive": Naive,
    "seasonal_naive": SeasonalNaive,
    "drift": Drift,
    "mean": HistoricMean,
    "ets": ETS,
    "sarimax": SARIMAXFourier,
    "theta": Theta,
}
MODEL_LABELS = {
    "naive": "Naive (last value)",
    "seasonal_naive": "Seasonal naive (same period last year)",
    "drift": "Drift (trend of first to last value)",
    "mean": "Historic mean",
    "ets": "Exponential smoothing (ETS)",
    "sarimax": "Regression on seasonality + ARIMA errors (SARIMAX)",
    "theta": "Theta method",
    "bottom_up": "Bottom-up from the customer base",
    "combination": "Average of best series model and bottom-up",
}


def make_model(name: str, **kwargs) -> Forecaster:
    """A fresh, unfitted model by name (``naive``, ``seasonal_naive``, ``drift``, ``mean``,
    ``ets``, ``sarimax``, ``theta``)."""
    try:
        return MODEL_CLASSES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}") from None

"""What will sales be next month?  Period series, forecasting models, rolling-origin backtests
and a bottom-up forecast built from the customer base.

- ``periods.py``: frequency codes, season length, future periods, yearly Fourier terms
- ``series.py``: revenue, orders or active customers per week, month or quarter (``sales_series``)
- ``regressors.py``: the campaign calendar and holiday days as regressors known in advance
- ``models/``: one file per model family (baselines, ETS, SARIMAX, Theta), ``make_model``
- ``metrics.py``: the one error scale per series (MASE), sMAPE, the weighted interval score and
  the scores of one backtest window (coverage, width, bias, ``choice_score``)
- ``calibration.py``: conformal calibration of the intervals from backtest errors
- ``backtest.py``: rolling-origin backtests (``backtest``, ``BacktestResult``)
- ``selection.py``: the model choice for one series (``forecast_series``, ``default_settings``):
  lowest backtest ``choice_score``, intervals scaled by the conformal factors
- ``bottom_up.py``: the forecast from the customer base (purchase and spend models) and its backtest
- ``sales.py``: the whole-business forecast (``forecast_sales``, ``SalesForecast``) and the
  figures its report shows (``report_metrics``, ``compare_bottom_up``, ``same_period_last_year``)
- ``parallel.py``: many series at once, optionally in worker processes (``forecast_many``)
- ``segments.py``: one forecast per level of a column or segment (``segment_forecasts``)
"""

from __future__ import annotations

from crm_models.forecast.backtest import BacktestResult, backtest
from crm_models.forecast.bottom_up import bottom_up_backtest, bottom_up_forecast
from crm_models.forecast.metrics import error_scale, mase, mase_scale, smape
from crm_models.forecast.models import (
    BASELINES,
    ETS,
    INTERVAL_COLUMNS,
    MODEL_CLASSES,
    MODEL_LABELS,
    MODELS,
    QUICK_MODELS,
    Drift,
    HistoricMean,
    Naive,
    SARIMAXFourier,
    SeasonalNaive,
    Theta,
    make_model,
)
from crm_models.forecast.parallel import forecast_many
from crm_models.forecast.periods import season_length, yearly_seasonality_ok
from crm_models.forecast.regressors import campaign_calendar
from crm_models.forecast.sales import (
    SalesForecast,
    compare_bottom_up,
    forecast_sales,
    report_metrics,
    same_period_last_year,
    scale_sentence,
)
from crm_models.forecast.segments import segment_forecasts
from crm_models.forecast.selection import SeriesForecast, default_settings, forecast_series
from crm_models.forecast.series import MEASURES, SeriesSet, sales_series

__all__ = [
    "BASELINES",
    "INTERVAL_COLUMNS",
    "MEASURES",
    "MODELS",
    "MODEL_CLASSES",
    "MODEL_LABELS",
    "QUICK_MODELS",
    "BacktestResult",
    "Drift",
    "ETS",
    "HistoricMean",
    "Naive",
    "SalesForecast",
    "SARIMAXFourier",
    "SeasonalNaive",
    "SeriesForecast",
    "SeriesSet",
    "Theta",
    "backtest",
    "bottom_up_backtest",
    "bottom_up_forecast",
    "campaign_calendar",
    "compare_bottom_up",
    "default_settings",
    "error_scale",
    "forecast_many",
    "forecast_sales",
    "forecast_series",
    "make_model",
    "mase",
    "mase_scale",
    "report_metrics",
    "same_period_last_year",
    "scale_sentence",
    "season_length",
    "segment_forecasts",
    "sales_series",
    "smape",
    "yearly_seasonality_ok",
]

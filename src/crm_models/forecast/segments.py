"""One forecast per level of a column or segment, summarised in a table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_models.data.dataset import Dataset
from crm_models.engine import Source
from crm_models.forecast.parallel import forecast_many
from crm_models.forecast.selection import backtest_plan
from crm_models.forecast.series import sales_series

__all__ = ["segment_forecasts"]


def segment_forecasts(
    ds: Dataset | Source,
    by: str | pd.Series,
    measure: str = "revenue",
    freq: str = "M",
    horizon: int | None = None,
    windows: int | None = None,
    step: int | None = None,
    models: Sequence[str] | None = None,
    as_of=None,
    quick: bool = False,
    top: int | None = 12,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """One forecast per level of ``by``: a table (one row per level) with the chosen model,
    its backtest MASE and the seasonal-naive MASE, the next period's forecast and range, and the
    total over the horizon (series from the engine on a Source,
    :func:`~crm_models.forecast.series.sales_series`).  ``attrs["results"]`` keeps the full :class:`SeriesForecast` s."""
    freq, horizon, windows, step, models = backtest_plan(
        freq, quick, horizon, windows, step, models
    )
    series = sales_series(ds, measure, freq, as_of, by=by, top=top)
    values = series.fitting()
    results = forecast_many(
        values, horizon, windows, step, models, n_jobs, f"forecasting {series.by}"
    )
    rows = []
    for name, res in results.items():
        if isinstance(res, str):
            rows.append({"level": name, "model": "failed", "note": res})
            continue
        first = res.forecast.iloc[0]
        mt = res.backtest.metrics
        rows.append(
            {
                "level": name,
                "model": res.model,
                "mase": float(mt.loc[res.model, "mase"]) if res.model in mt.index else np.nan,
                "seasonal_naive_mase": float(mt.loc["seasonal_naive", "mase"])
                if "seasonal_naive" in mt.index
                else np.nan,
                "last_period": float(res.history.iloc[-1]),
                "next_period": float(first["mean"]),
                "lower_80": float(first["lower_80"]),
                "upper_80": float(first["upper_80"]),
                "horizon_total": float(res.forecast["mean"].sum()),
                "note": "; ".join(res.notes),
            }
        )
    table = pd.DataFrame(rows).set_index("level")
    table.index.name = series.by
    table.attrs["results"] = results
    table.attrs["next_period"] = str(values.index[-1] + 1) if len(values) else ""
    return table

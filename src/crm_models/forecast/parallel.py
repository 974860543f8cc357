"""Many series at once: backtest and forecast every column, optionally in worker processes."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from crm_models.forecast.models import MODELS
from crm_models.forecast.selection import SeriesForecast, forecast_series
from crm_models.progress import track

__all__ = ["default_jobs", "forecast_many"]


def _forecast_task(args: tuple) -> SeriesForecast | tuple[str, str]:
    name, y, horizon, windows, step, models = args
    try:
        return forecast_series(y, horizon, windows, step, models, None, name)
    except Exception as err:  # noqa: BLE001 - one bad series must not stop the others
        return (name, f"{type(err).__name__}: {err}")


def default_jobs() -> int:
    """Worker processes for many series: the cores this process may use (at most 2 here)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def forecast_many(
    values: pd.DataFrame,
    horizon: int,
    windows: int,
    step: int,
    models: Sequence[str] = MODELS,
    n_jobs: int | None = 1,
    progress: str | None = "forecasting series",
    chunksize: int | None = None,
) -> dict[str, SeriesForecast | str]:
    """Backtest and forecast every column of ``values`` (periods × series, full periods only).

    ``n_jobs`` > 1 runs the series in that many worker processes (``None``: every core this
    process may use); results come back in column order.  A series that fails maps to the
    error text instead of a :class:`SeriesForecast`.
    """
    tasks = [(str(c), values[c], horizon, windows, step, tuple(models)) for c in values.columns]
    n_jobs = default_jobs() if n_jobs is None else max(1, int(n_jobs))
    results: dict[str, SeriesForecast | str] = {}
    if n_jobs == 1 or len(tasks) < 2:
        it = map(_forecast_task, tasks)
        done = track(it, progress, total=len(tasks)) if progress else it
        outs = list(done)
    else:
        chunk = chunksize or max(1, len(tasks) // (n_jobs * 8))
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else None)
        with ProcessPoolExecutor(n_jobs, mp_context=ctx) as pool:
            it = pool.map(_forecast_task, tasks, chunksize=chunk)
            done = track(it, progress, total=len(tasks)) if progress else it
            outs = list(done)
    for task, res in zip(tasks, outs, strict=True):
        results[task[0]] = res[1] if isinstance(res, tuple) else res
    return results

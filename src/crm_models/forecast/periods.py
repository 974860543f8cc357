"""Period calendar: frequency codes, season length, future periods and yearly Fourier terms."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DAYS_PER_YEAR",
    "FREQS",
    "fourier_terms",
    "freq_code",
    "freq_of",
    "future_index",
    "season_length",
    "yearly_seasonality_ok",
]

FREQS = ("W", "M", "Q")
DAYS_PER_YEAR = 365.25


def season_length(freq: str) -> int:
    """Whole periods in a year: 52 weeks, 12 months, 4 quarters."""
    return {"W": 52, "M": 12, "Q": 4}[freq_code(freq)]


def freq_code(freq: str) -> str:
    """``W``, ``M`` or ``Q`` for a frequency given as a code or pandas alias (``W-SUN``, ``ME``,
    ``Q-DEC``...); ValueError for anything else."""
    f = str(freq).upper()
    if f.startswith("W"):
        return "W"
    if f in ("M", "ME", "MS"):
        return "M"
    if f.startswith("Q"):
        return "Q"
    raise ValueError(f"freq must be one of W (weeks), M (months), Q (quarters), not {freq!r}")


def freq_of(index: pd.PeriodIndex) -> str:
    """The frequency code of a period index."""
    return freq_code(index.freqstr)


def yearly_seasonality_ok(y: pd.Series | int, freq: str | None = None) -> bool:
    """True when the series covers at least two full yearly cycles (the rule every model here
    follows before estimating yearly seasonality).

    With less, every model runs without yearly seasonality and the forecast's ``notes`` say so.
    """
    if isinstance(y, int | np.integer):
        return int(y) >= 2 * season_length(freq or "M")
    return len(y) >= 2 * season_length(freq_of(y.index))


def future_index(index: pd.PeriodIndex, h: int) -> pd.PeriodIndex:
    """The ``h`` periods after the end of ``index``."""
    return pd.period_range(index[-1] + 1, periods=h, freq=index.freq, name=index.name)


def fourier_terms(periods: pd.PeriodIndex, k: int) -> np.ndarray:
    """Yearly Fourier terms sin/cos(2 pi j t / 365.25 days), j = 1..k, at each period's middle."""
    if k <= 0:
        return np.empty((len(periods), 0))
    mid = periods.start_time + (periods.end_time - periods.start_time) / 2
    days = (mid - pd.Timestamp("2000-01-01")) / pd.Timedelta(days=1)
    t = 2 * np.pi * np.asarray(days, dtype=float) / DAYS_PER_YEAR
    cols = []
    for j in range(1, k + 1):
        cols += [np.sin(j * t), np.cos(j * t)]
    return np.column_stack(cols)

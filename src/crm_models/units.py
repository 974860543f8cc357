"""Time units shared by every analysis: BTYD quantities are in weeks by default, days on request."""

from __future__ import annotations

import numpy as np
import pandas as pd

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}


def unit_days(unit: str) -> float:
    """Length of a time unit in days ("D", "W" or "M")."""
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise ValueError(f"unknown time unit {unit!r}; use one of {', '.join(UNIT_DAYS)}") from None


def as_of_day(as_of: pd.Timestamp) -> int:
    """The as-of date as whole days since 1970-01-01 (the day numbers of the BTYD sums)."""
    return int(np.datetime64(pd.Timestamp(as_of).normalize(), "D").astype(np.int64))


def period_label(code: np.ndarray, freq: str) -> pd.PeriodIndex:
    """Period labels of integer period codes (months since 1970, quarters, Monday-based weeks)."""
    if freq == "M":
        return pd.PeriodIndex(np.asarray(code).astype("datetime64[M]"), freq="M")
    if freq == "Q":
        return pd.PeriodIndex((np.asarray(code) * 3).astype("datetime64[M]"), freq="Q")
    days = (np.asarray(code) * 7 - 3).astype("datetime64[D]")
    return pd.PeriodIndex(days, freq="W-SUN")


def period_name(freq: str) -> str:
    """The word for one period of a frequency code: "month", "quarter", "week", "year" (or
    "period" for any other code)."""
    return {"M": "month", "Q": "quarter", "W": "week", "Y": "year"}.get(freq, "period")

"""Exogenous regressors known in advance: the campaign calendar and holiday days per period."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from crm_models.data.dataset import Dataset
from crm_models.engine import Source, aggregates
from crm_models.forecast.series import SeriesSet

__all__ = [
    "RESPONSE_WINDOW_DAYS",
    "campaign_calendar",
    "exog_for",
    "holiday_calendar",
    "treated_sends",
]

RESPONSE_WINDOW_DAYS = 14  # a campaign's response window (the demo retailer's too)


def treated_sends(ds: Dataset | Source) -> pd.Series:
    """Treated contacts per send day (counted by the engine on a Source); empty without
    campaigns."""
    if isinstance(ds, Source):
        return aggregates.treated_sends_per_day(ds)
    c = ds.campaigns
    if c is None or "sent_date" not in c.columns:
        return pd.Series(dtype=float)
    if "treated" in c.columns:
        c = c.loc[c["treated"].fillna(False).astype(bool)]
    return pd.to_datetime(c["sent_date"]).dt.normalize().value_counts()


def campaign_calendar(ds: Dataset | Source, periods: pd.PeriodIndex) -> pd.Series | None:
    """Campaign pressure per period: contacts (treated, per 1,000) whose 14-day response window
    overlaps the period, weighted by the days of overlap.  None without campaigns.

    Sends are planned ahead, so in a backtest the calendar of the test window is known at the
    origin; beyond the data no campaigns are assumed (pass planned ones yourself).
    """
    if len(periods) == 0:
        return None
    per_day = treated_sends(ds)
    if per_day.empty:
        return None
    day = per_day.index
    start = min(periods[0].start_time.normalize(), day.min())
    end = max(periods[-1].end_time.normalize(), day.max()) + pd.Timedelta(days=1)
    days = pd.date_range(start, end, freq="D")
    sends = per_day.reindex(days, fill_value=0).astype(float)
    active = sends.rolling(RESPONSE_WINDOW_DAYS, min_periods=1).sum() / RESPONSE_WINDOW_DAYS
    per = active.groupby(days.to_period(periods.freq)).sum() / 1000.0
    out = per.reindex(periods, fill_value=0.0).rename("campaign_contacts_k")
    return out if (out > 0).any() else None


def holiday_calendar(holidays: Iterable, periods: pd.PeriodIndex) -> pd.Series:
    """Number of holiday days in each period."""
    days = pd.DatetimeIndex(pd.to_datetime(list(holidays))).normalize()
    counts = pd.Series(1.0, index=days.to_period(periods.freq)).groupby(level=0).sum()
    return counts.reindex(periods, fill_value=0.0).rename("holiday_days")


def exog_for(
    ds: Dataset | Source, series: SeriesSet, horizon: int, holidays=None
) -> pd.DataFrame | None:
    """The regressors over the series' periods and ``horizon`` more: the campaign calendar (none
    after the data end) and holiday days when given; None when there are neither."""
    idx = series.values.index
    full = pd.period_range(idx[0], idx[-1] + horizon, freq=idx.freq, name="period")
    cols = {}
    camp = campaign_calendar(ds, full)
    if camp is not None:
        # sends after the data end are unknown: the future gets no campaigns
        camp.loc[full > idx[-1]] = 0.0
        cols[camp.name] = camp
    if holidays is not None:
        hol = holiday_calendar(holidays, full)
        cols[hol.name] = hol
    return pd.DataFrame(cols, index=full) if cols else None

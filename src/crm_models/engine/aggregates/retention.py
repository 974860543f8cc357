"""Do customers come back: repeat days, lapses, period activity, first channel, payback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_models.engine.aggregates._common import (
    count_if,
    customer_frame,
    day_number,
    lines_as_of,
    load_ibis,
    period_code,
)
from crm_models.engine.aggregates.customers import purchase_days
from crm_models.units import as_of_day

if TYPE_CHECKING:
    from crm_models.engine.sources import Source


def repeat_day_counts(
    src: Source, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp
) -> pd.Series:
    """Per day number up to ``holdout_end``: the repeat purchase days (purchase days after the
    customer's first) of the customers who first bought on or before ``calibration_end``, the
    actual counts of :func:`crm_models.value.validation.tracking`."""
    days = purchase_days(lines_as_of(src, holdout_end))
    first = days.group_by("customer_id").agg(first_day=days.day.min())
    first = first.filter(first.first_day <= as_of_day(calibration_end))
    j = days.inner_join(first, "customer_id")
    repeat = j.filter(j.day > j.first_day)
    out = src.execute(repeat.group_by("day").agg(purchases=repeat.count()))
    return day_counts(out["day"], out["purchases"])


def day_counts(day: Any, count: Any) -> pd.Series:
    """Counts by integer day number, sorted by day, both int64."""
    index = pd.Index(np.asarray(day, dtype=np.int64), name="day")
    return pd.Series(np.asarray(count, dtype=np.int64), index=index, name="purchases").sort_index()


def purchase_day_gaps(
    src: Source, as_of: pd.Timestamp, lapse_days: int | None = None
) -> pd.DataFrame:
    """Per buyer up to the as-of day, as day numbers (float, NaN for none): ``first_day``,
    ``second_day`` (the next purchase day), ``last_day`` and, with ``lapse_days``,
    ``lapse_day``: the first purchase day followed by more than ``lapse_days`` days without a
    purchase, fully passed by the as-of day (the figures behind
    :func:`crm_models.value.retention.repeat_rate` and ``time_to_lapse``)."""
    ibis = load_ibis()
    days = purchase_days(lines_as_of(src, as_of))
    w = ibis.window(group_by="customer_id", order_by="day")
    days = days.mutate(next_day=days.day.lead().over(w), nth=ibis.row_number().over(w))
    sums: dict[str, Any] = {
        "first_day": days.day.min(),
        "second_day": ibis.ifelse(days.nth == 1, days.day, None).min(),
        "last_day": days.day.max(),
    }
    if lapse_days is not None:
        gap = ibis.coalesce(days.next_day, as_of_day(as_of) + 1) - days.day
        sums["lapse_day"] = ibis.ifelse(gap > lapse_days, days.day, None).min()
    out = customer_frame(src, days.group_by("customer_id").agg(**sums))
    return out.astype(np.float64)


def period_activity(src: Source, as_of: pd.Timestamp, freq: str = "M") -> pd.DataFrame:
    """Per period code (:func:`period_code`) with a purchase: customers ``active`` in it,
    ``new`` (their first purchase period) and ``retained`` (also active in the period before),
    the counts behind :func:`crm_models.value.retention.period_churn`."""
    ibis = load_ibis()
    t = lines_as_of(src, as_of)
    buys = t.filter(t.amount >= 0)
    pairs = buys.select("customer_id", period=period_code(buys.order_date, freq)).distinct()
    w = ibis.window(group_by="customer_id", order_by="period")
    pairs = pairs.mutate(prev=pairs.period.lag().over(w))
    cells = pairs.group_by("period").agg(
        active=pairs.count(),
        new=count_if(pairs.prev.isnull()),
        retained=count_if((pairs.prev == pairs.period - 1).fill_null(False)),
    )
    return src.execute(cells).set_index("period").sort_index().astype(np.int64)


def first_day_channel(src: Source, as_of: pd.Timestamp) -> pd.Series:
    """Per buyer: the channel of the largest purchase line on their first purchase day (ties:
    the first channel alphabetically, a missing one last), as
    :func:`crm_models.value.retention.first_purchase_channel`."""
    ibis = load_ibis()
    t = lines_as_of(src, as_of)
    buys = t.filter(t.amount >= 0)
    buys = buys.mutate(day=day_number(buys.order_date))
    first = buys.group_by("customer_id").agg(first_day=buys.day.min())
    j = buys.inner_join(first, "customer_id")
    j = j.filter(j.day == j.first_day)
    order = [ibis.desc(j.amount), j.channel.isnull(), ibis.asc(j.channel)]
    j = j.mutate(nth=ibis.row_number().over(group_by=j.customer_id, order_by=order))
    top = j.filter(j.nth == 0)
    return customer_frame(src, top.select("customer_id", "channel"))["channel"]


def payback_days(src: Source, as_of: pd.Timestamp, threshold: float) -> pd.DataFrame:
    """Per buyer up to the as-of day, as day numbers (float, NaN for none): ``first_day`` (the
    first purchase) and ``paid_day``, the first day whose cumulative net amount of all lines
    (returns too, a day's lines together) reaches ``threshold``, the figures behind
    :func:`crm_models.value.retention.time_to_payback`."""
    ibis = load_ibis()
    t = lines_as_of(src, as_of)
    t = t.mutate(day=day_number(t.order_date))
    per_day = t.group_by(["customer_id", "day"]).agg(
        net=t.amount.sum(), bought=count_if(t.amount >= 0)
    )
    w = ibis.cumulative_window(group_by="customer_id", order_by="day")
    per_day = per_day.mutate(cum=per_day.net.sum().over(w))
    out = per_day.group_by("customer_id").agg(
        first_day=ibis.ifelse(per_day.bought > 0, per_day.day, None).min(),
        paid_day=ibis.ifelse(per_day.cum >= threshold, per_day.day, None).min(),
    )
    return customer_frame(src, out.filter(out.first_day.notnull())).astype(np.float64)

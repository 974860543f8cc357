"""What happened per period: cohort counts, period totals and sends per day."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crm_models.engine.aggregates._common import (
    count_if,
    day_number,
    lines_as_of,
    load_ibis,
    period_code,
)
from crm_models.engine.aggregates.revenue import order_rows, with_level

if TYPE_CHECKING:
    from crm_models.engine.sources import Source


def cohort_counts(
    src: Source, as_of: pd.Timestamp, freq: str = "M"
) -> tuple[pd.Series, pd.DataFrame]:
    """Cohort sizes by acquisition period code, and per (cohort, periods since acquisition)
    the customers who bought and the net revenue — the counts behind
    :func:`crm_models.value.retention.cohorts`."""
    t = lines_as_of(src, as_of)
    t = t.mutate(per=period_code(t.order_date, freq))
    first = t.filter(t.amount >= 0).group_by("customer_id").agg(cohort=lambda x: x.per.min())
    j = t.inner_join(first, "customer_id")
    j = j.mutate(k=j.per - j.cohort).filter(lambda x: x.k >= 0)
    sizes = src.execute(first.group_by("cohort").agg(customers=first.count()))
    active = (
        j.filter(j.amount >= 0)
        .select("customer_id", "cohort", "k")
        .distinct()
        .group_by(["cohort", "k"])
        .agg(active=lambda x: x.count())
    )
    revenue = j.group_by(["cohort", "k"]).agg(revenue=j.amount.sum())
    cells = revenue.left_join(active, ["cohort", "k"]).drop("cohort_right", "k_right")
    cells = src.execute(cells)
    cells["active"] = cells["active"].fillna(0).astype(np.int64)
    sizes = sizes.set_index("cohort")["customers"].astype(np.int64).sort_index()
    return sizes, cells.sort_values(["cohort", "k"]).reset_index(drop=True)


def order_period_totals(src: Source, as_of: pd.Timestamp, freq: str) -> pd.DataFrame:
    """Per period (code as :func:`period_code`): net revenue, gross revenue, returns, orders
    and active and new customers of the netted orders (as :func:`crm_models.revenue.nlv_table`:
    lines netted per customer and order, an order dated by its first line)."""
    ibis = load_ibis()
    orders = order_rows(src, as_of)
    orders = orders.mutate(period=period_code(orders.start, freq))
    buys = orders.filter(orders.amount > 0)
    first = buys.group_by("customer_id").agg(period=lambda x: x.period.min())
    totals = orders.group_by("period").agg(
        revenue=orders.amount.sum(),
        gross_revenue=ibis.ifelse(orders.amount > 0, orders.amount, 0.0).sum(),
        returns_amount=ibis.ifelse(orders.amount <= 0, orders.amount, 0.0).sum(),
        orders=count_if(orders.amount > 0),
        active_customers=ibis.ifelse(orders.amount > 0, orders.customer_id, None).nunique(),
    )
    new = first.group_by("period").agg(new_customers=lambda x: x.count())
    out = totals.left_join(new, "period").drop("period_right")
    frame = src.execute(out).set_index("period").sort_index()
    for col in ("orders", "active_customers", "new_customers"):
        frame[col] = frame[col].fillna(0).astype(np.int64)
    return frame


def level_period_totals(src: Source, as_of: pd.Timestamp, freq: str, by: str) -> pd.DataFrame:
    """Per period code (:func:`period_code`) and level of ``by`` (text, ``"(missing)"`` when
    absent): net ``revenue``, ``orders`` and ``active_customers``, counted as
    :func:`crm_models.forecast.sales_series` does per level: a line goes to the period of its
    whole order's first line; an order counts in a level when its lines there net positive.
    ``by`` is a column of transactions, products or customers (:func:`level_table`; products and
    customers hold one row per id, as the contract requires)."""
    ibis = load_ibis()
    t = lines_as_of(src, as_of)
    t = t.mutate(
        order_key=ibis.coalesce(
            t.order_id.cast("string"), "__line_" + ibis.row_number().over().cast("string")
        )
    )
    t = t.mutate(start=t.order_date.min().over(group_by=[t.customer_id, t.order_key]))
    t = with_level(src, t, by)
    t = t.mutate(period=period_code(t.start, freq))
    per_order = t.group_by(["period", "level", "customer_id", "order_key"]).agg(
        amount=t.amount.sum()
    )
    cells = per_order.group_by(["period", "level"]).agg(
        revenue=per_order.amount.sum(),
        orders=count_if(per_order.amount > 0),
        active_customers=ibis.ifelse(per_order.amount > 0, per_order.customer_id, None).nunique(),
    )
    frame = src.execute(cells).set_index(["period", "level"]).sort_index()
    for col in ("orders", "active_customers"):
        frame[col] = frame[col].fillna(0).astype(np.int64)
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def treated_sends_per_day(src: Source) -> pd.Series:
    """Treated campaign contacts per send day (the day as a Timestamp), the counts behind
    :func:`crm_models.forecast.regressors.campaign_calendar`; empty without campaigns."""
    c = src.table("campaigns")
    if c is None or "sent_date" not in c.columns:
        return pd.Series(dtype=float)
    if "treated" in c.columns:
        c = c.filter(c.treated.fill_null(False))
    c = c.filter(c.sent_date.notnull())
    per = src.execute(c.group_by(day=day_number(c.sent_date)).agg(contacts=lambda x: x.count()))
    index = pd.DatetimeIndex(per["day"].to_numpy(dtype=np.int64).astype("datetime64[D]"))
    return pd.Series(per["contacts"].to_numpy(dtype=float), index=index.astype("datetime64[ns]"))

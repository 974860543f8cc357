"""Where revenue comes from: netted orders, net and new revenue, revenue per level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crm_models.engine.aggregates._common import (
    customer_frame,
    lines_as_of,
    load_ibis,
    period_code,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine.sources import Source


def _lines_up_to(src: Source, as_of: pd.Timestamp, include_anonymous: bool) -> ir.Table:
    """Lines dated on or before the as-of day: known customers' (:func:`lines_as_of`) or,
    with ``include_anonymous``, all of them."""
    if not include_anonymous:
        return lines_as_of(src, as_of)
    tx = src.table("transactions")
    return tx.filter(tx.order_date < load_ibis().timestamp(as_of + pd.Timedelta(days=1)))


def order_rows(src: Source, as_of: pd.Timestamp, include_anonymous: bool = False) -> ir.Table:
    """One row per order of the lines up to the as-of day (:func:`_lines_up_to`):
    ``customer_id``, ``order_id``, ``start`` (its earliest line's date) and net ``amount``, as
    :func:`crm_models.revenue.netted_orders` nets them (an order is a distinct customer and
    order id; a line without an order id is an order of its own)."""
    t = _lines_up_to(src, as_of, include_anonymous)
    keyed = t.filter(t.order_id.notnull())
    orders = keyed.group_by(["customer_id", "order_id"]).agg(
        start=keyed.order_date.min(), amount=keyed.amount.sum()
    )
    single = t.filter(t.order_id.isnull())
    single = single.select("customer_id", "order_id", start=single.order_date, amount=single.amount)
    return orders.union(single)


def customer_net_revenue(
    src: Source, as_of: pd.Timestamp, start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Per known customer with an order up to the as-of day (dated from ``start`` on, when
    given; :func:`order_rows`), sorted by customer id: net ``revenue`` and ``turnover``, the
    sum of the orders' absolute net values, the figures behind
    :func:`crm_models.revenue.concentration`."""
    orders = order_rows(src, as_of)
    if start is not None:
        orders = orders.filter(orders.start >= load_ibis().timestamp(start))
    sums = orders.group_by("customer_id").agg(
        revenue=orders.amount.sum(), turnover=orders.amount.abs().sum()
    )
    return customer_frame(src, sums).astype(np.float64)


def new_revenue_per_period(src: Source, as_of: pd.Timestamp, freq: str) -> pd.DataFrame:
    """Per period code (:func:`period_code`) of the orders' dates (:func:`order_rows`): net
    ``revenue`` and ``new_revenue``, that of the orders in their customer's first period with
    a positive order, as :func:`crm_models.revenue.new_vs_returning` splits them."""
    ibis = load_ibis()
    orders = order_rows(src, as_of)
    orders = orders.mutate(period=period_code(orders.start, freq))
    buys = orders.filter(orders.amount > 0)
    first = buys.group_by("customer_id").agg(first_period=buys.period.min())
    j = orders.left_join(first, "customer_id")
    j = j.drop("customer_id_right") if "customer_id_right" in j.columns else j
    new = ibis.ifelse(j.period == j.first_period, j.amount, 0.0)
    cells = j.group_by("period").agg(revenue=j.amount.sum(), new_revenue=new.sum())
    return src.execute(cells).set_index("period").sort_index().astype(np.float64)


def level_table(src: Source, by: str) -> str:
    """The table whose column ``by`` labels a line: ``transactions``, then ``products``
    (through ``product_id``), then ``customers``; ValueError naming the column when none has it."""
    for name in ("transactions", "products", "customers"):
        t = src.table(name)
        linked = name != "products" or "product_id" in src.table("transactions").columns
        if t is not None and by in t.columns and linked:
            return name
    raise ValueError(
        f"dataset {src.name!r} has no {by!r} column in its transactions, products or "
        "customers tables"
    )


def with_level(src: Source, t: ir.Table, by: str, name: str = "level") -> ir.Table:
    """Lines ``t`` with a column ``name``: each one's ``by`` value as text (``"(missing)"``
    when absent), read from the table :func:`level_table` names."""
    where = level_table(src, by)
    if where == "transactions":
        t = t.mutate(**{name: t[by]})
    else:
        key = "product_id" if where == "products" else "customer_id"
        lookup = src.table(where)
        lookup = lookup.group_by(key).agg(**{name: lookup[by].max()})
        t = t.left_join(lookup, key)
        t = t.drop(f"{key}_right") if f"{key}_right" in t.columns else t
    return t.mutate(**{name: t[name].cast("string").fill_null("(missing)")})


def level_revenue(
    src: Source, as_of: pd.Timestamp, by: str, include_anonymous: bool = False
) -> pd.DataFrame:
    """Net ``revenue`` of the lines up to the as-of day (:func:`_lines_up_to`) per level of
    ``by`` (:func:`with_level`), with ``customers`` (known customers with a purchase line
    there): the cells of :func:`crm_models.revenue.revenue_share_by`."""
    ibis = load_ibis()
    t = with_level(src, _lines_up_to(src, as_of, include_anonymous), by)
    buyer = ibis.ifelse(t.amount > 0, t.customer_id, None)
    cells = t.group_by("level").agg(revenue=t.amount.sum(), customers=buyer.nunique())
    out = src.execute(cells).set_index("level").sort_index()
    out["customers"] = out["customers"].fillna(0).astype(np.int64)
    out["revenue"] = out["revenue"].astype(np.float64)
    return out


def period_level_revenue(
    src: Source,
    as_of: pd.Timestamp,
    by: Sequence[str],
    freq: str,
    include_anonymous: bool = False,
) -> pd.DataFrame:
    """Net ``revenue`` of the lines up to the as-of day (:func:`_lines_up_to`) per period code
    of each line's order (the date of its earliest line, as :func:`order_rows`) and
    combination of the levels of the ``by`` columns (:func:`with_level`; one column each,
    named as in ``by``): the cells of :func:`crm_models.revenue.revenue_by` for several
    columns in one pass, as the orders' dates (a window over every line) are the costly part."""
    ibis = load_ibis()
    t = _lines_up_to(src, as_of, include_anonymous)
    names = [f"level_{i}" for i in range(len(by))]  # never a column name of the tables
    for column, name in zip(by, names, strict=True):
        t = with_level(src, t, column, name)
    whole = t.order_date.min().over(group_by=[t.customer_id, t.order_id])
    start = ibis.ifelse(t.order_id.isnull(), t.order_date, whole)
    t = t.mutate(period=period_code(start, freq))
    cells = src.execute(t.group_by(["period", *names]).agg(revenue=t.amount.sum()))
    cells = cells.rename(columns=dict(zip(names, by, strict=True)))
    cells["revenue"] = cells["revenue"].astype(np.float64)
    return cells

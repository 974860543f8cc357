"""Period series of revenue, orders or active customers, for the whole business or per level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_models import revenue
from crm_models.data.dataset import Dataset
from crm_models.engine import Source, aggregates
from crm_models.features import resolve_as_of, significant
from crm_models.forecast.periods import freq_code
from crm_models.units import period_label

__all__ = ["MEASURES", "SeriesSet", "sales_series"]

MEASURES = {"revenue": "revenue", "orders": "orders", "customers": "active_customers"}


@dataclass
class SeriesSet:
    """Period series of one measure: ``values`` (periods × series, one column per series, or
    ``"total"``), ``partial`` (bool per period: first/last period only partly covered)."""

    values: pd.DataFrame
    partial: pd.Series
    measure: str
    freq: str
    as_of: pd.Timestamp
    by: str | None = None

    def fitting(self, column: str | None = None) -> pd.Series | pd.DataFrame:
        """The values of the full (non-partial) periods: what models are fitted on."""
        full = self.values.loc[~self.partial.to_numpy(dtype=bool)]
        return full if column is None else full[column]

    @property
    def full_index(self) -> pd.PeriodIndex:
        return self.values.index[~self.partial.to_numpy(dtype=bool)]


def _level_lines(ds: Dataset, by: str | pd.Series, freq: str, as_of) -> tuple[pd.DataFrame, Any]:
    """Lines (with netted-order periods from revenue's helpers) labelled with a ``level``."""
    if isinstance(by, pd.Series):
        base = revenue.netted_orders(ds, freq, as_of)
        level = base.lines["customer_id"].map(by)
        lines = base.lines
    elif ds.transactions is not None and (
        by in ds.transactions.columns or (ds.products is not None and by in ds.products.columns)
    ):
        lines, base = revenue.lines_by(ds, by, freq, as_of, False)
        return lines, base
    elif ds.customers is not None and by in ds.customers.columns:
        base = revenue.netted_orders(ds, freq, as_of)
        lookup = ds.customers.drop_duplicates("customer_id").set_index("customer_id")[by]
        level = base.lines["customer_id"].map(lookup)
        lines = base.lines
    else:
        raise ValueError(
            f"dataset {ds.name!r} has no {by!r} column in its transactions, products or "
            "customers tables"
        )
    lines = lines.assign(level=level.astype(object).where(level.notna(), "(missing)"))
    return lines, base


def _level_wide_engine(
    src: Source, by: str | pd.Series, measure: str, freq: str, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Periods × levels of ``measure`` and the partial flags, counted by the engine
    (:func:`crm_models.engine.aggregates.level_period_totals`, same definitions as in memory)."""
    if isinstance(by, pd.Series):
        raise ValueError(
            "a segment given as a Series of customer ids needs the data in memory: use "
            "--engine pandas, or a customers column as --by"
        )
    code = freq_code(freq)
    totals = aggregates.level_period_totals(src, end, code, by)
    wide = totals[MEASURES[measure]].unstack("level", fill_value=0)
    wide.index = period_label(wide.index.to_numpy(), code).asfreq(freq)
    nlv = revenue.nlv_table(src, freq, end)
    return wide.reindex(nlv.index, fill_value=0).astype(float), nlv["partial"]


def sales_series(
    ds: Dataset | Source,
    measure: str = "revenue",
    freq: str = "M",
    as_of=None,
    by: str | pd.Series | None = None,
    top: int | None = None,
) -> SeriesSet:
    """Revenue, orders or active customers per week (``"W"``, Monday to Sunday), month
    (``"M"``) or quarter (``"Q"``) on the regular calendar of
    :func:`crm_models.revenue.nlv_table` (same netting of returns, same order and
    active-customer definitions; periods without sales are zeros), for the whole business or for
    every level of a column (``by="category"``, ``"region"``, a customers column such as
    ``"age_band"``, or a Series mapping ``customer_id`` to a segment, in memory only).  On an
    engine :class:`~crm_models.engine.Source` the series are the engine's period totals: no
    transaction line is read into pandas.  The partial first and
    last periods are flagged and **left out of fitting** (comparing a half week with whole weeks
    would fake a collapse).

    Without ``by`` the one column ``total`` equals ``revenue.nlv_table(ds, freq)[measure]``
    (to 10 significant digits, :func:`crm_models.features.significant`, so that every engine
    fits the same series).
    With ``by`` there is one column per level (largest total first; ``top`` keeps the largest
    ones).  Per level an *order* is an order whose lines in that level have a positive net value
    and an *active customer* one with such an order, so levels of orders and customers need not
    add up to the total (an order can span categories).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    freq = freq_code(freq)
    pfreq = {"W": "W-SUN", "M": "M", "Q": "Q-DEC"}[freq]
    end = resolve_as_of(ds, as_of)
    if by is None:
        nlv = revenue.nlv_table(ds, pfreq, end, require_sales=True)
        values = nlv[[MEASURES[measure]]].astype(float).set_axis(["total"], axis=1)
        partial = nlv["partial"].astype(bool)
        label = None
    else:
        label = by if isinstance(by, str) else (by.name or "segment")
        if isinstance(ds, Source):
            wide, partial = _level_wide_engine(ds, by, measure, pfreq, end)
        else:
            wide, partial = _level_wide(ds, by, measure, pfreq, end)
        order = wide.sum().sort_values(ascending=False).index
        if top is not None:
            order = order[:top]
        values = wide[order]
        values.columns = pd.Index([str(c) for c in values.columns], name=label)
        partial = partial.astype(bool)
    # engines sum money in another order (1e-10 apart); a fitted ARIMA turns that into 1e-4:
    # rounded to 10 significant digits, every engine fits the same series
    values = pd.DataFrame(significant(values.to_numpy()), values.index, values.columns)
    values.index.name = "period"
    return SeriesSet(values, partial, measure, freq, end, label)


def _level_wide(
    ds: Dataset, by: str | pd.Series, measure: str, freq: str, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Periods × levels of ``measure`` and the partial flags, from the lines in memory."""
    lines, base = _level_lines(ds, by, freq, end)
    if measure == "revenue":
        wide = lines.groupby(["period", "level"])["amount"].sum().unstack(fill_value=0.0)
    else:
        per_order = lines.groupby(["period", "level", "order_key"], sort=False).agg(
            amount=("amount", "sum"), customer_id=("customer_id", "first")
        )
        per_order = per_order.loc[per_order["amount"] > 0].reset_index()
        if measure == "orders":
            wide = per_order.groupby(["period", "level"]).size().unstack(fill_value=0)
        else:
            wide = (
                per_order.groupby(["period", "level"])["customer_id"]
                .nunique()
                .unstack(fill_value=0)
            )
    return wide.reindex(base.calendar, fill_value=0).astype(float), base.partial

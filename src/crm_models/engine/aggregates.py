"""The heavy aggregations as relational (ibis) expressions: written once, run on DuckDB, Spark
or PostgreSQL (:mod:`crm_models.engine`).

Each function here returns the *same* compact frame as its NumPy counterpart in the analysis
modules (per-customer sums for the customer view, RFM scores, cohort counts, basket item and
pair counts, period totals), so the models downstream never know which engine ran; tests
compare the two column by column on CDNOW and ``demo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_models.data.contract import SCHEMAS, DataError, Problem
from crm_models.data.privacy import quote_value
from crm_models.data.quality import (
    MIN_MODEL_CUSTOMERS,
    NO_CONTROL,
    NO_RESPONSE,
    NO_SALES,
    too_few_buyers,
)
from crm_models.units import as_of_day, unit_days

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine.sources import Source

EPOCH = "1970-01-01"
CHANNEL_GROSS = "channel_gross_"  # prefix of the per-channel gross sales columns
MAX_CHANNELS = 50  # beyond this many channels, per-channel shares are left out (as in NumPy)


def _ibis():
    import ibis

    return ibis


def day_number(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole days since 1970-01-01 of a timestamp's date (as :func:`features._day_numbers`)."""
    ibis = _ibis()
    return ts.date().delta(ibis.date(EPOCH), unit="day")


def count_if(condition: ir.BooleanValue) -> ir.IntegerValue:
    """Rows where a condition holds (portable: PostgreSQL cannot cast booleans to integers)."""
    return _ibis().ifelse(condition, 1, 0).sum()


def lines_as_of(src: Source, as_of: pd.Timestamp) -> ir.Table:
    """Known customers' lines dated on or before the as-of day."""
    ibis = _ibis()
    tx = src.customer_lines()
    return tx.filter(tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1)))


def _mode(t: ir.Table, column: str, weight: str, label: str, count: str) -> ir.Table:
    """Per customer: the ``column`` value with the largest total ``weight`` (ties: the first
    label alphabetically) as ``label``, and the number of distinct values as ``count``."""
    ibis = _ibis()
    g = t.filter(t[column].notnull()).group_by(["customer_id", column]).agg(w=t[weight].sum())
    ranked = g.mutate(
        rn=ibis.row_number().over(
            group_by=g.customer_id, order_by=[ibis.desc(g.w), ibis.asc(g[column])]
        ),
        n=g.count().over(group_by=g.customer_id),
    )
    top = ranked.filter(ranked.rn == 0)
    return top.select("customer_id", **{label: top[column], count: top.n})


def _frame(src: Source, expr: ir.Table) -> pd.DataFrame:
    """Execute and return a customer-indexed frame in the dtypes pandas itself would give
    (nanosecond datetimes, inferred string columns), sorted by customer id."""
    df = src.frame(expr)
    for col in df.columns:
        if df[col].dtype.kind == "M" and df[col].dtype != "datetime64[ns]":
            df[col] = df[col].astype("datetime64[ns]")
        elif df[col].dtype == object:
            df[col] = df[col].infer_objects()
    return df.set_index("customer_id").sort_index()


def customer_sums(src: Source, as_of: pd.Timestamp) -> pd.DataFrame:
    """The per-customer sums of :func:`crm_models.features._transaction_sums`, in the engine."""
    return _conform_sums(_frame(src, customer_sums_expr(src, as_of)))


def purchase_days(t: ir.Table) -> ir.Table:
    """One row per customer and purchase day (lines with ``amount >= 0``, as in NumPy): the
    ``day`` number and the day's spend ``day_amount``."""
    buys = t.filter(t.amount >= 0)
    buys = buys.mutate(day=day_number(buys.order_date))
    return buys.group_by(["customer_id", "day"]).agg(day_amount=buys.amount.sum())


def purchase_day_rows(src: Source, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per known customer and purchase day up to the as-of day: ``customer_id``,
    ``day`` (midnight) and the day's spend ``amount``, as
    :func:`crm_models.value.stacked.purchase_days` gives them from lines (any row order)."""
    out = src.frame(purchase_days(lines_as_of(src, as_of)))
    midnight = out["day"].to_numpy(dtype=np.int64) * np.int64(86_400 * 10**9)
    return pd.DataFrame(
        {
            "customer_id": out["customer_id"].to_numpy(),
            "day": midnight.view("datetime64[ns]"),
            "amount": out["day_amount"].to_numpy(dtype=float),
        }
    )


def btyd_sums_expr(days: ir.Table) -> ir.Table:
    """The BTYD sums of :func:`crm_models.features._btyd_sums` (``first_day``, ``last_day``,
    ``n_days``, ``total``, ``first_amount``) from :func:`purchase_days` rows."""
    return days.group_by("customer_id").agg(  # one row per (customer, day): argmin is exact
        first_day=days.day.min(),
        last_day=days.day.max(),
        n_days=days.count(),
        total=days.day_amount.sum(),
        first_amount=days.day_amount.argmin(days.day),
    )


def calibration_holdout_sums(
    src: Source, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp
) -> pd.DataFrame:
    """Per customer with a purchase day on or before ``calibration_end``: the BTYD sums of the
    calibration days (:func:`btyd_sums_expr`, as in the customer view at that date) and, up to
    ``holdout_end``, ``frequency_holdout`` (purchase days after the calibration end) and
    ``monetary_value_holdout`` (their mean day spend, NaN without any): the calibration/holdout
    summary of :func:`crm_models.value.validation.calibration_holdout` in one query."""
    days = purchase_days(lines_as_of(src, holdout_end))
    end = as_of_day(calibration_end)
    cal = btyd_sums_expr(days.filter(days.day <= end))
    hold = days.filter(days.day > end)
    hold = hold.group_by("customer_id").agg(
        frequency_holdout=hold.count(), monetary_value_holdout=hold.day_amount.mean()
    )
    joined = cal.left_join(hold, "customer_id")
    joined = joined.drop("customer_id_right") if "customer_id_right" in joined.columns else joined
    out = _frame(src, joined)
    out["frequency_holdout"] = out["frequency_holdout"].fillna(0).astype(np.int64)
    return out


def sales_span(src: Source, as_of: pd.Timestamp) -> tuple[int, pd.Timestamp | None]:
    """Known customers' lines up to the as-of day: how many are sales (``amount > 0``) and the
    date of the first (any amount), the checks before a calibration/holdout split."""
    t = lines_as_of(src, as_of)
    row = src.execute(t.aggregate(sales=count_if(t.amount > 0), first=t.order_date.min())).iloc[0]
    first = row["first"]
    return int(row["sales"] or 0), None if first is None or pd.isna(first) else pd.Timestamp(first)


def customer_sums_expr(src: Source, as_of: pd.Timestamp) -> ir.Table:
    """The expression behind :func:`customer_sums` (other aggregates build on it)."""
    ibis = _ibis()
    t = lines_as_of(src, as_of)
    cols = set(t.columns)
    t = t.mutate(
        day=day_number(t.order_date),
        gross=ibis.ifelse(t.amount >= 0, t.amount, 0.0),
    )
    btyd = btyd_sums_expr(purchase_days(t))
    line_sums: dict[str, Any] = {
        "revenue": t.amount.sum(),
        "gross_sales": t.gross.sum(),
    }
    if "quantity" in cols:
        line_sums["items"] = ibis.ifelse(t.amount >= 0, t.quantity.fill_null(0.0), 0.0).sum()
    if "channel" in cols:
        channels = src.execute(t.select("channel").distinct().limit(MAX_CHANNELS + 1))["channel"]
        channels = sorted(c for c in channels.dropna())
        if len(channels) <= MAX_CHANNELS:
            for ch in channels:
                line_sums[f"{CHANNEL_GROSS}{ch}"] = ibis.ifelse(t.channel == ch, t.gross, 0.0).sum()
    per_customer = t.group_by("customer_id").agg(**line_sums)
    orders = t.group_by(["customer_id", "order_id"]).agg(net=t.amount.sum())
    order_counts = orders.group_by("customer_id").agg(
        orders=count_if(orders.net > 0),
        return_orders=count_if(orders.net < 0),
    )
    view = per_customer
    parts = [btyd, order_counts]
    if "category" in cols:
        parts.append(_mode(t, "category", "gross", "favourite_category", "n_categories"))
    if "region" in cols:
        parts.append(_mode(t, "region", "gross", "region", "n_regions").drop("n_regions"))
    for part in parts:
        joined = view.left_join(part, "customer_id")
        view = joined.drop("customer_id_right") if "customer_id_right" in joined.columns else joined
    return view


def _conform_sums(out: pd.DataFrame) -> pd.DataFrame:
    """Engine results in the NumPy path's dtypes (integers, object labels)."""
    for col in ("n_days", "orders", "return_orders", "n_categories"):
        if col in out.columns:
            out[col] = out[col].fillna(0).astype(np.int64)
    return out


def attributes_as_of(src: Source, as_of: pd.Timestamp) -> pd.DataFrame:
    """Customer attributes of those signed up by the as-of day (as the NumPy path)."""
    ibis = _ibis()
    c = src.table("customers")
    if "signup_date" in c.columns:
        c = c.filter(
            c.signup_date.isnull() | (c.signup_date < ibis.timestamp(as_of + pd.Timedelta(days=1)))
        )
    return _frame(src, c)


def campaign_features(src: Source, as_of: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """Contacts sent by the as-of day and the responses whose window has closed (the same
    frame as :func:`crm_models.features._campaign_features`)."""
    ibis = _ibis()
    c = src.table("campaigns")
    day_after = ibis.timestamp(as_of + pd.Timedelta(days=1))
    t = c.filter((c.sent_date < day_after) & c.treated.fill_null(False))
    closed = t.sent_date + ibis.interval(days=window_days) < day_after
    out = t.group_by("customer_id").agg(
        contacts=t.count(),
        last_contact=t.sent_date.max(),
        measured_contacts=count_if(closed),
        responses=count_if(closed & t.responded.fill_null(False)),
        response_amount=ibis.ifelse(closed, t.response_amount, None).sum(),
    )
    frame = _frame(src, out)
    frame["contacts"] = frame["contacts"].astype(np.int64)
    return frame


# --------------------------------------------------------------------------- RFM
def rfm_ranks(src: Source, as_of: pd.Timestamp, q: int = 5, unit: str = "D") -> pd.DataFrame:
    """RFM values and quantile scores of the buyers, ranked in the engine.

    The scores are those of :class:`crm_models.segments.RFMScorer` fitted on the same
    customers: ``1 + floor(q * below / n)`` where ``below`` counts buyers with a strictly lower
    value (SQL's ``RANK() - 1``).  Recency is scored negated (fewer periods is better).
    """

    ibis = _ibis()
    s = customer_sums_expr(src, as_of)
    s = s.filter(s.n_days > 0)
    v = s.select(
        "customer_id",
        recency=((as_of_day(as_of) - s.last_day) / unit_days(unit)).floor().cast("float64"),
        frequency=s.orders.fill_null(0).cast("float64"),
        monetary=s.revenue.cast("float64").round(6),
    )
    n = v.count().over()

    def score(col: ir.NumericValue) -> ir.IntegerValue:
        below = ibis.rank().over(order_by=col)
        return ibis.least((1 + (q * below / n).floor()).cast("int64"), q)

    out = v.mutate(r=score(-v.recency), f=score(v.frequency), m=score(v.monetary))
    return _frame(src, out)


# --------------------------------------------------------------------------- periods
def period_code(ts: ir.TimestampValue, freq: str) -> ir.IntegerValue:
    """Integer period numbers as :func:`crm_models.value.retention._period_codes` (months since
    1970, quarters, Monday-based weeks)."""
    if freq in ("M", "Q"):
        months = (ts.year() - 1970) * 12 + ts.month() - 1
        return months if freq == "M" else (months.cast("float64") / 3).floor().cast("int64")
    if freq == "W":
        return ((day_number(ts) + 3).cast("float64") / 7).floor().cast("int64")
    raise ValueError(f"unknown period {freq!r}; use M, Q or W")


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
    ibis = _ibis()
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


def level_period_totals(src: Source, as_of: pd.Timestamp, freq: str, by: str) -> pd.DataFrame:
    """Per period code (:func:`period_code`) and level of ``by`` (text, ``"(missing)"`` when
    absent): net ``revenue``, ``orders`` and ``active_customers``, counted as
    :func:`crm_models.forecast.sales_series` does per level: a line goes to the period of its
    whole order's first line; an order counts in a level when its lines there net positive.
    ``by`` is a column of transactions, products or customers (:func:`level_table`; products and
    customers hold one row per id, as the contract requires)."""
    ibis = _ibis()
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


def purchase_day_summary(
    src: Source, as_of: pd.Timestamp, since: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """The BTYD sums per buyer up to the as-of day (:func:`btyd_sums_expr`, day numbers) and
    the number of (customer, purchase day) pairs after the ``since`` day: the inputs of the
    bottom-up forecast (:mod:`crm_models.forecast.bottom_up`), one row per customer."""
    days = purchase_days(lines_as_of(src, as_of))
    sums = _frame(src, btyd_sums_expr(days))
    sums["n_days"] = sums["n_days"].astype(np.int64)
    recent = int(src.execute(days.filter(days.day > as_of_day(since)).count()))
    return sums, recent


# --------------------------------------------------------------------------- baskets
def _basket_purchases(
    src: Source,
    level: str,
    as_of: pd.Timestamp | None,
    *,
    start: pd.Timestamp | None = None,
    exclude: list[str] | None = None,
    customers_only: bool = False,
) -> ir.Table:
    """The purchase lines :func:`crm_models.baskets.baskets_from_transactions` keeps (amount
    and quantity above zero, an item stated, dated from ``start`` through the as-of day, not
    an ``exclude`` item, of a known customer when ``customers_only``), with ``basket`` (the
    order id) and ``item`` (the product id or category, as text)."""
    ibis = _ibis()
    column = "product_id" if level == "product" else "category"
    tx = src.table("transactions")
    keep = (tx.amount > 0) & tx[column].notnull()
    if "quantity" in tx.columns:
        keep &= ~(tx.quantity <= 0).fill_null(False)
    if as_of is not None:
        keep &= tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1))
    if start is not None:
        keep &= tx.order_date >= ibis.timestamp(start)
    if customers_only:
        keep &= tx.customer_id.notnull()
    t = tx.filter(keep)
    t = t.mutate(basket=t.order_id, item=t[column].cast("string"))
    return t.filter(~t.item.isin(exclude)) if exclude else t


def _basket_pairs(src: Source, level: str, as_of: pd.Timestamp | None) -> ir.Table:
    """Distinct (basket, item) pairs of purchase lines."""
    return _basket_purchases(src, level, as_of).select("basket", "item").distinct()


def basket_contents(
    src: Source, level: str = "product", as_of: pd.Timestamp | None = None, **only: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What baskets are built from, without the lines, as three frames:

    - ``pairs``: the distinct (basket, item) pairs as integer codes (``basket_code``,
      ``item_code``: positions in the next two frames);
    - ``orders``: one row per basket in the engine's text order of ``basket`` (the order id),
      with its net value of purchase lines (``value``), ``customer_id`` and earliest line's
      ``date``;
    - ``items``: one row per ``item`` in the engine's text order, with its ``category``
      (product level, where the lines state one; the first alphabetically where they give
      several).

    Only numbers cross over per pair, so a million customers' baskets cost about 150 MB.
    ``only`` narrows the lines (``start``, ``exclude``, ``customers_only`` of
    :func:`_basket_purchases`)."""
    ibis = _ibis()
    t = _basket_purchases(src, level, as_of, **only)
    pairs = t.select("basket", "item").distinct()
    pairs = pairs.select(
        basket_code=ibis.dense_rank().over(order_by=pairs.basket),
        item_code=ibis.dense_rank().over(order_by=pairs.item),
    )
    orders = t.group_by("basket").agg(
        value=t.amount.sum(), customer_id=t.customer_id.min(), date=t.order_date.min()
    )
    stated = {"lines": t.count()}  # (a plain DISTINCT then ORDER BY repeats rows on Spark)
    if level == "product" and "category" in t.columns:
        stated["category"] = t.category.min()  # NULLs are skipped: the stated categories
    items = t.group_by("item").agg(**stated).order_by("item")
    out_pairs = src.frame(pairs)
    out_orders = src.frame(orders.order_by("basket"))
    if out_orders["date"].dtype != "datetime64[ns]":
        out_orders["date"] = out_orders["date"].astype("datetime64[ns]")
    return out_pairs, out_orders, src.frame(items).drop(columns="lines")


def basket_item_counts(
    src: Source, level: str = "product", as_of: pd.Timestamp | None = None
) -> tuple[int, pd.Series]:
    """Number of baskets and, per item, the baskets containing it (``Baskets.item_counts``)."""
    pairs = _basket_pairs(src, level, as_of)
    n = int(src.execute(pairs.basket.nunique()))
    counts = src.execute(pairs.group_by("item").agg(baskets=lambda x: x.count()))
    series = counts.set_index("item")["baskets"].astype(np.int64)
    return n, series.sort_index()


def basket_pair_counts(
    src: Source,
    level: str = "product",
    as_of: pd.Timestamp | None = None,
    min_count: int = 1,
) -> pd.DataFrame:
    """Baskets containing both items of each pair (``item < with_item``) with at least
    ``min_count`` baskets; items below ``min_count`` are dropped before the self-join (no pair
    can be more frequent than its items), which keeps the join small."""
    pairs = _basket_pairs(src, level, as_of)
    if min_count > 1:
        frequent = pairs.group_by("item").agg(n=lambda x: x.count())
        frequent = frequent.filter(frequent.n >= min_count).select("item")
        pairs = pairs.semi_join(frequent, "item")
    right = pairs.rename(basket2="basket", with_item="item")
    joined = pairs.inner_join(right, [pairs.basket == right.basket2, pairs.item < right.with_item])
    counts = joined.group_by(["item", "with_item"]).agg(count=lambda x: x.count())
    counts = counts.filter(counts["count"] >= min_count)
    out = src.execute(counts)
    out["count"] = out["count"].astype(np.int64)
    return out.sort_values(["item", "with_item"]).reset_index(drop=True)


def customer_item_pairs(
    src: Source, level: str = "product", as_of: pd.Timestamp | None = None, **only: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Which known customer bought which item, without the lines: the distinct (customer,
    item) pairs of purchase lines (:func:`_basket_purchases` with ``customers_only``) as codes
    ``customer_code`` and ``item_code`` (numbered from 1), and the ``customer_id`` of each
    customer code and the ``item`` of each item code (the cross-sell model's input)."""
    ibis = _ibis()
    t = _basket_purchases(src, level, as_of, customers_only=True, **only)
    pairs = t.select("customer_id", "item").distinct()
    customers = pairs.select("customer_id").distinct()
    customers = customers.mutate(
        customer_code=ibis.row_number().over(order_by=customers.customer_id) + 1
    )
    items = pairs.select("item").distinct()
    items = items.mutate(item_code=ibis.row_number().over(order_by=items.item) + 1)
    coded = pairs.inner_join(customers, "customer_id").inner_join(items, "item")
    return (
        src.frame(coded.select("customer_code", "item_code")),
        src.frame(customers.order_by("customer_code")),
        src.frame(items.order_by("item_code")),
    )


def _category_lines(src: Source, as_of: pd.Timestamp, customers_only: bool = False) -> ir.Table:
    """Purchase lines (``amount > 0``) with a category, up to the as-of day, as
    :func:`crm_models.baskets.timing` reads them (of known customers when ``customers_only``)."""
    ibis = _ibis()
    tx = src.table("transactions")
    keep = (tx.amount > 0) & tx.category.notnull()
    keep &= tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1))
    if customers_only:
        keep &= tx.customer_id.notnull()
    return tx.filter(keep)


def category_period_lines(src: Source, by: str, as_of: pd.Timestamp) -> pd.Series:
    """Purchase lines per category (as text) and period of the order date: ``by`` is
    ``"month"`` (1-12), ``"weekday"`` (0 = Monday) or ``"hour"`` (0-23)."""
    t = _category_lines(src, as_of)
    date = t.order_date
    period = {"month": date.month, "weekday": date.day_of_week.index, "hour": date.hour}[by]()
    t = t.mutate(category=t.category.cast("string"), period=period.cast("int64"))
    out = src.frame(t.group_by(["category", "period"]).agg(lines=t.count()))
    return out.set_index(["category", "period"])["lines"].astype(np.int64)


def has_times(src: Source) -> bool:
    """True when some transaction line is dated at a time of day other than midnight."""
    tx = src.table("transactions")
    timed = tx.filter(tx.order_date != tx.order_date.truncate("D")).limit(1)
    return bool(int(src.execute(timed.count())))


def category_moves(src: Source, as_of: pd.Timestamp, which: str = "first") -> pd.DataFrame:
    """Consecutive orders of a known customer (``which="first"``: the first and second only),
    counted per (category of the earlier order, category of the next): ``from_category``,
    ``to_category``, ``customers``.  Orders are ranked by their earliest line, ties by order
    id; an order's customer is its lines' (the smallest id should they differ)."""
    ibis = _ibis()
    t = _category_lines(src, as_of, customers_only=True)
    orders = t.group_by("order_id").agg(customer_id=t.customer_id.min(), date=t.order_date.min())
    orders = orders.mutate(
        seq=ibis.row_number().over(
            group_by=orders.customer_id, order_by=[orders.date, orders.order_id]
        )
    )
    earlier = orders.filter(orders.seq == 0) if which == "first" else orders
    later = orders.select(
        next_customer=orders.customer_id, next_seq=orders.seq - 1, next_order=orders.order_id
    )
    steps = earlier.inner_join(
        later, [earlier.customer_id == later.next_customer, earlier.seq == later.next_seq]
    ).select(from_order=earlier.order_id, to_order=later.next_order)
    held = t.select("order_id", "category").distinct()
    came = held.select(from_order=held.order_id, from_category=held.category)
    went = held.select(to_order=held.order_id, to_category=held.category)
    moves = steps.inner_join(came, "from_order").inner_join(went, "to_order")
    counts = moves.group_by(["from_category", "to_category"]).agg(customers=moves.count())
    out = src.frame(counts)
    out["customers"] = out["customers"].astype(np.int64)
    return out


def repurchase_gaps(src: Source, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Known customers' purchase days per category (a day once) and the days between
    consecutive ones: ``gaps`` counts the intervals per (``category``, ``days``) and
    ``buyers`` per ``category`` the customers who bought it (``buyers``) and those with two
    days or more (``customers``)."""
    t = _category_lines(src, as_of, customers_only=True)
    days = t.select(
        category=t.category.cast("string"), customer_id=t.customer_id, day=day_number(t.order_date)
    ).distinct()
    days = days.mutate(
        days=days.day
        - days.day.lag().over(group_by=[days.category, days.customer_id], order_by=days.day)
    )
    gaps = days.filter(days.days.notnull())
    gaps = gaps.group_by(["category", "days"]).agg(intervals=gaps.count())
    per = days.group_by(["category", "customer_id"]).agg(n=days.count())
    buyers = per.group_by("category").agg(buyers=per.count(), customers=count_if(per.n > 1))
    out_gaps, out_buyers = src.frame(gaps), src.frame(buyers)
    for frame, cols in ((out_gaps, ("days", "intervals")), (out_buyers, ("buyers", "customers"))):
        for col in cols:
            frame[col] = frame[col].astype(np.int64)
    return out_gaps, out_buyers


# --------------------------------------------------------------------------- data checks
_CAST_ISSUE = {"date": "unparseable date", "number": "not a number", "bool": "not a yes/no value"}


def _examples(src: Source, t: ir.Table, bad: ir.BooleanValue, cols: list[str]) -> list[str]:
    rows = src.execute(t.filter(bad).select(*cols).limit(3))
    return [", ".join(f"{c}={quote_value(r[c])}" for c in cols) for _, r in rows.iterrows()]


def validation_problems(src: Source, duplicates: str = "error") -> list:
    """Every contract problem of an out-of-core source, counted in the engine: missing
    required columns, missing values, values that do not parse, ids that look like e-mail
    addresses (hashed only on the in-memory path) and exact duplicate lines."""

    problems: list[Problem] = []
    for name, t in src.tables.items():
        file = src.files.get(name, name)
        raw = src.raw.get(name, t)
        specs = {c.name: c for c in SCHEMAS[name]}
        for spec in specs.values():
            if spec.required and spec.name not in t.columns:
                found = ", ".join(t.columns)
                problems.append(
                    Problem(file, spec.name, f"required column missing (found: {found})", 0)
                )
        checks = []
        for col in t.columns:
            spec = specs.get(col)
            if spec is None:
                continue
            before = raw[col]
            if before.type().is_string():
                before = before.strip().nullif("")
            cast = t[col].type()
            value = before if before.type() == cast else before.try_cast(cast)
            if spec.required and not (name == "transactions" and col == "customer_id"):
                checks.append((col, "missing value", before.isnull()))
            if spec.kind in _CAST_ISSUE:
                checks.append((col, _CAST_ISSUE[spec.kind], before.notnull() & value.isnull()))
            if spec.kind == "id" and str(value.type()).startswith("string"):
                checks.append(
                    (
                        col,
                        "ids look like e-mail addresses (use --engine pandas)",
                        value.contains("@"),
                    )
                )
        if not checks:
            continue
        counts = src.execute(
            raw.aggregate(**{f"c{i}": count_if(bad) for i, (_, _, bad) in enumerate(checks)})
        )
        for i, (col, issue, bad) in enumerate(checks):
            n = int(counts[f"c{i}"].iloc[0] or 0)
            if n:
                problems.append(Problem(file, col, issue, n, _examples(src, raw, bad, [col])))
        if name == "transactions" and duplicates == "error":
            dup = int(src.execute(t.count()) - src.execute(t.distinct().count()))
            if dup:
                problems.append(
                    Problem(
                        file,
                        None,
                        "duplicate lines (set duplicates: drop or keep in mapping.json)",
                        dup,
                    )
                )
    return problems


def source_summary(src: Source) -> dict[str, Any]:
    """Headline counts of a source, computed in the engine (the keys and contract definitions
    of :func:`crm_models.data.loading.dataset_summary`)."""
    ibis = _ibis()
    out: dict[str, Any] = {
        "name": src.name,
        "source": src.location,
        "engine": src.engine,
        **({"fingerprint": src.fingerprint} if src.fingerprint else {}),
        "tables": {n: int(src.execute(t.count())) for n, t in src.tables.items()},
    }
    if src.has("transactions"):
        tx = src.table("transactions")
        net = tx.group_by("order_id").aggregate(net=tx.amount.sum())
        orders = src.execute(
            net.aggregate(orders=count_if(net.net > 0), return_orders=count_if(net.net < 0))
        ).iloc[0]
        row = src.execute(
            tx.aggregate(
                customers=tx.customer_id.nunique(),
                revenue=tx.amount.sum(),
                returns=ibis.ifelse(tx.amount < 0, tx.amount, 0.0).sum(),
                anonymous_lines=count_if(tx.customer_id.isnull()),
                first_date=tx.order_date.min(),
                last_date=tx.order_date.max(),
            )
        ).iloc[0]
        out.update(
            customers=int(row["customers"]),
            transactions=out["tables"]["transactions"],
            orders=int(orders["orders"] or 0),
            return_orders=int(orders["return_orders"] or 0),
            revenue=round(float(row["revenue"]), 2),
            returns=round(abs(float(row["returns"])), 2),
            anonymous_lines=int(row["anonymous_lines"] or 0),
            first_date=str(pd.Timestamp(row["first_date"]).date()),
            last_date=str(pd.Timestamp(row["last_date"]).date()),
        )
    else:
        customers = src.table("customers")
        out.update(
            customers=int(src.execute(customers.customer_id.nunique()))
            if customers is not None
            else 0,
            transactions=0,
            orders=0,
            revenue=0.0,
            first_date=None,
            last_date=None,
        )
    if src.has("campaigns"):
        c = src.table("campaigns")
        row = src.execute(
            c.aggregate(
                campaigns=c.campaign_id.nunique(),
                contacts=count_if(c.treated.fill_null(False)),
                first=c.sent_date.min(),
                last=c.sent_date.max(),
            )
        ).iloc[0]
        out["campaigns"] = int(row["campaigns"])
        out["campaign_contacts"] = int(row["contacts"])
        out["first_date"] = out["first_date"] or str(pd.Timestamp(row["first"]).date())
        out["last_date"] = out["last_date"] or str(pd.Timestamp(row["last"]).date())
    out["cleaning"] = list(src.notes)
    return out


def first_line_date(src: Source, as_of: pd.Timestamp) -> pd.Timestamp | None:
    """Date of the first transaction line (anonymous lines included) up to the as-of day."""
    ibis = _ibis()
    tx = src.table("transactions")
    first = src.execute(
        tx.filter(tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1))).order_date.min()
    )
    return None if first is None or pd.isna(first) else pd.Timestamp(first)


def source_warnings(src: Source) -> list[Problem]:
    """The warnings of :mod:`crm_models.data.quality` that an engine counts cheaply: a
    transactions table without a positive amount, too few customers with an order, campaigns
    without a control group or without a response (the percentile rules need the data in
    memory: ``--engine pandas``)."""
    out: list[Problem] = []
    if src.has("transactions"):
        tx = src.table("transactions")
        file = src.files.get("transactions", "transactions")
        row = src.execute(
            tx.aggregate(
                lines=tx.count(),
                sales=count_if(tx.amount > 0),
                zeros=count_if(tx.amount == 0),
            )
        ).iloc[0]
        buyers = int(src.execute(tx.filter(tx.amount > 0).customer_id.nunique()) or 0)
        lines, sales = int(row["lines"]), int(row["sales"] or 0)
        if lines and not sales:
            what = "all amounts are zero" if int(row["zeros"] or 0) == lines else "only returns"
            issue = f"{what}: {NO_SALES}"
            out.append(Problem(file, "amount", issue, lines))
        if 0 < buyers < MIN_MODEL_CUSTOMERS:
            out.append(Problem(file, "customer_id", too_few_buyers(buyers), lines))
    if src.has("campaigns"):
        c = src.table("campaigns")
        file = src.files.get("campaigns", "campaigns")
        per = c.group_by("campaign_id").aggregate(
            rows=c.count(),
            control=count_if(~c.treated.fill_null(True)),
            responses=count_if(c.responded.fill_null(False)),
        )
        for issue, bad in ((NO_CONTROL, per.control == 0), (NO_RESPONSE, per.responses == 0)):
            hits = per.filter(bad)
            hit = src.execute(hits.aggregate(n=hits.rows.sum(), k=hits.count())).iloc[0]
            if int(hit["k"] or 0):
                out.append(Problem(file, "campaign_id", issue, int(hit["n"])))
    return out


def checked(src: Source) -> Source:
    """An out-of-core source once the engine found no contract problem (the checks loading
    runs, :func:`validation_problems`: every problem at once in a
    :class:`~crm_models.data.contract.DataError`), with its :func:`source_warnings`."""
    problems = validation_problems(src)
    if problems:
        raise DataError(problems)
    src.warnings = source_warnings(src)
    return src


# --------------------------------------------------------------------------- retention
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
    ibis = _ibis()
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
    out = _frame(src, days.group_by("customer_id").agg(**sums))
    return out.astype(np.float64)


def period_activity(src: Source, as_of: pd.Timestamp, freq: str = "M") -> pd.DataFrame:
    """Per period code (:func:`period_code`) with a purchase: customers ``active`` in it,
    ``new`` (their first purchase period) and ``retained`` (also active in the period before),
    the counts behind :func:`crm_models.value.retention.period_churn`."""
    ibis = _ibis()
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
    ibis = _ibis()
    t = lines_as_of(src, as_of)
    buys = t.filter(t.amount >= 0)
    buys = buys.mutate(day=day_number(buys.order_date))
    first = buys.group_by("customer_id").agg(first_day=buys.day.min())
    j = buys.inner_join(first, "customer_id")
    j = j.filter(j.day == j.first_day)
    order = [ibis.desc(j.amount), j.channel.isnull(), ibis.asc(j.channel)]
    j = j.mutate(nth=ibis.row_number().over(group_by=j.customer_id, order_by=order))
    top = j.filter(j.nth == 0)
    return _frame(src, top.select("customer_id", "channel"))["channel"]


def payback_days(src: Source, as_of: pd.Timestamp, threshold: float) -> pd.DataFrame:
    """Per buyer up to the as-of day, as day numbers (float, NaN for none): ``first_day`` (the
    first purchase) and ``paid_day``, the first day whose cumulative net amount of all lines
    (returns too, a day's lines together) reaches ``threshold``, the figures behind
    :func:`crm_models.value.retention.time_to_payback`."""
    ibis = _ibis()
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
    return _frame(src, out.filter(out.first_day.notnull())).astype(np.float64)


# --------------------------------------------------------------------------- revenue
def _lines_up_to(src: Source, as_of: pd.Timestamp, include_anonymous: bool) -> ir.Table:
    """Lines dated on or before the as-of day: known customers' (:func:`lines_as_of`) or,
    with ``include_anonymous``, all of them."""
    if not include_anonymous:
        return lines_as_of(src, as_of)
    tx = src.table("transactions")
    return tx.filter(tx.order_date < _ibis().timestamp(as_of + pd.Timedelta(days=1)))


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
        orders = orders.filter(orders.start >= _ibis().timestamp(start))
    sums = orders.group_by("customer_id").agg(
        revenue=orders.amount.sum(), turnover=orders.amount.abs().sum()
    )
    return _frame(src, sums).astype(np.float64)


def new_revenue_per_period(src: Source, as_of: pd.Timestamp, freq: str) -> pd.DataFrame:
    """Per period code (:func:`period_code`) of the orders' dates (:func:`order_rows`): net
    ``revenue`` and ``new_revenue``, that of the orders in their customer's first period with
    a positive order, as :func:`crm_models.revenue.new_vs_returning` splits them."""
    ibis = _ibis()
    orders = order_rows(src, as_of)
    orders = orders.mutate(period=period_code(orders.start, freq))
    buys = orders.filter(orders.amount > 0)
    first = buys.group_by("customer_id").agg(first_period=buys.period.min())
    j = orders.left_join(first, "customer_id")
    j = j.drop("customer_id_right") if "customer_id_right" in j.columns else j
    new = ibis.ifelse(j.period == j.first_period, j.amount, 0.0)
    cells = j.group_by("period").agg(revenue=j.amount.sum(), new_revenue=new.sum())
    return src.execute(cells).set_index("period").sort_index().astype(np.float64)


def with_level(src: Source, t: ir.Table, by: str) -> ir.Table:
    """Lines ``t`` with ``level``: each one's ``by`` value as text (``"(missing)"`` when
    absent), read from the table :func:`level_table` names."""
    where = level_table(src, by)
    if where == "transactions":
        t = t.mutate(level=t[by])
    else:
        key = "product_id" if where == "products" else "customer_id"
        lookup = src.table(where)
        lookup = lookup.group_by(key).agg(level=lookup[by].max())
        t = t.left_join(lookup, key)
        t = t.drop(f"{key}_right") if f"{key}_right" in t.columns else t
    return t.mutate(level=t.level.cast("string").fill_null("(missing)"))


def level_revenue(
    src: Source,
    as_of: pd.Timestamp,
    by: str,
    freq: str | None = None,
    include_anonymous: bool = False,
) -> pd.DataFrame:
    """Net revenue of the lines up to the as-of day (:func:`_lines_up_to`) per level of ``by``
    (:func:`with_level`): with ``freq``, per period code of each line's order (the date of its
    earliest line, as :func:`order_rows`) and level; without, per level, with ``customers``
    (known customers with a purchase line there). The cells of
    :func:`crm_models.revenue.revenue_by` and :func:`crm_models.revenue.revenue_share_by`."""
    ibis = _ibis()
    t = with_level(src, _lines_up_to(src, as_of, include_anonymous), by)
    if freq is None:
        buyer = ibis.ifelse(t.amount > 0, t.customer_id, None)
        cells = t.group_by("level").agg(revenue=t.amount.sum(), customers=buyer.nunique())
        out = src.execute(cells).set_index("level").sort_index()
        out["customers"] = out["customers"].fillna(0).astype(np.int64)
    else:
        whole = t.order_date.min().over(group_by=[t.customer_id, t.order_id])
        start = ibis.ifelse(t.order_id.isnull(), t.order_date, whole)
        t = t.mutate(period=period_code(start, freq))
        cells = t.group_by(["period", "level"]).agg(revenue=t.amount.sum())
        out = src.execute(cells).set_index(["period", "level"]).sort_index()
    out["revenue"] = out["revenue"].astype(np.float64)
    return out


def table_columns(src: Source, name: str, columns: list[str]) -> pd.DataFrame | None:
    """The named columns a non-line table has (the others left in the engine), as pandas in
    scan order with nanosecond dates like :meth:`Source.table_frame`; None without the table
    or without any of the columns."""
    t = src.table(name)
    present = [c for c in columns if t is not None and c in t.columns]
    if not present:
        return None
    df = src.frame(t.select(*present))
    for col in df.columns:
        if df[col].dtype.kind == "M" and df[col].dtype != "datetime64[ns]":
            df[col] = df[col].astype("datetime64[ns]")
    return df


def buyer_ids(src: Source, as_of: pd.Timestamp) -> np.ndarray:
    """The distinct ids of the known customers with a purchase line (``amount >= 0``) up to the
    as-of day, sorted (one value per customer: what a seeded sample of customers draws from)."""
    t = lines_as_of(src, as_of)
    ids = src.execute(t.filter(t.amount >= 0).select("customer_id").distinct())["customer_id"]
    return np.sort(ids.to_numpy())

"""What goes into a basket: contents, item and pair counts, category moves, repurchase gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models.engine.aggregates._common import count_if, day_number, load_ibis, stored

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine.sources import Source


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
    ibis = load_ibis()
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
      with its net value of purchase lines (``value``);
    - ``items``: one row per ``item`` in the engine's text order, with its ``category``
      (product level, where the lines state one; the first alphabetically where they give
      several).

    Only numbers cross over per pair, so a million customers' baskets cost about 150 MB.
    ``only`` narrows the lines (``start``, ``exclude``, ``customers_only`` of
    :func:`_basket_purchases`)."""
    ibis = load_ibis()
    t = _basket_purchases(src, level, as_of, **only)
    pairs = t.select("basket", "item").distinct()
    pairs = pairs.select(  # 32-bit codes: 80M pairs (10M customers) cross over in 0.6 GB, not 1.3
        basket_code=ibis.dense_rank().over(order_by=pairs.basket).cast("int32"),
        item_code=ibis.dense_rank().over(order_by=pairs.item).cast("int32"),
    )
    orders = t.group_by("basket").agg(value=t.amount.sum())
    stated = {"lines": t.count()}  # (a plain DISTINCT then ORDER BY repeats rows on Spark)
    if level == "product" and "category" in t.columns:
        stated["category"] = t.category.min()  # NULLs are skipped: the stated categories
    items = t.group_by("item").agg(**stated).order_by("item")
    out_pairs = src.frame(pairs)
    out_orders = src.frame(orders.order_by("basket"))
    return out_pairs, out_orders, src.frame(items).drop(columns="lines")


def basket_compositions(
    src: Source, level: str = "product", as_of: pd.Timestamp | None = None, **only: Any
) -> tuple[sp.csr_matrix, pd.Index, np.ndarray]:
    """The distinct contents of baskets and how many baskets hold each: a compositions x items
    0/1 matrix, the items (texts, sorted) and the baskets per composition.

    Baskets of a few hundred products repeat: the 49M orders of the 10M-customer simulation
    hold 1.2M distinct contents, so item and pair counts over baskets leave the engine at a
    fortieth of the per-basket pairs.  ``only`` narrows the lines as in
    :func:`basket_contents`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _basket_purchases(src, level, as_of, **only)
    per_basket = t.group_by("basket").agg(items=t.item.collect(distinct=True).sort())
    table = src.con.to_pyarrow(per_basket.group_by("items").agg(baskets=lambda x: x.count()))
    lists = table.column("items")
    lists = lists.combine_chunks() if lists.num_chunks else pa.array([], pa.list_(pa.string()))
    values = lists.flatten()
    items = pc.unique(values).sort()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    matrix = sp.csr_matrix(
        (
            np.ones(len(values), dtype=np.float32),
            np.asarray(pc.index_in(values, items), dtype=np.int64),
            offsets - offsets[0],
        ),
        shape=(len(lists), len(items)),
    )
    baskets = np.asarray(table.column("baskets"), dtype=np.int64)
    return matrix, pd.Index(items.to_pylist(), dtype=object), baskets


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


def customer_item_first_days(
    src: Source, level: str = "product", **only: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Which known customer first bought which item on which day, without the lines: the
    distinct (customer, item) pairs of purchase lines (:func:`_basket_purchases` with
    ``customers_only``) as codes ``customer_code`` and ``item_code`` (numbered from 1) with
    ``first_day`` (:func:`day_number` of the first purchase), and the ``customer_id`` of each
    customer code and the ``item`` of each item code.  Every cut of the history is a filter on
    ``first_day``: the cross-sell model learnt at two dates and the items new to a customer in
    a later window all come from this one pass over the lines (the pairs are stored once,
    :func:`stored`, for the three frames to read)."""
    ibis = load_ibis()
    t = _basket_purchases(src, level, None, customers_only=True, **only)
    first = t.group_by(["customer_id", "item"]).agg(first_day=day_number(t.order_date).min())
    with stored(src, first, "first_purchases") as pairs:
        customers = pairs.select("customer_id").distinct()
        customers = customers.mutate(  # 32-bit codes: half the memory of every pair's
            customer_code=(ibis.row_number().over(order_by=customers.customer_id) + 1).cast("int32")
        )
        items = pairs.select("item").distinct()
        items = items.mutate(
            item_code=(ibis.row_number().over(order_by=items.item) + 1).cast("int32")
        )
        coded = pairs.inner_join(customers, "customer_id").inner_join(items, "item")
        return (
            src.frame(
                coded.select("customer_code", "item_code", first_day=coded.first_day.cast("int32"))
            ),
            src.frame(customers.order_by("customer_code")),
            src.frame(items.order_by("item_code")),
        )


def _category_lines(src: Source, as_of: pd.Timestamp, customers_only: bool = False) -> ir.Table:
    """Purchase lines (``amount > 0``) with a category, up to the as-of day, as
    :func:`crm_models.baskets.timing` reads them (of known customers when ``customers_only``)."""
    ibis = load_ibis()
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
    ibis = load_ibis()
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

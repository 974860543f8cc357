"""Baskets from transactions or basket files, and frequent itemsets mined on the sparse matrix.

Everything is sparse end to end: a :class:`Baskets` holds a boolean ``scipy.sparse`` CSR matrix
(one row per basket, one column per item); no dense one-hot table is ever built (a dense table
of real retail data does not fit in memory: mlxtend issue 948 reports 899 GiB for 2.7M orders x
354k SKUs).

* **Support** of an itemset = share of baskets holding all its items; ``count`` = that number.
* **Thresholds are compared on exact integer counts**: ``count >= min_support * N`` and
  ``count(X u y) >= min_confidence * count(X)`` are evaluated in exact rational arithmetic on the
  decimal thresholds, so a rule whose confidence equals the threshold is kept (a float ratio of
  supports can fall just below it and silently drop the rule).

Mining uses our own depth-first Eclat on the sparse matrix (``engine="eclat"``): per frequent
prefix one sparse row slice counts all extensions at once.

**Memory is bounded by a budget** (``memory_budget``, bytes; default
:data:`DEFAULT_MEMORY_BUDGET`): the itemsets of wholesale baskets (hundreds of items each) grow
combinatorially as the support falls, so before each batch of new itemsets is stored its size
(and that of the rules it will give) is estimated from its count and length
(:data:`ITEMSET_BYTES`, :data:`RULE_BYTES`, measured on UCI Online Retail); when the estimate
passes the budget mining stops with a :class:`MemoryBudgetError` that names the setting, the
estimate and the lowest support of :data:`SUPPORT_LADDER` that fits.

``engine="mlxtend"`` runs mlxtend's ``fpgrowth`` on a sparse DataFrame (with the threshold
lowered by half a basket and the result filtered on exact counts); it is kept for comparison
(``benchmarks/bench_basket.py``): it densifies the table on the way in (``df.values``), so it
cannot mine large data (it is refused when that dense table would pass the budget).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models.data.basket_files import basket_table
from crm_models.data.conditions import no_sales, no_transactions
from crm_models.data.dataset import Dataset, derived
from crm_models.engine import Source, aggregates
from crm_models.engine.sources import table_of

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "ITEMSET_BYTES",
    "LEVELS",
    "MIN_RULE_BASKETS",
    "RULE_BYTES",
    "SERVICE_NAMES",
    "SUPPORT_LADDER",
    "Baskets",
    "MemoryBudgetError",
    "affinity_grid",
    "as_baskets",
    "baskets_from_lines",
    "baskets_from_table",
    "baskets_from_transactions",
    "confidence_ok",
    "format_bytes",
    "frequent_itemsets",
    "itemset_load",
    "min_count",
    "mine",
    "co_counts",
    "level_affinities",
    "pair_affinities",
    "parse_bytes",
    "service_items",
    "weighted_baskets",
    "strongest_pairs",
]

LEVELS = ("product", "category")

DEFAULT_MEMORY_BUDGET = 1024**3  # 1 GB for itemsets and rules, on top of the loaded data
ITEMSET_BYTES = 500  # estimated bytes per stored itemset (tuples, counts, lookup, frame row)
RULE_BYTES = 1100  # ... plus per item of it (each item is the consequent of one candidate rule)
SUPPORT_LADDER = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001)
MIN_RULE_BASKETS = 20  # a chosen support never lets a rule rest on fewer baskets than this


# =========================================================================== baskets
@dataclass
class Baskets:
    """Baskets as a sparse boolean matrix: rows are baskets, columns are items.

    ``items`` are the item keys (product ids, category names, or labels of a basket file);
    ``names`` their display names (product names where a catalogue has them).  ``basket_ids``
    (the order ids) and ``value`` (net positive value of the basket) are per row when known (a
    basket file has neither).
    """

    matrix: sp.csr_matrix
    items: pd.Index
    names: pd.Series | None = None
    basket_ids: pd.Index | None = None
    value: np.ndarray | None = None
    level: str = "product"
    info: dict[str, Any] = field(default_factory=dict)
    categories: pd.Series | None = None  # item -> category (product level), for constraints

    def __post_init__(self) -> None:
        m = sp.csr_matrix(self.matrix)
        m.sum_duplicates()
        m.data = np.ones(len(m.data), dtype=bool)
        m.sort_indices()
        self.matrix = m
        if self.names is None:
            self.names = pd.Series(self.items.astype(str), index=self.items)

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def item_counts(self) -> pd.Series:
        """Number of baskets holding each item, largest first."""
        counts = np.bincount(self.matrix.indices, minlength=self.n_items)
        return pd.Series(counts, index=self.items, name="baskets").sort_values(
            ascending=False, kind="stable"
        )

    @property
    def sizes(self) -> np.ndarray:
        """Distinct items per basket."""
        return np.diff(self.matrix.indptr)

    def name_of(self, keys: Iterable[Any]) -> list[str]:
        return [str(self.names.get(k, k)) for k in keys]

    def to_frame(self) -> pd.DataFrame:
        """A sparse boolean DataFrame (for mlxtend); never dense."""
        df = pd.DataFrame.sparse.from_spmatrix(self.matrix, columns=self.items.astype(str))
        return df.astype(pd.SparseDtype(bool, False))

    def items_in_category(self, *categories: str) -> list[Any]:
        """Item keys of these categories: ``association_rules(b, rhs=b.items_in_category("Toys"))``
        gives the rules whose consequent is a toy."""
        if self.categories is None:
            if self.level == "category":
                return [c for c in categories if c in set(self.items)]
            raise ValueError("these baskets carry no product categories")
        return list(self.categories.index[self.categories.isin(categories)])

    @cached_property
    def counts(self) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
        """Exact counts every mining threshold shares, computed once: baskets per item, baskets
        per pair of items (``items x items``, one sparse product) and the baskets of three or
        more items (the only ones that can hold a longer itemset)."""
        counts = np.bincount(self.matrix.indices, minlength=self.n_items)
        counted = self.matrix.astype(np.int64)
        pairs = (counted.T @ counted).tocsr()
        return counts, pairs, self.matrix[np.flatnonzero(self.sizes >= 3)]

    def codes(self, keys: Iterable[Any] | None) -> np.ndarray | None:
        """Column numbers of item keys (unknown keys are ignored); None stays None."""
        if keys is None:
            return None
        idx = self.items.get_indexer(pd.Index(list(keys)))
        return np.unique(idx[idx >= 0])

    def summary(self) -> dict[str, Any]:
        sizes = self.sizes
        return {
            "baskets": self.n_baskets,
            "items": self.n_items,
            "item_occurrences": int(self.matrix.nnz),
            "density": self.matrix.nnz / max(self.n_baskets * self.n_items, 1),
            "mean_size": float(sizes.mean()) if len(sizes) else 0.0,
            "median_size": float(np.median(sizes)) if len(sizes) else 0.0,
            "max_size": int(sizes.max()) if len(sizes) else 0,
            "single_item_baskets": int((sizes == 1).sum()),
        }

    def __repr__(self) -> str:
        return f"Baskets({self.n_baskets:,} baskets x {self.n_items:,} {self.level} items)"


def baskets_from_transactions(
    ds: Dataset | Source | pd.DataFrame,
    level: str = "product",
    *,
    as_of: str | pd.Timestamp | None = None,
    start: str | pd.Timestamp | None = None,
    products: pd.DataFrame | None = None,
    exclude: Iterable[Any] | None = None,
    customers_only: bool = False,
) -> Baskets:
    """One basket per order (``order_id``) of purchase lines, at product or category level.

    Only purchase lines count (``amount > 0``, and ``quantity > 0`` where given): returns and
    cancellations are not baskets.  Lines without a customer (anonymous sales) are kept: a
    basket needs no customer (``customers_only`` leaves them out).  ``start`` (inclusive) and ``as_of`` (the as-of day included)
    restrict the dates.  At product level the display names come from the products table.
    ``exclude`` drops lines of these item keys (e.g. :func:`service_items`: postage, fees).
    Raises :class:`~crm_models.data.dataset.UnsupportedData` when there is no purchase line at all
    up to ``as_of`` (only returns or zero amounts): there are no baskets.
    On an engine :class:`~crm_models.engine.Source` the engine builds them
    (:func:`baskets_from_source`).
    """
    if isinstance(ds, Source):
        return baskets_from_source(
            ds,
            level,
            as_of=as_of,
            start=start,
            products=products,
            exclude=exclude,
            customers_only=customers_only,
        )
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if isinstance(ds, Dataset):
        if ds.transactions is None:
            raise no_transactions(ds.name)
        tx, products = ds.transactions, products if products is not None else ds.products
    else:
        tx = ds
    column = "product_id" if level == "product" else "category"
    if column not in tx.columns:
        raise ValueError(f"the transactions have no {column} column: no {level}-level baskets")
    keep = (tx["amount"] > 0).to_numpy() & tx[column].notna().to_numpy()
    if customers_only:
        keep &= tx["customer_id"].notna().to_numpy()
    if "quantity" in tx.columns:
        keep &= ~(tx["quantity"] <= 0).fillna(False).to_numpy()
    if as_of is not None:
        keep &= (
            tx["order_date"] < pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
        ).to_numpy()
    if not keep.any() and len(tx) and not (tx["amount"] > 0).any():
        raise no_sales(
            "there are no baskets to analyse", tx["order_date"].max() if as_of is None else as_of
        )
    if start is not None:
        keep &= (tx["order_date"] >= pd.Timestamp(start)).to_numpy()
    item_all, items_all = _sorted_codes(tx, column)
    if exclude is not None:
        excluded = items_all.get_indexer(pd.Index([str(e) for e in exclude]))
        keep &= ~np.isin(item_all, excluded[excluded >= 0])
    rows = np.flatnonzero(keep)
    order_code, order_ids = _compact(*_sorted_codes(tx, "order_id"), rows)
    item_code, items = _compact(item_all, items_all, rows)
    n_orders, n_items = len(order_ids), len(items)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (order_code, item_code)), shape=(n_orders, n_items)
    )
    amount = tx["amount"].to_numpy(float)[rows]
    value = np.bincount(order_code, weights=amount, minlength=n_orders)
    items = pd.Index(items, name=column)
    categories = None
    if level == "product" and "category" in tx.columns:  # each item's first stated category
        category = tx["category"].to_numpy()[rows]
        stated = np.flatnonzero(pd.notna(category))
        first_stated = np.full(n_items, -1, dtype=np.int64)
        first_stated[item_code[stated][::-1]] = stated[::-1]
        has = first_stated >= 0
        categories = pd.Series(category[first_stated[has]], index=items[has], name="category")
        categories = categories.reindex(items)
    return Baskets(
        matrix,
        items,
        names=catalogue_names(items, products) if level == "product" else None,
        categories=categories,
        basket_ids=pd.Index(order_ids, name="order_id"),
        value=value,
        level=level,
    )


def baskets_from_source(
    src: Source,
    level: str = "product",
    *,
    as_of: str | pd.Timestamp | None = None,
    start: str | pd.Timestamp | None = None,
    products: pd.DataFrame | None = None,
    exclude: Iterable[Any] | None = None,
    customers_only: bool = False,
) -> Baskets:
    """:func:`baskets_from_transactions` on an engine :class:`~crm_models.engine.Source`: the
    engine keeps the purchase lines and sends only the distinct (basket, item) pairs and one
    row per basket (:func:`~crm_models.engine.aggregates.basket_contents`), so no line reaches
    pandas.  The same baskets, items, names and counts as the in-memory path; an item's
    category is the first alphabetically where it has several."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    tx = src.table("transactions")
    if tx is None:
        raise no_transactions(src.name)
    column = "product_id" if level == "product" else "category"
    if column not in tx.columns:
        raise ValueError(f"the transactions have no {column} column: no {level}-level baskets")
    cut = None if as_of is None else pd.Timestamp(as_of).normalize()
    pairs, orders, listed = aggregates.basket_contents(
        src,
        level,
        cut,
        start=None if start is None else pd.Timestamp(start),
        exclude=None if exclude is None else [str(e) for e in exclude],
        customers_only=customers_only,
    )
    if (
        pairs.empty
        and int(src.execute(tx.count()))
        and not int(src.execute(tx.filter(tx.amount > 0).count()))
    ):
        raise no_sales("there are no baskets to analyse", cut or src.execute(tx.order_date.max()))
    # the engine numbered baskets and items in its own text order; renumber in Python's
    order_code, orders = _in_python_order(pairs["basket_code"].to_numpy(), orders, "basket")
    item_code, listed = _in_python_order(pairs["item_code"].to_numpy(), listed, "item")
    matrix = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.int32), (order_code, item_code)),
        shape=(len(orders), len(listed)),
    )
    items = pd.Index(listed["item"].to_numpy(), name=column)
    if products is None:
        products = products_of(src)
    categories = None
    if "category" in listed.columns:
        categories = pd.Series(listed["category"].to_numpy(), index=items, name="category")
    return Baskets(
        matrix,
        items,
        names=catalogue_names(items, products) if level == "product" else None,
        categories=categories,
        # the ids stay Arrow text: as Python strings 49M orders took 3 GB
        basket_ids=pd.Index(orders["basket"], name="order_id"),
        value=orders["value"].to_numpy(dtype=float),
        level=level,
    )


def _in_python_order(
    codes: np.ndarray, table: pd.DataFrame, column: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Codes into ``table`` (rows in an engine's text order of ``column``) and the table,
    renumbered in Python's order of the texts where the engine's collation differs (e.g. a
    database sorting by locale), so every engine gives the in-memory path's numbering."""
    keys = pd.Index(table[column])
    if keys.is_monotonic_increasing:
        return codes, table.reset_index(drop=True)
    order = keys.argsort()
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return position[codes], table.iloc[order].reset_index(drop=True)


def products_of(ds: Dataset | Source) -> pd.DataFrame | None:
    """The products table (None without one); from an engine source, read whole (a catalogue
    is small)."""
    if isinstance(ds, Source):
        return ds.frame(ds.table("products")) if ds.has("products") else None
    return ds.products


def catalogue_names(items: pd.Index, products: pd.DataFrame | None) -> pd.Series | None:
    """Product names of item keys from the products table (the key where it has none)."""
    if products is None or "name" not in products.columns:
        return None
    catalogue = products.assign(product_id=products["product_id"].astype(str))
    catalogue = catalogue.drop_duplicates("product_id").set_index("product_id")["name"]
    names = catalogue.reindex(items).astype(object)
    return names.where(names.notna(), pd.Series(items, index=items)).astype(str)


def _sorted_codes(tx: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Index]:
    """Every line's code in the sorted distinct values of ``column`` (as text; -1: missing).

    Computed once per transactions frame and column (:func:`~crm_models.data.dataset.derived`):
    hashing 9M order ids takes about 4 s and a report builds its baskets several times (by
    product, by category, before a cut-off)."""

    def compute() -> tuple[np.ndarray, pd.Index]:
        values = tx[column] if column == "order_id" else tx[column].astype(str)
        codes, uniques = pd.factorize(values, sort=True)
        return codes, pd.Index(uniques)

    return derived(tx, f"sorted codes of {column}", compute)


def _compact(codes: np.ndarray, uniques: pd.Index, rows: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """The codes of the lines at ``rows`` renumbered over the values those lines hold (still
    sorted): what factorising the selected lines alone would give."""
    picked = codes[rows]
    used = np.zeros(len(uniques) + 1, dtype=bool)
    used[picked] = True  # -1 (missing) marks the extra last slot
    number = np.cumsum(used[:-1]) - 1
    return np.where(picked >= 0, number[picked], -1), uniques[used[:-1]]


def baskets_from_lines(lines: Iterable[Iterable[str]], source: str | None = None) -> Baskets:
    """Baskets of item labels, one list per basket (as
    :func:`crm_models.data.basket_files.read_basket_lines` reads a basket file).

    An item repeated within a basket counts once; ``source`` (the file) goes into ``info``.
    """
    return baskets_from_table(basket_table([list(found) for found in lines]), source=source)


def baskets_from_table(table: pd.DataFrame, source: str | None = None) -> Baskets:
    """Baskets of a basket file's rows (``basket_id`` numbered from 1, ``item``; a loaded
    basket file's ``Dataset.baskets``)."""
    code, items = pd.factorize(table["item"].astype(object), sort=True)
    n = int(table["basket_id"].max()) if len(table) else 0
    matrix = sp.csr_matrix(
        (
            np.ones(len(code), dtype=np.int32),
            (table["basket_id"].to_numpy(dtype=np.int64) - 1, code),
        ),
        shape=(n, len(items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    info = {} if source is None else {"source": source}
    return Baskets(matrix, pd.Index(items, name="item"), level="item", info=info)


def as_baskets(
    loaded: Dataset | Source | list[list[str]], level: str = "product", source: str | None = None
) -> Baskets:
    """Baskets of a dataset's orders at ``level`` (:func:`baskets_from_transactions`, or
    :func:`baskets_from_source` on an engine), or of
    the lines of a basket file (:func:`crm_models.data.basket_files.read_basket_lines`, turned
    into baskets by :func:`baskets_from_lines`; ``level`` does not apply)."""
    if isinstance(loaded, Source):
        if not loaded.has("transactions") and loaded.has("baskets"):
            return baskets_from_table(loaded.frame(loaded.table("baskets")), loaded.location)
        return baskets_from_source(loaded, level=level)
    if isinstance(loaded, Dataset):
        if loaded.transactions is None and loaded.baskets is not None:
            return baskets_from_table(loaded.baskets, source=loaded.source)
        return baskets_from_transactions(loaded, level=level)
    return baskets_from_lines(loaded, source=source)


SERVICE_NAMES = re.compile(  # the whole name is a service word, perhaps after one qualifier
    r"\s*(?:\w+\s+)?(?:postage|carriage|delivery|shipping|manual|discount|bank charges?|fee|"
    r"commission|samples?|adjust(?:ment)? bad debt)\s*",
    re.IGNORECASE,
)


def service_items(ds: Dataset | Source) -> list[str]:
    """Product ids that are not merchandise, by name: postage, carriage, fees, discounts,
    manual adjustments, samples (as in UCI Online Retail: POST, DOT, C2, M, D, BANK CHARGES,
    AMAZONFEE, ...; "FRENCH CARRIAGE LANTERN" stays).  They say nothing about what goes together and must not be
    offered; pass them as ``exclude``."""
    products = table_of(ds, "products")
    if products is None or "name" not in products.columns:
        return []
    names = products["name"].astype(str)
    service = names.map(lambda n: SERVICE_NAMES.fullmatch(n) is not None).astype(bool)
    return sorted(products.loc[service, "product_id"].astype(str))


# =========================================================================== memory budget
class MemoryBudgetError(ValueError):
    """Mining at these settings would need more memory than the budget allows."""


_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3}
_UNITS.update(GB=1024**3, T=1024**4, TB=1024**4)


def parse_bytes(text: str | int) -> int:
    """``"2GB"``, ``"500 MB"``, ``"1.5G"`` or a plain number of bytes -> bytes (1 KB = 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(
            f"memory budget {text!r} is not a size: give a positive number with B, KB, MB or GB, "
            "e.g. 2GB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_bytes(n: float) -> str:
    """Bytes in words: ``"1.5 GB"``, ``"320 MB"``, ``"12 KB"``."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 10 * size else f"{n / size:,.0f} {unit}"
    return f"{int(n)} B"


class _OverBudget(Exception):
    """Raised inside the miner when the estimate passes the budget (caught by :func:`mine`)."""

    def __init__(self, itemsets: int, used: int) -> None:
        super().__init__(itemsets, used)
        self.itemsets, self.used = itemsets, used


@dataclass
class _Meter:
    """Running estimate of the memory of the itemsets mined so far and of their rules."""

    budget: int | None
    itemsets: int = 0
    used: int = 0

    def add(self, n: int, length: int) -> None:
        """Count ``n`` new itemsets of ``length`` items before they are stored."""
        self.itemsets += n
        self.used += n * (ITEMSET_BYTES + length * RULE_BYTES)
        if self.budget is not None and self.used > self.budget:
            raise _OverBudget(self.itemsets, self.used)


# =========================================================================== thresholds
def _fraction(x: float) -> Fraction:
    """The decimal a user meant (0.8 -> 4/5, not the binary float just below it)."""
    return Fraction(repr(float(x)))


def min_count(min_support: float, n_baskets: int) -> int:
    """Smallest basket count whose support reaches ``min_support`` (exactly: ceil(s * N))."""
    if not 0 <= min_support <= 1:
        raise ValueError(f"min_support must be in [0, 1], got {min_support}")
    return max(math.ceil(_fraction(min_support) * n_baskets), 0)


def confidence_ok(count_xy: np.ndarray, count_x: np.ndarray, min_confidence: float) -> np.ndarray:
    """count_xy / count_x >= min_confidence, compared on integers."""
    frac = _fraction(min_confidence)
    return (
        np.asarray(count_xy, dtype=object) * frac.denominator
        >= np.asarray(count_x, dtype=object) * frac.numerator
    )


# =========================================================================== mining
def _eclat(
    baskets: Baskets, min_cnt: int, max_len: int, meter: _Meter
) -> tuple[list[tuple], list[int]]:
    """All itemsets (as tuples of column numbers, sorted) with count >= min_cnt, up to max_len;
    ``meter`` counts each batch before it is stored (and stops mining over its budget).

    Single items and pairs come from :attr:`Baskets.counts` (exact, shared by every
    threshold); itemsets of three or more items are mined depth-first on the baskets holding at
    least three frequent items only, the only ones that can hold them (most baskets are small),
    so every count is exact."""
    counts, pair_counts, big = baskets.counts
    frequent = np.flatnonzero(counts >= max(min_cnt, 1))
    if len(frequent) == 0 or max_len < 1:
        return [], []
    meter.add(len(frequent), 1)
    # ascending frequency: rare prefixes first keeps the row slices small
    frequent = frequent[np.argsort(counts[frequent], kind="stable")]
    n_f = len(frequent)
    pairs = pair_counts[frequent][:, frequent].tocsr()
    pairs.sort_indices()
    deep = big[:, frequent].tocsr()
    deep = deep[np.flatnonzero(np.diff(deep.indptr) >= 3)]
    deep.sort_indices()
    indptr, indices = deep.indptr.astype(np.int64), deep.indices.astype(np.int64)
    csc = deep.tocsc()
    csc.sort_indices()
    sets: list[tuple] = []
    cnts: list[int] = []

    def extend(prefix: tuple, rows: np.ndarray, last: int) -> None:
        # ``rows``: the deep baskets holding the prefix; the items after its last one in them
        deeper = len(prefix) + 1 < max_len
        if len(prefix) > 1 or deeper:
            starts = indptr[rows]
            lens = indptr[rows + 1] - starts
            pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
            idx = indices[pos]
            later = idx > last
            idx = idx[later]
            in_deep = np.bincount(idx, minlength=n_f)
        if len(prefix) == 1:  # pairs: their counts over all baskets
            ext = np.zeros(n_f, dtype=np.int64)
            lo, hi = pairs.indptr[last], pairs.indptr[last + 1]
            ext[pairs.indices[lo:hi]] = pairs.data[lo:hi]
            ext[: last + 1] = 0
        else:
            ext = in_deep
        cand = np.flatnonzero(ext >= min_cnt)
        if len(cand) == 0:
            return
        meter.add(len(cand), len(prefix) + 1)
        if deeper:
            row_of = np.repeat(rows, lens)[later]
            order = np.argsort(idx, kind="stable")
            row_sorted = row_of[order]
            first = np.searchsorted(idx[order], cand)
        for j, b in enumerate(cand):
            itemset = (*prefix, int(b))
            sets.append(itemset)
            cnts.append(int(ext[b]))
            if deeper and b < n_f - 1:
                extend(itemset, row_sorted[first[j] : first[j] + in_deep[b]], int(b))

    for a in range(n_f):
        sets.append((a,))
        cnts.append(int(counts[frequent[a]]))
        if max_len > 1 and a < n_f - 1:
            extend((a,), csc.indices[csc.indptr[a] : csc.indptr[a + 1]].astype(np.int64), a)
    mapped = [tuple(sorted(int(frequent[c]) for c in s)) for s in sets]
    return mapped, cnts


def _mlxtend(baskets: Baskets, min_cnt: int, max_len: int) -> tuple[list[tuple], list[int]]:
    from mlxtend.frequent_patterns import fpgrowth

    n = baskets.n_baskets
    lowered = max(min_cnt - 0.5, 0.5) / n  # below the exact threshold; filtered on counts next
    df = baskets.to_frame()
    df.columns = range(baskets.n_items)
    found = fpgrowth(df, min_support=lowered, use_colnames=True, max_len=max_len)
    counts = np.rint(found["support"].to_numpy() * n).astype(np.int64)
    keep = counts >= min_cnt
    sets = [tuple(sorted(int(i) for i in s)) for s in found["itemsets"][keep]]
    return sets, [int(c) for c in counts[keep]]


def _restricted(baskets: Baskets, allowed: np.ndarray | None) -> tuple[Baskets, np.ndarray | None]:
    """The baskets over the allowed items only (arules "none" appearance for the rest) and the
    original column numbers of the kept items (None: all kept)."""
    if allowed is None:
        return baskets, None
    keep_cols = np.unique(np.asarray(allowed, dtype=np.int64))
    m = baskets.matrix.tocsc()[:, keep_cols].tocsr()
    return Baskets(m, baskets.items[keep_cols], level=baskets.level), keep_cols


def itemset_load(
    baskets: Baskets,
    min_cnt: int,
    max_len: int,
    memory_budget: int | None,
    allowed: np.ndarray | None = None,
) -> tuple[int, int] | None:
    """(itemsets, estimated bytes with their rules) of mining at ``min_cnt`` baskets, or None
    when the estimate passes ``memory_budget`` (mining stops there, so this never needs more)."""
    b, _ = _restricted(baskets, allowed)
    meter = _Meter(memory_budget)
    try:
        _eclat(b, min_cnt, max_len, meter)
    except _OverBudget:
        return None
    return meter.itemsets, meter.used


def _over_budget(
    b: Baskets, min_cnt: int, max_len: int, budget: int, found: str, setting: str
) -> MemoryBudgetError:
    """The error for mining over the budget, with the lowest ladder support that fits."""
    n = b.n_baskets
    advice = "raise --min-support"
    for support in sorted((s for s in SUPPORT_LADDER if min_count(s, n) > min_cnt), reverse=True):
        load = itemset_load(b, min_count(support, n), max_len, budget)
        if load is None:
            break
        advice = (
            f"raise --min-support to {support:g} (the lowest of {_ladder_text()} that fits: "
            f"{load[0]:,} itemsets, about {format_bytes(load[1])})"
        )
    return MemoryBudgetError(
        f"Mining rules at {setting} and --max-len {max_len} over {n:,} baskets needs more than "
        f"the memory budget of {format_bytes(budget)} (--memory-budget): {found}; "
        f"{advice}, lower --max-len, or raise --memory-budget."
    )


def _ladder_text() -> str:
    return "the supports " + ", ".join(f"{s:g}" for s in SUPPORT_LADDER)


def mine(
    baskets: Baskets,
    min_cnt: int,
    max_len: int,
    engine: str,
    allowed: np.ndarray | None,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    min_support: float | None = None,
) -> tuple[list[tuple], list[int]]:
    """Itemsets (tuples of column numbers) and their counts at ``min_cnt`` baskets, within
    ``memory_budget`` bytes (None: unbounded) or a :class:`MemoryBudgetError`."""
    b, keep_cols = _restricted(baskets, allowed)
    shown = min_support if min_support is not None else min_cnt / max(b.n_baskets, 1)
    setting = f"--min-support {shown:g} ({min_cnt:,} baskets)"
    if engine == "mlxtend":
        dense = b.n_baskets * b.n_items  # mlxtend densifies: one byte per basket and item
        if memory_budget is not None and dense > memory_budget:
            raise MemoryBudgetError(
                f"engine='mlxtend' turns the {b.n_baskets:,} x {b.n_items:,} baskets into a dense "
                f"table of about {format_bytes(dense)}, over the memory budget of "
                f"{format_bytes(memory_budget)}: use engine='eclat' (sparse) or raise the budget."
            )
        sets, cnts = _mlxtend(b, min_cnt, max_len)
    elif engine in ("eclat", "auto"):
        try:
            sets, cnts = _eclat(b, min_cnt, max_len, _Meter(memory_budget))
        except _OverBudget as over:
            found = (
                f"mining stopped after {over.itemsets:,} itemsets, an estimated "
                f"{format_bytes(over.used)} with their rules, and more remain"
            )
            raise _over_budget(b, min_cnt, max_len, memory_budget, found, setting) from None
    else:
        raise ValueError(f"engine must be 'auto', 'eclat' or 'mlxtend', not {engine!r}")
    if keep_cols is not None:
        sets = [tuple(int(keep_cols[c]) for c in s) for s in sets]
    return sets, cnts


def _closed_maximal(sets: list[tuple], cnts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Flags: closed (no superset with the same count), maximal (no frequent superset).

    Checking the supersets one item larger suffices (support is anti-monotone).  Itemsets at
    ``max_len`` count as maximal within what was mined.
    """
    pos = {s: i for i, s in enumerate(sets)}
    closed = np.ones(len(sets), dtype=bool)
    maximal = np.ones(len(sets), dtype=bool)
    for s, c in zip(sets, cnts, strict=True):
        if len(s) < 2:
            continue
        for drop in range(len(s)):
            j = pos.get(s[:drop] + s[drop + 1 :])
            if j is not None:
                maximal[j] = False
                if cnts[j] == c:
                    closed[j] = False
    return closed, maximal


def frequent_itemsets(
    baskets: Baskets,
    min_support: float = 0.1,
    *,
    min_len: int = 1,
    max_len: int = 10,
    target: str = "frequent",
    items: Iterable[Any] | None = None,
    engine: str = "auto",
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
) -> pd.DataFrame:
    """Frequent (or ``closed`` / ``maximal``) itemsets with ``count >= min_support * N``.

    Returns a DataFrame with ``itemset`` (tuple of item keys), ``names``, ``length``, ``count``,
    ``support``, ``closed`` and ``maximal`` (flags among the itemsets of at most ``max_len``
    items), sorted by support.  ``items`` restricts mining to those items.  Raises
    :class:`MemoryBudgetError` when they would need more than ``memory_budget`` bytes.
    """
    if target not in ("frequent", "closed", "maximal"):
        raise ValueError("target must be 'frequent', 'closed' or 'maximal'")
    n = baskets.n_baskets
    min_cnt = min_count(min_support, n)
    sets, cnts = mine(
        baskets, min_cnt, max_len, engine, baskets.codes(items), memory_budget, min_support
    )
    closed, maximal = _closed_maximal(sets, cnts)
    keys = baskets.items.tolist()  # plain lists: indexing a pandas Index per itemset is slow
    names = baskets.name_of(keys)
    lengths = np.array([len(s) for s in sets], dtype=np.int64)
    out = pd.DataFrame(
        {
            "itemset": [tuple(keys[i] for i in s) for s in sets],
            "names": [tuple(names[i] for i in s) for s in sets],
            "length": lengths,
            "count": np.asarray(cnts, dtype=np.int64),
            "closed": closed,
            "maximal": maximal,
        }
    )
    out["support"] = out["count"] / n
    keep = out["length"] >= min_len
    if target == "closed":
        keep &= out["closed"]
    elif target == "maximal":
        keep &= out["maximal"]
    out = out.loc[keep].sort_values(["count", "length"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs.update(n_baskets=n, min_count=min_cnt, min_support=min_support)
    return out


def pair_affinities(baskets: Baskets, min_count: int = 1) -> pd.DataFrame:
    """Every pair of items bought together: ``count`` (baskets with both), ``confidence``
    (x -> y), ``lift``, as a long table with one row per ordered pair (x, y), x != y.

    One sparse product ``X^T X``; meant for a few hundred items (categories, a catalogue).
    """
    return _affinities(baskets.matrix, None, baskets.items, baskets.names, min_count)[0]


def level_affinities(
    ds: Dataset | Source, level: str, as_of: pd.Timestamp | None = None, min_count: int = 1
) -> tuple[pd.DataFrame, pd.Series]:
    """:func:`pair_affinities` and the item counts (largest first, as ``Baskets.item_counts``)
    of the ``level`` baskets up to ``as_of``, from :func:`weighted_baskets` (at 10M customers a
    second matrix of every order beside the report's took 6 GB)."""
    matrix, items, weights = weighted_baskets(ds, level, as_of)
    names = catalogue_names(items, products_of(ds)) if level == "product" else None
    return _affinities(matrix, weights, items, names, min_count)


def weighted_baskets(
    ds: Dataset | Source,
    level: str,
    as_of: pd.Timestamp | None = None,
    exclude: Iterable[Any] | None = None,
    customers_only: bool = False,
) -> tuple[sp.csr_matrix, pd.Index, np.ndarray | None]:
    """The baskets of :func:`baskets_from_transactions` as a 0/1 matrix over the items (sorted)
    and the baskets each row stands for: one per row of a Dataset (None), and on an engine
    source the distinct contents with their counts
    (:func:`~crm_models.engine.aggregates.basket_compositions`): the same item and pair counts
    (:func:`co_counts`) without a row per order leaving the engine."""
    if isinstance(ds, Source):
        matrix, items, weights = aggregates.basket_compositions(
            ds,
            level,
            as_of,
            exclude=None if exclude is None else [str(e) for e in exclude],
            customers_only=customers_only,
        )
        column = "product_id" if level == "product" else "category"
        return matrix, pd.Index(items, name=column), weights
    b = baskets_from_transactions(
        ds, level, as_of=as_of, exclude=exclude, customers_only=customers_only
    )
    return b.matrix, b.items, None


def co_counts(matrix: sp.csr_matrix, weights: np.ndarray | None) -> sp.csr_matrix:
    """Items x items: the baskets holding both items (the diagonal: each item's baskets), of
    baskets given as rows of ``matrix`` standing for ``weights`` baskets each (None: one);
    exact in float64.  Indices sorted: the same layout whatever the rows' order."""
    m = matrix.astype(np.float64)
    pair = (m.T @ (m if weights is None else sp.diags(weights.astype(float)) @ m)).tocsr()
    pair.sort_indices()
    return pair


def _affinities(
    matrix: sp.csr_matrix,
    weights: np.ndarray | None,
    items: pd.Index,
    names: pd.Series | None,
    min_count: int,
) -> tuple[pd.DataFrame, pd.Series]:
    """Pair affinities and item counts of baskets given as rows of ``matrix``, each standing
    for ``weights`` baskets (None: one)."""
    pair = co_counts(matrix, weights).tocoo()  # pairs in item order: ties in lift keep it
    n_item = pair.diagonal()
    keep = (pair.row != pair.col) & (pair.data >= min_count)
    x, y, c = pair.row[keep], pair.col[keep], pair.data[keep].astype(np.int64)
    n = matrix.shape[0] if weights is None else int(weights.sum())
    keys = np.asarray(items)
    names = keys.astype(str) if names is None else names.reindex(items).to_numpy()
    out = pd.DataFrame(
        {
            "item": keys[x],
            "with_item": keys[y],
            "item_name": names[x],
            "with_name": names[y],
            "count": c,
            "confidence": c / n_item[x],
            "lift": c * n / (n_item[x] * n_item[y]),
        }
    )
    counts = pd.Series(n_item.astype(np.int64), index=items, name="baskets")
    return (
        out.sort_values("lift", ascending=False, kind="stable").reset_index(drop=True),
        counts.sort_values(ascending=False, kind="stable"),
    )


def affinity_grid(pairs: pd.DataFrame, items: Iterable[Any]) -> pd.DataFrame:
    """The lift of every pair of ``items`` (from :func:`pair_affinities`) as a square grid in
    the order given; NaN where a pair is missing."""
    items = list(items)
    inside = pairs.loc[pairs["item"].isin(items) & pairs["with_item"].isin(items)]
    grid = inside.pivot(index="item", columns="with_item", values="lift")
    return grid.reindex(index=items, columns=items)


def strongest_pairs(pairs: pd.DataFrame, n: int = 5, min_lift: float = 1.05) -> pd.DataFrame:
    """The ``n`` strongest pairs (each once) bought together clearly more often than chance."""
    once = pairs.loc[(pairs["item"] < pairs["with_item"]) & (pairs["lift"] > min_lift)]
    return once.head(n)

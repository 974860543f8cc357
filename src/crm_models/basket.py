"""Market baskets: frequent itemsets, association rules equal to arules, rule hygiene.

What is bought together, and which rules are worth acting on.  Everything is sparse end to end:
a :class:`Baskets` holds a boolean ``scipy.sparse`` CSR matrix (one row per basket, one column
per item); no dense one-hot table is ever built (a dense table of real retail data does not fit
in memory: mlxtend issue 948 reports 899 GiB for 2.7M orders x 354k SKUs).

Definitions (the same as R's arules, Hahsler, Gruen & Hornik 2005):

* **Support** of an itemset = share of baskets holding all its items; ``count`` = that number.
* **Rules** ``X -> {y}`` have one item on the right-hand side; rule *length* counts the items of
  both sides (``min_len=1`` admits ``{} -> {y}``, whose confidence is y's support).  Defaults as
  arules' ``apriori``: support 0.1, confidence 0.8, length 1 to 10.
* **Thresholds are compared on exact integer counts**: ``count >= min_support * N`` and
  ``count(X u y) >= min_confidence * count(X)`` are evaluated in exact rational arithmetic on the
  decimal thresholds, so a rule whose confidence equals the threshold is kept (a float ratio of
  supports can fall just below it and silently drop the rule).
* ``confidence = count(X u y) / count(X)``, ``coverage = count(X) / N``, ``lift = confidence /
  supp(y)``, ``leverage = supp(X u y) - supp(X) supp(y)``, ``conviction = (1 - supp(y)) / (1 -
  confidence)`` (infinite when confidence is 1).
* **Significance** (:func:`add_significance`, as arules ``is.significant``): one-sided Fisher
  exact test of independence of X and y, p = P(C >= count(X u y)) for C hypergeometric with
  ``count(X)`` draws from N baskets of which ``count(y)`` hold y, adjusted for multiple testing
  (Bonferroni by default, as arules 1.6-1.7.6; arules >= 1.7.7 defaults to no adjustment);
  significant when the adjusted p <= alpha.
* **Redundancy** (:func:`is_redundant`, as arules ``is.redundant``): a rule is redundant when the
  rule set holds a more general rule (same consequent, antecedent a proper subset) with the
  same or a higher confidence (Bayardo et al.'s improvement <= 0).

Mining uses our own depth-first Eclat on the sparse matrix (``engine="eclat"``): per frequent
prefix one sparse row slice counts all extensions at once.  ``engine="mlxtend"`` runs mlxtend's
``fpgrowth`` on a sparse DataFrame (with the threshold lowered by half a basket and the result
filtered on exact counts); it is kept for comparison (``benchmarks/bench_basket.py``): it
densifies the table on the way in (``df.values``), so it cannot mine large data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models.conditions import few, no_sales, plural
from crm_models.dataset import Dataset, UnsupportedData

__all__ = [
    "Baskets",
    "CrossSell",
    "add_significance",
    "association_rules",
    "basket_summary",
    "baskets_from_transactions",
    "category_seasonality",
    "category_transitions",
    "choose_min_support",
    "evaluate_cross_sell",
    "frequent_itemsets",
    "is_redundant",
    "is_significant",
    "load_baskets",
    "min_count",
    "pair_affinities",
    "rank_rules",
    "read_basket_file",
    "repurchase_intervals",
    "rule_revenue",
    "rule_sentence",
    "service_items",
]

LEVELS = ("product", "category")
ADJUST = ("none", "bonferroni", "holm", "fdr", "BH")


# =========================================================================== baskets
@dataclass
class Baskets:
    """Baskets as a sparse boolean matrix: rows are baskets, columns are items.

    ``items`` are the item keys (product ids, category names, or labels of a basket file);
    ``names`` their display names (product names where a catalogue has them).  ``basket_ids``,
    ``value`` (net positive value of the basket), ``customer_id`` and ``date`` are per row when
    known (a basket file has none of them).
    """

    matrix: sp.csr_matrix
    items: pd.Index
    names: pd.Series | None = None
    basket_ids: pd.Index | None = None
    value: np.ndarray | None = None
    customer_id: np.ndarray | None = None
    date: np.ndarray | None = None
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
    ds: Dataset | pd.DataFrame,
    level: str = "product",
    *,
    as_of: str | pd.Timestamp | None = None,
    start: str | pd.Timestamp | None = None,
    products: pd.DataFrame | None = None,
    exclude: Iterable[Any] | None = None,
) -> Baskets:
    """One basket per order (``order_id``) of purchase lines, at product or category level.

    Only purchase lines count (``amount > 0``, and ``quantity > 0`` where given): returns and
    cancellations are not baskets.  Lines without a customer (anonymous sales) are kept: a
    basket needs no customer.  ``start`` (inclusive) and ``as_of`` (the as-of day included)
    restrict the dates.  At product level the display names come from the products table.
    ``exclude`` drops lines of these item keys (e.g. :func:`service_items`: postage, fees).
    Raises :class:`~crm_models.dataset.UnsupportedData` when there is no purchase line at all
    up to ``as_of`` (only returns or zero amounts): there are no baskets.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if isinstance(ds, Dataset):
        if ds.transactions is None:
            raise ValueError(f"dataset {ds.name!r} has no transactions table")
        tx, products = ds.transactions, products if products is not None else ds.products
    else:
        tx = ds
    column = "product_id" if level == "product" else "category"
    if column not in tx.columns:
        raise ValueError(f"the transactions have no {column} column: no {level}-level baskets")
    keep = (tx["amount"] > 0).to_numpy() & tx[column].notna().to_numpy()
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
    if exclude is not None:
        keep &= ~tx[column].astype(str).isin([str(e) for e in exclude]).to_numpy()
    tx = tx.loc[keep]
    order_code, order_ids = pd.factorize(tx["order_id"], sort=True)
    item_keys = tx[column].astype(str)
    item_code, items = pd.factorize(item_keys, sort=True)
    n_orders, n_items = len(order_ids), len(items)
    matrix = sp.csr_matrix(
        (np.ones(len(tx), dtype=np.int32), (order_code, item_code)), shape=(n_orders, n_items)
    )
    value = np.bincount(order_code, weights=tx["amount"].to_numpy(float), minlength=n_orders)
    first = np.full(n_orders, -1, dtype=np.int64)
    first[order_code[::-1]] = np.arange(len(tx))[::-1]  # first line of each order
    customer = tx["customer_id"].to_numpy()[first] if n_orders else np.array([])
    date = tx["order_date"].to_numpy()[first] if n_orders else np.array([], "datetime64[ns]")
    items = pd.Index(items, name=column)
    names = None
    if level == "product" and products is not None and "name" in products.columns:
        catalogue = products.assign(product_id=products["product_id"].astype(str))
        catalogue = catalogue.drop_duplicates("product_id").set_index("product_id")["name"]
        names = catalogue.reindex(items).astype(object)
        names = names.where(names.notna(), pd.Series(items, index=items)).astype(str)
    categories = None
    if level == "product" and "category" in tx.columns:
        cats = pd.DataFrame({"item": item_keys.to_numpy(), "category": tx["category"].to_numpy()})
        cats = cats.dropna().drop_duplicates("item").set_index("item")["category"]
        categories = cats.reindex(items)
    return Baskets(
        matrix,
        items,
        names=names,
        categories=categories,
        basket_ids=pd.Index(order_ids, name="order_id"),
        value=value,
        customer_id=customer,
        date=date,
        level=level,
    )


SERVICE_NAMES = re.compile(  # the whole name is a service word, perhaps after one qualifier
    r"\s*(?:\w+\s+)?(?:postage|carriage|delivery|shipping|manual|discount|bank charges?|fee|"
    r"commission|samples?|adjust(?:ment)? bad debt)\s*",
    re.IGNORECASE,
)


def service_items(ds: Dataset) -> list[str]:
    """Product ids that are not merchandise, by name: postage, carriage, fees, discounts,
    manual adjustments, samples (as in UCI Online Retail: POST, DOT, C2, M, D, BANK CHARGES,
    AMAZONFEE, ...; "FRENCH CARRIAGE LANTERN" stays).  They say nothing about what goes together and must not be
    offered; pass them as ``exclude``."""
    if ds.products is None or "name" not in ds.products.columns:
        return []
    names = ds.products["name"].astype(str)
    service = names.map(lambda n: SERVICE_NAMES.fullmatch(n) is not None).astype(bool)
    return sorted(ds.products.loc[service, "product_id"].astype(str))


def read_basket_file(path: str | Path) -> Baskets:
    """A basket file: one basket per line, items separated by commas, no header.

    This is the format of arules' Groceries export (``groceries.csv``: 9,835 baskets over 169
    items, per its SOURCE.md and arules ``summary(Groceries)``).  Items are trimmed, empty items
    ignored, an item repeated within a line counts once; empty lines are skipped.
    """
    rows: list[int] = []
    labels: list[str] = []
    n = 0
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            found = [s.strip() for s in line.rstrip("\r\n").split(",")]
            found = [s for s in found if s]
            if not found:
                continue
            rows.extend([n] * len(found))
            labels.extend(found)
            n += 1
    if n == 0:
        raise ValueError(f"{path}: no baskets found (one basket per line, comma-separated)")
    code, items = pd.factorize(pd.Series(labels, dtype=object), sort=True)
    matrix = sp.csr_matrix(
        (np.ones(len(code), dtype=np.int32), (np.asarray(rows), code)), shape=(n, len(items))
    )
    return Baskets(matrix, pd.Index(items, name="item"), level="item", info={"source": str(path)})


def _looks_like_basket_file(path: Path) -> bool:
    if path.is_dir() or path.suffix.lower() not in (".csv", ".txt", ".basket", ".tsv"):
        return False
    if path.suffix.lower() == ".txt":  # CDNOW logs are whitespace-separated numbers
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.readline()
        return "," in head
    from crm_models.contract import DataError
    from crm_models.datasets import recognise

    try:
        recognise(path)
    except DataError:
        return True
    return False


def load_baskets(spec: str | Path, level: str = "product") -> Baskets:
    """Baskets from a dataset name/folder/recognised file, or from a basket file."""
    path = Path(spec)
    if path.exists() and _looks_like_basket_file(path):
        return read_basket_file(path)
    from crm_models.datasets import load_dataset

    return baskets_from_transactions(load_dataset(spec), level=level)


# =========================================================================== thresholds
def _fraction(x: float) -> Fraction:
    """The decimal a user meant (0.8 -> 4/5, not the binary float just below it)."""
    return Fraction(repr(float(x)))


def min_count(min_support: float, n_baskets: int) -> int:
    """Smallest basket count whose support reaches ``min_support`` (exactly: ceil(s * N))."""
    if not 0 <= min_support <= 1:
        raise ValueError(f"min_support must be in [0, 1], got {min_support}")
    return max(math.ceil(_fraction(min_support) * n_baskets), 0)


def _confidence_ok(count_xy: np.ndarray, count_x: np.ndarray, min_confidence: float) -> np.ndarray:
    """count_xy / count_x >= min_confidence, compared on integers."""
    frac = _fraction(min_confidence)
    return (
        np.asarray(count_xy, dtype=object) * frac.denominator
        >= np.asarray(count_x, dtype=object) * frac.numerator
    )


# =========================================================================== mining
def _eclat(matrix: sp.csr_matrix, min_cnt: int, max_len: int) -> tuple[list[tuple], list[int]]:
    """All itemsets (as tuples of column numbers, sorted) with count >= min_cnt, up to max_len."""
    n_items = matrix.shape[1]
    counts = np.bincount(matrix.indices, minlength=n_items)
    frequent = np.flatnonzero(counts >= max(min_cnt, 1))
    if len(frequent) == 0 or max_len < 1:
        return [], []
    # ascending frequency: rare prefixes first keeps the row slices small
    frequent = frequent[np.argsort(counts[frequent], kind="stable")]
    sub = matrix[:, frequent].tocsr()
    sub.sort_indices()
    n_f = len(frequent)
    indptr, indices = sub.indptr.astype(np.int64), sub.indices.astype(np.int64)
    csc = sub.tocsc()
    csc.sort_indices()
    sets: list[tuple] = []
    cnts: list[int] = []

    def extend(prefix: tuple, rows: np.ndarray, last: int) -> None:
        # the items of the rows holding the prefix, only those after its last item
        starts = indptr[rows]
        lens = indptr[rows + 1] - starts
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        idx = indices[pos]
        later = idx > last
        idx = idx[later]
        ext = np.bincount(idx, minlength=n_f)
        cand = np.flatnonzero(ext >= min_cnt)
        if len(cand) == 0:
            return
        deeper = len(prefix) + 1 < max_len
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
                extend(itemset, row_sorted[first[j] : first[j] + ext[b]], int(b))

    for a in range(n_f):
        rows = csc.indices[csc.indptr[a] : csc.indptr[a + 1]].astype(np.int64)
        sets.append((a,))
        cnts.append(len(rows))
        if max_len > 1 and a < n_f - 1:
            extend((a,), rows, a)
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


def _mine(
    baskets: Baskets, min_cnt: int, max_len: int, engine: str, allowed: np.ndarray | None
) -> tuple[list[tuple], list[int]]:
    b = baskets
    if allowed is not None:  # mine only allowed items (arules "none" appearance for the rest)
        mask = np.zeros(b.n_items, dtype=bool)
        mask[allowed] = True
        m = b.matrix.tocsc()[:, np.flatnonzero(mask)]
        keep_cols = np.flatnonzero(mask)
        b = Baskets(m.tocsr(), b.items[keep_cols], level=b.level)
    else:
        keep_cols = None
    if engine == "mlxtend":
        sets, cnts = _mlxtend(b, min_cnt, max_len)
    elif engine in ("eclat", "auto"):
        sets, cnts = _eclat(b.matrix, min_cnt, max_len)
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
) -> pd.DataFrame:
    """Frequent (or ``closed`` / ``maximal``) itemsets with ``count >= min_support * N``.

    Returns a DataFrame with ``itemset`` (tuple of item keys), ``names``, ``length``, ``count``,
    ``support``, ``closed`` and ``maximal`` (flags among the itemsets of at most ``max_len``
    items), sorted by support.  ``items`` restricts mining to those items.
    """
    if target not in ("frequent", "closed", "maximal"):
        raise ValueError("target must be 'frequent', 'closed' or 'maximal'")
    n = baskets.n_baskets
    min_cnt = min_count(min_support, n)
    sets, cnts = _mine(baskets, min_cnt, max_len, engine, baskets.codes(items))
    closed, maximal = _closed_maximal(sets, cnts)
    keys = baskets.items
    lengths = np.array([len(s) for s in sets], dtype=np.int64)
    out = pd.DataFrame(
        {
            "itemset": [tuple(keys[list(s)]) for s in sets],
            "names": [tuple(baskets.name_of(keys[list(s)])) for s in sets],
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


RULE_COLUMNS = [
    "antecedents",
    "consequents",
    "antecedent_names",
    "consequent_names",
    "length",
    "count",
    "support",
    "confidence",
    "coverage",
    "lift",
    "leverage",
    "conviction",
    "antecedent_count",
    "consequent_count",
]


def association_rules(
    baskets: Baskets,
    min_support: float = 0.1,
    min_confidence: float = 0.8,
    *,
    min_len: int = 1,
    max_len: int = 10,
    lhs: Iterable[Any] | None = None,
    rhs: Iterable[Any] | None = None,
    exclude: Iterable[Any] | None = None,
    engine: str = "auto",
) -> pd.DataFrame:
    """Association rules ``X -> {y}`` exactly as arules' ``apriori`` (see the module docstring).

    Item constraints (arules' ``appearance``): ``rhs`` - the consequent must be one of these
    items (e.g. the products of a category); ``lhs`` - every antecedent item must be one of
    these; ``exclude`` - items left out entirely.  Returns one row per rule with the columns of
    :data:`RULE_COLUMNS`, sorted by lift; ``attrs`` hold ``n_baskets`` and the parameters.
    """
    if min_len < 1 or max_len < min_len:
        raise ValueError("need 1 <= min_len <= max_len")
    n = baskets.n_baskets
    min_cnt = min_count(min_support, n)
    lhs_c, rhs_c, excl_c = baskets.codes(lhs), baskets.codes(rhs), baskets.codes(exclude)
    allowed = None
    if lhs_c is not None and rhs_c is not None:
        allowed = np.union1d(lhs_c, rhs_c)
    if excl_c is not None and len(excl_c):
        base = np.arange(baskets.n_items) if allowed is None else allowed
        allowed = np.setdiff1d(base, excl_c)
    sets, cnts = _mine(baskets, min_cnt, max_len, engine, allowed)
    count_of = dict(zip(sets, cnts, strict=True))
    count_of[()] = n
    ante, cons, c_xy, c_x, c_y = [], [], [], [], []
    rhs_ok = None if rhs_c is None else set(rhs_c.tolist())
    lhs_ok = None if lhs_c is None else set(lhs_c.tolist())
    for s, c in zip(sets, cnts, strict=True):
        if not min_len <= len(s) <= max_len:
            continue
        for k, y in enumerate(s):
            if rhs_ok is not None and y not in rhs_ok:
                continue
            x = s[:k] + s[k + 1 :]
            if lhs_ok is not None and not lhs_ok.issuperset(x):
                continue
            ante.append(x)
            cons.append(y)
            c_xy.append(c)
            c_x.append(count_of[x])
            c_y.append(count_of[(y,)])
    c_xy_a = np.asarray(c_xy, dtype=np.int64)
    c_x_a = np.asarray(c_x, dtype=np.int64)
    c_y_a = np.asarray(c_y, dtype=np.int64)
    ok = _confidence_ok(c_xy_a, c_x_a, min_confidence) if len(c_xy_a) else np.zeros(0, bool)
    ok = ok.astype(bool)
    idx = np.flatnonzero(ok)
    rules = _rule_frame(
        baskets, [ante[i] for i in idx], [cons[i] for i in idx], c_xy_a[idx], c_x_a[idx], c_y_a[idx]
    )
    rules.attrs.update(
        n_baskets=n,
        min_support=min_support,
        min_confidence=min_confidence,
        min_count=min_cnt,
        min_len=min_len,
        max_len=max_len,
        itemsets=sum(1 for s in sets if len(s) >= min_len),
        level=baskets.level,
    )
    return rules


def _rule_frame(baskets, ante, cons, c_xy, c_x, c_y) -> pd.DataFrame:
    n = baskets.n_baskets
    keys = baskets.items
    supp = c_xy / n
    conf = np.divide(c_xy, c_x, out=np.zeros(len(c_xy)), where=c_x > 0)
    supp_y = c_y / n
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = conf / supp_y
        conviction = np.where(conf >= 1, np.inf, (1 - supp_y) / (1 - conf))
    antecedents = [tuple(keys[list(a)]) for a in ante]
    consequents = [(keys[y],) for y in cons]
    rules = pd.DataFrame(
        {
            "antecedents": antecedents,
            "consequents": consequents,
            "antecedent_names": [tuple(baskets.name_of(a)) for a in antecedents],
            "consequent_names": [tuple(baskets.name_of(c)) for c in consequents],
            "length": np.array([len(a) + 1 for a in ante], dtype=np.int64),
            "count": np.asarray(c_xy, dtype=np.int64),
            "support": supp,
            "confidence": conf,
            "coverage": c_x / n,
            "lift": lift,
            "leverage": supp - (c_x / n) * supp_y,
            "conviction": conviction,
            "antecedent_count": np.asarray(c_x, dtype=np.int64),
            "consequent_count": np.asarray(c_y, dtype=np.int64),
        },
        columns=RULE_COLUMNS,
    )
    # ties broken by the rule's text, so the order does not depend on the mining engine
    rules["_key"] = [
        "\x1f".join(map(str, a)) + "\x1e" + str(c[0])
        for a, c in zip(antecedents, consequents, strict=True)
    ]
    rules = rules.sort_values(
        ["lift", "count", "length", "_key"], ascending=[False, False, True, True], kind="stable"
    )
    return rules.drop(columns="_key").reset_index(drop=True)


# =========================================================================== hygiene
def _p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Multiple-testing adjustment as R's ``p.adjust`` (none, bonferroni, holm, fdr/BH)."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "holm":
        order = np.argsort(p, kind="stable")
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out = np.empty(m)
        out[order] = np.minimum(adj, 1.0)
        return out
    if method in ("fdr", "BH"):
        order = np.argsort(p, kind="stable")[::-1]
        ranks = np.arange(m, 0, -1)
        adj = np.minimum.accumulate(m / ranks * p[order])
        out = np.empty(m)
        out[order] = np.minimum(adj, 1.0)
        return out
    raise ValueError(f"adjust must be one of {ADJUST}, not {method!r}")


def fisher_p_values(rules: pd.DataFrame, n_baskets: int | None = None) -> np.ndarray:
    """One-sided Fisher exact test p-values of the rules (arules ``fishersExactTest``)."""
    from scipy.stats import hypergeom

    n = int(n_baskets or rules.attrs["n_baskets"])
    c_xy = rules["count"].to_numpy(np.int64)
    c_x = rules["antecedent_count"].to_numpy(np.int64)
    c_y = rules["consequent_count"].to_numpy(np.int64)
    return hypergeom.sf(c_xy - 1, n, c_y, c_x)


def add_significance(
    rules: pd.DataFrame,
    alpha: float = 0.01,
    adjust: str = "bonferroni",
    n_baskets: int | None = None,
) -> pd.DataFrame:
    """Copy of ``rules`` with ``p_value``, ``p_adjusted`` and ``significant`` (as arules)."""
    out = rules.copy()
    p = fisher_p_values(rules, n_baskets)
    out["p_value"] = p
    out["p_adjusted"] = _p_adjust(p, adjust)
    out["significant"] = out["p_adjusted"] <= alpha
    out.attrs.update(rules.attrs, alpha=alpha, adjust=adjust)
    return out


def is_significant(
    rules: pd.DataFrame, alpha: float = 0.01, adjust: str = "bonferroni", n_baskets=None
) -> pd.Series:
    """Boolean Series: rules whose adjusted Fisher p-value is <= alpha."""
    return add_significance(rules, alpha, adjust, n_baskets)["significant"]


def is_redundant(rules: pd.DataFrame, measure: str = "confidence") -> pd.Series:
    """Boolean Series: a more general rule in the set has the same or a higher ``measure``.

    More general = same consequent, antecedent a proper subset (the empty antecedent included
    when such a rule is in the set), exactly as arules ``is.redundant`` (improvement <= 0).
    """
    value = rules[measure].to_numpy(float)
    best: dict[tuple, float] = {}
    keys = [
        (cons, frozenset(ante))
        for ante, cons in zip(rules["antecedents"], rules["consequents"], strict=True)
    ]
    for key, v in zip(keys, value, strict=True):
        best[key] = max(v, best.get(key, -np.inf))
    flags = np.zeros(len(rules), dtype=bool)
    for i, (ante, cons) in enumerate(zip(rules["antecedents"], rules["consequents"], strict=True)):
        a = tuple(ante)
        for size in range(len(a)):
            if any(
                best.get((cons, frozenset(sub)), -np.inf) >= value[i]
                for sub in combinations(a, size)
            ):
                flags[i] = True
                break
    return pd.Series(flags, index=rules.index, name="redundant")


def rule_revenue(rules: pd.DataFrame, baskets: Baskets) -> pd.DataFrame:
    """Copy of ``rules`` with ``revenue`` (value of the baskets holding the whole rule) and
    ``revenue_share`` of all basket value: the money behind a rule."""
    out = rules.copy()
    if baskets.value is None:
        out["revenue"] = np.nan
        out["revenue_share"] = np.nan
        return out
    csc = baskets.matrix.tocsc()
    csc.sort_indices()
    col = {k: i for i, k in enumerate(baskets.items)}
    cache: dict[frozenset, float] = {}
    revenue = np.empty(len(rules))
    for i, (ante, cons) in enumerate(zip(rules["antecedents"], rules["consequents"], strict=True)):
        key = frozenset((*ante, *cons))
        if key not in cache:
            cols = sorted((col[k] for k in key), key=lambda c: csc.indptr[c + 1] - csc.indptr[c])
            rows = csc.indices[csc.indptr[cols[0]] : csc.indptr[cols[0] + 1]]
            for c in cols[1:]:
                rows = np.intersect1d(
                    rows, csc.indices[csc.indptr[c] : csc.indptr[c + 1]], assume_unique=True
                )
            cache[key] = float(baskets.value[rows].sum())
        revenue[i] = cache[key]
    out["revenue"] = revenue
    total = float(baskets.value.sum())
    out["revenue_share"] = revenue / total if total else np.nan
    return out


def rank_rules(rules: pd.DataFrame, by: str = "lift", top: int | None = None) -> pd.DataFrame:
    """Rules ranked by ``lift`` (ties: count) or by covered ``revenue`` (ties: lift)."""
    if by == "lift":
        order = ["lift", "count"]
    elif by == "revenue":
        if "revenue" not in rules.columns:
            raise ValueError("rank by revenue needs rule_revenue(rules, baskets) first")
        order = ["revenue", "lift"]
    else:
        order = [by, "lift"]
    ranked = rules.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)
    return ranked.head(top) if top else ranked


def _join(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def rule_sentence(rule: pd.Series | dict) -> str:
    """A rule in words: "Customers who buy X are 3.2 times as likely to buy Y"."""
    ante = list(rule["antecedent_names"])
    cons = _join(rule["consequent_names"])
    if not ante:
        return f"{rule['confidence']:.0%} of all baskets hold {cons}"
    lift = rule["lift"]
    strength = f"{lift:.1f} times as likely" if lift >= 1.05 else "about as likely"
    if lift < 0.95:
        strength = f"{1 / lift:.1f} times less likely"
    return (
        f"Customers who buy {_join(ante)} are {strength} to buy {cons} "
        f"({rule['confidence']:.0%} of their baskets hold it)"
    )


def basket_summary(
    baskets: Baskets,
    min_support: float = 0.1,
    min_confidence: float = 0.8,
    min_len: int = 1,
    max_len: int = 10,
    top: int = 20,
) -> dict[str, Any]:
    """Counts and the strongest rules (by lift) as plain data (the CLI's ``--json``)."""
    rules = association_rules(
        baskets, min_support, min_confidence, min_len=min_len, max_len=max_len
    )
    ranked = rank_rules(rules, "lift", top)
    return {
        "baskets": baskets.n_baskets,
        "items": baskets.n_items,
        "level": baskets.level,
        "min_support": min_support,
        "min_confidence": min_confidence,
        "min_count": rules.attrs["min_count"],
        "itemsets": int(rules.attrs["itemsets"]),
        "rules": len(rules),
        "top_rules": [
            {
                "antecedents": list(r.antecedent_names),
                "consequents": list(r.consequent_names),
                "support": float(r.support),
                "confidence": float(r.confidence),
                "lift": float(r.lift),
                "count": int(r.count),
            }
            for r in ranked.itertuples()
        ],
    }


def pair_affinities(baskets: Baskets, min_count: int = 1) -> pd.DataFrame:
    """Every pair of items bought together: ``count`` (baskets with both), ``confidence``
    (x -> y), ``lift``, as a long table with one row per ordered pair (x, y), x != y.

    One sparse product ``X^T X``; meant for a few hundred items (categories, a catalogue).
    """
    m = baskets.matrix.astype(np.float32)
    pair = (m.T @ m).tocoo()
    n_item = np.bincount(baskets.matrix.indices, minlength=baskets.n_items).astype(float)
    keep = (pair.row != pair.col) & (pair.data >= min_count)
    x, y, c = pair.row[keep], pair.col[keep], pair.data[keep].astype(np.int64)
    n = baskets.n_baskets
    names = baskets.names.reindex(baskets.items).to_numpy()
    out = pd.DataFrame(
        {
            "item": np.asarray(baskets.items)[x],
            "with_item": np.asarray(baskets.items)[y],
            "item_name": names[x],
            "with_name": names[y],
            "count": c,
            "confidence": c / n_item[x],
            "lift": c * n / (n_item[x] * n_item[y]),
        }
    )
    return out.sort_values("lift", ascending=False, kind="stable").reset_index(drop=True)


def choose_min_support(
    baskets: Baskets,
    min_confidence: float = 0.1,
    target_rules: int = 40,
    candidates: Iterable[float] = (0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005),
    min_baskets: int = 20,
) -> float:
    """The largest support among ``candidates`` giving at least ``target_rules`` rules of two
    or more items (never a threshold under ``min_baskets`` baskets); a report's default.
    Raises :class:`~crm_models.dataset.UnsupportedData` with fewer than ``min_baskets``
    baskets."""
    if baskets.n_baskets < min_baskets:
        raise few(
            baskets.n_baskets,
            "basket (order with purchases)",
            "baskets (orders with purchases)",
            "look for products bought together",
            min_baskets,
        )
    floor = min_baskets / max(baskets.n_baskets, 1)
    usable = [c for c in sorted(candidates, reverse=True) if c >= floor] or [floor]
    for c in usable:
        rules = association_rules(baskets, c, min_confidence, min_len=2, max_len=3)
        if len(rules) >= target_rules:
            return c
    return usable[-1]


# =========================================================================== cross-sell
def _customer_items(
    tx: pd.DataFrame, customers: pd.Index, items: pd.Index, column: str
) -> sp.csr_matrix:
    """customers x items: 1 where the customer bought the item (purchase lines only)."""
    r = customers.get_indexer(tx["customer_id"])
    c = items.get_indexer(tx[column].astype(str))
    ok = (r >= 0) & (c >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.float32), (r[ok], c[ok])),
        shape=(len(customers), len(items)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _purchases(ds: Dataset, column: str, exclude: Iterable[Any] | None = None) -> pd.DataFrame:
    tx = ds.customer_transactions()
    keep = (tx["amount"] > 0) & tx[column].notna()
    if exclude is not None:
        keep &= ~tx[column].astype(str).isin([str(e) for e in exclude])
    if "quantity" in tx.columns:
        keep &= ~(tx["quantity"] <= 0).fillna(False)
    return tx.loc[keep, ["customer_id", "order_id", "order_date", column, "amount"]]


class CrossSell:
    """Item-to-item cross-sell: for each customer, the top-k items they have not bought yet.

    ``fit`` learns, from purchases up to ``as_of``: how often customers who bought item x also
    bought item y (``P(y | x)`` over customers' own baskets, shrunk towards zero for rarely
    bought x by ``shrinkage`` pseudo-customers), the lift of that co-purchase, the same-basket
    rules x -> y (confidence and lift within orders), and item popularity (share of customers).
    A customer's score for an item they have not bought blends (``aggregate="blend"``) the mean
    of ``P(y | x)`` over the items x they bought (their whole history speaks) with the best
    single ``P(y | x)`` (one strong link, e.g. a smartphone calling for a case, is not diluted
    by the rest; each x's ``top_links`` strongest links are considered); ``"mean"`` and
    ``"max"`` use one of the two.  On ``demo``, out of time, the
    three are within a point of each other at 5 offers; the blend keeps the strong links.
    The x with the largest ``P(y | x)`` explains the offer.  Customers without a usable
    history get the most popular items (``source`` = "popular").  Only items bought by at
    least ``min_customers`` customers are offered; items in ``exclude`` (postage, fees: see
    :func:`service_items`) are neither learnt from nor offered.
    """

    def __init__(
        self,
        k: int = 5,
        level: str = "product",
        shrinkage: float = 5.0,
        aggregate: str = "blend",
        min_customers: int = 5,
        exclude: Iterable[Any] | None = None,
        top_links: int = 50,
    ) -> None:
        self.k = k
        self.level = level
        self.shrinkage = shrinkage
        self.aggregate = aggregate
        self.min_customers = min_customers
        self.exclude = exclude
        self.top_links = top_links

    # -- learning ----------------------------------------------------------------------------
    def fit(self, ds: Dataset, as_of: str | pd.Timestamp | None = None) -> CrossSell:
        from crm_models.features import resolve_as_of

        column = "product_id" if self.level == "product" else "category"
        as_of_day = resolve_as_of(ds, as_of)
        tx = _purchases(ds, column, self.exclude)
        tx = tx.loc[tx["order_date"] < as_of_day + pd.Timedelta(days=1)]
        if tx.empty:
            raise UnsupportedData(
                f"There are no purchases up to {as_of_day.date()} to learn cross-sell offers from."
            )
        customers = pd.Index(np.sort(tx["customer_id"].unique()), name="customer_id")
        items_all = pd.Index(np.sort(tx[column].astype(str).unique()), name=column)
        owned = _customer_items(tx, customers, items_all, column)
        buyers = np.asarray(owned.sum(axis=0)).ravel()
        keep = buyers >= self.min_customers
        if not keep.any():
            raise UnsupportedData(
                f"No {self.level} was bought by at least {self.min_customers} customers "
                f"(there are {plural(len(customers), 'buyer')} in all), too few to learn "
                "cross-sell offers from."
            )
        self.items_ = items_all[keep]
        owned = owned[:, np.flatnonzero(keep)].tocsr()
        co = (owned.T @ owned).toarray().astype(np.float32)  # customers buying both
        n_buy = np.diag(co).astype(np.float64)
        np.fill_diagonal(co, 0.0)
        self.n_customers_ = len(customers)
        self.n_buyers_ = n_buy
        self.popularity_ = n_buy / len(customers)
        co /= (n_buy[:, None] + self.shrinkage).astype(np.float32)
        self.cond_ = co  # P(y | x), shrunk (dense items x items, float32)
        self.links_ = None
        # same-basket pair counts x & y, for the explanation
        b = baskets_from_transactions(tx, level=self.level, products=ds.products)
        bm = b.matrix[:, b.items.get_indexer(self.items_)].tocsr().astype(np.float32)
        pair = (bm.T @ bm).tocsr()
        self.basket_item_counts_ = pair.diagonal().astype(np.float64)
        pair.setdiag(0)
        pair.eliminate_zeros()
        self.basket_pairs_ = pair  # sparse
        self.n_baskets_ = b.n_baskets
        names = b.names.reindex(self.items_)
        self.names_ = names.where(names.notna(), pd.Series(self.items_, index=self.items_))
        self.customers_ = customers
        self.owned_ = owned
        self.as_of_ = as_of_day
        self.column_ = column
        return self

    # -- scoring -----------------------------------------------------------------------------
    def _scores(self, owned: sp.csr_matrix) -> np.ndarray:
        """Scores (customers x items) from P(y | x) over the items x each customer bought."""
        if self.aggregate not in ("mean", "max", "blend"):
            raise ValueError("aggregate must be 'mean', 'max' or 'blend'")
        scores = np.zeros(owned.shape)
        if self.aggregate in ("mean", "blend"):
            n_owned = np.maximum(np.diff(owned.indptr), 1)[:, None]
            scores += np.asarray(owned @ self.cond_) / n_owned
        if self.aggregate in ("max", "blend"):
            best = self._best_link(owned)
            scores = (scores + best) / 2 if self.aggregate == "blend" else best
        return scores

    def _best_link(self, owned: sp.csr_matrix) -> np.ndarray:
        """Per customer and item y: the largest P(y | x) over the bought items x, looking at
        each x's ``top_links`` strongest links only (cost: bought items x top_links)."""
        m = owned.shape[1]
        links = self._links()
        lens = np.diff(owned.indptr)
        cust = np.repeat(np.arange(owned.shape[0], dtype=np.int64), lens)
        x = owned.indices.astype(np.int64)
        per = np.diff(links.indptr)[x]
        starts = links.indptr[x].astype(np.int64)
        total = int(per.sum())
        best = np.zeros(owned.shape[0] * m)
        if total:
            pos = np.repeat(starts - np.cumsum(per) + per, per) + np.arange(total)
            flat = np.repeat(cust, per) * m + links.indices[pos]
            np.maximum.at(best, flat, links.data[pos].astype(np.float64))
        return best.reshape(owned.shape)

    def _links(self) -> sp.csr_matrix:
        if getattr(self, "links_", None) is None:
            k = min(self.top_links, self.cond_.shape[1])
            m = self.cond_.shape[0]
            top = np.argpartition(-self.cond_, k - 1, axis=1)[:, :k] if k else np.zeros((m, 0))
            rows = np.repeat(np.arange(m), top.shape[1])
            vals = self.cond_[rows, top.ravel()]
            keep = vals > 0
            self.links_ = sp.csr_matrix(
                (vals[keep], (rows[keep], top.ravel()[keep])), shape=self.cond_.shape
            )
        return self.links_

    def _because(self, owned: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """For each (customer row, offered item): the bought item with the highest P(y | x)."""
        indptr = owned.indptr.astype(np.int64)
        starts = indptr[rows]
        lens = indptr[rows + 1] - starts
        out = np.full(len(rows), -1, dtype=np.int64)
        if lens.sum() == 0:
            return out
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        x = owned.indices[pos].astype(np.int64)
        seg = np.repeat(np.arange(len(rows)), lens)
        vals = self.cond_[x, np.repeat(cols, lens)]
        order = np.lexsort((-vals, seg))
        first = np.r_[True, seg[order][1:] != seg[order][:-1]]
        out[seg[order][first]] = x[order][first]
        return out

    def recommend(
        self,
        customers: Iterable[Any] | None = None,
        k: int | None = None,
        chunk: int = 2_000,
    ) -> pd.DataFrame:
        """Top-k not-yet-bought items per customer with score and the reason.

        Columns: ``customer_id``, ``rank``, ``product`` (item key), ``product_name``, ``score``,
        ``source`` ("co-purchase" or "popular"), ``because`` (item key behind the offer),
        ``rule`` (the reason in words).  ``customers`` defaults to every customer seen in fit;
        unknown customers get the popular items.
        """
        k = k or self.k
        ids = self.customers_ if customers is None else pd.Index(list(customers))
        pos = self.customers_.get_indexer(ids)
        frames = []
        for start in range(0, len(ids), chunk):
            p = pos[start : start + chunk]
            known = p >= 0
            owned = sp.csr_matrix((len(p), len(self.items_)), dtype=np.float32)
            if known.any():
                rows = np.where(known, p, 0)
                owned = self.owned_[rows].tocsr()
                owned = sp.diags(known.astype(np.float32)) @ owned
                owned = owned.tocsr()
                owned.eliminate_zeros()
            frames.append(self._top(ids[start : start + chunk], owned, k))
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return out

    def _top(self, ids: pd.Index, owned: sp.csr_matrix, k: int) -> pd.DataFrame:
        scores = self._scores(owned)
        # popularity breaks ties and fills customers without signal
        ranked = scores + 1e-9 * self.popularity_[None, :]
        ranked[owned.toarray() > 0] = -np.inf
        kk = min(k, len(self.items_))
        top = np.argsort(-ranked, axis=1, kind="stable")[:, :kk]
        rows = np.repeat(np.arange(len(ids)), kk)
        cols = top.ravel()
        valid = np.isfinite(ranked[rows, cols])
        rows, cols = rows[valid], cols[valid]
        score = scores[rows, cols]
        src_item = self._because(owned, rows, cols)
        co = score > 0
        source = np.where(co, "co-purchase", "popular")
        frame = pd.DataFrame(
            {
                "customer_id": np.asarray(ids)[rows],
                "rank": (np.arange(len(rows)) - np.searchsorted(rows, rows)) + 1,
                "product": np.asarray(self.items_)[cols],
                "product_name": self.names_.to_numpy()[cols],
                "score": np.where(co, score, self.popularity_[cols]),
                "source": source,
                "because": np.where(co, np.asarray(self.items_)[np.maximum(src_item, 0)], ""),
            }
        )
        frame["rule"] = self._reasons(np.where(co, src_item, -1), cols)
        return frame

    def _reasons(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The reason for offering item ys[i] because of bought item xs[i] (-1: popularity)."""
        key = np.asarray(xs, dtype=np.int64) * (len(self.items_) + 1) + np.asarray(ys)
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        x, y = np.asarray(xs)[first], np.asarray(ys)[first]
        texts = np.full(len(uniq), "popular with all customers", dtype=object)
        real = x >= 0
        if not real.any():  # every offer is a popular item: no pair to explain
            return texts[inverse.ravel()]
        x, y = x[real], y[real]
        names = self.names_.to_numpy(dtype=object)
        both = np.asarray(self.basket_pairs_[x, y]).ravel().astype(float)
        n_x, n_y = self.basket_item_counts_[x], self.basket_item_counts_[y]
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.nan_to_num(both * self.n_baskets_ / (n_x * n_y))
        cust = self.customer_lift(x, y)
        texts[np.flatnonzero(real)] = [
            f"bought {names[a]}; baskets with {names[a]} are {bl:.1f}x as likely to hold {names[b]}"
            if bl >= 1.5 and nb >= 5
            else f"bought {names[a]}; customers who bought {names[a]} are {cl:.1f}x as likely "
            f"to buy {names[b]}"
            for a, b, bl, nb, cl in zip(x, y, lift, both, cust, strict=True)
        ]
        return texts[inverse.ravel()]

    def customer_lift(self, x, y):
        """P(y | bought x) / P(y) over customers (unshrunk), for item positions x and y."""
        both = self.cond_[x, y] * (self.n_buyers_[x] + self.shrinkage)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(both / self.n_buyers_[x] / self.popularity_[y])

    def explain_pairs(self, top: int = 20) -> pd.DataFrame:
        """Strongest item-to-item links (by customer-level lift, at least 5 customers)."""
        co = self.cond_ * (self.n_buyers_[:, None] + self.shrinkage)
        x, y = np.nonzero(co >= 4.5)
        lift = self.customer_lift(x, y)
        x, y, lift = x[lift > 1], y[lift > 1], lift[lift > 1]
        frame = pd.DataFrame(
            {
                "bought": self.names_.to_numpy()[x],
                "offer": self.names_.to_numpy()[y],
                "customers_both": np.rint(co[x, y]).astype(int),
                "p_offer_given_bought": co[x, y] / self.n_buyers_[x],
                "lift": lift,
            }
        )
        return frame.sort_values("lift", ascending=False).head(top).reset_index(drop=True)


def _popular_top(model: CrossSell, owned: sp.csr_matrix, k: int) -> np.ndarray:
    ranked = np.broadcast_to(model.popularity_, owned.shape).copy()
    ranked[owned.toarray() > 0] = -np.inf
    return np.argsort(-ranked, axis=1, kind="stable")[:, :k]


@dataclass
class CrossSellEvaluation:
    """Out-of-time evaluation: metrics per method and k, and what was evaluated."""

    metrics: pd.DataFrame
    cutoff: pd.Timestamp
    end: pd.Timestamp
    customers: int
    new_items_per_customer: float
    model: CrossSell

    def to_frame(self) -> pd.DataFrame:
        return self.metrics

    def lift_over_baseline(self, k: int, metric: str = "hit_rate") -> float:
        m = self.metrics.set_index(["method", "k"])[metric]
        return float(m[("cross-sell", k)] / m[("popularity", k)])


def evaluate_cross_sell(
    ds: Dataset,
    cutoff: str | pd.Timestamp | None = None,
    horizon_days: int = 180,
    ks: Iterable[int] = (1, 3, 5, 10),
    model: CrossSell | None = None,
    max_customers: int | None = None,
    seed: int = 0,
) -> CrossSellEvaluation:
    """Learn before ``cutoff``, score on what customers newly bought in the next ``horizon_days``.

    Evaluated customers bought before the cut-off and bought at least one item new to them
    after it (within the horizon).  For each k: ``hit_rate`` (share of customers with at least
    one of their top-k bought), ``precision`` (hits / k), ``recall`` (hits / new items bought),
    for the cross-sell model and for the popularity baseline (most popular not-yet-bought
    items).  The cut-off defaults to ``horizon_days`` before the last date.
    """
    from crm_models.features import resolve_as_of

    ks = sorted(set(ks))
    end = resolve_as_of(ds, None)
    cut = (
        pd.Timestamp(cutoff).normalize()
        if cutoff is not None
        else end - pd.Timedelta(days=horizon_days)
    )
    stop = min(end, cut + pd.Timedelta(days=horizon_days))
    model = model or CrossSell()
    model.fit(ds, as_of=cut)
    column = model.column_
    tx = _purchases(ds, column, model.exclude)
    after = tx.loc[
        (tx["order_date"] >= cut + pd.Timedelta(days=1))
        & (tx["order_date"] < stop + pd.Timedelta(days=1))
    ]
    after_items = _customer_items(after, model.customers_, model.items_, column)
    new = after_items - after_items.multiply(model.owned_)
    new.eliminate_zeros()
    n_new = np.diff(new.tocsr().indptr)
    evaluated = np.flatnonzero(n_new > 0)
    if max_customers and len(evaluated) > max_customers:
        rng = np.random.default_rng(seed)
        evaluated = np.sort(rng.choice(evaluated, max_customers, replace=False))
    if len(evaluated) == 0:
        raise UnsupportedData(
            f"No customer bought anything new to them between {cut.date()} and {stop.date()}, "
            "so the cross-sell offers cannot be checked against what customers did next."
        )
    owned = model.owned_[evaluated].tocsr()
    truth = new.tocsr()[evaluated]
    kmax = max(ks)
    scores = model._scores(owned)
    ranked = scores + 1e-9 * model.popularity_[None, :]
    ranked[owned.toarray() > 0] = -np.inf
    tops = {
        "cross-sell": np.argsort(-ranked, axis=1, kind="stable")[:, :kmax],
        "popularity": _popular_top(model, owned, kmax),
    }
    dense_truth = truth.toarray() > 0
    rows_idx = np.arange(len(evaluated))[:, None]
    n_rel = dense_truth.sum(axis=1)
    records = []
    for method, top in tops.items():
        hit = dense_truth[rows_idx, top]
        for k in ks:
            hits = hit[:, :k].sum(axis=1)
            records.append(
                {
                    "method": method,
                    "k": k,
                    "hit_rate": float((hits > 0).mean()),
                    "precision": float((hits / k).mean()),
                    "recall": float((hits / n_rel).mean()),
                }
            )
    return CrossSellEvaluation(
        metrics=pd.DataFrame(records),
        cutoff=cut,
        end=stop,
        customers=len(evaluated),
        new_items_per_customer=float(n_rel.mean()),
        model=model,
    )


# =========================================================================== timing
def _category_lines(ds: Dataset, as_of=None) -> pd.DataFrame:
    from crm_models.features import resolve_as_of

    if ds.transactions is None or "category" not in ds.transactions.columns:
        raise ValueError(f"dataset {ds.name!r} has no category information")
    as_of_day = resolve_as_of(ds, as_of)
    tx = ds.transactions
    keep = (tx["amount"] > 0) & tx["category"].notna()
    keep &= tx["order_date"] < as_of_day + pd.Timedelta(days=1)
    return tx.loc[keep]


def category_seasonality(ds: Dataset, by: str = "month", as_of=None) -> pd.DataFrame:
    """Seasonal index of each category: its share of lines in a month / weekday / hour divided
    by its share overall (1.0 = no seasonality; 1.3 = 30% more of this category then).

    Rows are categories, columns the periods (1-12, Mon..Sun or 0-23).  ``by="hour"`` raises
    when the data carries no times of day.
    """
    tx = _category_lines(ds, as_of)
    dates = tx["order_date"]
    if by == "month":
        key, labels = dates.dt.month, dict(enumerate(
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
        ))  # fmt: skip
    elif by == "weekday":
        key, labels = (
            dates.dt.dayofweek,
            dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
        )
    elif by == "hour":
        if not has_times(ds):
            raise ValueError("the data has no times of day")
        key, labels = dates.dt.hour, {h: f"{h:02d}" for h in range(24)}
    else:
        raise ValueError("by must be 'month', 'weekday' or 'hour'")
    table = pd.crosstab(tx["category"].astype(str), key.to_numpy())
    share_in_period = table / table.sum(axis=0)
    overall = table.sum(axis=1) / table.to_numpy().sum()
    index = share_in_period.div(overall, axis=0)
    index.columns = [labels[c] for c in index.columns]
    index.index.name = "category"
    index.attrs["lines"] = table
    return index


def has_times(ds: Dataset) -> bool:
    """True when order dates carry times of day (not all at midnight)."""
    if ds.transactions is None or ds.transactions.empty:
        return False
    d = ds.transactions["order_date"]
    return bool((d != d.dt.normalize()).any())


def category_transitions(ds: Dataset, which: str = "first", as_of=None) -> pd.DataFrame:
    """What customers buy next: category of an order -> categories of the customer's next order.

    ``which="first"`` uses each customer's first order and second order; ``"all"`` every pair of
    consecutive orders.  Returns a long table: ``from_category``, ``to_category``, ``customers``
    (pairs), ``share`` (of the pairs starting in that category) and ``lift`` (share divided by
    the category's share of all next orders).  An order in several categories counts in each.
    """
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    orders = (
        tx.groupby("order_id", sort=False)
        .agg(customer_id=("customer_id", "first"), order_date=("order_date", "min"))
        .sort_values(["customer_id", "order_date"], kind="stable")
    )
    orders["seq"] = orders.groupby("customer_id").cumcount()
    nxt = orders.groupby("customer_id")["seq"].shift(-1)
    orders = orders.assign(next_seq=nxt)
    if which == "first":
        orders = orders.loc[orders["seq"] == 0]
    elif which != "all":
        raise ValueError("which must be 'first' or 'all'")
    orders = orders.dropna(subset=["next_seq"])
    cats = tx[["order_id", "category"]].drop_duplicates()
    pairs = orders.reset_index()[["order_id", "customer_id", "next_seq"]].merge(cats, on="order_id")
    pairs = pairs.rename(columns={"category": "from_category"})
    all_orders = (
        tx.groupby("order_id", sort=False)
        .agg(customer_id=("customer_id", "first"), order_date=("order_date", "min"))
        .sort_values(["customer_id", "order_date"], kind="stable")
    )
    all_orders["seq"] = all_orders.groupby("customer_id").cumcount()
    nxt_cats = all_orders.reset_index()[["order_id", "customer_id", "seq"]].merge(
        cats, on="order_id"
    )
    nxt_cats = nxt_cats.rename(columns={"category": "to_category", "seq": "next_seq"})
    pairs["next_seq"] = pairs["next_seq"].astype(np.int64)
    joined = pairs.merge(
        nxt_cats[["customer_id", "next_seq", "to_category"]], on=["customer_id", "next_seq"]
    )
    table = (
        joined.groupby(["from_category", "to_category"]).size().rename("customers").reset_index()
    )
    table["share"] = table["customers"] / table.groupby("from_category")["customers"].transform(
        "sum"
    )
    base = table.groupby("to_category")["customers"].sum()
    table["lift"] = table["share"] / table["to_category"].map(base / base.sum())
    return table.sort_values(["from_category", "share"], ascending=[True, False]).reset_index(
        drop=True
    )


def repurchase_intervals(ds: Dataset, as_of=None) -> pd.DataFrame:
    """Typical days between a customer's purchases in the same category.

    Per category: ``customers`` (with at least two purchase days in it), ``intervals``,
    ``median_days``, ``mean_days``, ``p25_days``, ``p75_days`` and ``repeat_share`` (share of
    the category's buyers who bought it again).  Purchases on one day are one purchase.
    """
    tx = _category_lines(ds, as_of)
    tx = tx.loc[tx["customer_id"].notna()]
    days = (
        pd.DataFrame(
            {
                "customer_id": tx["customer_id"].to_numpy(),
                "category": tx["category"].astype(str).to_numpy(),
                "day": tx["order_date"].dt.normalize().to_numpy(),
            }
        )
        .drop_duplicates()
        .sort_values(["category", "customer_id", "day"], kind="stable")
    )
    same = (days["customer_id"].to_numpy()[1:] == days["customer_id"].to_numpy()[:-1]) & (
        days["category"].to_numpy()[1:] == days["category"].to_numpy()[:-1]
    )
    gaps = (days["day"].to_numpy()[1:] - days["day"].to_numpy()[:-1]) / np.timedelta64(1, "D")
    g = pd.DataFrame(
        {"category": days["category"].to_numpy()[1:][same], "days": gaps[same],
         "customer_id": days["customer_id"].to_numpy()[1:][same]}
    )  # fmt: skip
    buyers = days.groupby("category")["customer_id"].nunique()
    stats = g.groupby("category").agg(
        customers=("customer_id", "nunique"),
        intervals=("days", "size"),
        median_days=("days", "median"),
        mean_days=("days", "mean"),
        p25_days=("days", lambda s: s.quantile(0.25)),
        p75_days=("days", lambda s: s.quantile(0.75)),
    )
    stats = stats.reindex(buyers.index)
    stats["customers"] = stats["customers"].fillna(0).astype(np.int64)
    stats["intervals"] = stats["intervals"].fillna(0).astype(np.int64)
    stats["repeat_share"] = stats["customers"] / buyers
    return stats.sort_values("median_days")

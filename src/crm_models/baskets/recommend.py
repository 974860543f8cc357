"""Cross-sell: the items each customer is most likely to buy next, and an out-of-time check."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models.baskets.mining import (
    catalogue_names,
    co_counts,
    products_of,
    weighted_baskets,
)
from crm_models.data.conditions import plural
from crm_models.data.dataset import Dataset, UnsupportedData, derived
from crm_models.engine import Source, aggregates
from crm_models.features import resolve_as_of
from crm_models.units import as_of_day as day_number

# customers the out-of-time test of the offers scores at most (a seeded sample): the hit rates
# are then within about 0.2 points (95%), and at 10M customers scoring the 2.5M who bought
# something new took 3 minutes
EVALUATION_SAMPLE = 200_000

__all__ = [
    "EVALUATION_SAMPLE",
    "CrossSell",
    "CrossSellEvaluation",
    "cross_sell_list",
    "evaluate_cross_sell",
    "evaluation_metrics",
    "known_customers",
    "offer_counts",
]


def _purchases(ds: Dataset, column: str, exclude: Iterable[Any] | None = None) -> pd.DataFrame:
    tx = ds.customer_transactions()
    keep = (tx["amount"] > 0) & tx[column].notna()
    if exclude is not None:
        keep &= ~tx[column].astype(str).isin([str(e) for e in exclude])
    if "quantity" in tx.columns:
        keep &= ~(tx["quantity"] <= 0).fillna(False)
    return tx.loc[keep, ["customer_id", "order_id", "order_date", column, "amount"]]


def _used(codes: np.ndarray, n: int) -> np.ndarray:
    """The distinct codes (of ``n``) that occur, sorted: a count per code, not a sort of all."""
    return np.flatnonzero(np.bincount(codes, minlength=n))


def _bought(
    ds: Dataset | Source,
    level: str,
    exclude: Iterable[Any] | None,
    end: pd.Timestamp,
    customers: pd.Index | None = None,
    items: pd.Index | None = None,
    since: pd.Timestamp | None = None,
    keep: bool = True,
) -> tuple[pd.Index, pd.Index, sp.csr_matrix]:
    """What each customer bought by the ``end`` day for the first time, after the ``since``
    day when given (items new to them in that window): the customers and items (sorted; or
    the ones given, others left out) and the customers x items 0/1 matrix.  On an engine
    source the first purchase day of each (customer, item) leaves the engine once per source
    (:func:`~crm_models.engine.aggregates.customer_item_first_days`) and every cut is taken
    from it, until a call with ``keep=False`` lets it go."""
    column = "product_id" if level == "product" else "category"
    if isinstance(ds, Source):
        excluded = None if exclude is None else sorted(str(e) for e in exclude)
        pairs, who, what = derived(
            ds,
            f"first purchases per {level} without {excluded}",
            lambda: aggregates.customer_item_first_days(ds, level, exclude=excluded),
            keep=keep,
        )
        ids, keys = who["customer_id"].to_numpy(), what["item"].to_numpy()
        row = pairs["customer_code"].to_numpy() - 1
        col = pairs["item_code"].to_numpy() - 1
        first = pairs["first_day"].to_numpy()
    else:
        tx = _purchases(ds, column, exclude)
        row, ids = pd.factorize(tx["customer_id"])
        col, keys = pd.factorize(tx[column].astype(str))
        day = tx["order_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
        ids, keys = np.asarray(ids), np.asarray(keys)
        pair = row.astype(np.int64) * len(keys) + col
        first = pd.Series(day).groupby(pair).min()
        row, col = first.index.to_numpy() // len(keys), first.index.to_numpy() % len(keys)
        first = first.to_numpy()
    upto = first <= day_number(end)
    if customers is None:  # every customer and item with a purchase by the end day
        customers = pd.Index(np.sort(ids[_used(row[upto], len(ids))]), name="customer_id")
    if items is None:
        items = pd.Index(np.sort(keys[_used(col[upto], len(keys))]), name=column)
    take = upto & (first > day_number(since)) if since is not None else upto
    del upto
    # code -> matrix row and column (-1: left out), 32-bit: 80M pairs (10M customers) take
    # 0.6 GB per copy, not 1.3
    r = customers.get_indexer(ids).astype(np.int32)[row[take]]
    c = items.get_indexer(keys).astype(np.int32)[col[take]]
    ok = (r >= 0) & (c >= 0)
    if not ok.all():
        r, c = r[ok], c[ok]
    matrix = sp.csr_matrix(
        (np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(customers), len(items))
    )
    return customers, items, matrix


def known_customers(ds: Dataset | Source) -> int:
    """Customers with at least one transaction line (counted by the engine on a source)."""
    if isinstance(ds, Source):
        return int(ds.execute(ds.customer_lines().customer_id.nunique()))
    return int(ds.customer_transactions()["customer_id"].nunique())


def _labels(values: pd.Index | pd.Series, codes: np.ndarray) -> pd.Categorical:
    """``values[codes]`` as a categorical column: millions of offers share a few thousand
    texts, which are stored once (-1 codes: the last value)."""
    uniq_codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    n = len(uniques)
    # the categorical's own small codes, gathered once (-1 picks the last value): 50M offers
    # took two 400 MB temporaries per column as 64-bit codes
    small = uniq_codes.astype(np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32)
    return pd.Categorical.from_codes(small[codes], categories=pd.Index(uniques))


def _top_k(ranked: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest values of each row, largest first, ties in column order:
    the first ``k`` of a stable descending sort, found by sorting only the values that can make
    it (those at least the k-th largest) instead of whole rows."""
    k = min(k, ranked.shape[1])
    if k == 0:
        return np.zeros((ranked.shape[0], 0), dtype=np.int64)
    kth = -np.partition(-ranked, k - 1, axis=1)[:, k - 1 : k]
    row, col = np.nonzero(ranked >= kth)
    order = np.lexsort((col, -ranked[row, col], row))
    row, col = row[order], col[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)
    keep = rank < k
    out = np.empty((ranked.shape[0], k), dtype=np.int64)
    out[row[keep], rank[keep]] = col[keep]
    return out


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
    :func:`~crm_models.baskets.mining.service_items`) are neither learnt from nor offered.
    ``explain=False`` skips the same-basket counts that word the reasons of the offers (a pass
    over every basket): the model then scores but does not :meth:`recommend`.
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
        explain: bool = True,
    ) -> None:
        self.k = k
        self.level = level
        self.shrinkage = shrinkage
        self.aggregate = aggregate
        self.min_customers = min_customers
        self.exclude = exclude
        self.top_links = top_links
        self.explain = explain

    # -- learning ----------------------------------------------------------------------------
    def fit(self, ds: Dataset | Source, as_of: str | pd.Timestamp | None = None) -> CrossSell:
        """Learn from the purchases up to ``as_of`` (a Dataset's lines, or an engine source's
        distinct customer-item pairs and baskets: the same model).  A fit on the whole history
        (up to the data's last day) is the last step that needs the source's first purchase
        days, which the out-of-time test shares with it: they are released (1 GB at 10M
        customers, held through the offers otherwise)."""
        column = "product_id" if self.level == "product" else "category"
        as_of_day = resolve_as_of(ds, as_of)
        last = as_of_day >= resolve_as_of(ds, None)
        customers, items_all, owned = _bought(
            ds, self.level, self.exclude, as_of_day, keep=not last
        )
        if len(customers) == 0:
            raise UnsupportedData(
                f"There are no purchases up to {as_of_day.date()} to learn cross-sell offers from."
            )
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
        self.basket_pairs_ = None
        if self.explain:  # same-basket pair counts x & y, for the reasons of the offers
            contents, items, baskets = weighted_baskets(
                ds, self.level, as_of_day, self.exclude, customers_only=True
            )
            pair = co_counts(contents[:, items.get_indexer(self.items_)], baskets)
            self.basket_item_counts_ = pair.diagonal()
            pair.setdiag(0)
            pair.eliminate_zeros()
            self.basket_pairs_ = pair  # sparse
            self.n_baskets_ = contents.shape[0] if baskets is None else int(baskets.sum())
        names = catalogue_names(self.items_, products_of(ds)) if self.level == "product" else None
        self.names_ = (
            pd.Series(self.items_, index=self.items_).astype(str) if names is None else names
        )
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
        each x's ``top_links`` strongest links only (cost: bought items x items)."""
        links = self._links()
        best = np.zeros(owned.shape, dtype=links.dtype)
        lens = np.diff(owned.indptr)
        for j in range(int(lens.max(initial=0))):  # the j-th bought item of every customer
            who = np.flatnonzero(lens > j)
            best[who] = np.maximum(best[who], links[owned.indices[owned.indptr[who] + j]])
        return best.astype(np.float64)

    def _links(self) -> np.ndarray:
        if getattr(self, "links_", None) is None:
            k = min(self.top_links, self.cond_.shape[1])
            m = self.cond_.shape[0]
            top = np.argpartition(-self.cond_, k - 1, axis=1)[:, :k] if k else np.zeros((m, 0))
            rows = np.repeat(np.arange(m), top.shape[1])
            vals = self.cond_[rows, top.ravel()]
            keep = vals > 0
            links = np.zeros(self.cond_.shape, dtype=self.cond_.dtype)
            links[rows[keep], top.ravel()[keep]] = vals[keep]
            self.links_ = links
        return self.links_

    def _because(self, owned: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """For each (customer row, offered item): the bought item with the highest P(y | x)
        (on ties the one listed first in the customer's row; -1 for one who bought nothing)."""
        indptr = owned.indptr.astype(np.int64)
        starts = indptr[rows]
        lens = indptr[rows + 1] - starts
        out = np.full(len(rows), -1, dtype=np.int64)
        some = lens > 0
        if not some.any():
            return out
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        x = owned.indices[pos].astype(np.int64)
        vals = self.cond_[x, np.repeat(cols, lens)]
        first = (np.cumsum(lens) - lens)[some]  # where each offer's bought items start
        best = np.repeat(np.maximum.reduceat(vals, first), lens[some])
        place = np.where(vals == best, np.arange(len(x)), len(x))
        out[some] = x[np.minimum.reduceat(place, first)]
        return out

    def recommend(
        self,
        customers: Iterable[Any] | None = None,
        k: int | None = None,
        chunk: int = 5_000,
    ) -> pd.DataFrame:
        """Top-k not-yet-bought items per customer with score and the reason.

        Columns: ``customer_id``, ``rank``, ``product`` (item key), ``product_name``, ``score``,
        ``source`` ("co-purchase" or "popular"), ``because`` (item key behind the offer),
        ``rule`` (the reason in words).  ``customers`` defaults to every customer seen in fit;
        unknown customers get the popular items.
        """
        if self.basket_pairs_ is None:
            raise ValueError("offers are worded from a model fitted with explain=True")
        k = k or self.k
        ids = self.customers_ if customers is None else pd.Index(list(customers))
        pos = np.arange(len(ids)) if customers is None else self.customers_.get_indexer(ids)
        parts: dict[str, list[np.ndarray]] = {}
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
            for key, values in self._top(owned, k).items():
                if key == "row":
                    values = values + start
                # 32-bit positions and 8-bit ranks: 50M offers (10M customers) held 2 GB
                # of 64-bit arrays at once before the frame was built; they take 0.9 GB
                dtype = {"rank": np.int8 if k < 128 else np.int32, "score": np.float64}
                parts.setdefault(key, []).append(
                    values.astype(dtype.get(key, np.int32), copy=False)
                )
        if not parts:
            return pd.DataFrame()
        # one column at a time: the batches' arrays go as each column is joined (50M offers)
        col = {key: np.concatenate(parts.pop(key)) for key in ("row", "rank", "item", "score")}
        why = np.concatenate(parts.pop("why"))
        item = col.pop("item")
        out = pd.DataFrame(
            {
                "customer_id": np.asarray(ids)[col.pop("row")],
                "rank": col.pop("rank").astype(np.int64),
            }
        )
        out["product"] = _labels(self.items_, item)
        out["product_name"] = _labels(self.names_, item)
        out["score"] = col["score"]
        out["source"] = _labels(pd.Index(["popular", "co-purchase"]), (why >= 0) * 1)
        out["because"] = _labels(self.items_.append(pd.Index([""])), np.where(why >= 0, why, -1))
        out["rule"] = self._reasons(why, item)
        return out

    def _top(self, owned: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
        """The top-k offers of a batch of customers: the batch ``row`` of each, its ``rank``,
        the ``item`` offered, its ``score`` and ``why`` (the bought item behind it, -1 for a
        popular item), as arrays."""
        scores = self._scores(owned)
        # popularity breaks ties and fills customers without signal
        ranked = scores + 1e-9 * self.popularity_[None, :]
        ranked[owned.toarray() > 0] = -np.inf
        kk = min(k, len(self.items_))
        top = _top_k(ranked, kk)
        rows = np.repeat(np.arange(owned.shape[0]), kk)
        cols = top.ravel()
        valid = np.isfinite(ranked[rows, cols])
        rows, cols = rows[valid], cols[valid]
        score = scores[rows, cols]
        co = score > 0
        return {
            "row": rows,
            "rank": (np.arange(len(rows)) - np.searchsorted(rows, rows)) + 1,
            "item": cols,
            "score": np.where(co, score, self.popularity_[cols]),
            "why": np.where(co, self._because(owned, rows, cols), -1),
        }

    def _reasons(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The reason for offering item ys[i] because of bought item xs[i] (-1: popularity),
        written once per distinct pair."""
        m = len(self.items_) + 1
        # hashed, not sorted: 50M offers (10M customers) in a third of the time and memory
        inverse, uniq = pd.factorize((np.asarray(xs, dtype=np.int64) + 1) * m + np.asarray(ys))
        x, y = uniq // m - 1, uniq % m
        texts = np.full(len(uniq), "popular with all customers", dtype=object)
        real = x >= 0
        if not real.any():  # every offer is a popular item: no pair to explain
            return _labels(pd.Index(texts), inverse.ravel())
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
        return _labels(pd.Index(texts), inverse.ravel())

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
    return _top_k(ranked, k)


@dataclass
class CrossSellEvaluation:
    """Out-of-time evaluation: metrics per method and k, and what was evaluated."""

    metrics: pd.DataFrame
    cutoff: pd.Timestamp
    end: pd.Timestamp
    customers: int
    new_items_per_customer: float
    model: CrossSell
    sampled_from: int | None = None  # customers who bought something new, when sampled

    def to_frame(self) -> pd.DataFrame:
        return self.metrics

    def lift_over_baseline(self, k: int, metric: str = "hit_rate") -> float:
        m = self.metrics.set_index(["method", "k"])[metric]
        return float(m[("cross-sell", k)] / m[("popularity", k)])


def evaluate_cross_sell(
    ds: Dataset | Source,
    cutoff: str | pd.Timestamp | None = None,
    horizon_days: int = 180,
    ks: Iterable[int] = (1, 3, 5, 10),
    model: CrossSell | None = None,
    max_customers: int | None = None,
    seed: int = 0,
    batch: int = 20_000,
) -> CrossSellEvaluation:
    """Learn before ``cutoff``, score on what customers newly bought in the next ``horizon_days``.

    Evaluated customers bought before the cut-off and bought at least one item new to them
    after it (within the horizon).  For each k: ``hit_rate`` (share of customers with at least
    one of their top-k bought), ``precision`` (hits / k), ``recall`` (hits / new items bought),
    for the cross-sell model and for the popularity baseline (most popular not-yet-bought
    items).  The cut-off defaults to ``horizon_days`` before the last date.  Customers are
    scored ``batch`` at a time (dense scores of a million customers do not fit in memory).
    """
    ks = sorted(set(ks))
    end = resolve_as_of(ds, None)
    cut = (
        pd.Timestamp(cutoff).normalize()
        if cutoff is not None
        else end - pd.Timedelta(days=horizon_days)
    )
    stop = min(end, cut + pd.Timedelta(days=horizon_days))
    model = copy.copy(model or CrossSell())
    model.explain = False  # only the scores are tested: no reasons worded
    model.fit(ds, as_of=cut)
    _, _, new = _bought(  # items new to each customer after the cut-off
        ds, model.level, model.exclude, stop, model.customers_, model.items_, since=cut
    )
    n_new = np.diff(new.indptr)
    evaluated = np.flatnonzero(n_new > 0)
    eligible = len(evaluated)
    if max_customers and len(evaluated) > max_customers:
        rng = np.random.default_rng(seed)
        evaluated = np.sort(rng.choice(evaluated, max_customers, replace=False))
    if len(evaluated) == 0:
        raise UnsupportedData(
            f"No customer bought anything new to them between {cut.date()} and {stop.date()}, "
            "so the cross-sell offers cannot be checked against what customers did next."
        )
    owned_all = model.owned_[evaluated].tocsr()
    truth_all = new.tocsr()[evaluated]
    kmax = max(ks)
    found: dict[str, list[np.ndarray]] = {"cross-sell": [], "popularity": []}
    relevant = []
    for start in range(0, len(evaluated), batch):  # dense scores of a batch at a time
        owned = owned_all[start : start + batch]
        scores = model._scores(owned)
        ranked = scores + 1e-9 * model.popularity_[None, :]
        ranked[owned.toarray() > 0] = -np.inf
        truth = truth_all[start : start + batch].toarray() > 0
        rows_idx = np.arange(owned.shape[0])[:, None]
        found["cross-sell"].append(truth[rows_idx, _top_k(ranked, kmax)])
        found["popularity"].append(truth[rows_idx, _popular_top(model, owned, kmax)])
        relevant.append(truth.sum(axis=1))
    tops = {method: np.concatenate(parts) for method, parts in found.items()}
    n_rel = np.concatenate(relevant)
    records = []
    for method, hit in tops.items():
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
        sampled_from=eligible if eligible > len(evaluated) else None,
    )


def cross_sell_list(
    offers: pd.DataFrame,
    customers: pd.DataFrame | Dataset | Source | None,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """The offers to export: customer_id, rank, product, product_name, score, rule and, when the
    customers table has ``opt_in``, ``contactable`` (consent given, not opted out by ``as_of``).
    ``customers`` is that table or the data holding it (of an engine source only the consent
    columns are read)."""
    if isinstance(customers, (Dataset, Source)):
        customers = _consent(customers)
    if customers is not None and "opt_in" in customers.columns:
        cust = customers.set_index("customer_id")
        ok = cust["opt_in"].fillna(False).astype(bool)
        if "opt_out_date" in cust.columns:
            ok &= ~(cust["opt_out_date"] <= as_of).fillna(False)
        # a new frame sharing the offers' columns: a copy-on-write copy would duplicate them all
        offers = offers.assign(contactable=offers["customer_id"].map(ok).fillna(False).astype(bool))
    wanted = ("customer_id", "rank", "product", "product_name", "score", "rule", "contactable")
    return offers[[c for c in wanted if c in offers.columns]]


def _consent(ds: Dataset | Source) -> pd.DataFrame | None:
    """The customers table's id and consent columns (``opt_in``, ``opt_out_date``)."""
    if not ds.has("customers"):
        return None
    wanted = [c for c in ("customer_id", "opt_in", "opt_out_date") if c in ds.columns("customers")]
    if isinstance(ds, Dataset):
        return ds.customers[wanted]
    return ds.frame(ds.table("customers").select(*wanted))


def offer_counts(offers: pd.DataFrame) -> pd.Series:
    """How many customers each product is offered to, most offered first."""
    return offers.groupby("product_name").size().sort_values(ascending=False)


def evaluation_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """The evaluation's metrics as flat names: ``cross_sell_hit_rate_at_5``,
    ``popularity_recall_at_10``, ... (one per method, metric and k)."""
    out = {}
    for (method, k), row in metrics.set_index(["method", "k"]).iterrows():
        tag = "cross_sell" if method == "cross-sell" else "popularity"
        for metric in ("hit_rate", "precision", "recall"):
            out[f"{tag}_{metric}_at_{k}"] = float(row[metric])
    return out

"""Baskets and cross-sell at scale: items and pairs from one count shared by every support,
longer itemsets on the big baskets only, offers scored in batches; all exact."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from crm_models import baskets as B
from crm_models.baskets import mining
from crm_models.baskets.recommend import _top_k
from crm_models.data.basket_files import read_basket_lines


@pytest.fixture(scope="module")
def groceries(shared_data):
    path = shared_data / "groceries" / "groceries.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return B.baskets_from_lines(read_basket_lines(path))


def test_every_itemset_count_is_exact_on_groceries(groceries):
    """Brute force on the dense 9,835 x 169 table: every mined count, and no frequent pair or
    triple missed (pairs come from the shared counts, triples from the baskets of 3+ items)."""
    dense = groceries.matrix.toarray()
    min_cnt = mining.min_count(0.005, groceries.n_baskets)
    sets, cnts = mining._eclat(groceries, min_cnt, 3, mining._Meter(None))
    for s, c in zip(sets, cnts, strict=True):
        assert dense[:, list(s)].all(axis=1).sum() == c
    counts = dense.sum(axis=0)
    frequent = np.flatnonzero(counts >= min_cnt)
    pairs = {p for p in combinations(frequent, 2) if dense[:, list(p)].all(axis=1).sum() >= min_cnt}
    triples = {
        t
        for t in combinations(sorted({i for p in pairs for i in p}), 3)
        if dense[:, list(t)].all(axis=1).sum() >= min_cnt
    }
    found = {tuple(int(i) for i in s) for s in sets}
    assert {s for s in found if len(s) == 2} == pairs
    assert {s for s in found if len(s) == 3} == triples and len(triples) > 10


def test_shared_counts_are_the_co_occurrence_matrix(groceries):
    counts, pairs, big = groceries.counts
    dense = groceries.matrix.toarray().astype(np.int64)
    assert (counts == dense.sum(axis=0)).all()
    assert (pairs.toarray() == dense.T @ dense).all()
    assert big.shape[0] == int((dense.sum(axis=1) >= 3).sum())
    assert groceries.counts is groceries.counts  # counted once


def test_top_k_is_the_head_of_a_stable_descending_sort():
    rng = np.random.default_rng(7)
    ranked = rng.integers(0, 4, size=(500, 30)).astype(float)  # many ties
    ranked[rng.random(ranked.shape) < 0.3] = -np.inf
    ranked[0] = -np.inf  # a row with nothing to offer
    for k in (1, 5, 30):
        want = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
        got = _top_k(ranked, k)
        finite = np.isfinite(np.take_along_axis(ranked, want, axis=1))
        assert (got[finite] == want[finite]).all()


def test_offers_match_their_definition_customer_by_customer(demo):
    model = B.CrossSell(k=3).fit(demo)
    some = model.customers_[::997]
    offers = model.recommend(customers=some)
    assert isinstance(offers["rule"].dtype, pd.CategoricalDtype)  # texts stored once
    links = model._links()
    items = list(model.items_)
    for cid, rows in offers.groupby("customer_id"):
        owned = model.owned_[model.customers_.get_loc(cid)].indices
        assert not set(rows["product"]) & {items[i] for i in owned}  # nothing already bought
        for _, r in rows.loc[rows["because"] != ""].iterrows():
            y = items.index(r["product"])
            mean = model.cond_[owned, y].sum() / len(owned)
            assert r["score"] == pytest.approx((mean + links[owned, y].max()) / 2, rel=1e-6)
            assert model.cond_[items.index(r["because"]), y] == model.cond_[owned, y].max()


def test_next_category_moves_equal_a_count_customer_by_customer(demo):
    moves = B.category_transitions(demo, which="first").set_index(["from_category", "to_category"])
    tx = demo.customer_transactions()
    tx = tx.loc[(tx["amount"] > 0) & tx["category"].notna()]
    orders = tx.groupby("order_id").agg(
        customer_id=("customer_id", "first"), day=("order_date", "min")
    )
    orders = orders.sort_values(["customer_id", "day"], kind="stable")
    two = orders.groupby("customer_id").head(2)
    two = two.loc[two.groupby("customer_id")["day"].transform("size") == 2]
    cats = tx.groupby("order_id")["category"].unique()
    want: dict[tuple[str, str], int] = {}
    for first, second in two.index.to_numpy().reshape(-1, 2):
        for a in cats[first]:
            for b in cats[second]:
                want[(a, b)] = want.get((a, b), 0) + 1
    assert moves["customers"].to_dict() == want
    assert moves["share"].groupby(level=0).sum().to_numpy() == pytest.approx(1.0)

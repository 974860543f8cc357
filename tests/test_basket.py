"""Baskets, association rules (equal to arules apriori), rule hygiene, cross-sell, timing."""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact

from crm_models import baskets as B
from crm_models.baskets import rules as basket_rules
from crm_models.data.basket_files import read_basket_lines
from crm_models.data.dataset import Dataset
from crm_models.data.loading import is_basket_file


def make_baskets(rows: list[list[str]]) -> B.Baskets:
    items = pd.Index(sorted({i for r in rows for i in r}), name="item")
    r = [k for k, row in enumerate(rows) for _ in row]
    c = items.get_indexer([i for row in rows for i in row])
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), len(items)))
    return B.Baskets(m, items, level="item")


# --------------------------------------------------------------------------- brute force
def brute_force_rules(rows, min_support, min_confidence, min_len, max_len):
    """Every rule X -> {y} counted by hand, thresholds compared as exact fractions."""
    n = len(rows)
    sets = [frozenset(r) for r in rows]
    items = sorted(set().union(*sets)) if sets else []
    s_min, c_min = Fraction(repr(min_support)), Fraction(repr(min_confidence))

    def count(itemset):
        return sum(1 for s in sets if itemset <= s)

    out = {}
    for size in range(max(min_len, 1), max_len + 1):
        for combo in combinations(items, size):
            z = frozenset(combo)
            c_z = count(z)
            if c_z == 0 or Fraction(c_z, n) < s_min:
                continue
            for y in combo:
                x = z - {y}
                c_x = count(x)
                if Fraction(c_z, c_x) >= c_min:
                    c_y = count(frozenset([y]))
                    out[(tuple(sorted(x)), y)] = (c_z, c_x, c_y)
    return out


baskets_strategy = st.lists(
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=6, unique=True),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(
    rows=baskets_strategy,
    min_support=st.sampled_from([0.04, 0.1, 0.2, 0.25, 0.5]),
    min_confidence=st.sampled_from([0.0, 0.3, 0.5, 0.6, 0.75, 0.8, 1.0]),
    lens=st.sampled_from([(1, 10), (2, 10), (1, 2), (2, 3), (3, 4)]),
)
def test_rules_equal_brute_force_counting(rows, min_support, min_confidence, lens):
    b = make_baskets(rows)
    rules = B.association_rules(b, min_support, min_confidence, min_len=lens[0], max_len=lens[1])
    expected = brute_force_rules(rows, min_support, min_confidence, *lens)
    got = {
        (tuple(sorted(a)), c[0]): (n, nx, ny)
        for a, c, n, nx, ny in zip(
            rules["antecedents"],
            rules["consequents"],
            rules["count"],
            rules["antecedent_count"],
            rules["consequent_count"],
            strict=True,
        )
    }
    assert got == expected
    n = len(rows)
    conf = rules["count"] / rules["antecedent_count"]
    supp_y = rules["consequent_count"] / n
    np.testing.assert_allclose(rules["support"], rules["count"] / n)
    np.testing.assert_allclose(rules["confidence"], conf)
    np.testing.assert_allclose(rules["lift"], conf / supp_y)
    np.testing.assert_allclose(
        rules["leverage"], rules["count"] / n - rules["antecedent_count"] / n * supp_y
    )
    finite = conf < 1
    np.testing.assert_allclose(rules.loc[finite, "conviction"], ((1 - supp_y) / (1 - conf))[finite])
    assert np.isinf(rules.loc[~finite, "conviction"]).all()


@settings(max_examples=20, deadline=None)
@given(rows=baskets_strategy, min_support=st.sampled_from([0.04, 0.1, 0.2, 0.3]))
def test_itemsets_closed_and_maximal_equal_brute_force(rows, min_support):
    b = make_baskets(rows)
    ours = B.frequent_itemsets(b, min_support)
    sets = [frozenset(r) for r in rows]
    n = len(rows)
    items = sorted(set().union(*sets))
    truth = {}
    for size in range(1, len(items) + 1):
        for combo in combinations(items, size):
            c = sum(1 for s in sets if set(combo) <= s)
            if c and Fraction(c, n) >= Fraction(repr(min_support)):
                truth[frozenset(combo)] = c
    assert {frozenset(s): c for s, c in zip(ours["itemset"], ours["count"], strict=True)} == truth
    for s, closed, maximal in zip(ours["itemset"], ours["closed"], ours["maximal"], strict=True):
        supers = [t for t in truth if frozenset(s) < t]
        assert maximal == (not supers)
        assert closed == all(truth[t] < truth[frozenset(s)] for t in supers)
    closed = B.frequent_itemsets(b, min_support, target="closed")
    assert len(closed) == int(ours["closed"].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlxtend_engine_gives_the_same_rules(seed):
    rng = np.random.default_rng(seed)
    letters = list("abcdefghij")
    rows = [list(rng.choice(letters, rng.integers(1, 7), replace=False)) for _ in range(300)]
    b = make_baskets(rows)
    ours = B.association_rules(b, 0.02, 0.3)
    theirs = B.association_rules(b, 0.02, 0.3, engine="mlxtend")
    pd.testing.assert_frame_equal(ours, theirs)
    assert len(B.frequent_itemsets(b, 0.02, target="maximal", engine="mlxtend")) == len(
        B.frequent_itemsets(b, 0.02, target="maximal")
    )


def test_thresholds_are_compared_on_exact_counts():
    # 4 of the 5 baskets with x also hold y: confidence exactly 0.8
    rows = [["x", "y"]] * 4 + [["x"]] + [["z"]] * 7
    b = make_baskets(rows)
    assert (4 / 12) / (5 / 12) < 0.8  # the ratio of float supports falls just below 0.8
    rules = B.association_rules(b, 0.3, 0.8, min_len=2)
    got = {(r.antecedents, r.consequents): r.confidence for r in rules.itertuples()}
    assert got == {(("x",), ("y",)): 0.8, (("y",), ("x",)): 1.0}
    assert B.min_count(0.07, 100) == 7 and B.min_count(0.01, 9835) == 99
    assert 0.07 * 100 > 7  # a float product would demand 8 baskets
    assert B.min_count(0.001, 1000) == 1


def test_empty_antecedent_rules_and_lengths_as_arules():
    rows = [["a", "b"], ["a"], ["a", "c"], ["a", "b"]]
    b = make_baskets(rows)
    rules = B.association_rules(b, 0.5, 0.8)
    empty = rules.loc[rules["antecedents"].map(len) == 0]
    assert list(empty["consequents"]) == [("a",)] and empty["confidence"].iloc[0] == 1.0
    assert (rules["length"] == rules["antecedents"].map(len) + 1).all()
    assert len(B.association_rules(b, 0.5, 0.8, min_len=2)) == 1  # {b} -> {a}
    with pytest.raises(ValueError):
        B.association_rules(b, 0.5, 0.8, min_len=3, max_len=2)


def test_item_constraints():
    rows = [["a", "b", "c"], ["a", "b"], ["b", "c"], ["a", "c"], ["a", "b", "c"]]
    b = make_baskets(rows)
    everything = B.association_rules(b, 0.2, 0.1, min_len=2)
    only_c = B.association_rules(b, 0.2, 0.1, min_len=2, rhs=["c"])
    assert set(only_c["consequents"]) == {("c",)}
    assert len(only_c) == int((everything["consequents"] == ("c",)).sum())
    lhs_a = B.association_rules(b, 0.2, 0.1, min_len=2, lhs=["a"], rhs=["b", "c"])
    assert all(set(a) <= {"a"} for a in lhs_a["antecedents"]) and len(lhs_a) == 2
    no_b = B.association_rules(b, 0.2, 0.1, min_len=2, exclude=["b"])
    assert all(
        "b" not in a + c for a, c in zip(no_b["antecedents"], no_b["consequents"], strict=True)
    )


# --------------------------------------------------------------------------- hygiene
def test_significance_is_one_sided_fisher_with_adjustment():
    rows = [["x", "y"]] * 30 + [["x"]] * 10 + [["y"]] * 10 + [["z"]] * 50 + [["x", "z"]] * 3
    b = make_baskets(rows)
    rules = B.association_rules(b, 0.01, 0.0, min_len=2)
    sig = B.add_significance(rules, alpha=0.01, adjust="none")
    for r in sig.itertuples():
        n, cxy, cx, cy = len(rows), r.count, r.antecedent_count, r.consequent_count
        table = [[cxy, cx - cxy], [cy - cxy, n - cx - cy + cxy]]
        assert r.p_value == pytest.approx(fisher_exact(table, alternative="greater")[1])
    bonf = B.add_significance(rules, alpha=0.01, adjust="bonferroni")
    np.testing.assert_allclose(bonf["p_adjusted"], np.minimum(sig["p_value"] * len(rules), 1))
    from_x = bonf.loc[bonf["antecedents"] == ("x",)]
    xy = from_x.set_index(from_x["consequents"].map(lambda c: c[0]))
    assert xy.loc["y", "significant"] and not xy.loc["z", "significant"]  # x-z is below chance
    assert B.is_significant(rules, 0.01).equals(bonf["significant"])


# R's p.adjust (https://stat.ethz.ch/R-manual/R-devel/library/stats/html/p.adjust.html):
# bonferroni min(1, m p); holm (Holm 1979) cumulative max of (m - i + 1) p_(i); BH/fdr
# (Benjamini & Hochberg 1995) cumulative min from the top of m / i p_(i).  The numbers are the
# hand-written adjustment's output before it was replaced by statsmodels' multipletests, and
# agree with p.adjust(c(0.04, 0.001, 0.3, 0.04, 0.8, 0.012, 0.2, 0.5), method) in R.
P_ADJUST_CASES = {
    "none": [0.04, 0.001, 0.3, 0.04, 0.8, 0.012, 0.2, 0.5],
    "bonferroni": [0.32, 0.008, 1.0, 0.32, 1.0, 0.096, 1.0, 1.0],
    "holm": [0.24, 0.008, 0.9, 0.24, 1.0, 0.084, 0.8, 1.0],
    "fdr": [0.08, 0.008, 0.4, 0.08, 0.8, 0.048, 0.32, 4 / 7],
    "BH": [0.08, 0.008, 0.4, 0.08, 0.8, 0.048, 0.32, 4 / 7],
}


@pytest.mark.parametrize("method", sorted(P_ADJUST_CASES))
def test_p_adjust_matches_r(method):
    p = np.array(P_ADJUST_CASES["none"])
    np.testing.assert_allclose(basket_rules._p_adjust(p, method), P_ADJUST_CASES[method])
    assert basket_rules._p_adjust(np.array([]), method).shape == (0,)


def test_p_adjust_refuses_unknown_method():
    with pytest.raises(ValueError, match="adjust must be one of"):
        basket_rules._p_adjust(np.array([0.1]), "fdr_by")


def test_redundancy_as_arules():
    # conf(a -> c) = 0.8; conf(a, b -> c) = 0.8 (redundant: equal);
    # conf(a, d -> c) = 1 beats conf(a -> c) and conf(d -> c) = 0.5 (kept)
    rows = (
        [["a", "b", "c"]] * 4
        + [["a", "b"]]
        + [["a", "d", "c"]] * 4
        + [["a"]] * 1
        + [["d"]] * 4
        + [["e"]] * 5
    )
    b = make_baskets(rows)
    rules = B.association_rules(b, 0.1, 0.5, min_len=2)
    red = B.is_redundant(rules)
    by = {(r.antecedents, r.consequents[0]): red[i] for i, r in enumerate(rules.itertuples())}
    conf = {(r.antecedents, r.consequents[0]): r.confidence for r in rules.itertuples()}
    assert conf[(("a",), "c")] == pytest.approx(0.8) and conf[(("a", "b"), "c")] == 0.8
    assert not by[(("a",), "c")]
    assert by[(("a", "b"), "c")]  # same confidence as the more general rule
    assert not by[(("a", "d"), "c")]  # higher confidence than {a} -> c
    # with the empty antecedent in the set, rules no better than the base rate are redundant
    with_empty = B.association_rules(b, 0.1, 0.0, min_len=1)
    flags = B.is_redundant(with_empty)
    single = with_empty["antecedents"].map(len) == 1
    low = with_empty.loc[single & (with_empty["lift"] <= 1 + 1e-12)]
    assert len(low) and flags[low.index].all()
    assert not flags[with_empty["antecedents"].map(len) == 0].any()


def test_rule_revenue_and_sentences():
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3],
            "order_id": ["o1", "o1", "o2", "o2", "o3"],
            "order_date": pd.to_datetime(["2024-01-01"] * 5),
            "amount": [10.0, 5.0, 20.0, 1.0, 7.0],
            "product_id": ["p1", "p2", "p1", "p2", "p1"],
        }
    )
    b = B.baskets_from_transactions(tx)
    rules = B.rule_revenue(B.association_rules(b, 0.1, 0.1, min_len=2), b)
    assert set(rules["revenue"]) == {36.0}
    assert rules["revenue_share"].iloc[0] == pytest.approx(36 / 43)
    r = rules.loc[rules["antecedents"] == ("p2",)].iloc[0]
    text = B.rule_sentence(r)
    assert (
        text == "Customers who buy p2 are about as likely to buy p1 (100% of their baskets hold it)"
    )
    r = rules.loc[rules["antecedents"] == ("p1",)].iloc[0]
    assert B.rule_sentence(r.to_dict() | {"lift": 3.04}).startswith(
        "Customers who buy p1 are 3.0 times as likely to buy p2 (67% of"
    )


# --------------------------------------------------------------------------- baskets
def test_baskets_from_transactions_skip_returns_and_stay_sparse():
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, None, 2],
            "order_id": ["o1", "o1", "R1", "o9", "o2"],
            "order_date": pd.to_datetime(["2024-01-01"] * 3 + ["2024-01-02", "2024-02-01"]),
            "amount": [10.0, 5.0, -5.0, 3.0, 4.0],
            "product_id": ["p1", "p2", "p2", "p3", "p1"],
            "category": ["A", "B", "B", "B", "A"],
            "quantity": [1, 1, -1, 2, 1],
        }
    )
    ds = Dataset(
        "t",
        transactions=tx,
        products=pd.DataFrame({"product_id": ["p1", "p2"], "name": ["One", "Two"], "price": 1.0}),
    )
    b = B.baskets_from_transactions(ds)
    assert b.n_baskets == 3 and list(b.basket_ids) == ["o1", "o2", "o9"]  # anonymous kept
    assert sp.issparse(b.matrix) and b.matrix.dtype == bool
    assert list(b.names) == ["One", "Two", "p3"]
    assert b.value.tolist() == [15.0, 4.0, 3.0]
    assert b.items_in_category("B") == ["p2", "p3"]
    cat = B.baskets_from_transactions(ds, level="category", as_of="2024-01-01")
    assert cat.n_baskets == 1 and list(cat.items) == ["A", "B"]
    frame = b.to_frame()
    assert all(isinstance(t, pd.SparseDtype) for t in frame.dtypes)


def test_service_items_are_recognised_and_left_out():
    products = pd.DataFrame(
        {
            "product_id": ["POST", "DOT", "M", "85123A", "LANT", "C2"],
            "name": ["POSTAGE", "DOTCOM POSTAGE", "Manual", "HEART HOLDER", "FRENCH CARRIAGE LANTERN",
                     "CARRIAGE"],
            "price": 1.0,
        }
    )  # fmt: skip
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "order_id": ["o1", "o1", "o2"],
            "order_date": pd.to_datetime(["2024-01-01"] * 3),
            "amount": [1.0, 2.0, 3.0],
            "product_id": ["POST", "85123A", "LANT"],
        }
    )
    ds = Dataset("t", transactions=tx, products=products)
    assert B.service_items(ds) == ["C2", "DOT", "M", "POST"]
    b = B.baskets_from_transactions(ds, exclude=B.service_items(ds))
    assert list(b.items) == ["85123A", "LANT"] and b.value.tolist() == [2.0, 3.0]


def test_read_basket_file(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("milk,bread\n\n bread , butter,bread\nmilk\n")
    b = B.baskets_from_lines(read_basket_lines(path))
    assert b.n_baskets == 3 and list(b.items) == ["bread", "butter", "milk"]
    assert b.matrix.nnz == 5
    assert is_basket_file(path) and B.as_baskets(read_basket_lines(path)).n_baskets == 3


def test_groceries_file_as_arules(shared_data):
    """Groceries: 9,835 baskets over 169 items (SOURCE.md; arules ``summary(Groceries)``).

    Rule counts published for arules' apriori on it: 5,668 rules at support 0.001 and
    confidence 0.5 (Hahsler & Chelluboina, arulesViz vignette "Visualizing Association Rules",
    2011); 463 rules at support 0.006, confidence 0.25, minlen 2 (Lantz, *Machine Learning with
    R*, ch. 8); 410 at support 0.001, confidence 0.8 (the common arules tutorial setting).
    """
    path = shared_data / "groceries" / "groceries.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    b = B.baskets_from_lines(read_basket_lines(path))
    assert (b.n_baskets, b.n_items, b.matrix.nnz) == (9835, 169, 43367)
    assert b.item_counts.iloc[:5].tolist() == [2513, 1903, 1809, 1715, 1372]
    assert len(B.association_rules(b, 0.001, 0.5)) == 5668
    assert len(B.association_rules(b, 0.006, 0.25, min_len=2)) == 463
    rules = B.association_rules(b, 0.001, 0.8)
    assert len(rules) == 410
    assert rules.iloc[0]["antecedents"] == ("liquor", "red/blush wine")
    assert rules.iloc[0]["lift"] == pytest.approx(11.235269, rel=1e-6)


def test_cli_basket_json(shared_data, capsys):
    from crm_models.cli import main

    path = shared_data / "groceries" / "groceries.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    code = main(["basket", str(path), "--min-support", "0.01", "--min-confidence", "0.5", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"baskets", "items", "itemsets", "rules", "top_rules"} <= set(out)
    assert (out["baskets"], out["items"], out["rules"]) == (9835, 169, 15)
    top = out["top_rules"][0]
    assert set(top) == {"antecedents", "consequents", "support", "confidence", "lift", "count"}
    assert top["antecedents"] == ["citrus fruit", "root vegetables"]
    assert top["consequents"] == ["other vegetables"]
    lifts = [r["lift"] for r in out["top_rules"]]
    assert lifts == sorted(lifts, reverse=True) and len(lifts) <= 20


def test_cli_basket_fails_with_one_line_on_data_without_products(capsys):
    from crm_models.cli import main

    assert main(["basket", "cdnow_sample"]) == 1
    assert "no product_id column" in capsys.readouterr().err


# --------------------------------------------------------------------------- demo
def test_planted_affinities_are_found_on_demo(demo):
    truth = pd.read_parquet(Path(demo.info["truth_dir"]) / "affinities.parquet")
    b = B.baskets_from_transactions(demo)
    rules = B.association_rules(b, 0.001, 0.3, min_len=2, max_len=2)
    rules = B.add_significance(rules)
    rules["redundant"] = B.is_redundant(rules)
    found = {(r.antecedents[0], r.consequents[0]): r for r in rules.itertuples()}
    for t in truth.itertuples():
        rule = found[(t.antecedent, t.consequent)]
        assert rule.significant and not rule.redundant and rule.lift > 10
        # the planted probability of adding the consequent shows in the confidence
        assert rule.confidence == pytest.approx(t.probability, abs=0.12)
    # item constraint: rules whose consequent is in a category
    toys = B.association_rules(b, 0.001, 0.3, min_len=2, rhs=b.items_in_category("Toys"))
    assert len(toys) and set(b.categories[[c[0] for c in toys["consequents"]]]) == {"Toys"}
    planted = set(zip(truth["antecedent"], truth["consequent"], strict=True))
    top = B.rank_rules(rules, "lift", 20)
    top_pairs = {(a[0], c[0]) for a, c in zip(top["antecedents"], top["consequents"], strict=True)}
    assert planted <= top_pairs | {(c, a) for a, c in top_pairs}


def test_cross_sell_beats_popularity_out_of_time_on_demo(demo):
    ev = B.evaluate_cross_sell(demo, horizon_days=180)
    m = ev.metrics.set_index(["method", "k"])
    assert ev.customers > 1000 and ev.cutoff < ev.end
    for metric in ("hit_rate", "precision", "recall"):
        assert m.loc[("cross-sell", 5), metric] > m.loc[("popularity", 5), metric], metric
        assert m.loc[("cross-sell", 10), metric] > m.loc[("popularity", 10), metric], metric
    assert ev.lift_over_baseline(5) > 1.0


def test_recommendations_are_new_explained_and_without_pii(demo):
    from crm_models.reporting.tracking import check_no_pii

    model = B.CrossSell(k=5).fit(demo)
    some = model.customers_[:300]
    recs = model.recommend(customers=list(some) + [-1])
    assert (recs.groupby("customer_id").size() == 5).all()
    known = recs.loc[recs["customer_id"] != -1]
    rows = model.customers_.get_indexer(known["customer_id"])
    cols = model.items_.get_indexer(known["product"])
    assert (rows >= 0).all() and (cols >= 0).all()
    assert (np.asarray(model.owned_[rows, cols]).ravel() == 0).all()  # nothing bought before
    assert recs["rule"].str.len().gt(0).all()
    stranger = recs.loc[recs["customer_id"] == -1]
    assert (stranger["source"] == "popular").all()
    assert list(stranger["product"]) == list(
        model.items_[np.argsort(-model.popularity_, kind="stable")[:5]]
    )
    assert recs.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    check_no_pii(recs)
    # a customer who bought a smartphone without a case is offered the case, because of it
    truth = pd.read_parquet(Path(demo.info["truth_dir"]) / "affinities.parquet").iloc[0]
    tx = demo.customer_transactions()
    has_a = set(tx.loc[tx["product_id"] == truth.antecedent, "customer_id"])
    has_b = set(tx.loc[tx["product_id"] == truth.consequent, "customer_id"])
    who = sorted(has_a - has_b)[:50]
    offers = model.recommend(customers=who)
    case = offers.loc[offers["product"] == truth.consequent]
    assert len(case) >= 0.8 * len(who)
    assert case["because"].eq(truth.antecedent).mean() > 0.8


# --------------------------------------------------------------------------- timing
@pytest.fixture()
def tiny():
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 3],
            "order_id": ["a", "b", "c", "d", "e", "f"],
            "order_date": pd.to_datetime(
                [
                    "2024-01-01 10:00",
                    "2024-01-11 12:00",
                    "2024-03-01 12:00",
                    "2024-01-05 09:00",
                    "2024-01-25 18:00",
                    "2024-02-01 10:00",
                ]
            ),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "product_id": ["p1", "p2", "p1", "p1", "p3", "p2"],
            "category": ["A", "B", "A", "A", "C", "B"],
        }
    )
    return Dataset("tiny", transactions=tx)


def test_transitions_and_repurchase_intervals(tiny):
    moves = B.category_transitions(tiny).set_index(["from_category", "to_category"])
    assert moves["customers"].to_dict() == {("A", "B"): 1, ("A", "C"): 1}
    assert moves["share"].to_dict() == {("A", "B"): 0.5, ("A", "C"): 0.5}
    every = B.category_transitions(tiny, which="all").set_index(["from_category", "to_category"])
    assert every.loc[("B", "A"), "customers"] == 1
    gaps = B.repurchase_intervals(tiny)
    assert gaps.loc["A", "median_days"] == 60 and gaps.loc["A", "customers"] == 1
    assert gaps.loc["A", "repeat_share"] == 0.5 and gaps.loc["B", "intervals"] == 0


def test_seasonality_index(tiny):
    month = B.category_seasonality(tiny, "month")
    assert list(month.columns) == ["Jan", "Feb", "Mar"]
    # A is 3 of 6 lines overall and 1 of the 1 line in March: index 2; in January 2 of 4: 1
    assert month.loc["A", "Mar"] == pytest.approx(2.0)
    assert month.loc["A", "Jan"] == pytest.approx(1.0) and month.loc["C", "Jan"] == 1.5
    assert B.has_times(tiny)
    hours = B.category_seasonality(tiny, "hour")
    assert "10" in hours.columns
    daily = Dataset(
        "d", transactions=tiny.transactions.assign(order_date=lambda d: d.order_date.dt.normalize())
    )
    assert not B.has_times(daily)
    with pytest.raises(ValueError, match="no times"):
        B.category_seasonality(daily, "hour")


# --------------------------------------------------------------------------- report helpers
def _three_product_tx() -> pd.DataFrame:
    rows = [["p1", "p2"]] * 6 + [["p1", "p3"]] * 2 + [["p2"]] * 2 + [["p3"]] * 4
    return pd.DataFrame(
        {
            "customer_id": [i for i, row in enumerate(rows) for _ in row],
            "order_id": [f"o{i}" for i, row in enumerate(rows) for _ in row],
            "order_date": pd.Timestamp("2024-01-01"),
            "amount": 10.0,
            "product_id": [p for row in rows for p in row],
        }
    )


def test_mine_rules_strong_rules_tables_hygiene_and_grid():
    b = B.baskets_from_transactions(_three_product_tx())
    rules = B.mine_rules(b, 0.1, 0.1, max_len=2, alpha=0.5)
    assert {"significant", "redundant", "revenue", "revenue_share"} <= set(rules.columns)
    good = B.strong_rules(rules)
    assert (good["significant"] & ~good["redundant"] & (good["lift"] > 1)).all()
    assert set(zip(good["antecedents"], good["consequents"], strict=True)) <= {
        (("p1",), ("p2",)),
        (("p2",), ("p1",)),
    }
    table = B.rules_table(rules)
    assert list(table.columns) == [
        "customers who buy",
        "also buy",
        "baskets",
        "support",
        "confidence",
        "lift",
        "revenue of these baskets",
    ]
    assert len(table) == len(rules) and table["baskets"].tolist() == rules["count"].tolist()
    hygiene = B.rule_hygiene(rules)["rules"]
    assert hygiene.iloc[0] == len(rules) and hygiene.iloc[-1] == len(good)
    assert hygiene.iloc[3] <= min(hygiene.iloc[1], hygiene.iloc[2])
    grid = B.rule_lift_grid(rules)
    for a, c, lift in zip(rules["antecedents"], rules["consequents"], rules["lift"], strict=True):
        assert grid.loc[a[0], c[0]] == pytest.approx(lift)
    assert grid.isna().sum().sum() == grid.size - len(rules)


def test_affinity_grid_and_strongest_pairs():
    pairs = B.pair_affinities(make_baskets([["a", "b"], ["a", "b"], ["a", "c"], ["c"]]))
    grid = B.affinity_grid(pairs, ["b", "a", "c"])
    assert list(grid.index) == list(grid.columns) == ["b", "a", "c"]
    assert grid.loc["a", "b"] == pytest.approx(4 * 2 / (3 * 2)) and np.isnan(grid.loc["b", "c"])
    best = B.strongest_pairs(pairs)
    assert best[["item", "with_item"]].values.tolist() == [["a", "b"]]  # each pair once, lift>1
    assert B.strongest_pairs(pairs, min_lift=2).empty


def test_seasonal_peak_and_repeat_category_lift(tiny):
    peak = B.seasonal_peak(B.category_seasonality(tiny, "month"))
    assert peak["busiest"] == "Jan"
    # B is 2 of 6 lines overall and the only line in February: index 3, the largest
    assert (peak["category"], peak["period"], peak["index"]) == ("B", "Feb", pytest.approx(3.0))
    assert not peak["flat"]
    moves = pd.DataFrame(
        {"from_category": ["A", "A", "B"], "to_category": ["A", "B", "B"], "lift": [2.0, 0.5, 1.0]}
    )
    assert B.repeat_category_lift(moves) == pytest.approx(1.5)


def test_cross_sell_list_offer_counts_and_evaluation_metrics():
    offers = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "rank": [1, 2, 1, 1],
            "product": ["p1", "p2", "p1", "p1"],
            "product_name": ["One", "Two", "One", "One"],
            "score": [0.5, 0.2, 0.4, 0.3],
            "rule": ["bought x"] * 4,
            "because": ["x"] * 4,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "opt_in": [True, True, None],
            "opt_out_date": pd.to_datetime([None, "2024-01-01", None]),
        }
    )
    out = B.cross_sell_list(offers, customers, pd.Timestamp("2024-06-30"))
    assert list(out.columns) == [
        "customer_id",
        "rank",
        "product",
        "product_name",
        "score",
        "rule",
        "contactable",
    ]
    assert out["contactable"].tolist() == [True, True, False, False]
    assert "contactable" not in B.cross_sell_list(offers, None, pd.Timestamp("2024-06-30"))
    assert B.offer_counts(out).to_dict() == {"One": 3, "Two": 1}
    metrics = pd.DataFrame(
        {
            "method": ["cross-sell", "popularity"],
            "k": [5, 5],
            "hit_rate": [0.4, 0.2],
            "precision": [0.1, 0.05],
            "recall": [0.3, 0.1],
        }
    )
    flat = B.evaluation_metrics(metrics)
    assert len(flat) == 6
    assert flat["cross_sell_hit_rate_at_5"] == 0.4 and flat["popularity_recall_at_5"] == 0.1


def test_an_engines_own_text_order_is_renumbered_in_pythons():
    from crm_models.baskets.mining import _in_python_order

    # a database sorting by locale lists "apple" before "Banana"; Python puts "B" first
    table = pd.DataFrame({"item": ["apple", "Banana", "cherry"], "category": ["x", "y", "z"]})
    codes, ordered = _in_python_order(np.array([0, 1, 2, 1]), table, "item")
    assert list(ordered["item"]) == ["Banana", "apple", "cherry"]
    assert list(ordered["category"]) == ["y", "x", "z"]
    assert list(ordered["item"].to_numpy()[codes]) == ["apple", "Banana", "cherry", "Banana"]
    same, kept = _in_python_order(np.array([2, 0]), ordered, "item")
    assert list(same) == [2, 0] and kept.equals(ordered)

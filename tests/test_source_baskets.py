"""The baskets report's functions on an engine source equal the in-memory path.

The same simulated shop (3,000 customers, Parquet parts) is loaded into a Dataset and read out
of core by DuckDB (and the loaded Dataset registered on DuckDB): seasonality, transitions,
repurchase intervals, baskets with their filters, the cross-sell model, its out-of-time test
and the export must agree, counts and labels exactly and floats to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_checks import check_baskets_built_by_the_engine

from crm_models import baskets as B
from crm_models.charts.baskets import evaluation_text
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.engine import as_source, open_dataset
from crm_models.engine.settings import default_settings


@pytest.fixture(scope="module")
def shop(folder):
    """The shop as a Dataset, as a folder read out of core, and as the Dataset on DuckDB."""
    ds = load_dataset(folder)
    return ds, open_dataset(folder, settings=default_settings("duckdb")), as_source(ds, "duckdb")


@pytest.fixture(scope="module")
def ties():
    """Customer 1 places two orders at the same moment: the order ids rank them."""
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 2, 3, None],
            "order_id": ["b", "a", "c", "c", "d", "e", "f", "g"],
            "order_date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-09", "2024-01-09"]
                + ["2024-01-05", "2024-01-25", "2024-02-01", "2024-02-01"]
            ),
            "amount": [1.0, 2.0, 3.0, 1.0, 4.0, 5.0, 6.0, 7.0],
            "product_id": ["p1", "p2", "p1", "p3", "p1", "p3", "p2", "p1"],
            "category": ["A", "B", "A", "C", "A", "C", "B", "A"],
        }
    )
    return Dataset("ties", transactions=tx)


def test_known_customers_and_service_items(shop):
    ds, *sources = shop
    for src in sources:
        assert B.known_customers(src) == B.known_customers(ds) == 3000
        assert B.service_items(src) == B.service_items(ds)


@pytest.mark.parametrize("level", ["product", "category"])
def test_baskets_with_filters_are_built_by_the_engine(shop, level):
    ds, src, _ = shop
    as_of = pd.Timestamp("2024-06-30")
    common = B.baskets_from_transactions(ds, level, as_of=as_of).item_counts.index
    options = {"exclude": list(common[:2]), "customers_only": True, "start": "2023-03-01"}
    expected = B.baskets_from_transactions(ds, level, as_of=as_of, **options)
    got = B.baskets_from_transactions(src, level, as_of=as_of, **options)
    assert 0 < expected.n_baskets < B.baskets_from_transactions(ds, level).n_baskets
    assert not set(map(str, common[:2])) & set(got.items.astype(str))
    check_baskets_built_by_the_engine(expected, got)


@pytest.mark.parametrize("by", ["month", "weekday", "hour"])
def test_seasonality_is_the_same(shop, by):
    ds, *sources = shop
    expected = B.category_seasonality(ds, by)
    assert B.has_times(ds) and expected.shape[1] == {"month": 12, "weekday": 7, "hour": 24}[by]
    for src in sources:
        assert B.has_times(src)
        got = B.category_seasonality(src, by)
        pd.testing.assert_frame_equal(got, expected, rtol=1e-9)
        pd.testing.assert_frame_equal(got.attrs["lines"], expected.attrs["lines"])


def test_no_times_of_day_on_the_engine(ties):
    src = as_source(ties, "duckdb")
    assert not B.has_times(src) and not B.has_times(ties)
    with pytest.raises(ValueError, match="no times"):
        B.category_seasonality(src, "hour")


@pytest.mark.parametrize("which", ["first", "all"])
def test_transitions_and_intervals_are_the_same(shop, which):
    ds, *sources = shop
    moves = B.category_transitions(ds, which=which)
    gaps = B.repurchase_intervals(ds)
    assert len(moves) > 20 and gaps["intervals"].sum() > 1000
    for src in sources:
        pd.testing.assert_frame_equal(B.category_transitions(src, which=which), moves, rtol=1e-9)
        pd.testing.assert_frame_equal(B.repurchase_intervals(src), gaps, rtol=1e-9)


def test_tied_orders_are_ranked_by_order_id_on_both_paths(ties):
    src = as_source(ties, "duckdb")
    first = B.category_transitions(ties)
    # customer 1's order "a" (B) comes before "b" (A): B -> A; customer 2: A -> C
    assert set(zip(first["from_category"], first["to_category"], strict=True)) == {
        ("B", "A"),
        ("A", "C"),
    }
    for which in ("first", "all"):
        expected = B.category_transitions(ties, which=which)
        pd.testing.assert_frame_equal(B.category_transitions(src, which=which), expected)
    gaps = B.repurchase_intervals(ties)
    assert gaps.loc["A", "median_days"] == 8 and gaps.loc["A", "repeat_share"] == 0.5
    pd.testing.assert_frame_equal(B.repurchase_intervals(src), gaps)


def test_cross_sell_is_the_same_model(shop):
    ds, src, _ = shop
    exclude = list(B.baskets_from_transactions(ds).item_counts.index[:1])
    expected = B.CrossSell(k=5, exclude=exclude).fit(ds)
    got = B.CrossSell(k=5, exclude=exclude).fit(src)
    assert got.customers_.equals(expected.customers_)
    assert list(got.items_) == list(expected.items_) and exclude[0] not in list(got.items_)
    assert (got.owned_ != expected.owned_).nnz == 0
    np.testing.assert_array_equal(got.cond_, expected.cond_)
    assert (got.basket_pairs_ != expected.basket_pairs_).nnz == 0
    assert got.names_.equals(expected.names_)
    offers = expected.recommend()
    assert len(offers) == 5 * len(expected.customers_)
    pd.testing.assert_frame_equal(got.recommend(), offers)
    export = B.cross_sell_list(offers, ds, pd.Timestamp("2024-06-30"))
    assert export["contactable"].any() and not export["contactable"].all()
    pd.testing.assert_frame_equal(
        B.cross_sell_list(offers, ds.customers, pd.Timestamp("2024-06-30")), export
    )
    pd.testing.assert_frame_equal(
        B.cross_sell_list(offers, src, pd.Timestamp("2024-06-30")), export
    )


def test_out_of_time_evaluation_is_the_same(shop):
    ds, src, _ = shop
    cutoff = pd.Timestamp("2024-06-30")
    expected = B.evaluate_cross_sell(ds, cutoff=cutoff, max_customers=400)
    got = B.evaluate_cross_sell(src, cutoff=cutoff, max_customers=400)
    assert expected.customers == got.customers == 400
    assert got.new_items_per_customer == expected.new_items_per_customer
    pd.testing.assert_frame_equal(got.metrics, expected.metrics, rtol=1e-9)
    # the report says the test was on a sample, of how many, and how precise it is
    whole = B.evaluate_cross_sell(ds, cutoff=cutoff)
    assert whole.sampled_from is None and expected.sampled_from == got.sampled_from
    assert got.sampled_from == whole.customers > 400
    text = evaluation_text(got, got.metrics, 3, "product")
    assert f"a random 400 of the {whole.customers:,} customers" in text
    assert "percentage points" in text
    assert "a random" not in evaluation_text(whole, whole.metrics, 3, "product")


@pytest.mark.parametrize("level", ["product", "category"])
def test_affinities_come_from_the_distinct_basket_contents(shop, level):
    """On an engine the pair affinities and item counts come from the distinct basket contents
    with their counts: the in-memory figures of every basket."""
    ds, src, _ = shop
    as_of = pd.Timestamp("2024-06-30")
    b = B.baskets_from_transactions(ds, level, as_of=as_of)
    pairs, counts = B.level_affinities(ds, level, as_of, min_count=5)
    pd.testing.assert_frame_equal(pairs, B.pair_affinities(b, min_count=5))
    pd.testing.assert_series_equal(counts, b.item_counts)
    got_pairs, got_counts = B.level_affinities(src, level, as_of, min_count=5)
    assert len(got_pairs) > 10
    pd.testing.assert_frame_equal(got_pairs, pairs, check_dtype=False, rtol=1e-12)
    pd.testing.assert_series_equal(got_counts, counts, check_index_type=False)


def test_first_purchases_leave_the_engine_once_and_go_after_the_last_fit(folder, monkeypatch):
    """The out-of-time test and the fit on the whole history share one engine pass of the
    first purchase days; that fit is their last use, so it lets them go (1 GB at 10M)."""
    from crm_models.baskets import recommend
    from crm_models.data import dataset

    src = open_dataset(folder, settings=default_settings("duckdb"))
    real, passes = recommend.aggregates.customer_item_first_days, []

    def counted(*args, **kwargs):
        passes.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(recommend.aggregates, "customer_item_first_days", counted)

    def held() -> list[str]:
        return [w for (key, w) in dataset._DERIVED if key == id(src) and "first purchases" in w]

    B.evaluate_cross_sell(src, cutoff=pd.Timestamp("2024-06-30"), max_customers=400)
    assert passes == ["product"] and len(held()) == 1
    whole = B.CrossSell(k=5).fit(src)
    assert passes == ["product"] and held() == []
    again = B.CrossSell(k=5).fit(src)  # asked again: computed again, the same model
    assert passes == ["product", "product"] and held() == []
    assert (again.owned_ != whole.owned_).nnz == 0

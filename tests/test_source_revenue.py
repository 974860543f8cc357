"""The "customer base and revenue" tables give the same numbers on an engine Source as on a
loaded Dataset (issue 16): concentration, new vs returning revenue, revenue by and share by
dimension, base activity, on ``demo``, an out-of-core folder and a hand-made log with the
awkward cases (anonymous lines, lines without an order id, orders spanning periods, returns
larger than purchases, a dimension only in the products table)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_models import revenue as rv
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.engine import EngineSettings, Source, as_source, open_database, open_folder

DUCKDB = EngineSettings("duckdb")
FREQS = ("M", "W-SUN", "Q-DEC")
DIMENSIONS = ("channel", "region", "category")


def assert_same_concentration(expected: rv.Concentration, got: rv.Concentration) -> None:
    """Equal per-customer revenue (the descending values and, per customer, the amounts),
    Lorenz curve, Gini, shares and counts."""
    a, b = expected.per_customer, got.per_customer
    pd.testing.assert_series_equal(
        b.sort_index(), a.sort_index(), rtol=1e-9, check_index_type=False
    )
    pd.testing.assert_series_equal(b.reset_index(drop=True), a.reset_index(drop=True), rtol=1e-9)
    pd.testing.assert_frame_equal(got.lorenz, expected.lorenz, rtol=1e-9)
    pd.testing.assert_series_equal(got.top_shares, expected.top_shares, rtol=1e-9)
    assert got.gini == pytest.approx(expected.gini, rel=1e-9, nan_ok=True)
    assert (got.n_customers, got.n_negative, got.as_of) == (
        expected.n_customers,
        expected.n_negative,
        expected.as_of,
    )
    assert got.total_revenue == pytest.approx(expected.total_revenue, rel=1e-9)
    assert got.negative_revenue == pytest.approx(expected.negative_revenue, rel=1e-9, abs=1e-9)


def check_revenue_tables(
    ds: Dataset,
    src: Source,
    freqs=FREQS,
    dimensions=DIMENSIONS,
    as_of=None,
    include_anonymous=(False,),
) -> None:
    """Every table of the report on both paths, column by column."""
    for start in (None, "2023-07-01"):
        assert_same_concentration(
            rv.concentration(ds, as_of, start), rv.concentration(src, as_of, start)
        )
    for freq in freqs:
        pd.testing.assert_frame_equal(
            rv.new_vs_returning(src, freq, as_of), rv.new_vs_returning(ds, freq, as_of), rtol=1e-9
        )
        pd.testing.assert_frame_equal(
            rv.base_activity(src, freq, as_of), rv.base_activity(ds, freq, as_of)
        )
        for dimension in dimensions:
            for anonymous in include_anonymous:
                pd.testing.assert_frame_equal(
                    rv.revenue_by(src, dimension, freq, as_of, anonymous),
                    rv.revenue_by(ds, dimension, freq, as_of, anonymous),
                    rtol=1e-9,
                )
        for anonymous in include_anonymous:  # every dimension summed in one pass
            each = rv.revenue_by_each(src, dimensions, freq, as_of, anonymous)
            assert list(each) == list(dimensions)
            for dimension in dimensions:
                pd.testing.assert_frame_equal(
                    each[dimension], rv.revenue_by(ds, dimension, freq, as_of, anonymous), rtol=1e-9
                )
    for dimension in dimensions:
        for anonymous in include_anonymous:
            pd.testing.assert_frame_equal(
                rv.revenue_share_by(src, dimension, as_of, anonymous),
                rv.revenue_share_by(ds, dimension, as_of, anonymous),
                rtol=1e-9,
            )


@pytest.fixture(scope="module")
def demo_pair(demo):
    return demo, as_source(demo, DUCKDB)


def test_demo_tables_are_the_same_on_duckdb(demo_pair):
    check_revenue_tables(*demo_pair)


def test_demo_tables_are_the_same_at_an_earlier_as_of(demo_pair):
    check_revenue_tables(*demo_pair, freqs=("M",), dimensions=("channel",), as_of="2023-11-15")


def test_demo_tables_are_the_same_in_postgres(demo, pg_demo):
    check_revenue_tables(demo, open_database(pg_demo), freqs=("M",))


def test_folder_read_out_of_core_gives_the_loaded_tables(folder):
    ds = load_dataset(folder)
    check_revenue_tables(ds, open_folder(folder, DUCKDB, "duckdb"), freqs=("M",))


@pytest.fixture(scope="module")
def awkward() -> Dataset:
    """Anonymous lines, lines without an order id, an order spanning two months (and two
    weeks), a customer whose returns exceed purchases, a return-only customer, a line without
    a channel, and ``category`` only in the products table (one product unknown there)."""
    rows = [
        ("a", "o1", "2024-01-03", 100.0, "web", "p1"),
        ("a", "o1", "2024-02-02", -10.0, "web", "p1"),
        ("a", "o2", "2024-01-20", 50.0, "store", "p2"),
        ("a", None, "2024-01-20", 7.5, "store", "p2"),
        ("a", None, "2024-03-01", 2.5, "web", "p9"),
        ("b", "o3", "2024-01-10", 30.0, "web", "p1"),
        ("b", "r3", "2024-02-05", -45.0, "web", "p1"),
        ("c", "o4", "2024-02-14", 80.0, None, "p2"),
        ("d", "r9", "2024-03-03", -5.0, "store", "p2"),
        (None, "o5", "2024-02-01", 999.0, "web", "p1"),
        (None, "o5", "2024-03-01", -9.0, "web", "p2"),
        (None, None, "2024-03-02", 11.0, "store", "p9"),
        ("a", "o6", "2024-04-10", 20.0, "store", "p1"),
    ]
    cols = ["customer_id", "order_id", "order_date", "amount", "channel", "product_id"]
    tx = pd.DataFrame(rows, columns=cols).assign(order_date=lambda d: pd.to_datetime(d.order_date))
    products = pd.DataFrame({"product_id": ["p1", "p2"], "category": ["toys", "books"]})
    return Dataset("awkward", transactions=tx, products=products)


def test_awkward_cases_are_the_same_on_duckdb(awkward):
    src = as_source(awkward, DUCKDB)
    check_revenue_tables(
        awkward, src, dimensions=("channel", "category"), include_anonymous=(False, True)
    )
    conc = rv.concentration(src)  # b returned more than bought; d only returned
    assert (conc.n_negative, conc.negative_revenue) == (2, -20.0)
    assert rv.revenue_share_by(src, "category").loc["(missing)", "revenue"] == 2.5


def test_a_missing_dimension_is_named_on_both_paths(awkward):
    src = as_source(awkward, DUCKDB)
    for ds in (awkward, src):
        with pytest.raises(ValueError, match="no 'region' column"):
            rv.revenue_share_by(ds, "region")
        with pytest.raises(ValueError, match="no 'region' column"):
            rv.revenue_by(ds, "region")


def test_per_order_rows_need_a_dataset(awkward):
    with pytest.raises(TypeError, match="needs a loaded Dataset"):
        rv.netted_orders(as_source(awkward, DUCKDB))


def test_the_tables_never_read_lines_into_pandas(folder, engine_result_rows):
    """Out of core every result the engine hands over is an aggregate: at most one row per
    customer (concentration), never the lines or the orders."""
    src = open_folder(folder, DUCKDB, "duckdb")
    lines = int(src.execute(src.table("transactions").count()))
    customers = int(src.execute(src.table("transactions").customer_id.nunique()))
    assert customers * 3 < lines
    rows = engine_result_rows
    rv.concentration(src)
    rv.concentration(src, start="2023-01-01")
    rv.new_vs_returning(src, "W")
    rv.base_activity(src, "W")
    for dimension in DIMENSIONS:
        rv.revenue_by(src, dimension, "W")
        rv.revenue_share_by(src, dimension)
    assert rows and max(rows) <= customers < lines

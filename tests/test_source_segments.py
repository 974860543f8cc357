"""The segments report on an engine source: the same numbers as on a loaded dataset.

A simulated shop of 3,000 customers (the ``folder`` fixture, Parquet parts) is loaded into
memory (the pandas path), registered on DuckDB, and read out of core by DuckDB.  Customer views
agree to 1e-9 (money summed in another order); the look-alike model rounds its money
differences to 1e-6, so its cohorts, labels, fits and scores are equal on every path.  The cut
to new customers (taken above the look-alike sample cap) stays in the engine on a source.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from engine_checks import assert_same_frame

from crm_models import segments as sg
from crm_models.data.dataset import UnsupportedData, resolve_as_of
from crm_models.data.loading import load_dataset
from crm_models.engine import Source, aggregates, as_source, open_dataset
from crm_models.engine.settings import default_settings
from crm_models.features import customer_view
from crm_models.segments import lookalike_model


@pytest.fixture(scope="module")
def shop(folder):
    """The shop loaded, registered on DuckDB and read out of core, with its as-of day."""
    ds = load_dataset(folder)
    sources = {
        "memory": as_source(ds, "duckdb"),
        "folder": open_dataset(folder, settings=default_settings("duckdb")),
    }
    return ds, sources, resolve_as_of(ds, None)


@pytest.fixture(scope="module")
def views(shop):
    """Today's customer view of each path (the pandas one computed by pandas)."""
    ds, sources, day = shop
    out = {"dataset": customer_view(ds, as_of=day, engine="pandas")}
    out.update({name: customer_view(src, as_of=day) for name, src in sources.items()})
    return out


def _look(data, view, day, cap):
    return sg.lookalike(
        data, as_of=day, quick=True, views={day: view}, sample_cap=cap, importance_cap=500
    )


@pytest.fixture(scope="module")
def dataset_looks(shop, views):
    ds, _, day = shop
    return {cap: _look(ds, views["dataset"], day, cap) for cap in (1000, None)}


def test_first_order_date_is_taken_by_the_engine(shop):
    ds, sources, _ = shop
    first = ds.customer_transactions()["order_date"].min()
    for src in sources.values():
        assert lookalike_model._first_order_date(src) == first
    no_lines = replace(
        sources["folder"], tables={"customers": sources["folder"].tables["customers"]}
    )
    with pytest.raises(UnsupportedData, match="transactions"):
        lookalike_model._first_order_date(no_lines)


def test_new_customers_cut_stays_in_the_engine_with_the_datasets_rows(shop, views):
    ds, sources, day = shop
    since, until = day - pd.Timedelta(days=540), day - pd.Timedelta(days=180)
    cut_ds = lookalike_model._new_customers_only(ds, views["dataset"], since, until)
    cut = lookalike_model._new_customers_only(sources["memory"], views["memory"], since, until)
    assert isinstance(cut, Source) and sorted(cut.tables) == ["customers", "transactions"]
    assert cut.fingerprint == cut_ds.fingerprint != ds.fingerprint  # never the whole data's
    assert cut.table_rows()["transactions"] == len(cut_ds.transactions) < len(ds.transactions)
    for name in ("memory", "folder"):
        cut = lookalike_model._new_customers_only(sources[name], views[name], since, until)
        for as_of in (day - pd.Timedelta(days=360), until):
            expected = customer_view(cut_ds, as_of=as_of, engine="pandas")
            assert_same_frame(expected, customer_view(cut, as_of=as_of))


@pytest.mark.parametrize(("name", "cap"), [("memory", 1000), ("folder", 1000), ("folder", None)])
def test_lookalike_on_a_source_equals_the_dataset(shop, views, dataset_looks, name, cap):
    _, sources, day = shop
    expected = dataset_looks[cap]
    got = _look(sources[name], views[name], day, cap)
    assert got.counts == expected.counts and got.best == expected.best
    assert got.samples == expected.samples and got.cutoffs == expected.cutoffs
    for part in ("comparison", "calibration", "importance", "scored"):
        pd.testing.assert_frame_equal(getattr(got, part), getattr(expected, part), rtol=1e-9)
    if cap is not None:  # the importance shuffles a stated sample of the test cohort
        assert got.samples[1].sampled and got.samples[1].n == 500


def test_segments_profiles_and_power_on_a_source_view_equal_the_datasets(shop, views):
    _, sources, day = shop
    expected = sg.segment_customers(views["dataset"], quick=True)
    got = sg.segment_customers(views["folder"], quick=True)
    pd.testing.assert_frame_equal(got.assignments, expected.assignments)
    pd.testing.assert_frame_equal(got.rfm_summary, expected.rfm_summary, rtol=1e-9)
    # the RFM scores are those the engine ranks (aggregates.rfm_ranks) for every buyer
    ranks = aggregates.rfm_ranks(sources["folder"], day)
    scored = got.assignments.loc[ranks.index, ["r", "f", "m"]].astype("int64")
    pd.testing.assert_frame_equal(scored, ranks[["r", "f", "m"]].astype("int64"))
    profile = sg.segment_profile(views["folder"], got.assignments["cluster_name"], got.rfm)
    pd.testing.assert_frame_equal(
        profile,
        sg.segment_profile(views["dataset"], expected.assignments["cluster_name"], expected.rfm),
        rtol=1e-9,
    )
    attributes = sg.attribute_columns(views["folder"])
    assert attributes == sg.attribute_columns(views["dataset"])
    power = sg.purchasing_power(views["folder"], attributes, sample_cap=1000)
    base = sg.purchasing_power(views["dataset"], attributes, sample_cap=1000)
    assert power.sample == base.sample and power.sample.sampled
    pd.testing.assert_frame_equal(power.coefficients, base.coefficients, rtol=1e-9)
    index = sg.index_table(views["folder"], "top_decile", attributes)
    pd.testing.assert_frame_equal(
        index, sg.index_table(views["dataset"], "top_decile", attributes), rtol=1e-9
    )


@pytest.mark.parametrize("model", ["bgnbd", "stacked"])
def test_profile_clv_learnt_from_a_source_equals_the_datasets(shop, views, model):
    """The stacked model's correction learns from the data itself (the purchase days)."""
    ds, sources, _ = shop
    expected = sg.clv_if_available(views["dataset"], ds=ds, value_model=model)
    got = sg.clv_if_available(views["folder"], ds=sources["folder"], value_model=model)
    assert expected is not None and len(expected) > 2000
    pd.testing.assert_series_equal(got, expected, rtol=1e-9)

"""Column-by-column comparison of every engine aggregate with the NumPy/pandas path.

Imported by the DuckDB, Spark and PostgreSQL test modules, so each engine is held to exactly the
same checks.  Money sums may differ in the last bits (another summation order): floats are
compared to 1e-9 relative; counts, labels and dates exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crm_models import baskets as basket
from crm_models import features, revenue
from crm_models.data.loading import dataset_summary
from crm_models.engine import Source, aggregates
from crm_models.segments import RFMScorer
from crm_models.value import retention, stacked

_FIGURES = str.maketrans("", "", "0123456789,.")


def assert_same_json(expected, got, rel: float, figures_in: tuple[str, ...] = (), path="") -> None:
    """Two ``--json`` outputs alike: the same keys, strings and integers, floats within ``rel``
    relative (1e-9 absolute; NaN equals NaN).  Texts listed under a key of ``figures_in`` print
    figures, so only their words are compared."""
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), (path, set(got) ^ set(expected))
        for key in expected:
            assert_same_json(expected[key], got[key], rel, figures_in, f"{path}/{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            assert_same_json(a, b, rel, figures_in, f"{path}[{i}]")
    elif isinstance(expected, float) and isinstance(got, float):
        if math.isnan(expected):
            assert math.isnan(got), path
        else:
            assert math.isclose(got, expected, rel_tol=rel, abs_tol=1e-9), (path, expected, got)
    elif isinstance(expected, str) and path.rsplit("/", 1)[-1].split("[")[0] in figures_in:
        assert got.translate(_FIGURES) == expected.translate(_FIGURES), (path, expected, got)
    else:
        assert got == expected, (path, expected, got)


def assert_same_frame(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    for col in expected.columns:
        x, y = expected[col], got[col]
        assert x.dtype == y.dtype, (col, x.dtype, y.dtype)
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=col)
        else:
            same = x.astype(object).where(x.notna(), "<NA>") == y.astype(object).where(
                y.notna(), "<NA>"
            )
            assert same.all(), f"{col}: {int((~same).sum())} customers differ"


def check_customer_view(ds, src: Source) -> None:
    assert_same_frame(features.customer_view(ds, engine="pandas"), features.customer_view(src))


def check_rfm(ds, src: Source) -> None:
    as_of = features.resolve_as_of(ds, None)
    expected = RFMScorer().fit_transform(features.customer_view(ds, engine="pandas"))
    expected = expected.loc[expected["r"].notna()]
    got = aggregates.rfm_ranks(src, as_of)
    assert got.index.equals(expected.index)
    for col in ("recency", "frequency", "monetary", "r", "f", "m"):
        np.testing.assert_allclose(
            got[col].astype(float), expected[col].astype(float), rtol=1e-12, err_msg=col
        )


def check_cohorts(ds, src: Source, freqs=("M", "W")) -> None:
    for freq in freqs:
        a = retention.cohorts(ds, freq=freq, engine="pandas")
        b = retention.cohorts(src, freq=freq)
        pd.testing.assert_series_equal(b.sizes, a.sizes)
        pd.testing.assert_frame_equal(b.active, a.active)
        pd.testing.assert_frame_equal(b.revenue, a.revenue, rtol=1e-9)
        pd.testing.assert_frame_equal(b.retention, a.retention)


def check_period_series(ds, src: Source, freqs=("M", "W-SUN", "Q-DEC")) -> None:
    for freq in freqs:
        pd.testing.assert_frame_equal(
            revenue.nlv_table(src, freq), revenue.nlv_table(ds, freq, engine="pandas"), rtol=1e-9
        )


def check_baskets(ds, src: Source, min_count: int = 20) -> None:
    for level in ("product", "category"):
        b = basket.baskets_from_transactions(ds, level)
        n, items = aggregates.basket_item_counts(src, level)
        assert n == b.n_baskets
        expected = b.item_counts.sort_index()
        assert list(items.index) == [str(i) for i in expected.index]
        assert (items.to_numpy() == expected.to_numpy()).all()
        pairs = aggregates.basket_pair_counts(src, level, min_count=min_count)
        ref = basket.pair_affinities(b, min_count=min_count)
        ref = ref.loc[ref["item"].astype(str) < ref["with_item"].astype(str)]
        ref = ref.sort_values(["item", "with_item"]).reset_index(drop=True)
        assert len(pairs) == len(ref) > 0
        assert (pairs["item"].to_numpy() == ref["item"].astype(str).to_numpy()).all()
        assert (pairs["count"].to_numpy() == ref["count"].to_numpy()).all()
        check_baskets_built_by_the_engine(b, basket.baskets_from_source(src, level))
        # the distinct contents with their counts give every basket's item and pair counts
        contents, listed, weight = aggregates.basket_compositions(src, level)
        assert list(listed) == [str(i) for i in b.items] and weight.sum() == b.n_baskets
        assert contents.shape[0] < b.n_baskets and contents.max() == 1
        m = b.matrix.astype(np.int64)
        co = (contents.T @ sp.diags(weight.astype(float)) @ contents).toarray()
        np.testing.assert_array_equal(co, (m.T @ m).toarray())


def check_baskets_built_by_the_engine(expected, got) -> None:
    """The engine's baskets (only pairs and per-basket rows leave it) are the in-memory ones."""
    assert (got.matrix != expected.matrix).nnz == 0
    assert got.items.equals(expected.items) and got.basket_ids.equals(expected.basket_ids)
    np.testing.assert_allclose(got.value, expected.value, rtol=1e-9)
    for attr in ("names", "categories"):
        a, b = getattr(expected, attr), getattr(got, attr)
        assert (a is None and b is None) or a.astype(object).equals(b.astype(object)), attr


def check_purchase_days(ds, src: Source) -> None:
    """The purchase days the value-model choice fits on: the same rows, in the same order,
    with the same (rounded) day spend from the engine as from the lines in memory."""
    as_of = features.resolve_as_of(ds, None)
    expected = stacked.purchase_days_as_of(ds, as_of)
    got = stacked.purchase_days_as_of(src, as_of)
    assert len(expected) > 100
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def check_summary(ds, src: Source) -> None:
    expected, got = dataset_summary(ds), aggregates.source_summary(src)
    keys = ["customers", "transactions", "orders", "revenue", "returns", "first_date"]
    keys += ["last_date", "tables"] + (
        ["campaigns", "campaign_contacts"] if ds.campaigns is not None else []
    )
    assert {k: got[k] for k in keys} == {k: expected[k] for k in keys}

"""Segments at scale: seeded stratified samples above stated caps, exact below them.

crm_models.segments.sampling and its use by the clustering, purchasing-power and look-alike
fits: the sample is seeded, keeps every stratum's share, is the identity at or below the cap,
and every customer is still assigned or scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_models import segments as sg
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view
from crm_models.segments import lookalike_model
from crm_models.segments.sampling import SampleInfo, interval_widening, stratified_sample


@pytest.fixture(scope="module")
def demo():
    ds = load_dataset("demo")
    return ds, customer_view(ds)


# --------------------------------------------------------------------------- the sample
def test_sample_is_seeded_and_exactly_the_cap():
    strata = pd.Series(np.repeat(["a", "b", "c"], [700, 200, 100]))
    a = stratified_sample(strata, 100, random_state=3)
    assert len(a) == 100 and len(np.unique(a)) == 100
    assert np.array_equal(a, stratified_sample(strata, 100, random_state=3))
    assert not np.array_equal(a, stratified_sample(strata, 100, random_state=4))
    assert np.all(np.diff(a) > 0)  # sorted positions


def test_every_stratum_keeps_its_share():
    rng = np.random.default_rng(0)
    strata = pd.Series(rng.choice(["a", "b", "c", None], 10_007, p=[0.6, 0.3, 0.0995, 0.0005]))
    cap = 997
    keep = stratified_sample(strata, cap, random_state=0)
    sizes = strata.value_counts(dropna=False)
    got = strata.iloc[keep].value_counts(dropna=False).reindex(sizes.index, fill_value=0)
    exact = sizes * cap / len(strata)
    # largest remainders: every stratum (missing values included) gets floor or ceil of its share
    assert ((got >= np.floor(exact)) & (got <= np.ceil(exact))).all()
    assert got.sum() == cap


def test_frame_strata_are_the_combinations():
    frame = pd.DataFrame({"x": np.repeat([0, 1], 500), "y": np.tile(np.repeat([0, 1], 50), 10)})
    keep = stratified_sample(frame, 100, random_state=1)
    cells = frame.iloc[keep].value_counts()
    assert len(cells) == 4 and (cells == 25).all()


def test_at_or_below_the_cap_nothing_is_sampled():
    strata = pd.Series(["a"] * 50 + ["b"] * 10)
    assert np.array_equal(stratified_sample(strata, 60), np.arange(60))
    assert np.array_equal(stratified_sample(strata, None), np.arange(60))
    with pytest.raises(ValueError, match="positive"):
        stratified_sample(strata, 0)


def test_interval_widening():
    assert interval_widening(100, 400) == pytest.approx(2.0)
    info = SampleInfo("fit", 100, 400, "segment")
    assert info.sampled and info.widening == pytest.approx(2.0)
    assert not SampleInfo("fit", 400, 400, "segment").sampled


# --------------------------------------------------------------------------- the analyses
def test_clustering_above_the_cap_samples_by_rfm_segment_and_assigns_everybody(demo):
    _, view = demo
    segment = sg.RFMScorer().fit_transform(view)["segment"].rename("RFM segment")
    kw = {"k_range": range(2, 4), "n_bootstrap": 2, "sample_size": 1500}
    model = sg.BehaviourClustering(sample_cap=1000, **kw).fit(view, strata=segment)
    buyers = view.index[view["days_since_last"].notna()]
    assert model.sample_.strata == "RFM segment" and model.sample_.n == 1500
    assert model.sample_.population == len(buyers)
    assert model.labels_.index.equals(buyers) and model.labels_.notna().all()  # all assigned
    default = sg.BehaviourClustering(**kw).fit(view, strata=segment)
    assert default.sample_.strata is None  # the demo is below the cap
    plain = sg.BehaviourClustering(**kw).fit(view)
    pd.testing.assert_series_equal(default.labels_, plain.labels_)  # below the cap: unchanged


def test_purchasing_power_on_a_sample_states_it_and_widens_intervals(demo):
    _, view = demo
    full = sg.purchasing_power(view, sample_cap=None)
    same = sg.purchasing_power(view)  # the demo is below the cap: the same fit
    pd.testing.assert_frame_equal(full.coefficients, same.coefficients)
    assert not same.sample.sampled
    cap = full.n // 4
    part = sg.purchasing_power(view, sample_cap=cap)
    assert part.n == cap and part.sample.population == full.n and part.sample.sampled
    width = (part.coefficients["high"] - part.coefficients["low"]).median()
    full_width = (full.coefficients["high"] - full.coefficients["low"]).median()
    # a quarter of the customers: intervals about twice as wide (1 / sqrt(1/4))
    assert 1.6 < width / full_width < 2.5
    assert part.sample.widening == pytest.approx(2.0, rel=0.01)


def test_new_customers_cut_gives_their_rows_of_the_whole_view(demo):
    ds, view = demo
    day = view["first_purchase"].max() - pd.Timedelta(days=200)
    cut = lookalike_model._new_customers_only(ds, view, day - pd.Timedelta(days=180), day)
    assert cut.fingerprint != ds.fingerprint
    small, whole = customer_view(cut, as_of=day), customer_view(ds, as_of=day)
    # nobody who first appears after the day (bought and signed up later) is kept
    first, signup = view["first_purchase"], view["signup_date"]
    later = (first.isna() | (first > day)) & (signup > day)
    assert later.sum() > 100 and not cut.customers["customer_id"].isin(view.index[later]).any()
    assert small.index.isin(whole.index).all()
    cohort = lookalike_model._cohort(whole, day, pd.Timedelta(days=180))
    assert len(cohort) > 200 and cohort.isin(small.index).all()
    cols = [*lookalike_model.EARLY_COLUMNS, "first_purchase", "revenue", "age", "region"]
    pd.testing.assert_frame_equal(small.loc[cohort, cols], whole.loc[cohort, cols])


@pytest.mark.slow
def test_lookalike_on_samples_scores_every_new_customer(demo):
    ds, view = demo
    day = pd.Timestamp(ds.last_date()).normalize()
    full = sg.lookalike(ds, quick=True, views={day: view})
    part = sg.lookalike(ds, quick=True, views={day: view}, sample_cap=1000, importance_cap=500)
    train, importance = part.samples
    assert train.n == 1000 and train.population == full.counts["train_customers"]
    assert importance.n == 500 and importance.population == full.counts["test_customers"]
    assert part.counts["test_customers"] == full.counts["test_customers"]  # judged on all
    assert part.scored.index.sort_values().equals(full.scored.index.sort_values())
    assert (
        part.comparison.loc[part.best, "auc"]
        > part.comparison.filter(like="naive", axis=0)["auc"].max()
    )


def test_notebook_caps_are_the_stated_constants():
    """The report's sample caps (parameters) are the package's stated defaults."""
    import re
    from pathlib import Path

    from crm_models.segments import sampling

    source = (Path(__file__).parents[1] / "notebooks" / "03_segments_and_profiles.py").read_text()
    caps = {k: int(v) for k, v in re.findall(r"^(\w+_sample_cap) = ([\d_]+)", source, re.M)}
    assert caps == {
        "segment_sample_cap": sampling.SEGMENT_SAMPLE_CAP,
        "power_sample_cap": sampling.POWER_SAMPLE_CAP,
        "lookalike_sample_cap": sampling.LOOKALIKE_SAMPLE_CAP,
        "importance_sample_cap": sampling.IMPORTANCE_SAMPLE_CAP,
    }

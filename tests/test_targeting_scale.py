"""Targeting at scale: the stated cap on the campaign rows models are fitted on (a stratified,
seeded sample above it, the data untouched below it), and the cheaper fits that change no
number (one-sort weighted binning, outcome models shared between learners)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_numeric_dtype

from crm_models import targeting as tg
from crm_models.targeting import uplift
from crm_models.targeting.sampling import MIN_STRATUM_ROWS

pytestmark = pytest.mark.usefixtures("one_thread")


def _strata(data, outcome="responded"):
    r = data.rows
    return r["campaign_id"].astype(str) + "|" + r["arm"] + "|" + (r[outcome] > 0).astype(str)


def test_below_the_cap_the_data_is_used_whole(demo_data):
    n = len(demo_data.rows)
    assert tg.fit_sample(demo_data, max_rows=n) is demo_data
    assert tg.fit_sample(demo_data, max_rows=0) is demo_data  # 0: no cap
    assert n <= tg.MAX_FIT_ROWS  # the default cap leaves the demo (and Hillstrom, 64,000) exact
    assert tg.sample_note(demo_data) is None and tg.sample_summary(demo_data) is None


def test_sample_keeps_each_stratum_share_and_is_seeded(demo_data):
    n, cap = len(demo_data.rows), 8_000
    sample = tg.fit_sample(demo_data, "responded", cap, seed=7)
    assert sample.sampled_from == n
    assert len(sample.rows) == len(sample.X) == len(sample.features)
    assert sample.rows.index.equals(sample.X.index) and sample.rows.index.is_monotonic_increasing
    full, part = _strata(demo_data).value_counts(), _strata(sample).value_counts()
    expected = np.maximum(full * cap / n, np.minimum(full, MIN_STRATUM_ROWS))
    assert (part.reindex(full.index).fillna(0) - expected).abs().max() <= 1
    assert cap <= len(sample.rows) <= cap + len(full) * MIN_STRATUM_ROWS
    again = tg.fit_sample(demo_data, "responded", cap, seed=7)
    other = tg.fit_sample(demo_data, "responded", cap, seed=8)
    assert sample.rows.index.equals(again.rows.index)
    assert not sample.rows.index.equals(other.rows.index)


def test_a_sample_builds_the_features_of_its_own_rows_only(demo):
    """Above the cap no feature of the full campaign rows is built: the sample builds its rows'
    customer views from their customers alone, with exactly the values the full build gives."""
    full = tg.campaign_data(demo)
    sample = tg.fit_sample(full, "responded", 5_000, seed=7)
    features = sample.features
    assert "features" not in full._built  # the 28,718 rows were never given features
    reference = tg.campaign_data(demo).features.loc[sample.rows.index]

    def plain(frame):  # dtypes aside (a day's view of fewer customers needs no NaN fill)
        return frame.astype({c: float if is_numeric_dtype(frame[c]) else object for c in frame})

    pd.testing.assert_frame_equal(plain(features), plain(reference))
    assert sample.X.index.equals(sample.rows.index)


def test_the_model_fitted_after_an_evaluation_reuses_its_sample_and_features(demo, monkeypatch):
    """The report evaluates the learners on a sample, then fits the chosen one: with the
    evaluation's seed the model is fitted on the same rows, whose features are built once."""
    from crm_models.targeting import campaigns

    built = []
    real = campaigns.campaign_features
    monkeypatch.setattr(
        campaigns, "campaign_features", lambda *a, **k: built.append(1) or real(*a, **k)
    )
    full = tg.campaign_data(demo)
    sample = tg.fit_sample(full, "responded", 5_000, seed=7)
    assert len(sample.features) == len(sample.rows)
    assert tg.fit_sample(full, "responded", 5_000, seed=7) is sample
    assert tg.fit_sample(full, "responded", 5_000, seed=8) is not sample
    model = tg.TargetingModel(
        "two_model_gbm", max_fit_rows=5_000, sample_seed=7, clv_horizon_weeks=None
    ).fit(demo, full)
    assert len(built) == 1  # the evaluation's sample, features and all
    assert model.fit_sample_ == tg.sample_summary(sample)


def test_the_contact_list_model_is_fitted_on_the_rows_its_learner_was_judged_on(demo, monkeypatch):
    """``target`` (``learner="auto"``) judges the learners on a sample, then fits the one it
    chose on that same sample: its features are built once."""
    from crm_models.targeting import campaigns

    built = []
    real = campaigns.campaign_features
    monkeypatch.setattr(
        campaigns, "campaign_features", lambda *a, **k: built.append(1) or real(*a, **k)
    )
    data = tg.campaign_data(demo)
    _, model = tg.build_contact_list(
        demo, tg.ContactPolicy(budget=400), learner="auto", data=data, max_fit_rows=5_000
    )
    sample = tg.fit_sample(data, "responded", 5_000, seed=tg.EVALUATION_SEED)
    assert model.fit_sample_ == tg.sample_summary(sample)
    assert len(built) == 1


def test_every_offer_keeps_its_controls_and_responders(demo_data):
    sample = tg.fit_sample(demo_data, "responded", 1_000, seed=1)
    assert sample.arms == demo_data.arms
    r = sample.rows
    for arm in sample.arms:
        rows = tg.arm_rows(sample, arm)
        control = rows & (r["arm"] == sample.control).to_numpy()
        assert control.sum() >= MIN_STRATUM_ROWS
        assert (r.loc[rows, "responded"] > 0).sum() >= MIN_STRATUM_ROWS


def test_a_negative_cap_is_refused(demo_data):
    with pytest.raises(ValueError, match="positive number"):
        tg.fit_sample(demo_data, max_rows=-5)


def test_uplift_json_says_when_the_models_used_a_sample(demo):
    out = tg.uplift_summary(demo, model=tg.BASELINE, n_boot=10, repeats=0, max_fit_rows=6_000)
    s = out["fit_sample"]
    assert s["of"] == len(tg.campaign_data(demo).rows) and 6_000 <= s["rows"] < s["of"]
    assert (
        "random sample of" in s["note"]
        and "stratified by campaign, offer and response" in (s["note"])
    )
    # customers and measured effects count every row, not the sample
    assert (
        sum(a["customers"] for a in out["arms"].values()) + out["control"]["customers"] == (s["of"])
    )


def test_cli_help_states_the_cap():
    from crm_models.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices
    for verb in ("uplift", "target"):
        assert f"{tg.MAX_FIT_ROWS:,}" in " ".join(verbs[verb].format_help().split())


def test_one_sort_weighted_binning_gives_scikit_learns_thresholds():
    rng = np.random.default_rng(0)
    for trial in range(12):
        n = 3_000
        col = rng.normal(size=n)
        if trial % 3 == 0:
            col = np.round(col * 300)  # ties
        col[rng.random(n) < 0.1] = np.nan
        p = rng.uniform(0.2, 0.8)
        w = np.where(rng.random(n) < p, 0.5 / p, 0.5 / (1 - p))
        w[rng.random(n) < 0.02] = 0.0
        ours = uplift._weighted_thresholds(col.copy(), 255, w.copy())
        theirs = uplift._SKLEARN_THRESHOLDS(col.copy(), 255, w.copy())
        np.testing.assert_array_equal(ours, theirs)


def test_shared_fits_fit_each_outcome_model_once(demo_data, monkeypatch):
    X = demo_data.X.to_numpy()[:4_000]
    r = demo_data.rows.iloc[:4_000]
    t = (r["arm"] != demo_data.control).to_numpy()
    y = r["responded"].to_numpy(dtype=float)
    alone = tg.XLearnerUplift(tg.make_estimator()).fit(X, t, y).predict(X)
    calls = []
    real = uplift._fit_outcome
    monkeypatch.setattr(uplift, "_fit_outcome", lambda *a: calls.append(1) or real(*a))
    with uplift.shared_fits():
        tg.TwoModelUplift(tg.make_estimator()).fit(X, t, y)
        shared = tg.XLearnerUplift(tg.make_estimator()).fit(X, t, y).predict(X)
    assert len(calls) == 4  # 2 outcome models shared, 2 effect models: not 6 fits
    np.testing.assert_array_equal(shared, alone)
    assert uplift._SHARED_FITS is None  # nothing kept after the block


def test_scoring_in_batches_gives_the_same_scores(demo, demo_data, monkeypatch):
    from crm_models.targeting import model as targeting_model

    fitted = tg.TargetingModel("two_model_gbm", clv_horizon_weeks=None).fit(demo, demo_data)
    features = tg.customer_features(demo, None, fitted.response_window_days)
    whole = fitted.predict(features)
    monkeypatch.setattr(targeting_model, "SCORE_BATCH", 997)
    assert len(features) > 997
    pd.testing.assert_frame_equal(fitted.predict(features), whole)

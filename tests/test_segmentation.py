"""Segmentation: RFM scores and rules, stable clustering, profiles (crm_models.segments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import segments as sg
from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view


@pytest.fixture(scope="module")
def demo_view():
    return customer_view(load_dataset("demo"))


@pytest.fixture(scope="module")
def demo_segments(demo_view):
    return sg.segment_customers(demo_view, quick=True, random_state=0)


# --------------------------------------------------------------------------- RFM
def test_quantile_scores_hand_computed():
    # 10 values, q = 5: a value's score is 1 + floor(5 * (#values strictly below) / 10)
    values = [1, 1, 1, 1, 2, 3, 3, 10, 20, 20]
    # below:  0  0  0  0  4  5  5   7   8   8  -> 1 1 1 1 3 3 3 4 5 5
    assert sg.quantile_scores(values, q=5).tolist() == [1, 1, 1, 1, 3, 3, 3, 4, 5, 5]
    assert np.isnan(sg.quantile_scores([np.nan, 1.0], q=5)[0])


def test_rfm_scorer_matches_a_hand_computed_example():
    view = pd.DataFrame(
        {
            "days_since_last": [3, 10, 40, 100, 400, np.nan],
            "orders": [9, 5, 2, 1, 6, 0],
            "revenue": [900.0, 400.0, 150.0, 60.0, 800.0, 0.0],
        },
        index=pd.Index([11, 12, 13, 14, 15, 16], name="customer_id"),
    )
    rfm = sg.RFMScorer(q=5, unit="D").fit_transform(view)
    # 5 buyers. R on -days: 3 best.  below counts for -days [-3,-10,-40,-100,-400]: 4,3,2,1,0
    assert rfm["r"].tolist()[:5] == [5, 4, 3, 2, 1]
    # F orders [9,5,2,1,6]: below 4,2,1,0,3 -> 1+floor(5*b/5) = 5,3,2,1,4
    assert rfm["f"].tolist()[:5] == [5, 3, 2, 1, 4]
    # M revenue [900,400,150,60,800]: below 4,2,1,0,3 -> 5,3,2,1,4
    assert rfm["m"].tolist()[:5] == [5, 3, 2, 1, 4]
    # FM = (F + M + 1) // 2 -> 5,3,2,1,4
    assert rfm["fm"].tolist()[:5] == [5, 3, 2, 1, 4]
    assert rfm["rfm"].tolist()[:5] == ["555", "433", "322", "211", "144"]
    # rules: (5,5) champions, (4,3) loyal, (3,2) hibernating, (2,1) hibernating, (1,4) can't lose
    assert rfm["segment"].astype(str).tolist() == [
        "champions",
        "loyal",
        "hibernating",
        "hibernating",
        "can't lose",
        "prospect",
    ]


def test_rules_cover_every_cell_once_by_first_match():
    r, fm = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    names = sg.rfm_segment(r.ravel(), fm.ravel())
    assert sg.PROSPECT not in set(names)
    assert set(names) == set(sg.RFM_SEGMENTS)
    assert len(sg.rfm_rules_table()) == len(sg.RFM_RULES)


def test_recency_unit_groups_ties():
    view = pd.DataFrame(
        {"days_since_last": [0, 6, 7, 13], "orders": [1, 1, 1, 1], "revenue": [1.0] * 4}
    )
    weekly = sg.RFMScorer(unit="W").fit_transform(view)
    assert weekly["recency"].tolist() == [0, 0, 1, 1]
    assert weekly["r"].iloc[0] == weekly["r"].iloc[1] != weekly["r"].iloc[2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=80),
    st.integers(min_value=2, max_value=10),
)
def test_quantile_scores_properties(values, q):
    scores = sg.quantile_scores(values, q=q)
    v = np.asarray(values, dtype=float)
    assert ((scores >= 1) & (scores <= q)).all()
    order = np.argsort(v, kind="stable")
    assert (np.diff(scores[order]) >= 0).all()  # never falls as the value grows
    for value in np.unique(v):  # ties share a score
        assert len(set(scores[v == value])) == 1
    assert scores[v == v.min()].min() == 1  # the smallest value is always in the bottom score


# --------------------------------------------------------------------------- clustering
def test_planted_clusters_are_found_and_stable():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0], [0, 0, 6]], dtype=float)
    truth = rng.integers(0, 4, 2000)
    X = centres[truth] + rng.normal(size=(2000, 3))
    model = sg.BehaviourClustering(
        k_range=range(2, 7), methods=("kmeans",), n_bootstrap=4, random_state=0
    ).fit(X)
    from sklearn.metrics import adjusted_rand_score

    assert model.k_ == 4 and model.stable_
    assert adjusted_rand_score(truth, model.labels_) > 0.95


def test_pure_noise_is_flagged_unstable():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 6))  # one round blob: any split is arbitrary
    model = sg.BehaviourClustering(
        k_range=range(2, 6), methods=("kmeans",), n_bootstrap=6, random_state=0
    ).fit(X)
    assert not model.stable_
    assert model.stability_ < model.stability_threshold


def test_clustering_is_deterministic_for_a_seed(demo_view):
    a = sg.BehaviourClustering(k_range=range(2, 5), n_bootstrap=2, sample_size=1500).fit(demo_view)
    b = sg.BehaviourClustering(k_range=range(2, 5), n_bootstrap=2, sample_size=1500).fit(demo_view)
    pd.testing.assert_series_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.selection_, b.selection_)
    assert a.names_ == b.names_


def test_a_few_customers_are_scored_as_in_the_whole_base(demo_view):
    """Scoring one customer or a small batch keeps every fitted column, even those constant
    within the batch (three one-order customers have the same order count)."""
    model = sg.BehaviourClustering(k_range=range(2, 5), n_bootstrap=2, sample_size=1500)
    model.fit(demo_view)
    labels = model.labels_
    one_timers = demo_view.loc[labels.index][demo_view.loc[labels.index, "orders"] == 1]
    batch = one_timers.head(3)
    assert (model.predict(batch) == labels.loc[batch.index]).all()
    for customer in labels.index[:5]:
        single = demo_view.loc[[customer]]
        assert model.predict(single).iloc[0] == labels.loc[customer]


def test_segment_customers_on_demo(demo_view, demo_segments):
    seg = demo_segments
    table = seg.to_frame()
    assert table.index.name == "customer_id" and table.index.equals(demo_view.index)
    assert {"r", "f", "m", "rfm_segment", "cluster", "cluster_name"} <= set(table.columns)
    assert not {"name", "email", "phone"} & set(table.columns)
    d = seg.to_dict()
    assert set(d) >= {"rfm_segments", "clusters", "stability"}
    for part in ("rfm_segments", "clusters"):
        assert sum(v["customers"] for v in d[part].values()) == len(demo_view)
        assert sum(v["revenue_share"] for v in d[part].values()) == pytest.approx(1.0, abs=1e-5)
    # champions: the most valuable customers per head
    per_head = seg.rfm_summary["revenue_per_customer"]
    assert per_head.idxmax() == "champions"
    # the demo's behaviour has real structure: a stable segmentation with distinct names
    assert seg.clustering.stable_ and 0.75 <= seg.clustering.stability_ <= 1
    assert len(set(seg.clustering.names_.values())) == seg.clustering.k_


def test_profiles_and_intervals(demo_view, demo_segments):
    labels = demo_segments.assignments["cluster_name"]
    prof = sg.segment_profile(demo_view, labels, demo_segments.rfm)
    assert prof["customers"].sum() == labels.notna().sum()
    assert prof["revenue_share"].sum() == pytest.approx(1.0)
    ci = sg.indicator_intervals(demo_view, labels)
    assert (ci["low"] <= ci["mean"]).all() and (ci["mean"] <= ci["high"]).all()
    share = ci.loc[ci["indicator"] == "repeat"]
    assert ((share["low"] >= 0) & (share["high"] <= 1)).all()
    mix = sg.mix_table(demo_view, labels, "channel")
    assert np.allclose(mix.sum(axis=1), 1.0, atol=1e-6)


def test_segment_mixes_skip_what_the_view_lacks(demo_view, demo_segments):
    labels = demo_segments.assignments["cluster_name"]
    mixes = sg.segment_mixes(demo_view, labels, ["favourite_category", "no_such_column", "channel"])
    assert [column for column, _ in mixes] == ["favourite_category", "channel"]
    pd.testing.assert_frame_equal(mixes[1][1], sg.mix_table(demo_view, labels, "channel"))
    assert sg.segment_mixes(demo_view.drop(columns="favourite_category"), labels, []) == []


def test_stability_metrics_keys():
    selection = pd.DataFrame(
        {"method": ["kmeans", "gmm"], "k": [2, 3], "stability": [0.5, np.float32(0.9)]}
    )
    metrics = sg.stability_metrics(selection)
    assert metrics == {"stability_kmeans_k2": 0.5, "stability_gmm_k3": pytest.approx(0.9)}
    assert all(type(v) is float for v in metrics.values())


def test_segment_names_describe_the_centres():
    centres = pd.DataFrame(
        {"orders": [1.5, -0.8, 0.0], "days_since_last": [-0.9, 1.2, 0.05]}, index=[0, 1, 2]
    )
    names = sg.name_segments(centres)
    assert names[0] == "Frequent, recently active"
    assert names[1] == "Lapsed, one-off"
    assert names[2] == "Typical"


def test_cli_segment_json_contract(tmp_path, capsys):
    import json

    from crm_models.cli import main

    out = tmp_path / "segments.csv"
    code = main(["segment", "cdnow_sample", "--quick", "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for part in ("rfm_segments", "clusters"):
        assert result[part] and all(
            set(v) >= {"customers", "revenue_share"} for v in result[part].values()
        )
    assert 0 <= result["stability"] <= 1
    table = pd.read_csv(out)
    assert table.columns[0] == "customer_id" and len(table) == 2357


def test_profile_clv_comes_from_the_chosen_value_model(demo):
    """BG/NBD by default; a chosen naive rate corrects it customer by customer (the value
    report's own computation); data too thin for the models gives no CLV, not an error."""
    view = customer_view(demo)
    base = clv.buyers(view)
    purchase, spend = clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)
    plain = clv.customer_value(purchase, spend, base, horizon=52.0)["clv"]
    pd.testing.assert_series_equal(sg.clv_if_available(view), plain)
    as_of = view.attrs["as_of"]
    factor = clv.forecast_multiplier("naive", demo, as_of, 52.0, purchase, base)
    naive = clv.customer_value(purchase, spend, base, horizon=52.0, multiplier=factor)["clv"]
    got = sg.clv_if_available(view, ds=demo, value_model="naive")
    pd.testing.assert_series_equal(got, naive)
    assert not np.allclose(got, plain)
    assert sg.clv_if_available(view.head(3)) is None  # three customers: nothing to fit

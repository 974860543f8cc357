"""Targeting: leakage-free campaign data, Hillstrom's published figures, evaluation on the demo
retailer's true uplift, determinism, and the permission rules of the contact list."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_models import targeting as tg
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view
from crm_models.value import VALUE_MODEL_LABELS, value_model_choice

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def hillstrom(shared_data):
    return load_dataset(shared_data / "hillstrom" / "hillstrom.csv")


# --------------------------------------------------------------------------- leakage
def test_features_use_nothing_from_or_after_the_send(demo):
    """Features of a campaign must not change when everything from its send day on changes."""
    cid = "CMP03"
    send = demo.campaigns.loc[demo.campaigns["campaign_id"] == cid, "sent_date"].min().normalize()
    before = tg.campaign_data(demo, campaigns=[cid]).features
    tx = demo.transactions
    camp = demo.campaigns.copy()
    camp = camp.loc[camp["sent_date"] < send + pd.Timedelta(days=1)]  # later campaigns gone
    own = camp["campaign_id"] == cid
    camp.loc[own, "responded"] = ~camp.loc[own, "responded"]  # its own outcomes scrambled
    camp.loc[own, "response_amount"] = 999.0
    altered = Dataset(
        "demo",
        transactions=tx.loc[tx["order_date"] < send],  # nothing from the send day on
        customers=demo.customers,
        campaigns=camp,
        info=demo.info,
    )
    after = tg.campaign_data(altered, campaigns=[cid]).features
    pd.testing.assert_frame_equal(before, after)
    # ... while the earlier campaigns, whose response windows had closed, do count
    assert before["contacts"].max() >= 1 and before["responses"].sum() > 0


def test_campaign_history_waits_for_the_response_window(demo):
    send = pd.Timestamp("2024-03-26")
    feats = tg.customer_features(demo, send - pd.Timedelta(days=1))
    within = tg.customer_features(demo, pd.Timestamp("2023-10-10"))  # CMP02 sent 2023-10-03
    assert feats["contacts"].sum() > 0
    cmp2 = demo.campaigns.loc[demo.campaigns["campaign_id"] == "CMP02"]
    ids = cmp2.loc[cmp2["treated"], "customer_id"]
    assert within.reindex(ids)["contacts"].fillna(0).max() <= 1  # only CMP01 could count
    assert "opt_out_date" not in feats and "opt_in" not in feats


@pytest.mark.parametrize("window", [7, 14, 30])
def test_features_from_the_shared_view_equal_their_own_view(demo, window):
    """The targeting report recounts only the campaign columns of the build's customer view
    (every campaign) instead of building a second view: the same features, whatever the
    response window; on 2023-10-10 CMP02 (sent 2023-10-03) is still open."""
    for as_of in (pd.Timestamp("2023-10-10"), pd.Timestamp("2024-03-25")):
        own = tg.customer_features(demo, as_of, window)
        shared = tg.customer_features(demo, as_of, window, view=customer_view(demo, as_of=as_of))
        pd.testing.assert_frame_equal(shared, own)


# --------------------------------------------------------------------------- Hillstrom
# Published figures of Kevin Hillstrom's MineThatData E-Mail Analytics and Data Mining
# Challenge (2008-03-20), as verified in shared/data/hillstrom/SOURCE.md.
HILLSTROM = {
    "Mens E-Mail": (21_307, 0.182757, 0.012531, 1.422617),
    "Womens E-Mail": (21_387, 0.151400, 0.008837, 1.077202),
    "No E-Mail": (21_306, 0.106167, 0.005726, 0.652789),
}
HILLSTROM_ATE = {  # difference in means vs No E-Mail (SOURCE.md)
    ("Mens E-Mail", "visit"): 0.076590,
    ("Mens E-Mail", "conversion"): 0.006805,
    ("Mens E-Mail", "spend"): 0.769827,
    ("Womens E-Mail", "visit"): 0.045233,
    ("Womens E-Mail", "conversion"): 0.003111,
    ("Womens E-Mail", "spend"): 0.424412,
}


def test_hillstrom_arms_match_the_published_challenge_figures(hillstrom):
    data = tg.campaign_data(hillstrom)
    assert data.arms == ["mens_email", "womens_email"]
    assert {"visit", "conversion", "spend"} <= set(data.outcomes)
    for arm in ["mens_email", "womens_email", "control"]:
        rows = data.rows.loc[data.rows["arm"] == arm]
        n, visit, conversion, spend = HILLSTROM[tg.arm_label(hillstrom, arm)]
        assert len(rows) == n
        assert rows["visit"].mean() == pytest.approx(visit, abs=5e-7)
        assert rows["conversion"].mean() == pytest.approx(conversion, abs=5e-7)
        assert rows["spend"].mean() == pytest.approx(spend, abs=5e-7)
    effects = tg.arm_summary(data, "spend").set_index("label")
    assert effects.loc["Mens E-Mail", "effect"] == pytest.approx(0.769827, abs=5e-7)


def test_uplift_cli_json_on_hillstrom(shared_data, capsys):
    from crm_models.cli import main

    path = str(shared_data / "hillstrom" / "hillstrom.csv")
    args = ["uplift", path, "--outcome", "visit", "--model", "two_model_logistic"]
    assert main([*args, "--bootstrap", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "visit"
    assert out["control"]["customers"] == 21_306
    assert out["control"]["response_rate"] == pytest.approx(0.106167, abs=5e-7)
    assert set(out["arms"]) == {"Mens E-Mail", "Womens E-Mail"}
    for name, arm in out["arms"].items():
        assert arm["customers"] == HILLSTROM[name][0]
        assert arm["response_rate"] == pytest.approx(HILLSTROM[name][1], abs=5e-7)
        assert arm["ate"] == pytest.approx(HILLSTROM_ATE[(name, "visit")], abs=5e-7)
        for key in ("uplift_at_30", "qini_auc", "auuc", "baseline_uplift_at_30"):
            assert np.isfinite(arm[key]), key
        lo, hi = arm["uplift_at_30_ci"]
        assert lo <= arm["uplift_at_30"] <= hi


# --------------------------------------------------------------------------- evaluation
def test_stratified_split_is_balanced_and_seeded(demo_data):
    a_train, a_test = tg.stratified_split(demo_data, "responded", 0.3, 7)
    b_train, b_test = tg.stratified_split(demo_data, "responded", 0.3, 7)
    assert np.array_equal(a_test, b_test) and not (a_train & a_test).any()
    r = demo_data.rows
    share = r.loc[a_test].groupby("arm")["responded"].mean()
    whole = r.groupby("arm")["responded"].mean()
    assert (share - whole).abs().max() < 0.01
    assert a_test.mean() == pytest.approx(0.3, abs=0.01)


def test_demo_models_rank_customers_by_true_uplift(demo, demo_data):
    truth = tg.true_uplift(demo)
    ev = tg.evaluate_uplift(
        demo_data,
        "responded",
        models=["pooled_s_learner_gbm", "two_model_logistic"],
        n_boot=20,
        truth=truth,
    )
    m = ev.metrics
    corr = m.groupby("model")["rank_corr_true"].mean()
    best = corr.drop(["response_model", "oracle (true uplift)"]).max()
    # clearly positive, and clearly better than mailing the likeliest buyers: the simulated shop
    # has sure things (recent buyers, high response, little uplift), persuadables (lapsing
    # customers) and sleeping dogs, so response and uplift rankings disagree.  (With seeds 1, 2
    # and 3 instead of 42 the gap is 0.14 to 0.21.)
    assert best > 0.3
    assert best > corr["response_model"] + 0.1
    # ... and targeting by it captures far more of the oracle's true gain (AUUC vs the oracle)
    gain = m.groupby("model")["auuc_vs_oracle"].mean()
    assert (
        gain.drop(["response_model", "oracle (true uplift)"]).max() > gain["response_model"] + 0.2
    )
    assert corr["pooled_s_learner_gbm"] > corr["two_model_logistic"]
    assert (m.loc[m["model"] == "oracle (true uplift)", "auuc_vs_oracle"] == 1).all()
    # cross-fitted choice (issue 15) among the models and random targeting; which one wins
    # the training folds is noise-level here, so only the pooled model's test Qini is asserted
    assert ev.chosen == ev.validation["validation_qini"].idxmax() and ev.verdict
    assert (m.loc[m["model"] == "pooled_s_learner_gbm", "qini_auc"] > 0).all()
    assert {"uplift_at_30", "uplift_at_30_low", "uplift_at_30_high", "qini_auc", "auuc"} <= set(m)


def test_evaluation_is_deterministic_for_a_seed(demo_data):
    small = demo_data.with_rows(demo_data.rows.loc[demo_data.rows["campaign_id"] == "CMP04"])
    kw = dict(models=["two_model_gbm", "two_model_logistic"], n_boot=10, seed=3)
    a = tg.evaluate_uplift(small, "response_amount", **kw).metrics
    b = tg.evaluate_uplift(small, "response_amount", **kw).metrics
    pd.testing.assert_frame_equal(a, b)
    assert set(a["arm"]) == {"discount_20", "free_shipping"}


def test_campaign_rows_do_not_depend_on_the_order_of_the_file(demo, demo_data):
    """An engine's scan (or a re-exported file) may list the contacts in another order: the rows,
    and so every sample, split and model, stay the same."""
    import dataclasses

    shuffled = demo.campaigns.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = tg.campaign_data(dataclasses.replace(demo, campaigns=shuffled))
    pd.testing.assert_frame_equal(again.rows, demo_data.rows)
    day = demo_data.rows["sent_date"].dt.normalize()
    keys = pd.DataFrame({"day": day, "c": demo_data.rows["campaign_id"]})
    keys["id"] = demo_data.rows["customer_id"]
    assert keys.equals(keys.sort_values(["day", "c", "id"]))


def test_response_model_trains_on_earlier_campaigns(demo_data):
    ev = tg.evaluate_response(demo_data)
    assert "tested on CMP05" in ev.split
    assert ev.metrics["auc"].min() > 0.6
    assert ev.gains["cumulative_share_of_responders"].iloc[-1] == pytest.approx(1.0)
    assert ev.gains["lift"].iloc[0] > 1.5


# --------------------------------------------------------------------------- contact list
def test_contact_list_on_demo(demo, demo_data):
    policy = tg.ContactPolicy(budget=500, cost_per_contact={"email": 0.1, "default": 0.5})
    result, model = tg.build_contact_list(demo, policy, data=demo_data)
    c = result.contacts
    assert len(c) == 500 and c["customer_id"].is_unique
    assert list(c.columns) == [
        "customer_id",
        "arm",
        "channel",
        "expected_incremental_response",
        "expected_incremental_clv",
        "expected_incremental_profit",
        "reason_codes",
    ]
    assert (c["expected_incremental_profit"] > 0).all()
    # the lifetime-value term is on (BG/NBD + Gamma-Gamma fit the demo) and never negative
    assert "BG/NBD" in result.summary["clv_term"]
    assert (result.decisions["clv_gain"] >= 0).all() and (c["expected_incremental_clv"] > 0).any()
    assert result.summary["spent"] == pytest.approx(result.summary["contact_cost"])
    assert set(c["arm"]) <= set(model.arms_)
    customers = demo.customers.set_index("customer_id").loc[c["customer_id"]]
    assert customers["opt_in"].all() and customers["opt_out_date"].isna().all()
    comp = result.comparison.set_index("strategy")
    assert comp.loc["mail nobody", "expected_incremental_profit"] == 0
    ours = comp.loc["uplift list (this list)", "expected_incremental_profit"]
    same_size = comp.loc[comp.index.str.startswith("top 500"), "expected_incremental_profit"].iloc[
        0
    ]
    assert ours >= same_size  # same number of contacts, chosen by expected profit
    assert comp.loc[comp.index.str.startswith("mail every"), "contacts"].iloc[0] > 500
    assert result.summary["excluded_by_permission_rules"] > 0
    from crm_models.reporting.tracking import check_no_pii

    check_no_pii(c)


def test_target_cli(tmp_path, capsys):
    from crm_models.cli import main

    out = tmp_path / "list.csv"
    assert main(["target", "demo", "--budget", "50", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["contacts"] == 50 and len(pd.read_csv(out)) == 50
    assert summary["budget_amount"] is None and summary["spent"] == pytest.approx(25.0)


def test_target_cli_money_budget(tmp_path, capsys):
    from crm_models.cli import main

    out = tmp_path / "list.csv"
    args = ["target", "demo", "--budget-amount", "12.3", "--cost-per-contact", "0.2"]
    assert main([*args, "--clv-weight", "0", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    listed = pd.read_csv(out)
    assert summary["budget_amount"] == 12.3 and summary["budget_contacts"] is None
    assert summary["contacts"] == len(listed) == 61  # 61 x 0.2 = 12.2; one more overspends
    assert summary["spent"] == pytest.approx(12.2) and summary["spent"] <= 12.3
    assert (
        summary["expected_incremental_clv"] == 0 and (listed["expected_incremental_clv"] == 0).all()
    )


def test_target_cli_needs_a_budget(capsys):
    from crm_models.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["target", "demo"])
    assert exc.value.code == 2
    assert "--budget (or --budget-amount)" in capsys.readouterr().err


def test_the_scores_keep_none_of_the_features_memory(demo, demo_data):
    """The scores copy what they take from the features: in a build the features are a
    memory-mapped file, whose pages stay resident while anything still points into it."""
    as_of = pd.Timestamp(demo.transactions["order_date"].max()).normalize()
    model = tg.TargetingModel("two_model_logistic", max_fit_rows=2_000, sample_seed=3)
    model.fit(demo, demo_data)
    features = tg.customer_features(demo, as_of, model.response_window_days)
    features.index = pd.Index(np.arange(len(features)) * 7, name="customer_id")  # numbers
    scores = model.score(demo, as_of, features)
    assert scores.index.equals(features.index) and scores.index.name == "customer_id"
    assert not np.shares_memory(scores.index.to_numpy(), features.index.to_numpy())
    shared = [c for c in scores.columns if c in features.columns]
    assert "days_since_last" in shared
    for col in shared:
        pd.testing.assert_series_equal(scores[col], features[col])
        assert not np.shares_memory(scores[col].to_numpy(), features[col].to_numpy()), col


def test_contact_cost_by_channel():
    """Each channel's cost; a missing or unknown channel costs the default (0 without one)."""
    channel = pd.Series(["sms", None, "post", "fax", "sms"], dtype="category")
    priced = tg.ContactPolicy(cost_per_contact={"sms": 0.05, "post": 0.8, "default": 0.1})
    np.testing.assert_array_equal(priced.cost(channel), [0.05, 0.1, 0.8, 0.1, 0.05])
    no_default = tg.ContactPolicy(cost_per_contact={"sms": 0.05})
    np.testing.assert_array_equal(no_default.cost(channel.astype(object)), [0.05, 0, 0, 0, 0.05])
    assert tg.ContactPolicy(cost_per_contact=0.3).cost(channel).tolist() == [0.3] * 5
    assert len(priced.cost(pd.Series([], dtype=object))) == 0


# --------------------------------------------------------------------------- lifetime value
def _clv_models(r=0.8, alpha=5.0, a=0.7, b=2.5):
    from crm_models import value as clv

    purchase = clv.BetaGeoModel()
    purchase.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
    spend = clv.GammaGammaModel()
    spend.params_ = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    return purchase, spend


def test_the_clv_term_uses_the_chosen_value_model(demo):
    """Asked for the naive rate, the lifetime-value term says so and differs from BG/NBD's;
    by default (auto) it uses the model the value report's rule chooses."""
    as_of = pd.Timestamp(demo.transactions["order_date"].max()).normalize()
    feats = tg.customer_features(demo, as_of)
    naive = tg.TargetingModel(value_model="naive")
    gain = naive._clv_gain(demo, as_of, feats)
    assert naive.clv_note_.startswith("naive rate + Gamma-Gamma")
    auto = tg.TargetingModel()
    default = auto._clv_gain(demo, as_of, feats)
    chosen = value_model_choice(demo, "auto", None, as_of)["model_chosen"]
    assert auto.clv_note_.startswith(VALUE_MODEL_LABELS[chosen] + " + Gamma-Gamma")
    assert (gain >= 0).all() and not np.allclose(gain, default)


def test_response_clv_gain_small_case():
    """ΔCLV = m × (E[purchases | x + 1, t_x = T, T, alive] - E[purchases | x, t_x, T]), checked
    against lifetimes' BG/NBD expressions (no discounting, 52 weeks)."""
    purchase, spend = _clv_models()
    view = pd.DataFrame(
        {
            "frequency": [0.0, 2.0, 5.0, 0.0, np.nan],
            "recency": [0.0, 10.0, 12.0, 0.0, np.nan],
            "T": [20.0, 30.0, 40.0, 0.0, np.nan],
            "monetary_value": [0.0, 40.0, 60.0, 0.0, np.nan],
        },
        index=pd.Index([1, 2, 3, 4, 5], name="customer_id"),
    )
    gain = tg.response_clv_gain(view, purchase, spend, horizon=52.0, annual_discount_rate=0.0)
    # m: Gamma-Gamma p (gamma + x m) / (p x + q - 1) = 30, 6(15 + 80)/15 = 38, 6(15 + 300)/33
    # (E_after, E_now): lifetimes' conditional expectations, E_after divided by its P(alive)
    expected = [30.0 * (2.7089318 - 1.2589382), 38.0 * (4.2376069 - 1.0065105)]
    expected += [6 * 315 / 33 * (6.0859223 - 0.1655899), 0.0, 0.0]  # bought today; never bought
    np.testing.assert_allclose(gain.to_numpy(), expected, rtol=1e-6)
    # a chosen naive or stacked value model scales each customer's gain by its correction
    factor = pd.Series([0.5, 2.0, 1.5], index=pd.Index([1, 2, 3], name="customer_id"))
    scaled = tg.response_clv_gain(view, purchase, spend, 52.0, 0.0, multiplier=factor)
    np.testing.assert_allclose(scaled.to_numpy(), gain.to_numpy() * [0.5, 2.0, 1.5, 1.0, 1.0])
    # ... and the lifetime-value part of the profit is uplift x weight x ΔCLV x margin
    scores = pd.DataFrame(
        {"uplift_a": [0.1], "p_control": [0.05], "value": [50.0], "clv_gain": [200.0]},
        index=pd.Index([1], name="customer_id"),
    )
    for weight, profit, part in ((0.5, 4.75, 4.0), (0.0, 0.75, 0.0)):
        policy = tg.ContactPolicy(
            cost_per_contact=0.5, margin=0.4, offer_costs={"a": 0.1}, clv_weight=weight
        )
        d = tg.select_contacts(scores, ["a"], policy, send_date=SEND)
        # 0.1 x (50 + w x 200) x 0.4 - 0.1 x (0.05 + 0.1) x 50 - 0.5
        assert d["expected_profit"].iloc[0] == pytest.approx(profit)
        assert d["expected_incremental_clv"].iloc[0] == pytest.approx(part)


def test_the_clv_gain_is_the_same_valued_in_batches(monkeypatch):
    """Buyers are valued VALUE_BATCH at a time (memory at 10M customers); each customer's
    gain is their own, so batches of two give the whole base's gains, multiplier included."""
    from crm_models.targeting import clv_gain

    purchase, spend = _clv_models()
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, 11).astype(float)
    T = rng.uniform(1.0, 80.0, 11)
    view = pd.DataFrame(
        {
            "frequency": x,
            "recency": np.where(x > 0, T * rng.uniform(0.1, 1.0, 11), 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, rng.uniform(10, 90, 11), 0.0),
        },
        index=pd.Index(np.arange(100, 111), name="customer_id"),
    )
    factor = pd.Series(rng.uniform(0.5, 2.0, 11), index=view.index[::-1])  # any order
    whole = tg.response_clv_gain(view, purchase, spend, 52.0, 0.1, multiplier=factor)
    monkeypatch.setattr(clv_gain, "VALUE_BATCH", 2)
    batched = tg.response_clv_gain(view, purchase, spend, 52.0, 0.1, multiplier=factor)
    pd.testing.assert_series_equal(batched, whole, rtol=1e-12)
    assert (whole > 0).sum() >= 5


@st.composite
def _btyd(draw):
    n = draw(st.integers(1, 8))
    x = np.array(draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)), dtype=float)
    T = np.array(draw(st.lists(st.floats(0.0, 150.0), min_size=n, max_size=n)))
    share = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    tx = np.where(x > 0, np.maximum(share * T, 1e-3), 0.0)
    view = pd.DataFrame(
        {
            "frequency": x,
            "recency": tx,
            "T": np.maximum(T, tx),
            "monetary_value": np.where(x > 0, 50.0, 0.0),
        }
    )
    params = {
        "r": draw(st.floats(0.1, 3.0)),
        "alpha": draw(st.floats(0.5, 30.0)),
        "a": draw(st.floats(0.1, 3.0)),
        "b": draw(st.floats(0.2, 10.0)),
    }
    return view, params, draw(st.sampled_from([0.0, 0.1, 0.3]))


@settings(max_examples=100, deadline=None)
@given(_btyd())
def test_a_purchase_never_lowers_expected_lifetime_value(case):
    view, params, rate = case
    purchase, spend = _clv_models(**params)
    raw = tg.clv_gain_raw(view, purchase, spend, 52.0, rate)
    assert np.all(raw >= -1e-9 * (1 + np.abs(raw)))


SEND = pd.Timestamp("2025-01-31")


@st.composite
def _scenario(draw):
    n = draw(st.integers(1, 30))
    ids = np.arange(1, n + 1)
    opt_in = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    opt_out = draw(st.lists(st.one_of(st.none(), st.integers(-400, 30)), min_size=n, max_size=n))
    history = draw(st.lists(st.tuples(st.integers(1, n), st.integers(0, 120)), max_size=60))
    uplift = draw(st.lists(st.floats(-0.1, 0.3), min_size=2 * n, max_size=2 * n))
    budget = draw(st.one_of(st.none(), st.integers(0, n)))
    budget_money = draw(st.one_of(st.none(), st.floats(0.0, 10.0)))
    channels = draw(st.lists(st.sampled_from(["email", "sms", "post"]), min_size=n, max_size=n))
    cap = draw(st.integers(1, 3))
    window = draw(st.integers(1, 90))
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "opt_in": opt_in,
            "opt_out_date": [pd.NaT if d is None else SEND + pd.Timedelta(days=d) for d in opt_out],
        }
    )
    campaigns = pd.DataFrame(
        {
            "customer_id": [h[0] for h in history],
            "sent_date": pd.Series(
                [SEND - pd.Timedelta(days=h[1]) for h in history], dtype="datetime64[ns]"
            ),
            "treated": True,
        }
    )
    scores = pd.DataFrame(
        {
            "uplift_a": uplift[:n],
            "uplift_b": uplift[n:],
            "p_control": 0.05,
            "value": 50.0,
            "channel": channels,
        },
        index=pd.Index(ids, name="customer_id"),
    )
    policy = tg.ContactPolicy(
        budget=budget,
        budget_money=budget_money,
        max_contacts=cap,
        window_days=window,
        cost_per_contact={"email": 0.1, "sms": 0.3, "post": 1.2},
    )
    return customers, campaigns, scores, policy


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            *[st.sampled_from([-0.1, 0.0, 0.05, 0.1, np.nan])] * 3,
            st.sampled_from([0.0, 20.0, 50.0, np.nan]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_each_customer_gets_the_offer_of_highest_profit(rows):
    """The best offer is chosen an offer at a time (memory at 10M customers): the same as the
    first maximum over every offer's profit, ties and missing figures included."""
    arms, offer = ["a", "b", "c"], np.array([0.1, 0.2, 0.0])
    up = np.array([r[:3] for r in rows])
    value = np.array([r[3] for r in rows])
    scores = pd.DataFrame(
        {**{f"uplift_{a}": up[:, j] for j, a in enumerate(arms)}, "p_control": 0.05},
        index=pd.Index(range(len(rows)), name="customer_id"),
    ).assign(value=value)
    policy = tg.ContactPolicy(
        cost_per_contact=0.1, margin=0.4, offer_costs=dict(zip(arms, offer, strict=True))
    )
    d = tg.select_contacts(scores, arms, policy, send_date=SEND)
    profit = up * value[:, None] * 0.4 - offer * np.clip(0.05 + up, 0, 1) * value[:, None] - 0.1
    best = np.argmax(profit, axis=1)  # the first maximum; the first NaN where there is one
    rows_ = np.arange(len(rows))
    assert d["arm"].tolist() == [arms[j] for j in best]
    np.testing.assert_array_equal(d["expected_profit"].to_numpy(), profit[rows_, best])
    np.testing.assert_array_equal(d["expected_incremental_response"].to_numpy(), up[rows_, best])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_contact_list_never_includes_opted_out_or_over_contacted(scenario):
    customers, campaigns, scores, policy = scenario
    d = tg.select_contacts(scores, ["a", "b"], policy, customers, campaigns, SEND)
    chosen = d.index[d["selected"]]
    cust = customers.set_index("customer_id")
    assert cust.loc[chosen, "opt_in"].all()
    out = cust.loc[chosen, "opt_out_date"]
    assert (out.isna() | (out > SEND + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))).all()
    recent = campaigns.loc[campaigns["sent_date"] > SEND - pd.Timedelta(days=policy.window_days)]
    counts = recent.groupby("customer_id").size().reindex(chosen, fill_value=0)
    assert (counts + 1 <= policy.max_contacts).all()  # the new contact stays within the cap
    assert (d.loc[chosen, "expected_profit"] > 0).all()
    if policy.budget is not None:
        assert len(chosen) <= policy.budget
    if policy.budget_money is not None:
        assert d.loc[chosen, "cost"].sum() <= policy.budget_money + 1e-9


# --------------------------------------------------------------------------- report helpers
def test_outcomes_and_average_effects(demo_data):
    assert tg.is_rate_outcome("responded") and not tg.is_rate_outcome("response_amount")
    outcomes = tg.distinct_outcomes(demo_data)
    assert outcomes == list(demo_data.outcomes)  # the demo names each outcome once
    both = ["visit", "conversion", "spend", "responded", "response_amount"]  # as Hillstrom
    d = demo_data
    hill = dataclasses.replace(d, dataset="hillstrom", outcomes=both)
    assert tg.distinct_outcomes(hill) == ["visit", "conversion", "spend"]
    table = tg.average_effects(demo_data, ["responded"])
    assert len(table) == len(demo_data.arms) and set(table["outcome"]) == {"responded"}
    arm = demo_data.arms[0]
    row = table.loc[table["offer"] == demo_data.label(arm)].iloc[0]
    r = demo_data.rows
    is_arm = (r["arm"] == arm).to_numpy()
    ctrl = tg.arm_rows(demo_data, arm) & ~is_arm
    y = r["responded"].to_numpy(dtype=float)
    assert row["customers"] == is_arm.sum()
    assert row["effect"] == pytest.approx(y[is_arm].mean() - y[ctrl].mean())
    assert row["95% low"] < row["effect"] < row["95% high"]
    assert row["control"] == pytest.approx(y[ctrl].mean())


def _evaluation(truth: bool) -> tg.UpliftEvaluation:
    rows = []
    for arm, base in (("a", 0.01), ("b", 0.02)):
        for model, up in (("m1", 0.03), ("m2", 0.02), ("two_model_logistic", 0.015)):
            rows.append((arm, model, base + up, 0.1 + up, 0.5 + up, 0.4 + up))
        rows += [(arm, "random", base, 0.0, 0.0, 0.0), (arm, "response_model", base, 0, 0.1, 0.2)]
    columns = ["arm", "model", "uplift_at_30", "qini_auc", "rank_corr_true", "auuc_vs_oracle"]
    metrics = pd.DataFrame(rows, columns=columns)
    metrics["uplift_at_30_low"] = metrics["uplift_at_30"] - 0.01
    metrics["uplift_at_30_high"] = metrics["uplift_at_30"] + 0.01
    return tg.UpliftEvaluation(
        outcome="responded",
        arms=["a", "b"],
        models=["m1", "m2", "two_model_logistic"],
        chosen="m2",
        reason="why",
        metrics=metrics,
        deciles={},
        qini={},
        validation=pd.DataFrame(),
        n_train=10,
        n_test=5,
        seed=1,
        test_size=0.3,
        truth=truth,
    )


def test_chosen_model_summary_truth_summary_and_labels():
    ev = _evaluation(truth=True)
    best = tg.chosen_model_summary(ev)
    assert list(best.index) == ["a", "b"]
    assert best.at["a", "uplift_at_30"] == pytest.approx(0.03)
    assert best.at["b", "uplift_at_30_high"] == pytest.approx(0.05)
    assert best.at["b", "random_uplift_at_30"] == pytest.approx(0.02)
    assert best.at["a", "response_model_uplift_at_30"] == pytest.approx(0.01)
    assert best.at["b", "baseline_uplift_at_30"] == pytest.approx(0.035)
    assert best.at["a", "qini_auc"] == pytest.approx(0.12)
    fit = tg.truth_summary(ev)
    assert fit["rank_corr"].idxmax() == "m1" and fit["rank_corr"]["m2"] == pytest.approx(0.52)
    assert fit["gain_vs_oracle"]["two_model_logistic"] == pytest.approx(0.415)
    assert fit["response_rank_corr"] == pytest.approx(0.1)
    assert fit["response_gain_vs_oracle"] == pytest.approx(0.2)
    assert tg.truth_summary(_evaluation(truth=False)) is None
    assert tg.model_label("random") == "random targeting"
    assert tg.model_label("two_model_logistic") == tg.LEARNERS["two_model_logistic"][0]
    assert tg.model_label("unknown") == "unknown"


def test_other_outcomes_uplift_repeats_the_evaluation(demo_data):
    keep = (demo_data.rows["campaign_id"] == "CMP04").to_numpy()
    small = demo_data.with_rows(demo_data.rows.loc[keep])
    table = tg.other_outcomes_uplift(small, ["response_amount"], "two_model_gbm", n_boot=5, seed=3)
    models = ["two_model_gbm", "two_model_logistic"]
    ev = tg.evaluate_uplift(small, "response_amount", models=models, n_boot=5, seed=3, quick=True)
    m = ev.metrics.set_index(["arm", "model"])
    assert len(table) == len(ev.arms) and set(table["outcome"]) == {"response_amount"}
    row = table.iloc[0]
    arm = ev.arms[0]
    assert row["offer"] == small.label(arm)
    assert row["uplift@30% chosen model"] == m.loc[(arm, "two_model_gbm"), "uplift_at_30"]
    assert row["test effect (random)"] == m.loc[(arm, "random"), "uplift_at_30"]
    assert row["Qini"] == m.loc[(arm, "two_model_gbm"), "qini_auc"]
    assert tg.other_outcomes_uplift(small, [], "two_model_gbm").empty


def test_budgeted_contact_list_defaults_to_a_quarter_of_the_eligible():
    n = 40
    ids = np.arange(1, n + 1)
    customers = pd.DataFrame({"customer_id": ids, "opt_in": ids % 5 != 0, "opt_out_date": pd.NaT})
    campaigns = pd.DataFrame(
        {"customer_id": [], "sent_date": pd.Series([], dtype="datetime64[ns]"), "treated": []}
    )
    scores = pd.DataFrame(
        {"uplift_a": 0.2, "p_control": 0.05, "value": 50.0, "channel": "email"},
        index=pd.Index(ids, name="customer_id"),
    )
    policy = tg.ContactPolicy(cost_per_contact=0.1)
    result = tg.budgeted_contact_list(scores, ["a"], policy, customers, campaigns, SEND)
    eligible = tg.eligible_customers(result.decisions)
    assert eligible == 32  # every fifth customer never consented
    assert policy.budget == 8 and len(result.contacts) == 8
    result = tg.budgeted_contact_list(scores, ["a"], policy, customers, campaigns, SEND, budget=3)
    assert policy.budget == 3 and len(result.contacts) == 3

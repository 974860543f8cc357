"""Uplift selection that holds up (issue 15): tie-aware uplift@k that does not depend on row
order, cross-fitted model choice with random targeting and the baseline among the candidates,
and the fallback to the baseline when the chosen model does not beat it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_models import targeting as tg
from crm_models.data import load_dataset
from crm_models.targeting.evaluation import UpliftEvaluation, _bootstrap_at_k, _judge

pytestmark = pytest.mark.usefixtures("one_thread")


rows = st.lists(
    st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 2)), min_size=4, max_size=40
)


@given(rows, st.randoms(use_true_random=False), st.sampled_from([0.1, 0.3, 0.5, 1.0]))
def test_shuffling_rows_never_changes_uplift_at_k_or_qini(data, rnd, k):
    # scores from four values: many ties, also at the cut
    score, t, y = (np.array(c, dtype=float) for c in zip(*data, strict=True))
    t = t.astype(bool)
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    for strategy in ("overall", "by_group"):
        a = tg.uplift_at_k(y, score, t, k, strategy)
        b = tg.uplift_at_k(y[perm], score[perm], t[perm], k, strategy)
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-12)
    for metric in (tg.qini_auc_score, tg.uplift_auc_score):
        a, b = metric(y, score, t), metric(y[perm], score[perm], t[perm])
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def test_tied_cut_counts_in_proportion():
    # top 4 of 8: two rows above the cut (score 3), four tied at 2 of which two are needed
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    t = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
    s = np.array([3, 3, 2, 2, 2, 2, 1, 1], dtype=float)
    # treated: row 0 (w 1, y 1), rows 2, 4 (w 1/2, y 1, 0); control: row 1 (w 1, y 0),
    # rows 3, 5 (w 1/2, y 1, 0)
    treated = (1 + 0.5 * 1 + 0.5 * 0) / 2.0
    control = (0 + 0.5 * 1 + 0.5 * 0) / 2.0
    assert tg.uplift_at_k(y, s, t, k=0.5) == pytest.approx(treated - control)


def test_bootstrap_counts_tied_rows_in_proportion():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(float)
    t = rng.random(600) < 0.5
    tied = np.zeros(600)  # every score tied: each resample's top 30% is all of it at weight 0.3
    lo, hi = _bootstrap_at_k(y, tied, t, 0.3, 300, np.random.default_rng(1))
    counts = np.random.default_rng(1).multinomial(600, np.full(600, 1 / 600), size=300)
    ate = (counts * t) @ y / (counts * t).sum(axis=1) - (counts * ~t) @ y / (counts * ~t).sum(
        axis=1
    )
    assert (lo, hi) == pytest.approx((np.quantile(ate, 0.025), np.quantile(ate, 0.975)))


def test_policy_value_by_inverse_propensity_weighting():
    rng = np.random.default_rng(3)
    t = rng.random(2000) < 0.4
    x = rng.random(2000)
    y = (rng.random(2000) < 0.1 + 0.3 * t * (x > 0.7)).astype(float)
    ate = y[t].mean() - y[~t].mean()
    # random (all tied) targeting of 30%: exactly 0.3 x the measured effect
    value, se = tg.policy_value_at_k(y, np.zeros(2000), t, 0.3)
    assert value == pytest.approx(0.3 * ate) and se > 0
    # the top 30% by x hold every persuadable: about 0.3 x 0.3 extra responses per customer
    best, _ = tg.policy_value_at_k(y, x, t, 0.3)
    assert best == pytest.approx(0.09, abs=0.03) and best > value


def test_average_effect_learner_predicts_the_measured_effect():
    t = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    y = np.array([1, 0, 0, 0, 1, 1], dtype=float)
    model = tg.make_learner("average_effect").fit(np.zeros((6, 2)), t, y)
    assert model.predict(np.ones((3, 2))) == pytest.approx([2 / 3 - 1 / 3] * 3)
    multi = tg.make_multi_arm("average_effect").fit(
        np.zeros((6, 1)), np.where(t, "a", "control"), y
    )
    assert multi.predict_arm(np.zeros((2, 1)), "a") == pytest.approx([1 / 3, 1 / 3])


def _evaluation(chosen: str, chosen_value: float) -> UpliftEvaluation:
    """Test metrics of one offer: the baseline's uplift@30% 0.05 (95% 0.02 .. 0.08)."""
    metrics = pd.DataFrame(
        [
            ("a", "random", 0.03, 0.0, 0.06),
            ("a", tg.BASELINE, 0.05, 0.02, 0.08),
            ("a", "two_model_gbm", chosen_value, chosen_value - 0.03, chosen_value + 0.03),
        ],
        columns=["arm", "model", "uplift_at_30", "uplift_at_30_low", "uplift_at_30_high"],
    )
    return UpliftEvaluation(
        "responded", ["a"], ["two_model_gbm", tg.BASELINE], chosen, "", metrics, {}, {},
        pd.DataFrame(), 0, 0, 0, 0.3,
    )  # fmt: skip


class _Labels:
    def label(self, arm: str) -> str:
        return f"offer {arm}"


@pytest.mark.parametrize(
    ("chosen", "value", "beats", "used", "words"),
    [
        ("two_model_gbm", 0.10, True, "two_model_gbm", "beats the two-model logistic baseline"),
        ("two_model_gbm", 0.06, False, tg.BASELINE, "lies inside the baseline's 95%"),
        ("two_model_gbm", 0.01, False, tg.BASELINE, "falls below the baseline's 95%"),
        (tg.BASELINE, 0.05, False, tg.BASELINE, "baseline was chosen itself"),
        ("random", 0.03, False, tg.AVERAGE_EFFECT, "better than random targeting"),
    ],
)
def test_the_contact_list_falls_back_when_the_baseline_is_not_beaten(
    chosen, value, beats, used, words
):
    ev = _evaluation(chosen, value)
    _judge(ev, _Labels())
    assert ev.beats_baseline == {"a": beats}
    assert ev.used == used
    assert words in ev.verdict


@pytest.fixture(scope="module")
def hillstrom_sample(shared_data, tmp_path_factory):
    """A 9,000-row random sample of the real Hillstrom file (named so it is recognised)."""
    raw = pd.read_csv(shared_data / "hillstrom" / "hillstrom.csv")
    path = tmp_path_factory.mktemp("hillstrom") / "hillstrom.csv"
    raw.sample(9_000, random_state=0).to_csv(path, index=False)
    return load_dataset(path)


def test_cross_fitted_choice_on_hillstrom(hillstrom_sample):
    data = tg.campaign_data(hillstrom_sample)
    kw = dict(models=["two_model_gbm"], n_boot=50, seed=1)
    ev = tg.evaluate_uplift(data, "visit", **kw)
    # random targeting and the baseline are always candidates; three folds; refit on the
    # whole training part (70% of the rows)
    assert {"random", tg.BASELINE, "two_model_gbm"} == set(ev.validation.index)
    assert ev.validation.loc["random", "validation_qini"] == 0.0
    assert ev.info["folds"] == 3 and ev.n_train + ev.n_test == len(data.rows)
    assert ev.chosen == ev.validation["validation_qini"].idxmax()
    assert ev.used in {ev.chosen, tg.BASELINE, tg.AVERAGE_EFFECT} and ev.verdict
    again = tg.evaluate_uplift(data, "visit", **kw)
    pd.testing.assert_frame_equal(ev.metrics, again.metrics)  # fixed seeds


def test_uplift_json_keeps_its_keys_and_says_whether_the_baseline_is_beaten(hillstrom_sample):
    out = tg.uplift_summary(hillstrom_sample, "conversion", model="two_model_gbm", n_boot=50)
    assert {"dataset", "outcome", "model", "test_size", "seed", "control", "arms"} <= set(out)
    assert out["model"] == "two_model_gbm"
    assert isinstance(out["beats_baseline"], bool) and out["verdict"]
    for arm in out["arms"].values():
        assert {
            "customers",
            "response_rate",
            "ate",
            "test_ate",
            "uplift_at_30",
            "uplift_at_30_ci",
            "qini_auc",
            "auuc",
            "baseline_uplift_at_30",
            "response_model_uplift_at_30",
            "baseline_uplift_at_30_ci",
            "beats_baseline",
            "used",
            "extra_per_1000_at_30",
            "baseline_extra_per_1000_at_30",
        } <= set(arm)
        low_v, high_v = arm["extra_per_1000_at_30"]["ci"]
        assert low_v <= arm["extra_per_1000_at_30"]["estimate"] <= high_v
        low, high = arm["baseline_uplift_at_30_ci"]
        assert arm["beats_baseline"] == (arm["uplift_at_30"] > high)
        assert arm["used"] == out["used"]
    if not any(a["beats_baseline"] for a in out["arms"].values()):
        assert out["used"] == tg.BASELINE and not out["beats_baseline"]


def test_contact_list_with_auto_learner_uses_what_the_evaluation_says(hillstrom_sample):
    policy = tg.ContactPolicy(budget=500)
    result, model = tg.build_contact_list(hillstrom_sample, policy, learner="auto")
    ev = tg.evaluate_uplift(tg.campaign_data(hillstrom_sample), "responded", quick=True)
    assert model.learner == ev.used == result.summary["learner"]
    assert result.summary["learner_verdict"] == ev.verdict
    assert 0 < result.summary["contacts"] <= 500

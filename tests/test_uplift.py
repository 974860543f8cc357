"""Uplift metrics against hand-computed examples, and the uplift learners on data with a known
effect.  Metric definitions: scikit-uplift's documented ones
(https://www.uplift-modeling.com/en/latest/api/metrics/), see crm_models.targeting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from crm_models import targeting as ul

pytestmark = pytest.mark.usefixtures("one_thread")


# six customers, scores already in descending order
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_uplift_curve_by_hand():
    # n=1: (1/1 - 0)*1; n=2: (1/2)*2; n=3: (1/2 - 1/1)*3; n=4: (1/2-1/2)*4;
    # n=5: (2/3 - 1/2)*5; n=6: (2/3 - 1/3)*6
    x, y = ul.uplift_curve(Y, S, T)
    assert x.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert y == pytest.approx([0, 1, 1, -1.5, 0, 5 / 6, 2])


def test_qini_curve_by_hand():
    # Y_T - Y_C * N_T / N_C (0 while the control group is empty)
    x, y = ul.qini_curve(Y, S, T)
    assert y == pytest.approx([0, 1, 1, -1, 0, 0.5, 1])


def test_qini_coefficient_and_auuc_by_hand():
    # model Qini area 2.0; random line to (6, 1): 3.0; perfect curve (0,0),(2,2),(5,2),(6,1): 9.5
    assert ul.qini_auc_score(Y, S, T) == pytest.approx((2.0 - 3.0) / (9.5 - 3.0))
    # uplift curve area 7/3; random to (6, 2): 6; perfect (0,0),(2,2),(4,4),(5,10/3),(6,2): 43/3
    assert ul.uplift_auc_score(Y, S, T) == pytest.approx((7 / 3 - 6) / (43 / 3 - 6))
    xp, yp = ul.perfect_qini_curve(Y, T)
    assert xp.tolist() == [0, 2, 5, 6] and yp == pytest.approx([0, 2, 2, 1])
    xp, yp = ul.perfect_uplift_curve(Y, T)
    assert xp.tolist() == [0, 2, 4, 5, 6] and yp == pytest.approx([0, 2, 4, 10 / 3, 2])


def test_perfect_ranking_scores_one_and_reversed_scores_negative():
    rng = np.random.default_rng(0)
    t = rng.random(400) < 0.5
    y = (rng.random(400) < np.where(t, 0.4, 0.2)).astype(float)
    oracle = np.where(t, y, -y)
    assert ul.qini_auc_score(y, oracle, t) == pytest.approx(1.0)
    assert ul.qini_auc_score(y, -oracle, t) < 0


def test_uplift_at_k_by_hand():
    # top 3 of all rows: treated [1, 0] -> 0.5, control [1] -> 1
    assert ul.uplift_at_k(Y, S, T, k=0.5) == pytest.approx(-0.5)
    # by group: top 1 of treated [1, 0, 1] -> 1; top 1 of control [1, 0, 0] -> 1
    assert ul.uplift_at_k(Y, S, T, k=0.5, strategy="by_group") == pytest.approx(0.0)
    assert ul.uplift_at_k(Y, S, T, k=6) == pytest.approx(2 / 3 - 1 / 3)
    assert np.isnan(ul.uplift_at_k(Y, S, T, k=2))  # no control row among the top 2
    with pytest.raises(ValueError):
        ul.uplift_at_k(Y, S, T, k=1.5)


def test_ties_are_deterministic():
    tied = np.zeros(6)
    x, y = ul.uplift_curve(Y, tied, T)  # one block: targeted all together
    assert x.tolist() == [0, 6] and y == pytest.approx([0, 2])
    x, y = ul.qini_curve(Y, tied, T)
    assert y == pytest.approx([0, 1])
    # uplift@k counts the tie group at the cut in proportion: every row with weight 3/6
    assert ul.uplift_at_k(Y, tied, T, k=0.5) == pytest.approx(2 / 3 - 1 / 3)
    # two rows tied at the cut (0.7, 0.7) and one place left: each counts one half
    s = np.array([0.9, 0.8, 0.7, 0.7, 0.5, 0.4])
    assert ul.uplift_at_k(Y, s, T, k=0.5) == pytest.approx(1 / 2 - (0.5 * 1 + 0.5 * 0) / 1.0)


def test_money_outcomes():
    spend = np.array([50.0, 0, 20.0, 0, 30.0, 0])
    x, y = ul.uplift_curve(spend, S, T)
    # n=3: (50/2 - 20/1) * 3 = 15
    assert y[3] == pytest.approx(15.0)
    assert ul.uplift_at_k(spend, S, T, k=6) == pytest.approx(80 / 3 - 20 / 3)
    x, q = ul.qini_curve(spend, S, T)
    assert q[-1] == pytest.approx(80 - 20)
    oracle = np.where(T == 1, spend, -spend)
    assert ul.qini_auc_score(spend, oracle, T) == pytest.approx(1.0)


def test_uplift_by_percentile_by_hand():
    table = ul.uplift_by_percentile(Y, S, T, bins=2)
    assert table.index.tolist() == ["0-50", "50-100"]
    first = table.iloc[0]
    assert (first["n_treatment"], first["n_control"]) == (2, 1)
    assert first["uplift"] == pytest.approx(0.5 - 1.0)
    second = table.iloc[1]
    assert second["response_rate_treatment"] == 1.0 and second["response_rate_control"] == 0.0


def _synthetic(n=4000, money=False, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = rng.random(n) < 0.5
    base = 0.15 + 0.05 * (X[:, 1] > 0)
    true = np.where(X[:, 0] > 0, 0.25, 0.0)
    y = (rng.random(n) < base + t * true).astype(float)
    if money:
        y = y * rng.gamma(4, 10, n)
        true = true * 40
    return X, t, y, true


@pytest.mark.parametrize("name", [n for n in ul.LEARNERS if n != "pooled_s_learner_gbm"])
def test_learners_find_the_planted_uplift(name):
    X, t, y, true = _synthetic()
    model = ul.make_learner(name, binary=True).fit(X[:3000], t[:3000], y[:3000])
    pred = model.predict(X[3000:])
    assert pred.shape == (1000,)
    assert spearmanr(pred, true[3000:]).statistic > 0.5
    assert pred[true[3000:] > 0].mean() - pred[true[3000:] == 0].mean() > 0.1


@pytest.mark.parametrize("name", ["two_model_gbm", "class_transformation_gbm", "x_learner_gbm"])
def test_learners_on_money_outcomes(name):
    X, t, y, true = _synthetic(money=True)
    pred = ul.make_learner(name, binary=False).fit(X[:3000], t[:3000], y[:3000]).predict(X[3000:])
    assert spearmanr(pred, true[3000:]).statistic > 0.3


def test_multi_arm_and_pooled_models():
    rng = np.random.default_rng(2)
    n = 4000
    X = rng.normal(size=(n, 3))
    arm = rng.choice(np.array(["a", "b", "control"], dtype=object), n)
    effect = np.where(arm == "a", 0.3 * (X[:, 0] > 0), np.where(arm == "b", 0.3 * (X[:, 0] < 0), 0))
    y = (rng.random(n) < 0.1 + effect).astype(float)
    for model in (
        ul.MultiArmUplift(ul.TwoModelUplift()),
        ul.make_multi_arm("pooled_s_learner_gbm"),
    ):
        up = model.fit(X, arm, y).predict(X)
        assert model.arms_ == ["a", "b"] and up.shape == (n, 2)
        best = np.asarray(model.arms_)[up.argmax(axis=1)]
        assert (best == np.where(X[:, 0] > 0, "a", "b")).mean() > 0.8


def test_learners_need_both_groups_and_are_deterministic():
    X, t, y, _ = _synthetic(n=1000)
    with pytest.raises(ValueError, match="both treated and control"):
        ul.TwoModelUplift().fit(X, np.ones(1000, bool), y)
    a = ul.make_learner("x_learner_gbm").fit(X, t, y).predict(X)
    b = ul.make_learner("x_learner_gbm").fit(X, t, y).predict(X)
    assert np.array_equal(a, b)


def test_constant_columns_are_handled():
    X, t, y, _ = _synthetic(n=1000)
    X = np.column_stack([X, np.zeros(1000), np.full(1000, np.nan)])
    assert np.isfinite(ul.make_learner("two_model_gbm").fit(X, t, y).predict(X)).all()

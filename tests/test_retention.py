"""Retention: cohorts, repeat rate, churn per period, survival to lapse, payback, lists.

Most tests use a tiny hand-made log whose answers can be worked out on paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_models import value as clv
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view
from crm_models.value import retention

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    """Four customers:
    1: Jan 5, Jan 20 (same month), Feb 10, Jun 1  -> active Jan, Feb, Jun
    2: Jan 15 only                              -> one-time buyer
    3: Feb 1, Feb 1 (two lines one day), Mar 3, return on Mar 10
    4: Mar 20, Mar 25 (return only on Apr 2)
    """
    rows = [
        (1, "a1", "2024-01-05", 50.0, "web"),
        (1, "a2", "2024-01-20", 30.0, "web"),
        (1, "a3", "2024-02-10", 20.0, "store"),
        (1, "a4", "2024-06-01", 40.0, "web"),
        (2, "b1", "2024-01-15", 100.0, "store"),
        (3, "c1", "2024-02-01", 10.0, "app"),
        (3, "c1", "2024-02-01", 15.0, "app"),
        (3, "c2", "2024-03-03", 25.0, "app"),
        (3, "c3", "2024-03-10", -25.0, "app"),
        (4, "d1", "2024-03-20", 60.0, "web"),
        (4, "d2", "2024-03-25", 10.0, "web"),
        (4, "d3", "2024-04-02", -10.0, "web"),
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount", "channel"])
    tx["order_date"] = pd.to_datetime(tx["order_date"])
    return Dataset("tiny", transactions=tx)


def test_cohort_matrix(tiny):
    co = retention.cohorts(tiny, as_of=AS_OF)
    assert list(co.sizes.index) == ["2024-01", "2024-02", "2024-03"]
    assert co.sizes.tolist() == [2, 1, 1]
    jan = co.active.loc["2024-01"]
    assert jan[0] == 2 and jan[1] == 1 and jan[2] == 0 and jan[5] == 1  # customer 1 in Jun
    assert co.retention.loc["2024-01", 1] == pytest.approx(0.5)
    assert co.active.loc["2024-02", 1] == 1  # customer 3 bought in March
    assert co.active.loc["2024-03", 1] == 0  # a return is not activity
    # March cohort: month 3 is June (complete), month 4 would be July: not observed
    assert np.isnan(co.retention.loc["2024-03", 4])
    assert co.revenue.loc["2024-02", 1] == pytest.approx(0.0)  # 25 bought, 25 returned
    avg = co.average_retention()
    assert avg[0] == 1.0 and avg[1] == pytest.approx(2 / 4)


def test_cohort_as_of_mid_month_leaves_the_month_incomplete(tiny):
    co = retention.cohorts(tiny, as_of="2024-06-15")
    assert np.isnan(co.retention.loc["2024-01", 5])
    assert co.retention.loc["2024-01", 4] == 0


def test_repeat_rate(tiny):
    rr = retention.repeat_rate(tiny, as_of=AS_OF, windows=(30, 90))
    assert rr.loc["all", "customers"] == 4
    # repeat on a later day within 30 days: customers 1 (Jan 20) and 4 (Mar 25); customer 3's
    # second purchase (Mar 3) came 31 days after the first
    assert rr.loc["all", "repeat_within_30d"] == pytest.approx(2 / 4)
    assert rr.loc["all", "repeat_within_90d"] == pytest.approx(3 / 4)
    assert rr.loc["all", "repeat_ever"] == pytest.approx(3 / 4)


def test_period_churn(tiny):
    churn = retention.period_churn(tiny, as_of=AS_OF)
    assert churn.loc["2024-01", "active_customers"] == 2
    assert churn.loc["2024-02", "retained_from_previous"] == 1  # customer 1
    assert churn.loc["2024-02", "retention_rate"] == pytest.approx(0.5)
    assert churn.loc["2024-03", "retention_rate"] == pytest.approx(0.5)  # 3 stays, 1 does not
    assert churn.loc["2024-03", "new_customers"] == 1
    assert churn.index[-1] == "2024-06"
    assert "2024-06" not in retention.period_churn(tiny, as_of="2024-06-15").index


def test_time_to_lapse(tiny):
    d = retention.time_to_lapse(tiny, as_of=AS_OF, lapse_days=60)
    # 1: Feb 10 -> Jun 1 is a gap of 112 days > 60: lost on Feb 10, 36 days after Jan 5
    assert d.loc[1, "lapsed"] and d.loc[1, "duration_days"] == 36
    # 2: one purchase on Jan 15, more than 60 days before the as-of day: lost at day 0
    assert d.loc[2, "lapsed"] and d.loc[2, "duration_days"] == 0
    # 3: last purchase Mar 3, 119 days before the as-of day: lost on Mar 3 (31 days)
    assert d.loc[3, "lapsed"] and d.loc[3, "duration_days"] == 31
    # with a 200-day window nobody has lapsed: censored at the latest purchase
    d = retention.time_to_lapse(tiny, as_of=AS_OF, lapse_days=200)
    assert not d["lapsed"].any()
    assert (
        d.loc[1, "duration_days"] == (pd.Timestamp("2024-06-01") - pd.Timestamp("2024-01-05")).days
    )


def test_survival_matches_kaplan_meier_by_hand():
    durations = pd.DataFrame(
        {"duration_days": [1.0, 2.0, 2.0, 3.0, 4.0, 5.0], "lapsed": [1, 1, 0, 1, 0, 1]},
        index=pd.Index(range(6), name="customer_id"),
    ).astype({"lapsed": bool})
    curves, summary, p = retention.survival(durations)
    s = curves.set_index("days")["survival"]
    # KM: 5/6 after day 1, x 4/5 after day 2, x 2/3 after day 3, x 0 after day 5
    assert s[1.0] == pytest.approx(5 / 6)
    assert s[2.0] == pytest.approx(5 / 6 * 4 / 5)
    assert s[3.0] == pytest.approx(5 / 6 * 4 / 5 * 2 / 3)
    assert s[5.0] == pytest.approx(0.0)
    assert summary.loc["all customers", "median_days_to_lapse"] == 3.0
    assert p is None
    assert (curves["lower"] <= curves["survival"] + 1e-12).all()


def test_survival_by_group_with_logrank():
    rng = np.random.default_rng(0)
    n = 400
    group = np.where(np.arange(n) < n // 2, "fast", "slow")
    dur = np.where(group == "fast", rng.exponential(30, n), rng.exponential(120, n))
    data = pd.DataFrame({"duration_days": dur.round(), "lapsed": rng.random(n) < 0.9})
    _, summary, p = retention.survival(data, pd.Series(group, index=data.index))
    assert p < 1e-6
    assert summary.loc["fast", "median_days_to_lapse"] < summary.loc["slow", "median_days_to_lapse"]


def test_payback(tiny):
    pb = retention.payback(tiny, margin_rate=0.5, acquisition_cost=40.0, as_of=AS_OF)
    # January cohort: month 0 revenue 50+30+100 = 180 -> margin 45 per customer: paid back
    assert pb.loc["2024-01", 0] == pytest.approx(45.0)
    assert pb.attrs["payback_period"]["2024-01"] == 0
    # February cohort: 25, then 25 - 25 = 0 in March -> 12.5 per customer, never reaches 40
    assert pb.loc["2024-02", 1] == pytest.approx(12.5)
    assert np.isnan(pb.attrs["payback_period"]["2024-02"])
    with pytest.raises(ValueError):
        retention.payback(tiny, margin_rate=0)
    paid = retention.time_to_payback(tiny, margin_rate=0.5, acquisition_cost=40.0, as_of=AS_OF)
    assert paid.loc[1, "lapsed"] and paid.loc[1, "duration_days"] == 15  # 25 + 15 on Jan 20
    assert paid.loc[2, "duration_days"] == 0
    assert not paid.loc[3, "lapsed"]


def test_payback_figures(tiny):
    pb = retention.payback(tiny, margin_rate=0.5, acquisition_cost=40.0, as_of=AS_OF)
    paid = retention.time_to_payback(tiny, margin_rate=0.5, acquisition_cost=40.0, as_of=AS_OF)
    figures = retention.payback_figures(pb, paid)
    assert figures["median_periods"] == pb.attrs["payback_period"].median()
    _, summary, _ = retention.survival(paid)
    expected = 1 - summary["survival_365d"].iloc[0]  # NaN: nobody observed for a year
    assert figures["share_paid_back_1y"] == pytest.approx(expected, nan_ok=True)
    assert figures["median_periods"] == 0  # only the January cohort pays back, in month 0


def test_cohort_matrix_and_monthly_retention(tiny):
    co = retention.cohorts(tiny, as_of=AS_OF)
    matrix = retention.cohort_matrix(co)
    assert 0 not in matrix.columns and matrix.notna().any().all()
    assert list(matrix.index) == list(co.retention.index)
    assert list(retention.cohort_matrix(co, last=1).index) == list(co.retention.index[-1:])
    churn = pd.DataFrame({"retention_rate": [0.1, 0.2, 0.3, 0.5]})
    assert retention.monthly_retention(churn, 2) == pytest.approx(0.4)
    assert retention.monthly_retention(churn) == pytest.approx(0.275)


def test_first_purchase_channel(tiny):
    ch = retention.first_purchase_channel(tiny, as_of=AS_OF)
    assert ch.to_dict() == {1: "web", 2: "store", 3: "app", 4: "web"}


@pytest.fixture(scope="module")
def demo_scores():
    ds = load_dataset("demo")
    view = customer_view(ds)
    base = clv.buyers(view)
    bg = clv.BetaGeoModel().fit(base)
    gg = clv.GammaGammaModel().fit(base)
    values = clv.customer_value(bg, gg, base)
    values["p_alive_change"] = clv.p_alive_change(bg, base)
    return ds, view, values


def test_churn_risk_list_rules(demo_scores):
    _, view, values = demo_scores
    risk = retention.churn_risk_list(values, view, p_alive_threshold=0.5, p_alive_floor=0.05)
    assert len(risk) > 0
    assert risk.index.name == "customer_id"
    floor = values["potential_value"].quantile(0.75)
    chosen = values.loc[risk.index]
    assert (chosen["potential_value"] >= floor).all()
    assert ((chosen["p_alive"] < 0.5) | (chosen["p_alive_change"] <= -0.1)).all()
    assert (chosen["p_alive"] >= 0.05).all()
    assert risk["value_at_risk"].is_monotonic_decreasing
    assert "contactable" in risk.columns  # the demo has consent data
    # no personal data, only the key and numbers
    assert not {"name", "email", "phone"} & set(risk.columns)
    figures = retention.summary_figures(values, risk)
    assert figures["customers_at_risk"] == len(risk)
    assert 0 < figures["top_decile_share"] < 1


def test_top_customers(demo_scores):
    _, view, values = demo_scores
    top = retention.top_customers(values, view, n=50)
    assert len(top) == 50
    assert top["clv"].is_monotonic_decreasing
    assert top["clv"].min() >= values["clv"].nlargest(50).min()


def test_retention_by_dimensions_on_demo(demo_scores):
    ds, view, _ = demo_scores
    lapse = retention.time_to_lapse(ds, lapse_days=180)
    assert len(lapse) == len(clv.buyers(view))
    groups = retention.retention_by(ds, view, lapse)
    assert {"first_channel", "region", "acquisition_channel"} <= set(groups)
    curves, summary, p = groups["region"]
    assert summary["customers"].sum() == len(lapse)
    assert 0 <= p <= 1


def test_p_overdue_is_the_poisson_chance_of_a_purchase_since_the_last():
    values = pd.DataFrame(
        {"frequency": [0.0, 2.0, 4.0], "recency": [0.0, 10.0, 10.0], "T": [5.0, 20.0, 11.0]},
        index=pd.Index([1, 2, 3], name="customer_id"),
    )
    p = retention.p_overdue(values)
    assert np.isnan(p.loc[1])  # no repeat purchase: no pace to go by
    assert p.loc[2] == pytest.approx(1 - np.exp(-0.2 * 10))
    assert p.loc[3] == pytest.approx(1 - np.exp(-0.4 * 1))


def _collapsed_values(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Repeat buyers, a quarter of whom stopped long ago, scored by a model that sees no one
    leave (P(alive) 1 for everybody), as a collapsed BG/NBD fit does."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, 10, n).astype(float)
    tx = rng.uniform(20, 40, n)
    T = np.where(np.arange(n) % 4 == 0, 100.0, tx + 1)
    potential = rng.gamma(2.0, 100.0, n)
    return pd.DataFrame(
        {
            "frequency": x,
            "recency": tx,
            "T": T,
            "p_alive": 1.0,
            "clv": potential,
            "potential_value": potential,
            "value_at_risk": 0.0,
            "value_decile": 1,
        },
        index=pd.Index(np.arange(n), name="customer_id"),
    )


def test_collapsed_model_switches_the_risk_list_to_overdue_customers():
    values = _collapsed_values()
    view = pd.DataFrame(index=values.index)
    rule = retention.risk_rule(values)
    assert rule["rule"] == "overdue" and rule["low_p_alive"] == 0 and rule["overdue"] == 100
    risk = retention.churn_risk_list(values, view)
    assert risk.attrs["rule"] == "overdue"
    assert len(risk) > 0  # not "0 customers at risk" because the drop-out part collapsed
    assert (values.loc[risk.index, "T"] == 100.0).all()  # only the ones who stopped
    assert (risk["p_overdue"] >= 0.9).all()
    assert risk["value_at_risk"].equals(risk["potential_value"])
    # the model's own rule is kept when it does see customers leave
    seeing = values.assign(p_alive=np.where(values["T"] == 100.0, 0.2, 0.95))
    assert retention.risk_rule(seeing)["rule"] == "p_alive"
    # and never used when the drop-out part leaned on a prior
    assert retention.risk_rule(seeing, p_alive_trusted=False)["rule"] == "overdue"

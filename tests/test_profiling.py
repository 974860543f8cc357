"""Profiling: best-customer index, purchasing power, look-alike model, verdicts.

The demo retailer's truth (crm_models.data.simulate): order quantities depend on age band
(QUANTITY_MULT_AGE) and region (QUANTITY_MULT_REGION), purchase rates on the acquisition
channel (LAMBDA_MULT_RAW); gender drives nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_models import segments as pr
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view


@pytest.fixture(scope="module")
def demo():
    ds = load_dataset("demo")
    return ds, customer_view(ds)


@pytest.fixture(scope="module")
def demo_power(demo):
    _, view = demo
    return {o: pr.purchasing_power(view, outcome=o) for o in ("avg_order_value", "orders_per_year")}


@pytest.fixture(scope="module")
def demo_lookalike(demo):
    ds, view = demo
    return pr.lookalike(ds, quick=True, views={pd.Timestamp(ds.last_date()).normalize(): view})


def test_attribute_columns_are_characteristics(demo):
    _, view = demo
    attrs = pr.attribute_columns(view)
    assert {"age_band", "gender", "region", "acquisition_channel"} <= set(attrs)
    assert "age" not in attrs  # age_band describes it
    assert not {"revenue", "orders", "opt_out_reason", "signup_date"} & set(attrs)


def test_index_table_hand_example():
    view = pd.DataFrame(
        {
            "days_since_last": [1.0] * 8,
            "revenue": [1.0] * 8,
            "orders": [1] * 8,
            "colour": ["red", "red", "red", "blue", "blue", "blue", "blue", "blue"],
        }
    )
    target = pd.Series([True, True, False, False, False, False, False, True], index=view.index)
    t = pr.index_table(view, target, ["colour"]).set_index("level")
    # red: 2 of 3 targets are red; 3 of 8 customers are red -> index 100 * (2/3) / (3/8)
    assert t.loc["red", "share_of_target"] == pytest.approx(2 / 3)
    assert t.loc["red", "share_of_base"] == pytest.approx(3 / 8)
    assert t.loc["red", "index"] == pytest.approx(100 * (2 / 3) / (3 / 8))
    assert t.loc["blue", "target_rate"] == pytest.approx(1 / 5)
    assert (t["p_value"].between(0, 1)).all()


def test_best_customers_profile_finds_planted_value_drivers(demo):
    _, view = demo
    assoc = pr.attribute_association(view).set_index("attribute")
    assert assoc.loc["age_band", "p_adjusted"] < 0.05
    assert assoc.loc["acquisition_channel", "p_adjusted"] < 0.05
    assert assoc.loc["gender", "p_adjusted"] > 0.05
    idx = pr.index_table(view)
    top = idx.loc[idx["significant"], "attribute"]
    assert "gender" not in set(top)


def test_purchasing_power_recovers_planted_effects(demo_power):
    per_order = demo_power["avg_order_value"]
    tests = per_order.tests.set_index("attribute")
    assert tests.loc["age_band", "p_adjusted"] < 1e-6
    assert tests.loc["region", "p_adjusted"] < 1e-3
    assert tests.loc["gender", "p_adjusted"] > 0.05
    coef = per_order.coefficients.set_index(["attribute", "level"])
    # truth: quantity multiplier 1.25 for 45-54 vs 0.9 for 25-34 (the reference level);
    # region Central 1.2 is the reference, North 0.9: so 45-54 spend more, North less
    assert coef.loc[("age_band", "45-54"), "effect"] > 0
    assert coef.loc[("region", "North"), "effect"] < 0
    assert (coef["low"] <= coef["effect"]).all() and (coef["effect"] <= coef["high"]).all()
    assert per_order.holdout["rmse_test"] < per_order.holdout["rmse_naive"]
    rate = demo_power["orders_per_year"].tests.set_index("attribute")
    assert rate.loc["acquisition_channel", "p_adjusted"] < 0.01
    assert rate.loc["gender", "p_adjusted"] > 0.05
    assert per_order.sentences(3) and "spend" in per_order.sentences(1)[0]


def test_lookalike_beats_naive_baseline_out_of_time(demo_lookalike):
    look = demo_lookalike
    comp = look.comparison
    assert {"gradient boosting", "logistic regression"} <= set(comp.index)
    assert any(m.startswith("naive") for m in comp.index)
    assert look.beats_baseline
    assert comp.loc[look.best, "auc"] > 0.5
    assert look.cutoffs["train"] < look.cutoffs["test"] < look.cutoffs["score"]
    scored = look.scored
    assert scored.index.name == "customer_id" and scored["rank"].tolist()[:3] == [1, 2, 3]
    assert scored["probability"].is_monotonic_decreasing
    assert scored["probability"].between(0, 1).all()
    assert (look.calibration["customers"] > 0).all()
    imp = look.importance
    assert (imp["low"] <= imp["importance"]).all() and (imp["importance"] <= imp["high"]).all()


def test_lookalike_is_deterministic(demo, demo_lookalike):
    ds, view = demo
    again = pr.lookalike(ds, quick=True, views={pd.Timestamp(ds.last_date()).normalize(): view})
    pd.testing.assert_frame_equal(again.comparison, demo_lookalike.comparison)
    pd.testing.assert_frame_equal(again.scored, demo_lookalike.scored)


def test_verdict_lists_planted_drivers_and_noise(demo, demo_power, demo_lookalike):
    _, view = demo
    attrs = pr.attribute_columns(view)
    verdict = pr.characteristics(
        attrs,
        demo_power["avg_order_value"],
        demo_lookalike,
        pr.attribute_association(view),
        extra_power=[demo_power["orders_per_year"]],
    ).set_index("attribute")
    for planted in ("age_band", "region", "acquisition_channel"):
        assert verdict.loc[planted, "verdict"] == "matters", planted
    assert verdict.loc["gender", "verdict"] == "not worth attention"


def test_lookalike_aucs_and_metrics():
    comparison = pd.DataFrame(
        {
            "auc": [0.7, 0.65, 0.6],
            "lift_top10": [2.0, 1.8, 1.5],
            "lift_top20": [1.6, 1.5, 1.3],
            "brier": [0.1, 0.11, 0.12],
        },
        index=["gradient boosting", "logistic regression", "naive: biggest first order"],
    )
    result = pr.LookalikeResult(
        horizon_days=180,
        cutoffs={},
        comparison=comparison,
        best="logistic regression",
        calibration=pd.DataFrame(),
        importance=pd.DataFrame(),
        scored=pd.DataFrame(),
        counts={},
    )
    assert pr.lookalike_aucs(result) == (0.65, 0.6)
    metrics = pr.lookalike_metrics(comparison)
    assert len(metrics) == 12
    assert metrics["lookalike_naive_auc"] == 0.6
    assert metrics["lookalike_gradient_boosting_lift_top10"] == 2.0
    assert metrics["lookalike_logistic_regression_brier"] == 0.11


def test_attributes_by_verdict():
    verdict = pd.DataFrame(
        {
            "attribute": ["age_band", "gender", "region"],
            "verdict": ["matters", "not worth attention", "matters"],
        }
    )
    assert pr.attributes_by_verdict(verdict, "matters") == ["age_band", "region"]
    assert pr.attributes_by_verdict(verdict, "not worth attention") == ["gender"]
    assert pr.attributes_by_verdict(verdict, "unknown") == []


def test_attribute_parts_explain_absence_without_attributes():
    view = customer_view(load_dataset("cdnow_sample"))
    assert pr.attribute_columns(view) == []
    with pytest.raises(ValueError, match="characteristics"):
        pr.purchasing_power(view)
    assert pr.index_table(view).empty


def test_lift_at():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    score = np.arange(10)[::-1]
    assert pr.lift_at(y, score, 0.2) == pytest.approx(1.0 / 0.2)


def test_the_profiles_clv_holds_only_its_own_numbers():
    """The CLV column is copied out of the value table: a column of it would keep the table's
    whole float block (ten columns) alive for as long as the report holds the CLV."""
    from crm_models.data.loading import load_dataset
    from crm_models.features import customer_view
    from crm_models.segments import clv_if_available

    clv = clv_if_available(customer_view(load_dataset("cdnow_sample")))
    numbers = clv.to_numpy()
    owner = numbers
    while getattr(owner, "base", None) is not None:
        owner = owner.base
    assert owner.nbytes == numbers.nbytes == 8 * len(clv)

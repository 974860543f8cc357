"""The "Customer value and retention" report, built once in quick mode on the demo retailer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from html_text import page_markup

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view, resolve_as_of

SECTIONS = [
    "At a glance",
    "How well do the models predict?",
    "Which model values the customers?",
    "BG/NBD or Pareto/NBD?",
    "Spend per purchase (Gamma-Gamma)",
    "Fitted parameters",
    "What each customer is worth",
    "Customers at risk and top customers",
    "Retention by cohort",
    "How long customers stay",
    "When do customers pay back?",
    "About the method",
]


@pytest.fixture(scope="module")
def build(quick_build):
    return quick_build("value_retention", ["demo"], only=["value_retention"])


def test_report_has_every_section_and_no_errors(build):
    html = (build["out"] / "demo" / "value_retention.html").read_text()
    body = page_markup(html)
    for heading in SECTIONS:
        assert heading in body, heading
    assert "Traceback" not in body and "Error:" not in body and "Warning" not in body
    assert "import pandas" not in body and "run.headline" not in body
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0
    assert body.count("plotly-graph-div") >= 8


def test_headlines_match_the_package(build):
    manifest = json.loads((build["out"] / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "value_retention")
    headlines = {h["key"]: h for h in entry["headlines"]}
    assert [h["key"] for h in entry["headlines"]][:3] == [
        "expected_value",
        "top_decile_share",
        "customers_at_risk",
    ]
    ds = load_dataset(build["data"] / "demo")
    base = clv.buyers(customer_view(ds))
    values = clv.customer_value(
        clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base), base, horizon=52
    )
    assert headlines["expected_value"]["value"] == pytest.approx(values["clv"].sum(), rel=1e-6)
    top = values.loc[values["value_decile"] == 1, "clv"].sum() / values["clv"].sum()
    assert headlines["top_decile_share"]["value"] == pytest.approx(top, rel=1e-6)
    assert headlines["customers_at_risk"]["value"] > 0
    index = (build["out"] / "index.html").read_text()
    assert "Customer value and retention" in index
    assert headlines["expected_value"]["display"] in index


def test_lists_are_exported_without_personal_data(build):
    tables = build["out"] / "demo" / "value_retention" / "tables"
    risk = pd.read_csv(tables / "churn_risk.csv")
    top = pd.read_csv(tables / "top_customers.csv")
    assert len(risk) > 0 and len(top) == 500
    for frame in (risk, top):
        assert frame.columns[0] == "customer_id"
        assert not {"name", "email", "phone"} & set(frame.columns)
    assert risk["value_at_risk"].is_monotonic_decreasing
    assert top["clv"].is_monotonic_decreasing
    raw = pd.read_parquet(build["data"] / "demo" / "customers.parquet")
    text = (tables / "churn_risk.csv").read_text() + (tables / "top_customers.csv").read_text()
    assert "@example.com" not in text and raw["phone"].iloc[0] not in text


def test_validation_metrics_are_recorded(build):
    run = json.loads((build["out"] / "demo" / "value_retention" / "run.json").read_text())
    m = run["metrics"]
    assert m["holdout_mae"] < m["holdout_baseline_mae"]
    assert abs(m["holdout_total_error"]) < 0.15
    assert 0.5 < m["bgnbd_r"] < 1.0  # truth 0.75
    assert run["params"]["quick"] is True or run["params"]["quick"] == "True"


def test_the_model_choice_is_shown_and_recorded(build):
    """The default (auto) compares the four candidates, marks the one the rule chose and says
    in the findings which model values the customers."""
    tables = build["out"] / "demo" / "value_retention" / "tables"
    choice = pd.read_csv(tables / "value_model_comparison.csv", index_col="model")
    assert set(choice.index) == set(clv.CANDIDATES) and choice["chosen"].sum() == 1
    chosen = choice.index[choice["chosen"]][0]
    assert chosen == choice["inner_mae"].idxmin()  # the rule: lowest MAE on the inner split
    m = json.loads((build["out"] / "demo" / "value_retention" / "run.json").read_text())["metrics"]
    assert m[f"value_model_{chosen}_mae"] == pytest.approx(choice.loc[chosen, "mae"])
    body = page_markup((build["out"] / "demo" / "value_retention.html").read_text())
    assert "Customer values come from the" in body


@pytest.fixture(scope="module")
def stacked_build(quick_build):
    return quick_build(
        "value_stacked", ["demo"], only=["value_retention"], params={"value_model": "stacked"}
    )


def test_a_chosen_stacked_forecast_values_the_customers(stacked_build):
    """Asked for the stacked model, the report's expected value is the BG/NBD value corrected
    customer by customer by the stacked forecast (the package's own computation), and every
    customer's 80 % range still holds its value."""
    manifest = json.loads((stacked_build["out"] / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "value_retention")
    headline = {h["key"]: h for h in entry["headlines"]}["expected_value"]["value"]
    ds = load_dataset(stacked_build["data"] / "demo")
    base = clv.buyers(customer_view(ds))
    purchase, spend = clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)
    factor = clv.forecast_multiplier("stacked", ds, resolve_as_of(ds, None), 52, purchase, base)
    values = clv.customer_value(purchase, spend, base, horizon=52, multiplier=factor)
    plain = clv.customer_value(purchase, spend, base, horizon=52)
    assert headline == pytest.approx(values["clv"].sum(), rel=1e-6)
    assert headline != pytest.approx(plain["clv"].sum(), rel=1e-3)
    top = pd.read_csv(
        stacked_build["out"] / "demo" / "value_retention" / "tables" / "top_customers.csv"
    )
    assert (top["clv_low"] <= top["clv"] + 1e-9).all() and (
        top["clv"] <= top["clv_high"] + 1e-9
    ).all()
    body = page_markup((stacked_build["out"] / "demo" / "value_retention.html").read_text())
    assert "Customer values come from the" in body and "asked for (value_model" in body
    assert "stacked (BG/NBD corrected by boosting)" in body

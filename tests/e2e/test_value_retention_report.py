"""The "Customer value and retention" report, built once in quick mode on the demo retailer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from html_text import page_markup

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view

SECTIONS = [
    "At a glance",
    "How well do the models predict?",
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

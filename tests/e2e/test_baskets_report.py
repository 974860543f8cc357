"""The "Baskets and cross-sell" report, built once (quick) on the demo retailer and on CDNOW."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from html_text import page_text

SECTIONS = [
    "At a glance",
    "What is bought together",
    "The most valuable combinations",
    "Rule map",
    "Category affinities",
    "Rule hygiene",
    "Cross-sell offers: do they work?",
    "When categories are bought",
    "What customers buy next",
    "Time between purchases in a category",
    "The cross-sell list",
    "About the method and the data",
]


@pytest.fixture(scope="module")
def build(quick_build):
    return quick_build("baskets", ["demo", "cdnow_sample"], only=["baskets"])


def test_report_reads_for_marketing_and_has_no_code_or_errors(build):
    html = (build["out"] / "demo" / "baskets.html").read_text()
    body = page_text(html)
    for heading in SECTIONS:
        assert heading in body, heading
    assert "Traceback" not in body and "Error" not in body and "Warning" not in body
    assert "import pandas" not in body and "basket.association_rules" not in body
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0
    # rules in words, with the planted smartphone -> phone case affinity among them
    assert re.search(r"Customers who buy [^.]+ are [\d.]+ times as likely to buy ", body)
    assert "times as likely" in body and "best-sellers" in body


def test_headlines_metrics_and_tables(build):
    manifest = json.loads((build["out"] / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "baskets")
    assert entry["status"] == "ok" if "status" in entry else True
    headlines = {h["key"]: h for h in entry["headlines"]}
    assert {"baskets", "strong_rules", "top_lift", "cross_sell_hit_rate"} <= set(headlines)
    assert headlines["baskets"]["value"] > 90_000 and headlines["top_lift"]["value"] > 10
    metrics = entry["metrics"]
    assert metrics["cross_sell_hit_rate_at_5"] > metrics["popularity_hit_rate_at_5"]
    names = {t.rsplit("/", 1)[-1].removesuffix(".csv") for t in entry["tables"]}
    assert {"cross_sell_list", "rules_by_lift", "cross_sell_evaluation"} <= names
    rules = pd.read_csv(build["out"] / next(t for t in entry["tables"] if "rules_by_lift" in t))
    pairs = set(zip(rules["customers who buy"], rules["also buy"], strict=True))
    assert ("Smartphone", "Phone case") in pairs  # a planted affinity of the demo retailer
    print(entry.get("execute_seconds"))
    index = (build["out"] / "index.html").read_text()
    assert "Baskets and cross-sell" in index


def test_cross_sell_list_is_downloadable_and_has_no_personal_data(build):
    tables = list(build["out"].rglob("cross_sell_list.csv"))
    if not tables:  # the build keeps tables with the MLflow run
        tables = list(build["root"].rglob("cross_sell_list.csv"))
    assert tables, "cross_sell_list.csv not written"
    offers = pd.read_csv(tables[0])
    assert list(offers.columns[:6]) == [
        "customer_id",
        "rank",
        "product",
        "product_name",
        "score",
        "rule",
    ]
    assert offers.groupby("customer_id").size().max() == 5
    assert offers["rule"].str.contains("bought|popular").all()
    assert not any(re.search(r"e_?mail|phone_?n|^name$", c) for c in offers.columns)
    text = tables[0].read_text()
    assert "@example.com" not in text and "Customer 1" not in text


def test_data_without_products_is_not_applicable(build):
    na = [e for e in build["result"].not_applicable if e.slug == "baskets"]
    assert [e.dataset for e in na] == ["cdnow_sample"]
    assert "product_id" in na[0].reason

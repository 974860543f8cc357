"""The "Segments and customer profiles" report, built once in quick mode on the demo retailer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from html_text import page_text

SECTIONS = [
    "At a glance",
    "RFM segments",
    "Behavioural segments",
    "How key indicators differ by segment",
    "What best customers look like",
    "What purchasing power depends on",
    "New customers most likely to become valuable",
    "Characteristics that matter, and those not worth attention",
    "About the method and the data",
]


@pytest.fixture(scope="module")
def build(quick_build):
    return quick_build("segments_profiles", ["demo"], only=["segments_profiles"])


def test_report_has_sections_headlines_and_no_errors(build):
    html = (build["out"] / "demo" / "segments_profiles.html").read_text()
    text = page_text(html)
    for heading in SECTIONS:
        assert heading in text, heading
    for bad in ("Traceback", "Error:", "Warning", "import pandas", "segment_customers("):
        assert bad not in text, bad
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0
    assert "Matter:" in text and "Not worth attention:" in text
    # the planted noise attribute is listed as not worth attention
    assert re.search(r"Not worth attention:[^.]*gender", text)
    assert "beats the naive rule out of time" in text


def test_headlines_reach_the_manifest(build):
    manifest = json.loads((build["out"] / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "segments_profiles")
    keys = {h["key"] for h in entry["headlines"]}
    assert {"segments", "stability_ari", "champions_revenue_share", "lookalike_auc"} <= keys
    stability = next(h for h in entry["headlines"] if h["key"] == "stability_ari")["value"]
    assert 0 <= stability <= 1


def test_customer_segment_csv_has_ids_only(build):
    tables = build["out"] / "demo" / "segments_profiles" / "tables"
    seg = pd.read_csv(tables / "customer_segments.csv")
    assert seg.columns[0] == "customer_id" and seg["customer_id"].is_unique
    assert {"rfm_segment", "cluster_name", "r", "f", "m"} <= set(seg.columns)
    assert not {"name", "email", "phone", "age", "gender"} & set(seg.columns)
    assert len(seg) == 20_000
    prospects = pd.read_csv(tables / "lookalike_prospects.csv")
    assert prospects.columns[0] == "customer_id"
    assert prospects["probability"].is_monotonic_decreasing
    for path in tables.glob("*.csv"):
        assert "@example.com" not in path.read_text()

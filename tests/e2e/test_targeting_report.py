"""The "Campaign response and targeting" report, built once in quick mode on the demo retailer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from html_text import page_markup

from crm_models import targeting as tg

SECTIONS = [
    "What each campaign did",
    "Who responds",
    "Who is persuadable",
    "The chosen model and why",
    "Other outcomes",
    "The contact list",
    "About the data and the method",
]


@pytest.fixture(scope="module")
def built(quick_build):
    return quick_build("targeting", ["demo"], only=["targeting"])["out"]


def test_report_reads_cleanly(built):
    html = (built / "demo" / "targeting.html").read_text()
    body = page_markup(html)
    for heading in SECTIONS:
        assert heading in body, heading
    for bad in ("Traceback", "Error:", "Warning", "NaN", ">nan<"):
        assert bad not in body, bad
    assert "import pandas" not in body and "run.headline" not in body
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0
    assert body.count("plotly-graph-div") >= 8


def test_headlines_reach_the_manifest_and_the_index(built):
    manifest = json.loads((built / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "targeting")
    headlines = {h["key"]: h for h in entry["headlines"]}
    assert {"uplift_at_30", "contacts", "expected_incremental_profit"} <= set(headlines)
    assert headlines["contacts"]["value"] > 0
    assert headlines["excluded_by_permission"]["value"] > 0
    assert "Campaign response and targeting" in (built / "index.html").read_text()


def test_contact_list_csv_has_no_personal_data(built):
    csvs = list(built.rglob("contact_list.csv"))
    assert csvs, "contact_list.csv not kept with the run"
    table = pd.read_csv(csvs[0])
    assert list(table.columns) == list(tg.LIST_COLUMNS)
    # the random hold-out (10 % by default) is kept as a control group, not mailed
    assert table["holdout"].sum() == round(0.1 * len(table))
    assert set(table.loc[table["holdout"], "action"]) == {"hold out"}
    assert len(table) > 0 and table["customer_id"].is_unique
    assert (table["expected_incremental_clv"] >= 0).all()
    assert (table["expected_incremental_profit"] > 0).all()
    text = csvs[0].read_text()
    assert "@example.com" not in text and "Customer " not in text

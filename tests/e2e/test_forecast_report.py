"""The "Sales forecast" report, built once in quick mode on the demo retailer."""

from __future__ import annotations

import json
import re

import pytest
from html_text import page_markup

SECTIONS = [
    "Sales forecast",
    "Next period at a glance",
    "History, tests on the past and the forecast",
    "Which method, and how well each did on the past",
    "Bottom-up: the forecast built from the customers",
    "Forecasts by segment",
    "How to read this, and its limits",
]


@pytest.fixture(scope="module")
def built(quick_build):
    return quick_build("forecast", ["demo"], only=["forecast"])["out"]


def test_report_has_sections_headline_sentence_and_no_errors(built):
    html = (built / "demo" / "forecast.html").read_text()
    body = page_markup(html)
    for heading in SECTIONS:
        assert heading in body, heading
    assert "Traceback" not in body and "Error" not in body and "Warning" not in body
    assert "import pandas" not in body and "forecast_sales(" not in body
    # the one-sentence answer with its range
    assert re.search(r"Net revenue in July 2025 is forecast at \$[\d,]+", body)
    assert re.search(r"80\s*% chance\) between \$[\d,]+ and \$[\d,]+", body)
    assert "Tests on the past" in body and "Seasonal naive" in body and "Bottom-up" in body
    assert body.count("plotly-graph-div") >= 2  # history + forecast, bottom-up comparison
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0


def test_headlines_reach_the_manifest(built):
    manifest = json.loads((built / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "forecast")
    keys = {h["key"]: h for h in entry["headlines"]}
    assert {"forecast_next", "forecast_next_lower_80", "forecast_next_upper_80"} <= set(keys)
    low, mid, high = (
        keys[k]["value"]
        for k in ("forecast_next_lower_80", "forecast_next", "forecast_next_upper_80")
    )
    assert 0 < low <= mid <= high


def test_no_warnings_in_the_executed_notebook(built):
    """Nothing a kernel prints on stderr (e.g. tqdm's IProgress warning) reaches the notebook."""
    notebook = next((built / "demo" / "_notebooks").glob("06_*.ipynb"))
    cells = json.loads(notebook.read_text())["cells"]
    errors = [
        "".join(out["text"])
        for cell in cells
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr"
    ]
    assert not any("Warning" in text for text in errors), errors

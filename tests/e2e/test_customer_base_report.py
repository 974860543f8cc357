"""The real "Customer base and revenue" report, built by the real command on the demo retailer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from html_text import page_markup

from crm_models import revenue
from crm_models.data.loading import load_dataset

CLI = [sys.executable, "-m", "crm_models.cli"]
SECTIONS = [
    "At a glance",
    "Size and activity of the base",
    "Revenue over time and by segment of the business",
    "How concentrated is revenue?",
    "New versus returning customers",
    "Life-cycle stages",
    "R = N · L · V: what drives revenue",
    "Why revenue changed",
    "About the data",
]


@pytest.fixture(scope="module")
def build(tmp_path_factory, demo_data):
    root = tmp_path_factory.mktemp("build")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "CRM_MODELS_DATA": str(demo_data),
        "CRM_MODELS_QUIET": "1",
    }
    (root / "mlruns").mkdir()
    out = root / "reports"
    cmd = CLI + ["reports", "build", "--dataset", "demo", "--quick", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "out": out, "env": env, "result": json.loads(proc.stdout)}


def test_report_has_every_section_and_no_code(build):
    html = (build["out"] / "demo" / "customer_base.html").read_text()
    body = page_markup(html)
    for heading in SECTIONS:
        assert heading in body, heading
    assert "Traceback" not in body and "Error:" not in body and "Warning" not in body
    assert "jp-CodeMirrorEditor" not in body and "highlight-ipynb" not in body
    assert (
        "import pandas" not in body and "load_dataset(" not in body and "run.headline" not in body
    )
    assert len(re.findall(r'<script[^>]*src="http', html)) == 0


def test_every_demo_report_is_for_readers(build):
    """The quick demo build publishes every report: no code, no errors, no CDN scripts."""
    pages = sorted((build["out"] / "demo").glob("*.html"))
    expected = {
        "customer_base",
        "value_retention",
        "segments_profiles",
        "targeting",
        "baskets",
        "forecast",
    }
    assert {p.stem for p in pages} >= expected
    for page in pages:
        html = page.read_text()
        body = page_markup(html)
        assert "Traceback" not in body and "Error:" not in body, page.name
        assert "jp-CodeMirrorEditor" not in body and "highlight-ipynb" not in body, page.name
        assert "load_dataset(" not in body and "run.headline" not in body, page.name
        assert len(re.findall(r'<script[^>]*src="http', html)) == 0, page.name


def test_no_personal_data_reaches_html_tables_or_mlflow(build):
    raw = pd.read_parquet(Path(build["env"]["CRM_MODELS_DATA"]) / "demo" / "customers.parquet")
    assert {"name", "email", "phone"} <= set(raw.columns)
    needles = [
        raw["email"].iloc[0],
        raw["phone"].iloc[0],
        "@example.com",
        raw["name"].iloc[5] + "<",
    ]
    files = [
        p
        for p in build["root"].rglob("*")
        if p.is_file() and p.suffix in {".html", ".csv", ".json", ".ipynb"}
    ]
    assert files
    for path in files:
        text = path.read_text(errors="ignore")
        for needle in needles:
            assert needle not in text, f"{needle!r} leaked into {path}"


def test_headlines_match_the_package_and_reach_the_index(build):
    manifest = json.loads((build["out"] / "demo" / "manifest.json").read_text())
    entry = next(r for r in manifest["reports"] if r["slug"] == "customer_base")
    headlines = {h["key"]: h for h in entry["headlines"]}
    assert {"revenue_12m", "active_customers_12m", "top10_share"} <= set(headlines)
    ds = load_dataset(Path(build["env"]["CRM_MODELS_DATA"]) / "demo")
    nlv = revenue.nlv_table(ds)
    as_of = ds.last_date().normalize()
    expected = nlv.loc[nlv.index.end_time > as_of - pd.DateOffset(years=1), "revenue"].sum()
    assert headlines["revenue_12m"]["value"] == pytest.approx(expected)
    assert headlines["top10_share"]["value"] == pytest.approx(
        revenue.concentration(ds).top_share(0.1)
    )
    index = (build["out"] / "index.html").read_text()
    assert headlines["revenue_12m"]["display"] in index and "Customer base and revenue" in index


def test_run_is_in_mlflow_with_params_and_metrics(build):
    import mlflow

    mlflow.set_tracking_uri(build["env"]["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(
        experiment_names=["crm-models/demo"],
        filter_string="tags.`crm_models.report` = 'customer_base'",
    )
    assert len(runs) == 1
    run = runs.iloc[0]
    ds_fingerprint = json.loads((build["out"] / "demo" / "manifest.json").read_text())[
        "fingerprint"
    ]
    assert run["params.dataset"] == "demo" and run["params.quick"] == "True"
    assert run["params.data_fingerprint"] == ds_fingerprint
    assert run["metrics.revenue_12m"] > 0 and 0 < run["metrics.gini"] < 1
    effects = run[
        [
            "metrics.revenue_change_effect_N",
            "metrics.revenue_change_effect_L",
            "metrics.revenue_change_effect_V",
        ]
    ].sum()
    assert effects == pytest.approx(run["metrics.revenue_change"], rel=1e-9, abs=1e-6)


def test_failed_build_keeps_published_reports(build, tmp_path):
    out = build["out"]
    before = (out / "demo" / "customer_base.html").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame(
        {"customer_id": [1], "order_id": ["a"], "order_date": ["not a date"], "amount": [1.0]}
    ).to_csv(bad / "transactions.csv", index=False)
    cmd = CLI + ["reports", "build", "--dataset", str(bad), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, env=build["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "unparseable date" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "demo" / "customer_base.html").read_bytes() == before


def test_report_renders_in_chromium_without_errors(build, tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((build["out"] / "demo" / "customer_base.html").as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=20_000)
            assert page.locator(".plotly-graph-div").count() >= 8
            assert page.locator("text=Why revenue changed").count() == 1
            page.screenshot(path=str(tmp_path / "customer_base.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "customer_base.png").stat().st_size > 50_000

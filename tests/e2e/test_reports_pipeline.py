"""End-to-end tests of the report pipeline: Papermill -> HTML -> manifest/index -> MLflow.

Tiny fixture notebooks (``fixtures/``) and a stand-in loader keep this independent of the real
data; the real ``customer_base`` report is exercised by ``test_real_demo_quick_build`` once the
loader and notebook exist.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from html_text import page_markup

import crm_models
from crm_models.plotting import count, money, pct
from crm_models.reporting import (
    BuildError,
    Report,
    ReportRun,
    ReportsFailed,
    build_reports,
    parse_params,
)
from crm_models.reporting.build import build_lock
from crm_models.reporting.tracking import PIIError, check_no_pii

FIXTURES = Path(__file__).parent / "fixtures"

SALES = Report(
    "sales",
    "10_fixture_sales.py",
    "Fixture sales",
    ("transactions",),
    "Revenue by month and channel (test fixture).",
)
CAMPAIGNS = Report(
    "campaigns",
    "20_fixture_campaigns.py",
    "Fixture campaigns",
    ("transactions", "campaigns"),
    "Response to mailings (test fixture).",
)
FAILS = Report("fails", "90_fixture_fails.py", "Fixture that fails", ("transactions",), "")
CDN_SCRIPT = re.compile(r'<script[^>]*src="http')


def _body_without_scripts(html: str) -> str:
    """The page body with inline scripts and styles removed (plotly.js is embedded there)."""
    return page_markup(html.split("<body", 1)[1])


def _build(out: Path, datasets, reports, fixture_data, **kwargs):
    return build_reports(
        datasets,
        out=out,
        notebooks=FIXTURES,
        reports=list(reports),
        loader=fixture_data.load,
        quick=True,
        progress=False,
        **kwargs,
    )


def _snapshot(out: Path) -> dict[str, str]:
    """Hash of every published file (the lock file and kept failures aside)."""
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".crm-models-") and "_failed" not in p.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory, tracking_store, fixture_data):
    """One build of two fixture reports for two datasets (alpha lacks campaigns)."""
    out = tmp_path_factory.mktemp("site") / "reports"
    started = time.perf_counter()
    result = _build(out, ["alpha", "beta"], [SALES, CAMPAIGNS], fixture_data)
    result.wall = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- the build
def test_build_writes_the_documented_layout(built):
    out = built.out
    assert built.index_path == out / "index.html"
    for rel in [
        "index.html",
        "alpha/manifest.json",
        "alpha/sales.html",
        "alpha/sales/run.json",
        "alpha/sales/tables/revenue_by_month.csv",
        "alpha/_notebooks/10_fixture_sales.ipynb",
        "beta/sales.html",
        "beta/campaigns.html",
        "beta/_notebooks/20_fixture_campaigns.ipynb",
    ]:
        assert (out / rel).is_file(), rel
    assert not (out / "alpha" / "campaigns.html").exists()
    assert not list(out.glob(".crm-models-staging-*")), "staging folder left behind"
    assert not list(out.rglob(".tracking-deferred"))
    assert not list(out.rglob("models")), "models belong in MLflow, not in reports/"
    assert sorted((e.dataset, e.slug) for e in built.published) == [
        ("alpha", "sales"),
        ("beta", "campaigns"),
        ("beta", "sales"),
    ]
    assert [(e.dataset, e.slug) for e in built.not_applicable] == [("alpha", "campaigns")]


def test_report_html_is_for_readers(built, fixture_data):
    html = (built.out / "alpha" / "sales.html").read_text()
    alpha = fixture_data.load("alpha")
    tx = alpha.transactions
    # headings from markdown cells and the page header
    for text in [
        "Fixture sales report",
        "Revenue by month",
        "Channels and order values",
        "Fixture sales</h1>",
        "Dataset",
        "alpha",
        "Data as of",
        str(tx["order_date"].max().date()),
    ]:
        assert text in html, text
    # headline sentence built with say() from the numbers, money in the dataset's currency
    # (stated here: an earlier test in this process may have set another one)
    revenue = money(tx["amount"].sum(), currency=alpha.currency)
    assert f"Net revenue was <strong>{revenue}</strong>" in html
    assert f"<strong>{count(tx['customer_id'].nunique())}</strong> customers" in html
    # charts: two plotly figures sharing one embedded plotly.js, one matplotlib PNG, a table
    assert html.count('class="plotly-graph-div"') == 2
    assert html.count("window.PlotlyConfig") == 1, "plotly.js must be embedded exactly once"
    assert "data:image/png;base64," in html
    assert '<div class="crm-table">' in html and "<caption>Revenue by channel</caption>" in html
    # no code, prompts, warnings, bare values, tracebacks or CDN scripts
    for bad in [
        "jp-CodeMirrorEditor",
        "cm-editor cm-s-jupyter",
        "jp-InputPrompt",
        "In&nbsp;[",
        "import ",
        "ReportRun(",
        "run.headline",
        "SECRET-WARNING-TEXT",
        "UserWarning",
        "Traceback",
        repr(float(tx["amount"].sum())),
    ]:
        assert bad not in _body_without_scripts(html), bad
    assert len(CDN_SCRIPT.findall(html)) == 0
    assert "require.min.js" not in html and "MathJax.Hub" not in html


def test_manifest_records_each_report(built, fixture_data):
    alpha = json.loads((built.out / "alpha" / "manifest.json").read_text())
    ds = fixture_data.load("alpha")
    assert alpha["dataset"] == "alpha"
    assert alpha["fingerprint"] == ds.fingerprint
    assert alpha["package_version"] == crm_models.__version__
    entries = {e["slug"]: e for e in alpha["reports"]}
    sales = entries["sales"]
    assert sales["status"] == "ok"
    assert sales["title"] == SALES.title
    assert sales["as_of"] == str(ds.last_date().date())
    assert sales["generated_at"]
    assert sales["html"] == "alpha/sales.html"
    assert sales["executed_notebook"] == "alpha/_notebooks/10_fixture_sales.ipynb"
    assert re.fullmatch(r"[0-9a-f]{32}", sales["mlflow_run_id"])
    assert [h["key"] for h in sales["headlines"]] == ["revenue", "customers"]
    revenue = money(ds.transactions["amount"].sum(), currency=ds.currency)
    assert sales["headlines"][0]["display"] == revenue
    assert sales["metrics"]["orders"] == len(ds.transactions)
    assert sales["tables"] == ["alpha/sales/tables/revenue_by_month.csv"]
    na = entries["campaigns"]
    assert na["status"] == "not applicable"
    assert "campaigns" in na["reason"] and na["mlflow_run_id"] is None
    run = json.loads((built.out / "alpha" / "sales" / "run.json").read_text())
    assert run["run_id"] == sales["mlflow_run_id"] and run["status"] == "FINISHED"
    assert "output_dir" not in run["params"]


def test_index_lists_every_report_for_readers(built, fixture_data):
    html = built.index_path.read_text()
    assert "<script" not in html, "the index is plain HTML"
    assert "Dataset: alpha" in html and "Dataset: beta" in html
    assert 'href="alpha/sales.html"' in html and 'href="beta/campaigns.html"' in html
    assert 'href="alpha/campaigns.html"' not in html
    assert re.search(r'class="card na"[^>]*data-slug="campaigns".*?Not applicable: needs', html)
    beta = fixture_data.load("beta")
    assert money(beta.transactions["amount"].sum(), currency=beta.currency) in html
    assert pct(beta.campaigns["responded"].mean()) in html
    for entry in built.published:
        assert entry.mlflow_run_id in html
        assert f"Data as of {entry.as_of}" in html


def test_mlflow_runs_have_params_metrics_and_artifacts(built, tracking_store, fixture_data):
    import mlflow

    mlflow.set_tracking_uri(tracking_store)
    runs = mlflow.search_runs(
        experiment_names=["crm-models/alpha", "crm-models/beta"], output_format="pandas"
    )
    assert len(runs) == 3
    sales = runs[
        (runs["params.report"] == "sales") & (runs["params.dataset_name"] == "alpha")
    ].iloc[0]
    ds = fixture_data.load("alpha")
    assert sales["status"] == "FINISHED"
    assert sales["params.data_fingerprint"] == ds.fingerprint
    assert sales["params.package_version"] == crm_models.__version__
    assert sales["params.dataset"] == "alpha"
    assert sales["params.quick"] == "True"
    assert sales["params.as_of_effective"] == str(ds.last_date().date())
    assert "params.git_commit" in runs.columns
    assert sales["metrics.revenue"] == pytest.approx(ds.transactions["amount"].sum())
    assert sales["metrics.customers"] == ds.transactions["customer_id"].nunique()
    assert sales["metrics.orders"] == len(ds.transactions)
    assert sales["tags.mlflow.runName"] == "sales"
    client = mlflow.MlflowClient(tracking_store)
    names = {a.path for a in client.list_artifacts(sales["run_id"])}
    assert {"sales.html", "tables"} <= names
    tables = {a.path for a in client.list_artifacts(sales["run_id"], "tables")}
    assert tables == {"tables/revenue_by_month.csv"}
    assert sales["artifact_uri"].startswith("file://")
    assert Path(tracking_store.removeprefix("sqlite:///")).parent.as_uri() in sales["artifact_uri"]


# --------------------------------------------------------------------------- failures, locking
def test_a_failing_report_does_not_stop_the_others(built, tmp_path, tracking_store, fixture_data):
    """Issue 13, finding 5: every other report is published, the failed one's card says so in
    plain words with its last good version, the notebook is kept, the build raises."""
    out = tmp_path / "reports"
    shutil.copytree(built.out, out)
    _build(out, ["alpha"], [SALES, FAILS], fixture_data, params={"fail": False})
    good = json.loads((out / "alpha" / "manifest.json").read_text())["reports"][1]
    assert good["slug"] == "fails" and good["status"] == "ok"
    good_page = (out / "alpha" / "fails.html").read_bytes()
    before = _snapshot(out)
    with pytest.raises(ReportsFailed) as caught:
        _build(out, ["alpha"], [SALES, FAILS], fixture_data)
    message = str(caught.value)
    source = (FIXTURES / FAILS.notebook).read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if text.startswith("ratio ="))
    assert "\n" not in message and "Traceback" not in message
    assert "1 failure(s), 1 report(s) published" in message
    assert "dataset alpha" in message and "90_fixture_fails.py" in message
    assert f"cell 4 (line {line} of 90_fixture_fails.py)" in message
    assert "ZeroDivisionError: division by zero" in message
    result = caught.value.result
    assert [(e.dataset, e.slug) for e in result.published] == [("alpha", "sales")]
    assert [(e.dataset, e.slug) for e in result.failed] == [("alpha", "fails")]
    after = _snapshot(out)
    assert after["alpha/sales.html"] != before["alpha/sales.html"], "sales was not republished"
    assert (out / "alpha" / "fails.html").read_bytes() == good_page, "last good version lost"
    assert {k: v for k, v in after.items() if k.startswith("beta/")} == {
        k: v for k, v in before.items() if k.startswith("beta/")
    }
    entry = json.loads((out / "alpha" / "manifest.json").read_text())["reports"][1]
    assert entry["status"] == "failed" and "unexpected error" in entry["reason"]
    assert entry["last_good"]["html"] == "alpha/fails.html"
    assert entry["last_good"]["generated_at"] == good["generated_at"]
    index = (out / "index.html").read_text()
    card = re.search(r'<article class="card failed" data-slug="fails">.*?</article>', index)
    assert card and "Failed in the build of" in card.group(0)
    assert "ZeroDivisionError at cell 4" in card.group(0)
    assert "division by zero" not in card.group(0), "exception text (may hold data) on the card"
    assert 'href="alpha/fails.html"' in card.group(0) and "last good version" in card.group(0)
    kept = out / "alpha" / "_failed" / "90_fixture_fails.ipynb"
    assert kept.is_file() and str(kept) in message
    nb = json.loads(kept.read_text())
    assert any(
        o.get("ename") == "ZeroDivisionError" for c in nb["cells"] for o in c.get("outputs", [])
    )
    assert not list(out.glob(".crm-models-staging-*"))
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=["crm-models/alpha"], filter_string="params.report = 'fails'"
    ).sort_values("start_time")
    assert list(runs["status"]) == ["FINISHED", "FAILED"]
    assert list(runs["tags.crm_models.published"]) == ["yes", "no"]


def test_only_one_dataset_and_report_keeps_the_rest(built, tmp_path, fixture_data):
    out = tmp_path / "reports"
    shutil.copytree(built.out, out)
    before = _snapshot(out)
    result = _build(out, ["beta"], [SALES, CAMPAIGNS], fixture_data, only=["sales"])
    after = _snapshot(out)
    assert [(e.dataset, e.slug) for e in result.published] == [("beta", "sales")]
    # alpha untouched, beta's campaigns report carried over byte for byte
    assert {k: v for k, v in after.items() if k.startswith("alpha/")} == {
        k: v for k, v in before.items() if k.startswith("alpha/")
    }
    assert after["beta/campaigns.html"] == before["beta/campaigns.html"]
    assert after["beta/sales.html"] != before["beta/sales.html"]
    manifest = json.loads((out / "beta" / "manifest.json").read_text())
    assert [e["slug"] for e in manifest["reports"]] == ["sales", "campaigns"]
    index = (out / "index.html").read_text()
    assert "Dataset: alpha" in index and 'href="beta/campaigns.html"' in index
    assert result.published[0].mlflow_run_id in index


def test_unknown_report_and_lock_timeout_fail_clearly(tmp_path, fixture_data):
    with pytest.raises(BuildError, match="unknown report.*nope.*known: sales"):
        _build(tmp_path, ["alpha"], [SALES], fixture_data, only=["nope"])
    out = tmp_path / "locked"
    with build_lock(out):
        started = time.perf_counter()
        with pytest.raises(BuildError, match="another build still holds"):
            _build(out, ["alpha"], [SALES], fixture_data, lock_timeout=0.5)
        assert time.perf_counter() - started < 5
    assert not (out / "index.html").exists()


_BUILD_SCRIPT = """
import sys
sys.path.insert(0, {fixtures!r})
from fixture_data import load
from crm_models.reporting import Report, build_reports
report = Report("sales", "10_fixture_sales.py", "Fixture sales", ("transactions",), "")
result = build_reports(["alpha"], out={out!r}, notebooks={fixtures!r}, reports=[report],
                       loader=load, quick=True, progress=False, lock_timeout=120)
print("RUN", result.published[0].mlflow_run_id)
"""


def test_two_concurrent_builds_do_not_corrupt_reports(tmp_path, tracking_store):
    out = tmp_path / "reports"
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(_BUILD_SCRIPT).format(fixtures=str(FIXTURES), out=str(out)))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0], results
    assert sum("waiting for another build" in err for _, err in results) == 1, results
    run_ids = [
        line.split()[1]
        for stdout, _ in results
        for line in stdout.splitlines()
        if line.startswith("RUN")
    ]
    assert len(set(run_ids)) == 2
    manifest = json.loads((out / "alpha" / "manifest.json").read_text())
    assert manifest["reports"][0]["mlflow_run_id"] in run_ids
    html = (out / "alpha" / "sales.html").read_text()
    assert html.rstrip().endswith("</html>")
    assert manifest["reports"][0]["mlflow_run_id"] in html
    assert not list(out.glob(".crm-models-staging-*")) and not list(out.glob(".*.tmp"))
    assert sorted(p.name for p in out.iterdir()) == [
        ".crm-models-build.lock",
        ".crm-models-owned.json",
        "alpha",
        "assets",
        "index.html",
    ]


# --------------------------------------------------------------------------- tracking helper
def test_report_run_refuses_pii_tables(tmp_path, fixture_data):
    import pandas as pd

    run = ReportRun("sales", fixture_data.load("alpha"), output_dir=tmp_path, track=False)
    for column in ["email", "Name", "first_name", "customerName", "phone_number", "postal_address"]:
        with pytest.raises(PIIError, match=column):
            run.table("leak", pd.DataFrame({"customer_id": [1], column: ["x"]}))
    ok = pd.DataFrame({"product_name": ["tea"], "segment_name": ["A"], "revenue": [1.0]})
    check_no_pii(ok)
    run.table("products", ok)
    run.finish()
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["tables"] == ["products"] and saved["status"] == "FINISHED"


def test_report_run_by_hand_logs_to_mlflow(tracking_store, fixture_data):
    import mlflow

    ds = fixture_data.load("beta")
    run = ReportRun("adhoc", ds, params={"dataset": "beta", "as_of": "2024-06-30"})
    run.headline("share", 0.25, label="Share", fmt="{:.0%}")
    run.model("mean", {"mean": 1.5})
    run_id = run.finish()
    assert run_id and run.run_id == run_id
    got = mlflow.MlflowClient(tracking_store).get_run(run_id)
    assert got.data.params["as_of_effective"] == "2024-06-30"
    assert got.data.params["data_fingerprint"] == ds.fingerprint
    assert got.data.metrics["share"] == 0.25
    assert run.headlines[0]["display"] == "25%"
    models = mlflow.MlflowClient(tracking_store).list_artifacts(run_id, "models")
    assert [a.path for a in models] == ["models/mean.pkl"]


def test_parse_params():
    assert parse_params(["horizon=26", "quick=true", "as_of=2024-01-31", "x=none", "s=a b"]) == {
        "horizon": 26,
        "quick": True,
        "as_of": "2024-01-31",
        "x": None,
        "s": "a b",
    }
    with pytest.raises(ValueError):
        parse_params(["novalue"])


# --------------------------------------------------------------------------- the browser
def test_report_renders_in_headless_chromium(built, tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    remote: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            **chromium,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None
                ),
            )
            page.goto((built.out / "alpha" / "sales.html").as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=15_000)
            assert page.locator(".plotly-graph-div").count() == 2
            assert page.locator("h1").first.inner_text() == "Fixture sales"
            page.screenshot(path=str(tmp_path / "sales.png"), full_page=True)
            page.goto(built.index_path.as_uri())
            page.click("text=Fixture campaigns >> nth=-1")
            page.wait_for_load_state()
            assert page.url.endswith("beta/campaigns.html")
            page.screenshot(path=str(tmp_path / "campaigns.png"), full_page=True)
        finally:
            context.close()
    assert problems == []
    assert remote == [], "the reports must work offline"
    assert (tmp_path / "sales.png").stat().st_size > 10_000

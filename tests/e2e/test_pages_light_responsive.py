"""Light pages that read on a phone (issue 17, items 1-3).

Pages load one shared plotly.js (``assets/plotly-<version>.min.js``) instead of embedding it,
work offline, fit a 390 px wide screen (wide things scroll in their own box), open with the
cells tagged ``findings`` and fold each run of ``how-we-know`` cells into a collapsed box.  A
fixture notebook (``fixtures/50_fixture_layout.py``) holds every case; the demo reports are
checked in a real browser too (slow).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from crm_models.reporting import BuildError, Report, build_reports
from crm_models.reporting.ownership import OWNED_FILE
from crm_models.reporting.publish import (
    export_site,
    findings_first,
    lab_css_asset,
    plotly_asset,
    plotly_js,
    shared_assets,
    standalone_html,
)

FIXTURES = Path(__file__).parent / "fixtures"
LAYOUT = Report("layout", "50_fixture_layout.py", "Fixture layout", ("transactions",), "")
SALES = Report("sales", "10_fixture_sales.py", "Fixture sales", ("transactions",), "")
PHONE = {"width": 390, "height": 844}
MB = 1_000_000
# Elements wider than the window that are not inside a box scrolling sideways (JS, run in the
# page): "tag.class (right edge px)" for each.
OFFENDERS_JS = """() => {
  const limit = window.innerWidth + 1;
  const scrolls = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll") return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= limit || scrolls(el)) continue;
    out.push(`${el.tagName.toLowerCase()}.${String(el.className.baseVal ?? el.className)
      .split(" ")[0]} (${Math.round(box.right)} px)`);
  }
  return out;
}"""


def _build(out: Path, fixture_data, reports=(LAYOUT, SALES), **kwargs):
    kwargs.setdefault("loader", fixture_data.load)
    return build_reports(
        ["alpha"],
        out=out,
        notebooks=FIXTURES,
        reports=list(reports),
        quick=True,
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory, tracking_store, fixture_data) -> Path:
    """alpha's layout and sales fixture reports, built once for the module."""
    out = tmp_path_factory.mktemp("light") / "reports"
    _build(out, fixture_data)
    return out


def _offline_page(context, errors: list[str]):
    """A page of ``context`` that may load files only (every other request is aborted and
    reported as an error)."""

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            errors.append(f"network request: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def _wait_for_charts(page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector("
        "'.main-svg')) && document.querySelectorAll('.js-plotly-plot').length > 0",
        timeout=20_000,
    )


# --------------------------------------------------------------------------- no browser
def test_findings_move_under_the_title_in_their_order():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        code("setup"),
        md("# Title"),
        md("## Part"),
        code("chart"),
        md("## Findings", metadata={"tags": ["findings"]}),
        code("say", metadata={"tags": ["findings"]}),
    ]
    order = [c.source for c in findings_first(cells)]
    assert order == ["setup", "# Title", "## Findings", "say", "## Part", "chart"]
    assert [c.source for c in findings_first(cells[2:4])] == ["## Part", "chart"]


def test_pages_link_the_shared_files(site):
    assets = shared_assets()
    assert set(assets) == {plotly_asset(), lab_css_asset()}
    assert re.fullmatch(r"assets/plotly-\d+\.\d+\.\d+\.min\.js", plotly_asset())
    assert assets[plotly_asset()] == plotly_js() and len(plotly_js()) > 3 * MB
    owned = json.loads((site / OWNED_FILE).read_text())["files"]
    for rel, content in assets.items():
        assert (site / rel).read_bytes() == content and rel in owned, rel
    for name in ("layout", "sales"):
        html = (site / "alpha" / f"{name}.html").read_text()
        assert html.count(f'src="../{plotly_asset()}"') == 1, name
        assert html.count(f'href="../{lab_css_asset()}"') == 1, name
        assert "https://" not in "".join(re.findall(r"<(?:script|link)[^>]*>", html)), name
        assert len(html.encode()) < 100_000 and "Plotly.newPlot" in html, name
    assert "<script" not in (site / "index.html").read_text()  # the index stays light


def test_findings_open_the_page_and_how_we_know_runs_are_folded(site):
    html = (site / "alpha" / "layout.html").read_text()
    title = html.index(">Fixture layout report<")
    finding = html.index("FINDING-MARKER")
    assert title < html.index(">Findings<") < finding < html.index('class="plotly-graph-div"')
    boxes = re.findall(r'<details class="how-we-know">(.*?)</details>', html, re.S)
    assert len(boxes) == 2 and html.count("<details") == html.count("</details>") == 2
    assert "How months are counted" in boxes[0] and 'class="plotly-graph-div"' in boxes[0]
    assert "Where the numbers come from" in boxes[1] and "Every month" not in "".join(boxes)
    assert all(b.startswith("<summary>How we know</summary>") for b in boxes)


def test_the_asset_is_written_only_when_missing_or_different(site, tmp_path, fixture_data):
    out = tmp_path / "reports"
    shutil.copytree(site, out, symlinks=True)
    asset = out / plotly_asset()
    before = asset.stat().st_mtime_ns
    _build(out, fixture_data, reports=(SALES,), only=["sales"])
    assert asset.stat().st_mtime_ns == before, "an unchanged asset must not be rewritten"
    asset.write_text("damaged")
    _build(out, fixture_data, reports=(SALES,), only=["sales"])
    assert asset.read_bytes() == plotly_js()


def test_a_foreign_file_where_the_asset_goes_is_kept(tmp_path, fixture_data, tracking_store):
    out = tmp_path / "reports"
    mine = out / plotly_asset()
    mine.parent.mkdir(parents=True)
    mine.write_text("my own plotly build")
    with pytest.raises(BuildError, match=re.escape(plotly_asset())):
        _build(out, fixture_data, reports=(SALES,))
    assert mine.read_text() == "my own plotly build"
    assert not (out / "alpha").exists()


def test_a_dataset_named_like_the_asset_folder_is_refused(tmp_path, fixture_data, tracking_store):
    from dataclasses import replace

    def load(spec):
        return replace(fixture_data.load("alpha"), name="assets")

    with pytest.raises(BuildError, match="'assets' is the folder of the pages' shared files"):
        _build(tmp_path / "reports", fixture_data, reports=(SALES,), loader=load)


def test_mlflow_keeps_a_page_that_renders_alone(site, tracking_store):
    import mlflow

    run_id = json.loads((site / "alpha" / "manifest.json").read_text())["reports"][0]
    client = mlflow.MlflowClient(tracking_store)
    local = Path(client.download_artifacts(run_id["mlflow_run_id"], "layout.html"))
    html = local.read_text()
    assert "../assets/" not in html and plotly_js().decode()[:2000] in html
    assert lab_css_asset() not in html and ".jp-OutputArea" in html
    page = (site / "alpha" / "layout.html").read_text()
    assert standalone_html(page) == html


# --------------------------------------------------------------------------- the browser
def test_exported_site_renders_offline_on_a_phone(site, tmp_path, chromium):
    """The exported site (with its copy of the asset), network off, at 390 px: charts draw,
    no element sticks out of the screen, legends sit below the charts, "How we know" opens
    to full-width charts."""
    from playwright.sync_api import sync_playwright

    exported = tmp_path / "site"
    written = export_site(site, exported)
    assert {exported / rel for rel in shared_assets()} <= set(written)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        try:
            context = browser.new_context(viewport=PHONE)
            page = _offline_page(context, errors)
            page.goto((exported / "alpha" / "layout.html").as_uri())
            _wait_for_charts(page)
            assert page.evaluate("document.querySelectorAll('.js-plotly-plot g.trace').length") > 0
            assert page.evaluate(OFFENDERS_JS) == []
            legends = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')].map("
                "g => g.layout.legend && g.layout.legend.orientation)"
            )
            assert legends and all(o == "h" for o in legends), legends
            # well-formed boxes: two, collapsed, with what follows them outside
            state = page.evaluate(
                """() => [...document.querySelectorAll('details.how-we-know')].map(d => ({
                    open: d.open, summary: d.firstElementChild.tagName,
                    cells: d.querySelectorAll(':scope > .jp-Cell').length}))"""
            )
            assert state == [
                {"open": False, "summary": "SUMMARY", "cells": 2},
                {"open": False, "summary": "SUMMARY", "cells": 1},
            ]
            assert page.evaluate("document.querySelector('footer').closest('details')") is None
            assert page.locator("details.how-we-know .crm-table").count() == 0
            inside = "details.how-we-know .js-plotly-plot"
            page.click("details.how-we-know >> nth=0 >> summary")
            page.wait_for_timeout(300)
            width = page.evaluate(
                f"document.querySelector('{inside} .main-svg').getBoundingClientRect().width"
            )
            box = page.evaluate(
                f"document.querySelector('{inside}').parentElement.getBoundingClientRect().width"
            )
            assert 0 < width <= PHONE["width"] and width == pytest.approx(box, abs=2)
            assert page.evaluate(OFFENDERS_JS) == []
            page.set_viewport_size({"width": 1280, "height": 900})
            page.wait_for_timeout(400)
            assert page.evaluate(
                "document.querySelector('.js-plotly-plot').layout.legend.orientation"
            ) in (None, "v")
            page.goto((exported / "index.html").as_uri())
            page.set_viewport_size(PHONE)
            assert page.evaluate(OFFENDERS_JS) == []
        finally:
            browser.close()
    assert errors == []


@pytest.fixture(scope="module")
def demo_pages(quick_build) -> list[Path]:
    build = quick_build("light_demo", ["demo"])
    pages = sorted((build["out"] / "demo").glob("*.html"))
    assert pages, "no demo page was built"
    return pages


@pytest.mark.slow
def test_demo_pages_are_light(demo_pages):
    sizes = {p.name: p.stat().st_size for p in demo_pages}
    assert all(size < MB for size in sizes.values()), sizes
    for page in demo_pages:
        html = page.read_text()
        assert "window.PlotlyConfig" not in html or f"../{plotly_asset()}" in html, page.name
        findings = html.find("celltag_findings")
        chart = html.find('class="plotly-graph-div"')
        if findings >= 0 and chart >= 0:
            assert findings < chart, f"{page.name}: findings come after the first chart"


@pytest.mark.slow
def test_demo_pages_render_offline_and_fit_a_phone(demo_pages, chromium):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    offenders: dict[str, list[str]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        try:
            page = _offline_page(browser.new_context(viewport=PHONE), errors)
            for path in demo_pages:
                page.goto(path.as_uri())
                if page.locator(".plotly-graph-div").count():
                    _wait_for_charts(page)
                    traces = page.evaluate(
                        "document.querySelectorAll('.js-plotly-plot g.trace, "
                        ".js-plotly-plot g.slice, .js-plotly-plot g.hm').length"
                    )
                    assert traces > 0, f"{path.name}: charts drew no trace"
                for box in page.locator("details.how-we-know > summary").all():
                    box.click()
                page.wait_for_timeout(300)
                found = page.evaluate(OFFENDERS_JS)
                if found:
                    offenders[path.name] = found[:10]
        finally:
            browser.close()
    assert errors == []
    assert offenders == {}

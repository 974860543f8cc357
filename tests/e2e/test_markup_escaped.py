"""Markup in the data is text in every report (GitHub issue 13).

Product names, categories and regions of a small simulated shop are replaced by hostile strings
(``<script>alert(1)</script>``, ``<img src=x onerror=alert(1)>``, a ``javascript:`` Markdown
link); the reports that show those fields are built, and every page must show them escaped:
no raw markup in the HTML, no dialog and no ``img[onerror]`` when a browser opens it.  Fast
checks of the three display paths (``say``, ``show_table``, plotly via ``show``) come first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from html_text import page_markup
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import plotting

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"
HOSTILE = (SCRIPT, IMG, LINK)
# The reports that show product names (baskets), categories and regions (customer base, baskets,
# segment profiles).
REPORTS = ["customer_base", "baskets", "segments_profiles"]


def hostile(values: list[str]) -> dict[str, str]:
    """Each distinct value prefixed by one of the hostile strings, in turn."""
    return {v: f"{HOSTILE[i % len(HOSTILE)]} {v}" for i, v in enumerate(sorted(set(values)))}


# --------------------------------------------------------------------------- display helpers
@pytest.fixture
def shown(monkeypatch) -> list[str]:
    """What plotting displays: HTML as is, Markdown rendered as the report export renders it."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    out: list[str] = []

    def display(obj) -> None:
        kind = type(obj).__name__
        out.append(markdown2html_mistune(obj.data) if kind == "Markdown" else obj.data)

    monkeypatch.setattr(plotting, "_display", display)
    return out


def assert_no_markup(html: str) -> None:
    for raw in ("<script", "<img", "<a ", "<input"):
        assert raw not in html, (raw, html)


def test_say_shows_names_as_text_and_keeps_emphasis(shown):
    plotting.say(
        f"The top product is **{SCRIPT}**, then *{IMG}* and {LINK}; ![x](x.png) "
        f"<https://evil.example> https://evil.example [a]: javascript:alert(1) — $5 and $6."
    )
    (html,) = shown
    assert_no_markup(html)
    assert "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in html
    assert "<em>&lt;img src=x onerror=alert(1)&gt;</em>" in html
    assert "[click](javascript:alert(1))" in html and "https://evil.example" in html
    assert "$5 and $6" in html and "<span" not in html  # no formula either


_ALPHABET = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "[",
        "]",
        "(",
        ")",
        "!",
        ":",
        "/",
        "\\",
        "`",
        "*",
        "_",
        "$",
        "#",
        "-",
        "|",
        " ",
        "\n",
        "a",
        "x",
        "img",
        "script",
        "src=x",
        "onerror=alert(1)",
        "javascript:",
        "http",
        "www.",
        "&lt;",
        "&#60;",
        "- [ ] ",
        "> ",
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_say_never_lets_markup_through(text):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    html = markdown2html_mistune(plotting.markdown_text(text))
    html = re.sub(r'<a class="anchor-link" href="#[^"<>]*">', "", html)  # headings' own anchors
    tags = set(re.findall(r"<\s*([a-zA-Z][\w-]*)", html))
    allowed = {
        "p",
        "strong",
        "em",
        "code",
        "pre",
        "ul",
        "ol",
        "li",
        "br",
        "hr",
        "del",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "dl",
        "dt",
        "dd",
    }
    allowed |= {f"h{i}" for i in range(1, 7)}
    assert tags <= allowed, (text, html)


def test_show_table_escapes_cells_headers_caption_and_formatter_output(shown):
    frame = pd.DataFrame(
        {
            "product": [SCRIPT, IMG],
            "basket": [(SCRIPT, IMG), frozenset([IMG])],  # objects, not strings
            "region": [IMG, SCRIPT],
            "revenue": [1.5, 2.0],
        },
        index=pd.Index([IMG, "b"], name=SCRIPT),
    )
    plotting.show_table(
        frame,
        caption=f"Top products {SCRIPT}",
        fmt={"product": "{}", "region": lambda v: f"in {v}", "revenue": plotting.money},
    )
    wide = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([(SCRIPT, IMG), (IMG, "a")]))
    plotting.show_table(wide, fmt={(SCRIPT, IMG): "{:.1f}"})
    for html in shown:
        assert_no_markup(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown[0] and "in &lt;img" in shown[0]
    assert shown[0].count("&lt;img src=x onerror=alert(1)&gt;") >= 4


def test_plotly_figures_carry_names_as_escaped_json(shown):
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[SCRIPT, IMG], y=[1, 2], name=IMG, text=[SCRIPT, IMG]))
    fig.update_layout(title=f"Revenue by category {SCRIPT}")
    plotting.show(fig)
    (html,) = shown
    assert "</script><script>alert" not in html and "<img src=x" not in html
    assert "\\u003cscript\\u003ealert(1)" in html


# --------------------------------------------------------------------------- built reports
@pytest.fixture(scope="module")
def hostile_shop(tmp_path_factory) -> Path:
    """The simulated retailer (3,000 customers) with hostile names, categories and regions."""
    from crm_models.data.simulate import simulate_retailer

    shop = simulate_retailer(n_customers=3_000, seed=13)
    names = hostile(shop.products["name"].astype(str).tolist())
    categories = hostile(shop.products["category"].astype(str).tolist())
    regions = hostile(shop.customers["region"].astype(str).tolist())
    shop.products["name"] = shop.products["name"].astype(str).map(names)
    for table in (shop.products, shop.transactions):
        table["category"] = table["category"].astype(str).map(categories)
    for table in (shop.customers, shop.transactions):
        table["region"] = table["region"].astype(str).map(regions)
    return shop.write(tmp_path_factory.mktemp("markup") / "hostile_shop")


@pytest.fixture(scope="module")
def pages(quick_build, hostile_shop) -> list[Path]:
    build = quick_build("markup_reports", [str(hostile_shop)], only=REPORTS)
    found = sorted(build["out"].rglob("*.html"))
    built = {p.stem for p in found}
    assert set(REPORTS) <= built, f"reports not built: {set(REPORTS) - built}"
    return found


@pytest.mark.slow
def test_hostile_values_reach_the_pages_escaped(pages):
    """The hostile names are on the pages (so the test means something), only as text."""
    seen = {SCRIPT: 0, IMG: 0}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for raw in ("<script>alert", "<img src=x onerror"):
            assert raw not in page_markup(html), f"{page.name}: raw {raw!r} in the markup"
        # inline scripts (plotly figures) carry data as JSON with < and / escaped
        assert "<script>alert" not in html and "<img src=x onerror" not in html, page.name
        assert not re.search(r'href="javascript:', html, re.I), page.name
        seen[SCRIPT] += html.count("&lt;script&gt;alert(1)&lt;/script&gt;")
        seen[IMG] += html.count("&lt;img src=x onerror=alert(1)&gt;")
    assert all(seen.values()), f"hostile values never shown: {seen}"


@pytest.mark.slow
def test_pages_run_no_injected_markup_in_chromium(pages, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    found: dict[str, int] = {}
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), **chromium)
        try:
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
            for path in pages:
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_timeout(300)  # plotly draws after load
                found[path.name] = page.evaluate(
                    "document.querySelectorAll('img[onerror], [onerror], "
                    'a[href^="javascript:" i]\').length'
                )
        finally:
            context.close()
    assert not dialogs, dialogs
    assert not any(found.values()), found

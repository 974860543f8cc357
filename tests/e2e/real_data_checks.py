"""Shared checks of reports built from the real public datasets (``../shared/data``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from html_text import page_markup, page_text

# A card that counts nothing because a model collapsed ("0 valuable customers are at risk",
# "£0 of potential value") is a wrong number shown with confidence.
COLLAPSED = re.compile(r"\b0 (valuable )?customers (are )?at risk|\D0 of potential value")


def reports_of(out: Path, dataset: str) -> dict[str, dict]:
    """The manifest entries of one dataset's build, by report slug."""
    manifest = json.loads((out / dataset / "manifest.json").read_text())
    return {r["slug"]: r for r in manifest["reports"]}


def assert_published(out: Path, dataset: str, expected: set[str]) -> dict[str, dict]:
    """Exactly ``expected`` reports are published (the rest not applicable, none failed), each
    page without error output, code or a collapsed-model card; returns the manifest entries."""
    entries = reports_of(out, dataset)
    status = {slug: e["status"] for slug, e in entries.items()}
    assert {s for s, st in status.items() if st == "ok"} == expected, status
    assert "failed" not in status.values(), status
    for slug in expected:
        html = (out / dataset / f"{slug}.html").read_text()
        body, text = page_markup(html), page_text(html)
        assert "Traceback" not in body and "Error:" not in body, slug
        assert "import " not in text and "run.headline" not in text, slug
        assert not COLLAPSED.search(text), (slug, COLLAPSED.search(text))
    return entries

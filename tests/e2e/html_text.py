"""What a reader sees of an exported report page, for the end-to-end tests."""

from __future__ import annotations

import re

_BLOCKS = re.compile(r"<(script|style)\b.*?</\1>", re.S)


def page_markup(html: str) -> str:
    """The page without inline scripts and styles (plotly.js and CSS are embedded there)."""
    return _BLOCKS.sub("", html)


def page_text(html: str) -> str:
    """The visible text of the page: markup removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_markup(html)))

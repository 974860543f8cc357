"""House style and display helpers for report notebooks.

Notebooks show everything through three calls, so the exported HTML reads cleanly and works
offline:

- :func:`show` — a plotly figure as HTML drawn by the page's shared plotly.js (the report
  template loads ``assets/plotly-<version>.min.js`` once per page, so pages stay small; the
  figure's plotly JSON rides along for JupyterLab when a notebook is run by hand) or a
  matplotlib figure as a PNG;
- :func:`show_table` — a formatted HTML table without index clutter;
- :func:`say` — a sentence in Markdown built from numbers (``say(f"Revenue grew {pct(g)}.")``).

Importing the module sets the plotly template (``"plotly_white+crm"``) and matplotlib style.
Money is shown in the report's currency: :func:`use_currency` (called by ``start_report`` with
the dataset's ISO 4217 code) sets it for the kernel, as the template is set, so
:func:`money` and :func:`money_title` follow it without every chart and sentence passing it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from html import escape as html_escape
from typing import Any

from crm_models.data.currency import CURRENCIES, check_currency
from crm_models.data.privacy import check_no_personal_data

__all__ = [
    "COLORS",
    "apply_style",
    "count",
    "current_currency",
    "markdown_text",
    "money",
    "money_title",
    "pct",
    "say",
    "show",
    "show_table",
    "use_currency",
]

# A calm, colour-blind-friendly palette (first colour = "our" series, grey = context).
COLORS = [
    "#1f5f8b",  # deep blue
    "#e07a1f",  # orange
    "#2a9d8f",  # teal
    "#c2410c",  # brick
    "#6b5b95",  # violet
    "#8ab17d",  # sage
    "#d4a017",  # mustard
    "#7f8c8d",  # grey
]
FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"

_state: dict[str, Any] = {"styled": False, "currency": None}
_CURRENT: Any = object()  # money()'s default: the currency set by use_currency()


# --------------------------------------------------------------------------- number formats
def use_currency(currency: str | None) -> None:
    """Show money in ``currency`` (an ISO 4217 code such as ``"GBP"``) from now on in this
    process: the report's dataset currency.  ``None`` (a dataset that does not state its
    currency) shows amounts without a sign."""
    _state["currency"] = None if currency is None else check_currency(currency, "currency")


def current_currency() -> str | None:
    """The currency money is shown in (:func:`use_currency`); ``None`` until one is set."""
    return _state["currency"]


def money(
    value: float, decimals: int = 0, currency: str | None = _CURRENT, signed: bool = False
) -> str:
    """An amount of money in the report's currency (:func:`use_currency`) or in ``currency``:
    "£1,234", "-€5.50", "1,234 CHF" (codes without a sign of their own come after the
    number), "1,234" when the currency is not known; ``signed`` adds "+" to gains."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    code = _state["currency"] if currency is _CURRENT else currency
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    number = f"{abs(value):,.{decimals}f}"
    if code is None:
        return f"{sign}{number}"
    symbol = CURRENCIES[check_currency(code, "currency")]
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"


def money_title(text: str) -> str:
    """An axis title or column heading of amounts with the report's currency:
    ``money_title("revenue") == "revenue (£)"`` ("revenue (CHF)"; "revenue" when the currency
    is not known)."""
    code = _state["currency"]
    return text if code is None else f"{text} ({CURRENCIES[code] or code})"


def pct(value: float, decimals: int = 1) -> str:
    """A share as a percentage: ``pct(0.1234) == "12.3%"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{decimals}%}"


def count(value: float) -> str:
    """A whole number with thousands separators: ``count(12345) == "12,345"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f}"


# --------------------------------------------------------------------------- style
def apply_style() -> None:
    """Register the ``crm`` plotly template, make it the default, and style matplotlib."""
    if _state["styled"]:
        return
    import plotly.graph_objects as go
    import plotly.io as pio

    pio.templates["crm"] = go.layout.Template(
        layout=dict(
            colorway=COLORS,
            font=dict(family=FONT, size=13, color="#1f2933"),
            title=dict(font=dict(size=17), x=0.0, xanchor="left"),
            margin=dict(l=60, r=30, t=60, b=50),
            hoverlabel=dict(font=dict(family=FONT)),
            separators=".,",
        )
    )
    pio.templates.default = "plotly_white+crm"

    try:
        import matplotlib as mpl
    except ImportError:  # pragma: no cover
        pass
    else:
        mpl.rcParams.update(
            {
                "axes.prop_cycle": mpl.cycler(color=COLORS),
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.grid": True,
                "grid.alpha": 0.3,
                "figure.figsize": (8, 4.5),
                "figure.dpi": 100,
                "savefig.bbox": "tight",
                "font.size": 11,
            }
        )
    _state["styled"] = True


# --------------------------------------------------------------------------- display
def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


class _PlotlyOutput:
    """A plotly figure's display output: ``text/html`` without plotly.js (the exported page
    loads the shared copy) plus plotly's own mimetype, which JupyterLab's plotly renderer draws
    when an analyst runs the notebook by hand (the HTML export keeps only the HTML)."""

    def __init__(self, html: str, figure: dict[str, Any]) -> None:
        self.data = html
        self.figure = figure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"application/vnd.plotly.v1+json": self.figure, "text/html": self.data}


PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def show(fig: Any, *, height: int | None = None) -> None:
    """Display a figure so it survives the HTML export.

    Plotly figures become HTML output without plotly.js (the report page loads one shared copy,
    see :mod:`crm_models.reporting.publish`), responsive to the page width.  Matplotlib figures
    are shown as PNG and closed.
    """
    if hasattr(fig, "to_html") and hasattr(fig, "layout"):  # plotly
        import json

        if height is not None:
            fig.update_layout(height=height)
        html = fig.to_html(include_plotlyjs=False, full_html=False, config=PLOTLY_CONFIG)
        figure = {**json.loads(fig.to_json()), "config": PLOTLY_CONFIG}
        _display(_PlotlyOutput(html, figure))
        return
    if hasattr(fig, "savefig"):  # matplotlib Figure
        import matplotlib.pyplot as plt

        _display(fig)
        plt.close(fig)
        return
    if hasattr(fig, "get_figure"):  # matplotlib Axes
        show(fig.get_figure())
        return
    raise TypeError(f"show() takes a plotly or matplotlib figure, got {type(fig).__name__}")


def period_bars(
    frame: Any, series: Mapping[str, str], title: str, yaxis_title: str = "", stacked: bool = True
) -> Any:
    """A plotly bar chart of per-period columns (``{column: legend label}``), stacked by default.

    The index (periods or dates) becomes the category axis, so month labels never turn into a
    date axis with gaps.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    x = [str(i) for i in frame.index]
    for i, (column, label) in enumerate(series.items()):
        fig.add_bar(x=x, y=frame[column], name=label, marker_color=COLORS[i % len(COLORS)])
    fig.update_layout(barmode="stack" if stacked else "group", title=title, yaxis_title=yaxis_title)
    return fig


def _as_text(value: Any) -> Any:
    """A cell value Styler can escape: strings, numbers, dates and missing values as they
    are, anything else (tuples or sets of names, objects) as its text."""
    import numbers

    import pandas as pd

    if value is None or isinstance(value, (str, numbers.Number, pd.Timestamp, pd.Period)):
        return value
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return value
    return str(value)


def _escaped(formatter: str | Callable[[Any], Any] | None) -> Callable[[Any], str]:
    """A Styler formatter whose output is HTML-escaped (a format string, a callable or None
    for the plain text of the value)."""
    if isinstance(formatter, str):
        apply: Callable[[Any], Any] = formatter.format
    elif formatter is None:
        apply = str
    else:
        apply = formatter

    def run(value: Any) -> str:
        return html_escape(str(apply(value)))

    return run


def _auto_format(dtype: Any) -> str | None:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        return "{:,.0f}"
    if pd.api.types.is_float_dtype(dtype):
        return "{:,.2f}"
    return None


def show_table(
    df: Any,
    caption: str | None = None,
    fmt: str | Mapping[str, str | Callable[[Any], str]] | None = None,
    max_rows: int = 50,
) -> None:
    """Display a DataFrame (or Series) as a clean HTML table.

    A default ``RangeIndex`` is dropped; a meaningful index becomes ordinary columns.  Numbers
    get thousands separators (floats two decimals); ``fmt`` is one format string for every
    numeric column or a ``{column: format string or callable}`` mapping, e.g.
    ``fmt={"revenue": money, "share": pct}``.  Only the first ``max_rows`` rows are shown.
    Personal data is refused (:func:`crm_models.data.privacy.check_no_personal_data`): columns named
    like names, e-mails, phones, addresses, birth dates ..., or text values like e-mail
    addresses, phone, card or account numbers.
    """
    import pandas as pd
    from IPython.display import HTML

    if isinstance(df, pd.Series):
        df = df.to_frame()
    check_no_personal_data(df, f"table {caption!r}" if caption else "table")
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    extra = len(df) - max_rows
    df = df.head(max_rows).reset_index(drop=True)

    formats: dict[Any, Any] = {}
    for col in df.columns:
        auto = _auto_format(df[col].dtype)
        if isinstance(fmt, str) and auto is not None:
            formats[col] = fmt
        elif auto is not None:
            formats[col] = auto
    if isinstance(fmt, Mapping):
        formats.update({k: v for k, v in fmt.items() if k in df.columns})

    # Data is text: every cell, header and the caption is HTML-escaped.  Styler's own escaping
    # covers only str values seen *before* a formatter, so formatters' output is escaped here,
    # and other objects (tuples of product names, sets) are made text first.
    plain = [c for c in df.columns if c not in formats]
    for col in plain:
        if df[col].dtype == object:
            df[col] = df[col].map(_as_text)
    styler = df.style.hide(axis="index").format(None, na_rep="–", escape="html")
    if formats:
        escaped = {c: _escaped(f) for c, f in formats.items()}
        styler = styler.format(escaped, subset=list(formats), na_rep="–")
    styler = styler.format_index(_escaped(None), axis=1)
    if caption:
        styler = styler.set_caption(html_escape(str(caption)))
    html = styler.to_html(exclude_styles=True)
    if extra > 0:
        html += f'<p class="crm-table-note">… and {extra:,} more rows.</p>'
    _display(HTML(f'<div class="crm-table">{html}</div>'))


def bullets(lines: Iterable[str]) -> str:
    """Lines as a Markdown bullet list (for :func:`say`)."""
    return "\n".join(f"- {line}" for line in lines)


def say(text: str) -> None:
    """Display a Markdown sentence (headline text built from numbers and names).

    Everything in ``text`` is shown as text: Markdown emphasis (``**bold**``, ``*italic*``),
    headings, lists and code spans work, but HTML tags, entities, links, images and bare URLs
    do not, so a product, category or region named ``<script>...`` or ``[x](javascript:...)``
    reads literally (see :func:`markdown_text`).  Dollar signs are escaped so that two amounts
    in one sentence never turn into a formula.
    """
    from IPython.display import Markdown

    _display(Markdown(markdown_text(text)))


_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"}
_MARKUP_RE = re.compile(r"[&<>\[\]]|:(?=//)|(?<!\\)\$")


def markdown_text(text: str) -> str:
    """``text`` made safe for a Markdown output: ``&``, ``<``, ``>``, ``[``, ``]`` become
    character references (literal in Markdown: no raw HTML, links or images), ``://`` loses
    its colon's meaning (no bare-URL links) and ``$`` is escaped (no formulas); emphasis,
    headings and lists are kept.  Inside code spans the references show as written."""

    def swap(match: re.Match[str]) -> str:
        char = match.group()
        return "&#58;" if char == ":" else "\\$" if char == "$" else _MARKUP[char]

    return _MARKUP_RE.sub(swap, str(text))


apply_style()

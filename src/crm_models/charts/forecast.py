"""Charts, tables and sentences of the "Sales forecast" report (presentation layer).

Every function takes pandas objects and plain numbers or words and returns a plotly figure or
text, or shows a table through :mod:`crm_models.plotting`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import COLORS, bullets, count, pct, show, show_table
from crm_models.units import period_name

__all__ = [
    "bottom_up_sentence",
    "bullets",
    "comparison_chart",
    "findings",
    "forecast_chart",
    "measure_words",
    "notes_text",
    "period_label",
    "period_name",
    "show_backtest",
    "show_comparison",
    "show_forecast_table",
    "show_segments",
]

INK = "#1f2933"
INTERVAL_NAMES = {
    "mean": "forecast",
    "lower_80": "80 % low",
    "upper_80": "80 % high",
    "lower_95": "95 % low",
    "upper_95": "95 % high",
}


def measure_words(measure: str) -> str:
    """What a measure is called for readers ("net revenue", "orders", "active customers")."""
    return {"revenue": "net revenue", "orders": "orders", "customers": "active customers"}[measure]


def period_label(p: pd.Period, freq: str) -> str:
    """A period in words: "July 2025", "the week of 07 July 2025", or "2025Q3"."""
    if freq == "M":
        return p.strftime("%B %Y")
    if freq == "W":
        return f"the week of {p.start_time:%d %B %Y}"
    return str(p)


def _band(fig: go.Figure, future: pd.DataFrame, level: int, alpha: float) -> None:
    x = list(future.index.to_timestamp())
    fig.add_scatter(
        x=x + x[::-1],
        y=list(future[f"upper_{level}"]) + list(future[f"lower_{level}"])[::-1],
        fill="toself",
        fillcolor=f"rgba(31,95,139,{alpha})",
        line_width=0,
        name=f"{level} % range",
        hoverinfo="skip",
    )


def forecast_chart(
    history: pd.Series,
    future: pd.DataFrame,
    backtest_rows: pd.DataFrame,
    title: str,
    yaxis_title: str,
) -> go.Figure:
    """History, the backtest forecasts made at earlier origins (dotted), and the forecast ahead
    with its 80 % and 95 % bands.  ``future`` has ``mean`` and the interval columns per period;
    ``backtest_rows`` one row per ``origin`` and ``period`` with its ``mean``."""
    fig = go.Figure()
    _band(fig, future, 95, 0.12)
    _band(fig, future, 80, 0.25)
    fig.add_scatter(x=history.index.to_timestamp(), y=history.values, name="actual", line_color=INK)
    for i, (_origin, grp) in enumerate(backtest_rows.groupby("origin", sort=True)):
        fig.add_scatter(
            x=pd.PeriodIndex(grp["period"]).to_timestamp(),
            y=grp["mean"],
            mode="lines",
            line=dict(dash="dot", color=COLORS[1]),
            name="forecasts of the past",
            showlegend=i == 0,
        )
    fig.add_scatter(
        x=future.index.to_timestamp(),
        y=future["mean"],
        name="forecast",
        line=dict(color=COLORS[0], width=3),
    )
    fig.update_layout(title=title, yaxis_title=yaxis_title, hovermode="x unified")
    return fig


def _signed_pct(v: float) -> str:
    return pct(v) if v < 0 else "+" + pct(v)


def show_backtest(metrics: pd.DataFrame, labels: Mapping[str, str], caption: str) -> None:
    """Show the backtest scores of every model (rows of ``metrics``, named by ``labels``, in the
    order of their choice score: lower is better)."""
    table = metrics.copy()
    table.insert(0, "method", [labels.get(m, m) for m in table.index])
    table = table.rename_axis("model").reset_index()[
        [
            "method",
            "choice_score",
            "mase",
            "smape",
            "bias_pct",
            "coverage_80",
            "coverage_95",
            "width_80",
            "windows",
        ]
    ]
    table.columns = [
        "method",
        "score",
        "MASE",
        "sMAPE",
        "bias",
        "80 % coverage",
        "95 % coverage",
        "80 % width",
        "tests",
    ]
    show_table(
        table,
        caption=caption,
        fmt={
            "score": "{:.2f}",
            "MASE": "{:.2f}",
            "sMAPE": pct,
            "bias": _signed_pct,
            "80 % coverage": lambda v: pct(v, 0),
            "95 % coverage": lambda v: pct(v, 0),
            "80 % width": lambda v: pct(v, 0),
            "tests": "{:.0f}",
        },
    )


def show_forecast_table(
    forecast: pd.DataFrame, freq: str, caption: str, fmt_value: Callable[[Any], str]
) -> None:
    """Show the forecast and its 80 % / 95 % ranges, one row per period named in words."""
    ahead = forecast.copy()
    ahead.index = [period_label(p, freq) for p in ahead.index]
    show_table(
        ahead.rename_axis(period_name(freq)).rename(columns=INTERVAL_NAMES),
        caption=caption,
        fmt={c: fmt_value for c in INTERVAL_NAMES.values()},
    )


def _comparison_columns(series_model: str) -> dict[str, str]:
    return {
        "series_model": f"time series ({series_model})",
        "bottom_up": "bottom-up",
        "combination": "combination",
        "bottom_up_existing": "… from existing customers",
        "bottom_up_new": "… from new customers",
        "new_customers": "new customers expected",
    }


def comparison_chart(
    history: pd.Series, comparison: pd.DataFrame, series_model: str, yaxis_title: str
) -> go.Figure:
    """History and the time-series, bottom-up and combined forecasts ahead."""
    cols = _comparison_columns(series_model)
    fig = go.Figure()
    fig.add_scatter(x=history.index.to_timestamp(), y=history.values, name="actual", line_color=INK)
    for i, (col, name) in enumerate(list(cols.items())[:3]):
        fig.add_scatter(
            x=comparison.index.to_timestamp(),
            y=comparison[col],
            name=name,
            line=dict(color=COLORS[i], dash=None if i == 0 else "dash"),
        )
    fig.update_layout(
        title="Time-series, bottom-up and combined forecasts", yaxis_title=yaxis_title
    )
    return fig


def show_comparison(
    history: pd.Series,
    comparison: pd.DataFrame,
    series_model: str,
    freq: str,
    yaxis_title: str,
    fmt_value: Callable[[Any], str],
) -> None:
    """Show the time-series and bottom-up forecasts side by side: a table, then a chart."""
    cols = _comparison_columns(series_model)
    comp = comparison.copy()
    comp.index = [period_label(p, freq) for p in comp.index]
    show_table(
        comp.rename(columns=cols).rename_axis(period_name(freq)),
        caption="Time-series and bottom-up forecasts side by side",
        fmt={
            **{v: fmt_value for k, v in cols.items() if k != "new_customers"},
            cols["new_customers"]: count,
        },
    )
    show(comparison_chart(history, comparison, series_model, yaxis_title))


def bottom_up_model_text(choice: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Which customer model the bottom-up forecast used, and why (a ``value_model_choice``;
    ``labels``: model names)."""
    label = labels[choice["model_chosen"]]
    why = choice.get("choice_rule")
    return f"Existing customers' purchases come from the **{label}** model" + (
        f" ({why})." if why else "."
    )


def bottom_up_sentence(cmp: Mapping[str, Any], period: str) -> str:
    """The verdict on bottom-up against time series in words (``cmp`` from
    ``forecast.compare_bottom_up``; ``period``: its first period in words)."""
    better, gap = cmp["better"], cmp["gap"]
    text = (
        f"On the past tests the **{better}** forecast was more accurate "
        f"(MASE {cmp['bottom_up_mase']:.2f} bottom-up vs {cmp['series_mase']:.2f} time series). "
    )
    if abs(gap) > 0.05:
        text += (
            f"For {period} they differ by {pct(abs(gap))}: the "
            f"bottom-up forecast is {'higher' if gap > 0 else 'lower'}. "
            "The time-series forecast follows the recent run of sales; the bottom-up forecast "
            "follows the customers: how many are still buying, how often and how much, and how "
            "many new ones arrive. "
        )
        if better == "bottom-up":
            text += "The customer history has been the better guide here, so trust the bottom-up figure more."
        else:
            text += "The sales history has been the better guide here, so trust the time-series figure more."
    else:
        text += (
            "Both approaches agree within 5 % for the next period, which strengthens the forecast."
        )
    if cmp["no_new_customers"]:
        text += (
            " No new customers joined in the recent history (the data follow one group of "
            "customers acquired together), so the bottom-up forecast comes entirely from "
            "existing customers — the situation a sales-history model cannot see coming."
        )
    return text


def show_segments(
    seg: pd.DataFrame, by: str, freq: str, horizon: int, fmt_value: Callable[[Any], str]
) -> None:
    """Show the per-level forecasts of ``forecast.segment_forecasts``."""
    period = period_name(freq)
    shown = seg.drop(columns=["note"]).rename(
        columns={
            "model": "method",
            "mase": "MASE",
            "seasonal_naive_mase": "MASE of same period last year",
            "last_period": f"last full {period}",
            "next_period": f"next {period}",
            "lower_80": "80 % low",
            "upper_80": "80 % high",
            "horizon_total": f"next {horizon} {period}s",
        }
    )
    money_cols = [f"last full {period}", f"next {period}", "80 % low", "80 % high"]
    show_table(
        shown,
        caption=f"Forecast by {by}: next {period} ({seg.attrs['next_period']}) and range",
        fmt={
            "MASE": "{:.2f}",
            "MASE of same period last year": "{:.2f}",
            **{c: fmt_value for c in [*money_cols, f"next {horizon} {period}s"]},
        },
    )


def notes_text(notes: Iterable[str]) -> str:
    """Notes as Markdown bullets, each starting with a capital and ending with a full stop."""
    return "\n".join(
        f"- {n[0].upper() + n[1:]}." if not n.endswith(".") else f"- {n}" for n in notes
    )


# --------------------------------------------------------------------------- findings
def _change(now: float, before: float) -> tuple[str, str]:
    """ "up 12.3%" / "down 4.0%" from ``before`` to ``now`` (or "the same"), and what it means
    for targets."""
    change = now / before - 1 if before else float("inf")
    if round(change, 3) == 0:
        return "the same", "keep targets where they are"
    if change > 0:
        return f"up {pct(change)}", "set targets and stock above that level"
    return f"down {pct(-change)}", "review targets and stock set on that level"


def _accuracy_bullet(
    chosen: Mapping[str, float],
    yardstick: Mapping[str, float] | None,
    tests: int,
    horizon: int,
    freq: str,
) -> str:
    """How far off the method's tests on the past were, against repeating last year."""
    text = (
        f"**How far to trust it**: in {tests} tests on the past (forecasts of {horizon} "
        f"{period_name(freq)}s made at earlier dates and checked against what really happened) "
        f"it was off by {pct(chosen['smape'])} on average"
    )
    if yardstick is not None:
        text += f", against {pct(yardstick['smape'])} for simply repeating last year"
    text += f"; the 8-in-10 range held the real figure {pct(chosen['coverage_80'], 0)} of the time."
    if yardstick is not None and yardstick["smape"] < chosen["smape"]:
        return text + " Repeating last year was closer on average: treat the forecast with care."
    return text + " Plan with the range, not only the single figure."


def findings(
    forecast: pd.DataFrame,
    history: pd.Series,
    freq: str,
    what: str,
    fmt_value: Callable[[Any], str],
    last_year: tuple[pd.Period, float] | None,
    chosen: Mapping[str, float],
    yardstick: Mapping[str, float] | None,
    tests: int,
    partial: Mapping[str, Any] | None = None,
) -> str:
    """The report's findings and what to do, as 3-5 Markdown bullets for a marketing reader.

    ``forecast``: ``mean``, ``lower_80`` and ``upper_80`` per future period; ``history``: the
    full periods so far; ``what``: the measure in words; ``last_year``: the same period a year
    before the first forecast one and its value, or None; ``chosen`` and ``yardstick``: the
    backtest scores (``smape``, ``coverage_80``) of the method used and of repeating last year
    (None when not scored); ``tests``: the backtest forecasts; ``partial``: the period under
    way (``ForecastResult.to_dict()["partial_period"]``), or None.
    """
    nxt, period = forecast.iloc[0], forecast.index[0]
    name = period_name(freq)
    label = period_label(period, freq)
    lines = [
        f"**Plan on {fmt_value(nxt['mean'])} of {what} in {label}**: most likely (8 times in "
        f"10) between {fmt_value(nxt['lower_80'])} and {fmt_value(nxt['upper_80'])}. Plan stock, "
        f"staff and budgets on the forecast and keep a plan for the low end."
    ]
    recent = (
        f"the last full {name}, {period_label(history.index[-1], freq)}, brought "
        f"{fmt_value(history.iloc[-1])}"
    )
    if last_year is not None:
        change, action = _change(nxt["mean"], last_year[1])
        lines.append(
            f"**{change.capitalize()} on the same {name} last year** "
            f"({period_label(last_year[0], freq)}: {fmt_value(last_year[1])}): {action}; "
            f"{recent}."
        )
    else:
        change, action = _change(nxt["mean"], history.iloc[-1])
        lines.append(
            f"**{change.capitalize()} on the last full {name}**: {recent}; {action} (the "
            "history is too short to compare with last year)."
        )
    if len(forecast) > 1:
        lines.append(
            f"**{fmt_value(forecast['mean'].sum())} over the next {len(forecast)} {name}s** "
            f"({label} to {period_label(forecast.index[-1], freq)}), from "
            f"{fmt_value(nxt['mean'])} to {fmt_value(forecast['mean'].iloc[-1])} a {name}: use "
            "it for the plans and budgets of that time."
        )
    lines.append(_accuracy_bullet(chosen, yardstick, tests, len(forecast), freq))
    if partial is not None:
        lines.append(
            f"**{period_label(pd.Period(partial['period'], freq=freq), freq)} has started**: "
            f"{fmt_value(partial['booked'])} is booked in "
            f"{partial['days_booked']} of {partial['days_in_period']} days; it should end at "
            f"{fmt_value(partial['total'])}. Track it against that figure."
        )
    return "\n".join(f"- {line}" for line in lines)

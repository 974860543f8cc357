"""Charts and tables of the "Customer base and revenue" report (presentation layer).

Every function takes pandas objects and plain numbers and returns a plotly figure, or shows a
chart or table through :mod:`crm_models.plotting`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import (
    COLORS,
    bullets,
    count,
    money,
    money_title,
    pct,
    period_bars,
    show,
    show_table,
)
from crm_models.units import period_name

__all__ = [
    "NLV_LABELS",
    "activity_bars",
    "bullets",
    "change_waterfall",
    "dimension_lines",
    "findings",
    "lorenz_curve",
    "new_vs_returning_bars",
    "nlv_chart",
    "period_name",
    "revenue_bars",
    "show_concentration",
    "show_dimension",
    "show_lifecycle",
    "show_nlv_table",
]

GREY = "#bbbbbb"

NLV_LABELS = {
    "revenue": "R: net revenue",
    "active_customers": "N: active customers",
    "orders_per_customer": "L: orders per customer",
    "avg_order_value": "V: average order value",
}


def activity_bars(activity: pd.DataFrame, period: str) -> go.Figure:
    """Returning and new active customers per period, stacked (a ``base_activity`` table)."""
    return period_bars(
        activity,
        {"returning_customers": "returning", "new_customers": "new"},
        title=f"Active customers per {period}",
        yaxis_title="customers",
    )


def revenue_bars(nlv: pd.DataFrame, period: str) -> go.Figure:
    """Net revenue per period, incomplete periods overlaid in grey (an ``nlv_table``)."""
    fig = go.Figure()
    fig.add_bar(
        x=nlv.index.astype(str), y=nlv["revenue"], name="net revenue", marker_color=COLORS[0]
    )
    partial = nlv.loc[nlv["partial"]]
    fig.add_bar(
        x=partial.index.astype(str),
        y=partial["revenue"],
        name="incomplete period",
        marker_color=GREY,
    )
    fig.update_layout(
        title=f"Net revenue per {period}", yaxis_title=money_title("revenue"), barmode="overlay"
    )
    return fig


def dimension_lines(by: pd.DataFrame, levels: list, dimension: str, period: str) -> go.Figure:
    """One line of net revenue per period for each of ``levels`` (columns of ``by``)."""
    fig = go.Figure()
    for i, level in enumerate(levels):
        fig.add_scatter(
            x=by.index.astype(str),
            y=by[level],
            name=str(level),
            mode="lines",
            line_color=COLORS[i % len(COLORS)],
        )
    fig.update_layout(
        title=f"Net revenue per {period} by {dimension}", yaxis_title=money_title("revenue")
    )
    return fig


def show_dimension(by: pd.DataFrame, shares: pd.DataFrame, dimension: str, period: str) -> None:
    """Show revenue over time of the 8 largest levels of ``dimension`` and the table of the
    10 largest (``revenue_by`` and ``revenue_share_by`` tables)."""
    show(dimension_lines(by, list(shares.index[:8]), dimension, period))
    show_table(
        shares.head(10),
        caption=f"Revenue by {dimension}",
        fmt={"revenue": money, "share": pct, "customers": count},
    )


def lorenz_curve(lorenz: pd.DataFrame, gini: float, max_points: int = 2000) -> go.Figure:
    """The Lorenz curve of customer revenue against the diagonal of perfect equality (thinned
    to about ``max_points`` points)."""
    step = max(1, len(lorenz) // max_points)
    fig = go.Figure()
    fig.add_scatter(
        x=lorenz["customer_share"].iloc[::step],
        y=lorenz["revenue_share"].iloc[::step],
        name="customers",
        line_color=COLORS[0],
        fill="tozeroy",
    )
    fig.add_scatter(
        x=[0, 1], y=[0, 1], name="perfect equality", line=dict(dash="dash", color="#888888")
    )
    fig.update_layout(
        title=f"Lorenz curve of customer revenue (Gini {gini:.2f})",
        xaxis_title="share of customers (smallest first)",
        yaxis_title="share of revenue",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
    )
    return fig


def show_concentration(lorenz: pd.DataFrame, gini: float, top: Mapping[float, float]) -> None:
    """Show the Lorenz curve and the table of revenue shares of the top customers
    (``top``: {fraction of customers: share of revenue})."""
    show(lorenz_curve(lorenz, gini))
    table = pd.DataFrame(
        {"share of revenue": list(top.values())},
        index=pd.Index([f"top {f:.0%} of customers" for f in top], name=""),
    )
    show_table(table, caption="Concentration of net revenue", fmt={"share of revenue": pct})


def new_vs_returning_bars(nvr: pd.DataFrame, period: str) -> go.Figure:
    """Revenue from returning and new customers per period, stacked (``new_vs_returning``)."""
    return period_bars(
        nvr,
        {"returning_revenue": "returning customers", "new_revenue": "new customers"},
        title=f"Revenue from new and returning customers per {period}",
        yaxis_title=money_title("revenue"),
    )


def show_lifecycle(mix: pd.DataFrame) -> None:
    """Show customers per life-cycle stage as bars and the stage table (``lifecycle_mix``)."""
    fig = go.Figure(go.Bar(x=mix.index.astype(str), y=mix["customers"], marker_color=COLORS[2]))
    fig.update_layout(title="Customers by life-cycle stage", yaxis_title="customers")
    show(fig)
    show_table(
        mix.rename_axis("stage"),
        caption="Life-cycle stage mix",
        fmt={"share of customers": pct, "revenue to date": money},
    )


def nlv_chart(shown: pd.DataFrame) -> go.Figure:
    """N, L and V indexed to 100 in the first period of ``shown`` (rows of an ``nlv_table``)."""
    fig = go.Figure()
    for i, col in enumerate(["active_customers", "orders_per_customer", "avg_order_value"]):
        base = shown[col].iloc[0]
        fig.add_scatter(
            x=shown.index.astype(str),
            y=shown[col] / base * 100,
            name=NLV_LABELS[col],
            line_color=COLORS[i],
        )
    fig.update_layout(title=f"N, L and V indexed to 100 in {shown.index[0]}", yaxis_title="index")
    return fig


def show_nlv_table(shown: pd.DataFrame, period: str) -> None:
    """Show the R = N · L · V table of ``shown`` (rows of an ``nlv_table``), most recent first."""
    show_table(
        shown[list(NLV_LABELS)].rename(columns=NLV_LABELS).rename_axis(period).iloc[::-1],
        caption="R = N · L · V per period (most recent first)",
        fmt={
            NLV_LABELS["revenue"]: money,
            NLV_LABELS["active_customers"]: count,
            NLV_LABELS["orders_per_customer"]: "{:.3f}",
            NLV_LABELS["avg_order_value"]: lambda v: money(v, 2),
        },
    )


def change_waterfall(change: pd.Series, effects: pd.Series) -> go.Figure:
    """Waterfall from the revenue of ``change["period_from"]`` through ``effects`` (labelled
    amounts) to the revenue of ``change["period_to"]`` (a ``decompose_change`` result)."""
    fig = go.Figure(
        go.Waterfall(
            x=[str(change["period_from"]), *effects.index, str(change["period_to"])],
            measure=["absolute"] + ["relative"] * len(effects) + ["total"],
            y=[change["revenue_from"], *effects.tolist(), change["revenue_to"]],
            connector={"line": {"color": "#999999"}},
            increasing={"marker": {"color": COLORS[2]}},
            decreasing={"marker": {"color": COLORS[3]}},
            totals={"marker": {"color": COLORS[0]}},
        )
    )
    fig.update_layout(
        title=f"Revenue change {change['period_from']} → {change['period_to']}",
        yaxis_title=money_title("revenue"),
        showlegend=False,
    )
    fig.update_xaxes(type="category")
    return fig


# --------------------------------------------------------------------------- findings
# Each driver of a revenue change in plain words (rise, fall) and the lever it points to.
_DRIVERS = {
    "effect_N": ("more customers buying", "fewer customers buying", "acquisition and win-back"),
    "effect_L": (
        "customers ordering more often",
        "customers ordering less often",
        "bringing customers back more often (reminders, repeat-purchase offers)",
    ),
    "effect_V": ("bigger orders", "smaller orders", "order size (bundles, prices, discounts)"),
}


def findings(
    change: pd.Series,
    top_share: float,
    customers: int,
    total_revenue: float,
    stages: pd.DataFrame,
    new_share: float,
    recent_periods: int,
    period: str,
) -> str:
    """The report's findings and what to do, as 3-4 Markdown bullets in plain words.

    ``change``: a ``latest_change`` result; ``top_share``: revenue share of the top 10 % of the
    ``customers`` (of ``total_revenue`` to date); ``stages``: a ``lifecycle_mix`` table;
    ``new_share``: share of revenue from first-period customers over ``recent_periods``.
    """
    key = max(_DRIVERS, key=lambda k: abs(change[k]))
    rise, fall, lever = _DRIVERS[key]
    others = [k for k in _DRIVERS if k != key]
    up = change["change"] >= 0
    # against the period before (the data do not reach back a year): the season may play a part
    seasonal = (change["period_to"] - change["period_from"]).n == 1
    lines = [
        f"Revenue in {change['period_to']} was **{money(change['revenue_to'])}**, "
        f"{'up' if up else 'down'} {money(abs(change['change']))} on {change['period_from']}"
        + (
            f" (the {period} before, as the data do not reach back a year: part of the change "
            "may be the season)"
            if seasonal
            else ""
        )
        + "; "
        f"most of the change came from {rise if change[key] >= 0 else fall} "
        f"({money(change[key], signed=True)}), the rest from "
        + " and ".join(
            f"{(_DRIVERS[k][0] if change[k] >= 0 else _DRIVERS[k][1])} "
            f"({money(change[k], signed=True)})"
            for k in others
        )
        + (
            f". **Keep investing in {lever}**: that is what moved revenue."
            if up
            else f". **Work on {lever} first**: that is where revenue was lost."
        ),
        f"The top 10% of customers ({count(round(customers * 0.1))} people) brought "
        f"**{pct(top_share)}** of all revenue to date ({money(top_share * total_revenue)}); "
        f"on average each brought {top_share / 0.1 / ((1 - top_share) / 0.9):.1f} times as much as "
        "one of the other customers. **Look after them first** (the value report names them "
        "in `top_customers.csv`).",
    ]
    if stages["customers"].get("at_risk", 0) > 0:
        lapsed = int(stages["customers"].get("lapsed", 0))
        lines.append(
            f"**{count(stages.loc['at_risk', 'customers'])}** customers last bought 6 to 12 "
            f"months ago; they have spent {money(stages.loc['at_risk', 'revenue to date'])} "
            f"with you so far ({count(lapsed)} more have not bought for over a year). **Win "
            "them back before a year has passed**; the value report ranks who is worth most "
            "(`churn_risk.csv`)."
        )
    if pd.notna(new_share):
        lines.append(
            f"Over the last {recent_periods} complete {period}s, **{pct(new_share)}** of revenue "
            f"came from customers in their first {period}. **Keep acquisition funded**: without "
            "new customers that part of revenue would not be there."
        )
    return bullets(lines)

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
    "lorenz_curve",
    "new_vs_returning_bars",
    "period_name",
    "revenue_bars",
    "show_concentration",
    "show_dimension",
    "show_lifecycle",
    "show_nlv",
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


def show_nlv(shown: pd.DataFrame, period: str) -> None:
    """Show N, L and V indexed to 100 in the first period of ``shown`` (rows of an
    ``nlv_table``) and the R = N · L · V table, most recent period first."""
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
    show(fig)
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

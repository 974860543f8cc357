"""Charts, tables and sentences of the "Baskets and cross-sell" report.

Every function takes pandas objects and plain numbers (computed by :mod:`crm_models.baskets`)
and returns a plotly figure or a sentence, or shows a formatted table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import COLORS, count, money, pct, show_table

RULE_FORMATS: dict[str, Any] = {
    "support": lambda v: pct(v, 2),
    "confidence": pct,
    "lift": "{:.1f}",
    "revenue of these baskets": money,
    "baskets": count,
}
METHOD_NAMES = {"cross-sell": "personal offers", "popularity": "best-sellers"}
INTERVAL_COLUMNS = {
    "median_days": "median days",
    "p25_days": "25% within (days)",
    "p75_days": "75% within (days)",
    "customers": "repeat customers",
    "repeat_share": "buyers who came back",
}


def _heatmap(grid: pd.DataFrame, colorbar: str, hover: str, **kwargs: Any) -> go.Figure:
    """A heatmap of a grid (rows on the y axis, columns on the x axis)."""
    return go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(grid.columns),
            y=list(grid.index),
            colorbar=dict(title=colorbar),
            hovertemplate=hover,
            **kwargs,
        )
    )


def show_rules(table: pd.DataFrame, caption: str) -> None:
    """Show a rules table (from :func:`crm_models.baskets.rules_table`) in the house format."""
    show_table(table, caption=caption, fmt=RULE_FORMATS)


def glance_text(size: dict[str, Any], level: str, n_strong: int) -> str:
    """The "at a glance" bullets on the baskets and the combinations worth reading."""
    return (
        f"- **{count(size['baskets'])}** baskets with on average **{size['mean_size']:.2f}** "
        f"different {level}s; {pct(size['single_item_baskets'] / max(size['baskets'], 1))} hold "
        f"a single {level}.\n"
        f"- **{count(n_strong)}** combinations are bought together clearly more often than "
        "chance would give."
    )


def rules_method_text(
    support: float,
    min_count: int,
    min_confidence: float,
    n_rules: int,
    n_strong: int,
    alpha: float,
    why: str | None = None,
) -> str:
    """How the rules were mined and tested; ``why`` says how the support was chosen
    (:attr:`crm_models.baskets.SupportChoice.rule`; None when it was given)."""
    text = (
        f"- At a support of **{support:g}** (at least {count(min_count)} baskets) and a "
        f"confidence of {pct(min_confidence, 0)}, **{count(n_rules)}** rules were found; "
        f"**{count(n_strong)}** of them are significant (Fisher's exact test, "
        f"Bonferroni-corrected, {alpha:g}), not redundant and positive (lift above 1)."
    )
    return text if why is None else f"{text}\n- How the support was chosen: {why}."


def valuable_text(top: pd.Series) -> str:
    """The sentence on the combination worth most (the first rule ranked by revenue)."""
    return (
        f"The combination worth most is **{', '.join(top['antecedent_names'])} + "
        f"{', '.join(top['consequent_names'])}**: {count(top['count'])} baskets worth "
        f"{money(top['revenue'])} ({pct(top['revenue_share'])} of all basket value)."
    )


def rule_matrix_chart(grid: pd.DataFrame) -> go.Figure:
    """Heatmap of rule lifts: buyers of (row) also buy (column)."""
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=grid.columns,
            y=grid.index,
            colorscale="Blues",
            colorbar=dict(title="lift"),
            hovertemplate="%{y} → %{x}<br>lift %{z:.1f}<extra></extra>",
        )
    )
    fig.update_layout(title="Rule matrix: buyers of (row) also buy (column)", height=520)
    fig.update_xaxes(tickangle=-40)
    fig.update_yaxes(autorange="reversed")
    return fig


def rule_scatter_chart(rules: pd.DataFrame) -> go.Figure:
    """Every rule by support and confidence, coloured by log2 lift."""
    fig = go.Figure(
        go.Scatter(
            x=rules["support"],
            y=rules["confidence"],
            mode="markers",
            marker=dict(
                size=8,
                color=np.log2(rules["lift"]),
                colorscale="Viridis",
                colorbar=dict(title="log2 lift"),
            ),
            text=[
                f"{', '.join(a)} → {', '.join(c)}"
                for a, c in zip(rules["antecedent_names"], rules["consequent_names"], strict=True)
            ],
            hovertemplate="%{text}<br>support %{x:.2%}<br>confidence %{y:.0%}<extra></extra>",
        )
    )
    fig.update_layout(
        title="All significant rules: how common (support) and how reliable (confidence)",
        xaxis_title="support (share of baskets)",
        yaxis_title="confidence",
        xaxis_tickformat=".1%",
        yaxis_tickformat=".0%",
    )
    return fig


def category_affinity_chart(grid: pd.DataFrame) -> go.Figure:
    """Heatmap of the lift of buying two categories in one basket (1 = chance)."""
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=grid.columns,
            y=grid.index,
            colorscale="RdBu",
            zmid=1,
            colorbar=dict(title="lift"),
            hovertemplate="%{y} with %{x}<br>lift %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title="Category affinity (lift of buying both in one basket)", height=480)
    fig.update_yaxes(autorange="reversed")
    return fig


def category_pairs_text(best: pd.DataFrame) -> str:
    """The strongest category pairs in one sentence (or that there are none)."""
    if len(best) == 0:
        return "No two categories are bought together clearly more often than chance."
    return (
        "Strongest category pairs: "
        + "; ".join(
            f"**{r.item} + {r.with_item}** ({r.lift:.2f}x, {count(r.count)} baskets)"
            for r in best.itertuples()
        )
        + "."
    )


def hit_rate_chart(metrics: pd.DataFrame) -> go.Figure:
    """Hit rate of the personal offers and of the best-sellers, per number of offers."""
    fig = go.Figure()
    for i, method in enumerate(["cross-sell", "popularity"]):
        part = metrics.loc[metrics["method"] == method]
        fig.add_bar(
            x=[f"top {v}" for v in part["k"]],
            y=part["hit_rate"],
            name="personal cross-sell" if method == "cross-sell" else "best-sellers (baseline)",
            marker_color=COLORS[i if i == 0 else 7],
        )
    fig.update_layout(
        barmode="group",
        title="Share of customers who bought at least one offered product",
        yaxis_tickformat=".0%",
        yaxis_title="hit rate",
    )
    return fig


def show_offer_quality(metrics: pd.DataFrame) -> None:
    """Hit rate, precision and recall of both methods per number of offers, as a table."""
    table = metrics.pivot(index="k", columns="method", values=["hit_rate", "precision", "recall"])
    table.columns = [
        f"{metric.replace('_', ' ')}, {METHOD_NAMES[method]}" for metric, method in table.columns
    ]
    show_table(
        table.reset_index().rename(columns={"k": "offers per customer"}),
        caption="Out-of-time quality of the offers",
        fmt={c: pct for c in table.columns},
    )


def evaluation_text(evaluation: Any, metrics: pd.DataFrame, k: int, level: str) -> str:
    """What the out-of-time test did and found (``evaluation``: a ``CrossSellEvaluation``)."""
    m = metrics.set_index(["method", "k"])["hit_rate"]
    who = f"{count(evaluation.customers)} customers"
    aside = f"on average {evaluation.new_items_per_customer:.1f} new {level}s each"
    if evaluation.sampled_from:
        hit = float(m[("cross-sell", k)])
        margin = 1.96 * np.sqrt(hit * (1 - hit) / evaluation.customers)
        who = f"a random {count(evaluation.customers)} of the {count(evaluation.sampled_from)}"
        who += " customers"
        aside = f"hit rates within ±{100 * margin:.1f} percentage points; {aside}"
    return (
        f"Learnt up to **{evaluation.cutoff.date()}** and checked on {who} who bought "
        f"something new to them by {evaluation.end.date()} ({aside}). "
        f"With {k} offers each, the personal offers hit "
        f"**{pct(m[('cross-sell', k)])}** of customers against "
        f"{pct(m[('popularity', k)])} for best-sellers "
        f"(**{evaluation.lift_over_baseline(k):.2f}x**); *hit rate* = share of customers who "
        "bought at least one offer, *precision* = share of offers bought, *recall* = share of "
        "their new purchases that had been offered."
    )


def seasonality_chart(season: pd.DataFrame, title: str) -> go.Figure:
    """Heatmap of the seasonal index of each category (1 = its usual share)."""
    fig = _heatmap(
        season,
        "index",
        "%{y}, %{x}: %{z:.2f}<extra></extra>",
        colorscale="RdBu",
        zmid=1,
    )
    fig.update_layout(title=f"Seasonal index by {title}", height=360)
    return fig


def seasonality_text(peak: dict[str, Any], title: str) -> str:
    """The busiest period and the most seasonal category (from ``seasonal_peak``)."""
    if peak["flat"]:
        verdict = (
            "no category has a rhythm of its own: every category's share stays within 15% "
            f"of its usual share (largest: {peak['category']} in {peak['period']}, "
            f"{peak['index']:.2f})"
        )
    else:
        verdict = (
            f"the most seasonal category is **{peak['category']}**, with a "
            f"{peak['index'] - 1:.0%} larger share than usual in {peak['period']}"
        )
    return f"By {title}: the busiest {title} overall is **{peak['busiest']}**; {verdict}."


def next_category_chart(moves: pd.DataFrame) -> go.Figure:
    """Heatmap of the row shares: first order's category -> second order's category."""
    grid = moves.pivot(index="from_category", columns="to_category", values="share").fillna(0)
    fig = _heatmap(
        grid,
        "share",
        "first %{y} → next %{x}: %{z:.0%}<extra></extra>",
        colorscale="Blues",
    )
    fig.update_layout(
        title="First order's category → second order's category (row shares)",
        xaxis_title="next order",
        yaxis_title="first order",
        height=440,
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def show_repurchase_intervals(gaps: pd.DataFrame) -> None:
    """Days between a customer's purchases in the same category, as a table."""
    show_table(
        gaps.reset_index()[["category", *INTERVAL_COLUMNS]].rename(columns=INTERVAL_COLUMNS),
        caption="Days between a customer's purchases in the same category",
        fmt={
            "median days": "{:,.0f}",
            "25% within (days)": "{:,.0f}",
            "75% within (days)": "{:,.0f}",
            "repeat customers": count,
            "buyers who came back": pct,
        },
    )


def cross_sell_list_text(offers: pd.DataFrame, k: int) -> str:
    """How many customers have offers, and how many of them may be contacted."""
    text = f"**{count(offers['customer_id'].nunique())}** customers have {k} offers each"
    if "contactable" not in offers.columns:
        return text + "."
    contactable = offers.loc[offers["contactable"], "customer_id"].nunique()
    return (
        f"{text}; {count(contactable)} of them may be contacted (marketing consent, not opted out)."
    )


def show_cross_sell_list(offers: pd.DataFrame, popular: pd.Series) -> None:
    """The first rows of the cross-sell list and the products offered most often."""
    show_table(
        offers.head(20),
        caption="The first rows of the cross-sell list",
        fmt={"score": pct, "customer_id": "{}"},
    )
    show_table(
        popular.head(10).rename("customers offered").rename_axis("product").reset_index(),
        caption="Products offered most often",
        fmt={"customers offered": count},
    )


# --------------------------------------------------------------------------- findings
def _distinct_combinations(rules: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rules ranked by ``by`` (ties: lift), one per set of items: "A → B" and "B → A" are one
    combination, shown in its more reliable direction."""
    ranked = rules.sort_values([by, "lift", "confidence"], ascending=False, kind="stable")
    items = [
        frozenset(a) | frozenset(c)
        for a, c in zip(ranked["antecedent_names"], ranked["consequent_names"], strict=True)
    ]
    return ranked.loc[~pd.Series(items, index=ranked.index).duplicated()]


def _together(r: pd.Series) -> str:
    """A rule's items as one combination: "Phone case + Smartphone"."""
    return " + ".join([*r["antecedent_names"], *r["consequent_names"]])


def _offer_test_bullet(personal: float, popular: float, k: int, days: int) -> str:
    """Whether the personal offers beat offering the best-sellers, out of time, in words."""
    test = (
        f"with {k} offers each, {pct(personal)} of customers bought one within {days} days, "
        f"against {pct(popular)} when offered the best-sellers they did not have yet"
    )
    if personal >= 1.1 * popular:
        return f"**Send the personal cross-sell offers**: {test}."
    if personal > popular:
        return (
            f"**The personal offers do only slightly better than the best-sellers**: {test}; "
            "either will do."
        )
    return f"**Offer the best-sellers rather than the personal offers**: {test}."


def findings(
    rules: pd.DataFrame,
    n_rules: int,
    n_baskets: int,
    sentence: Callable[[pd.Series], str],
    offer_test: tuple[float, float, int, int] | None = None,
    offers: pd.DataFrame | None = None,
    k: int = 5,
) -> str:
    """The report's findings and what to do, as Markdown bullets for a marketing reader.

    ``rules``: the significant, non-redundant rules (with ``revenue`` and ``revenue_share``
    when the data has amounts); ``n_rules``: all rules mined; ``sentence``: a rule in words
    (:func:`crm_models.baskets.rule_sentence`); ``offer_test``: the out-of-time hit rates of the
    personal offers and of the best-sellers, the offers per customer and the days of the test,
    or None; ``offers``: the cross-sell list (``k`` offers per customer), or None.
    """
    if len(rules) == 0:
        lines = [
            f"**Nothing is bought together more often than chance** in these {count(n_baskets)} "
            "baskets: do not build bundles or 'bought together' suggestions from this data."
        ]
    else:
        top = _distinct_combinations(rules, "lift").head(2)
        lines = [
            "**Recommend these together.** "
            + " ".join(f"{sentence(r)}." for _, r in top.iterrows())
            + " Show the second product next to the first: on its page, at checkout and in "
            "the follow-up e-mail."
        ]
        if "revenue" in rules.columns and rules["revenue"].notna().any():
            r = _distinct_combinations(rules, "revenue").iloc[0]
            lines.append(
                f"**Bundle {_together(r)}, the combination worth most**: {count(r['count'])} "
                f"baskets worth {money(r['revenue'])} ({pct(r['revenue_share'])} of all basket "
                "value). Keep them in stock together and offer them as a bundle."
            )
        else:
            r = _distinct_combinations(rules, "count").iloc[0]
            lines.append(
                f"**The most common combination is {_together(r)}**: {count(r['count'])} baskets "
                f"({pct(r['support'])} of all). Place them near each other."
            )
    if offer_test is not None:
        lines.append(_offer_test_bullet(*offer_test))
    if offers is not None:
        lines.append(f"**The cross-sell list is ready**: {cross_sell_list_text(offers, k)}")
    if len(rules):
        lines.append(
            f"**{count(len(rules))} of the {count(n_rules)} combinations found are reliable**: "
            "bought together clearly more often than chance would give, and not a weaker copy "
            "of a simpler combination. Only these are used in this report."
        )
    return "\n".join(f"- {line}" for line in lines)

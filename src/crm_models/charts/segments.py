"""Charts, tables and sentences of the "Segments and customer profiles" report.

Every function takes pandas objects and plain numbers (computed by :mod:`crm_models.segments`)
and returns a plotly figure or a sentence, or shows a formatted table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import COLORS, bullets, count, money, money_title, pct, show_table

NICE = {
    "customer_share": "share of customers",
    "revenue": "net revenue",
    "revenue_share": "share of revenue",
    "revenue_per_customer": "revenue per customer",
    "orders": "orders (median)",
    "avg_order_value": "order value (median)",
    "days_since_last": "days since last purchase (median)",
    "tenure_days": "days since first purchase (median)",
    "return_rate": "return rate (median)",
    "repeat_share": "share buying again",
    "mean_r": "R",
    "mean_f": "F",
    "mean_m": "M",
    "clv": "predicted CLV",
    "clv_share": "share of CLV",
    "clv_per_customer": "CLV per customer",
    "top_category": "top category",
    "main_channel": "main channel",
}
PROFILE_FORMATS: dict[str, Any] = {
    "customers": count,
    "customer_share": pct,
    "revenue": money,
    "revenue_share": pct,
    "revenue_per_customer": money,
    "orders": "{:.0f}",
    "avg_order_value": money,
    "days_since_last": "{:.0f}",
    "tenure_days": "{:.0f}",
    "return_rate": pct,
    "repeat_share": pct,
    "mean_r": "{:.1f}",
    "mean_f": "{:.1f}",
    "mean_m": "{:.1f}",
    "clv": money,
    "clv_share": pct,
    "clv_per_customer": money,
}
POWER_TITLES = {"avg_order_value": "Spend per order", "orders_per_year": "Orders per year"}
VERDICT_LABELS = {
    "spend_p_adjusted": "spend per order: p",
    "rate_p_adjusted": "orders per year: p",
    "lookalike_importance": "look-alike: AUC drop",
    "lookalike_low": "AUC drop, low",
    "lookalike_high": "AUC drop, high",
    "best_customer_v": "best customers: Cramér's V",
    "best_customer_p_adjusted": "best customers: p",
}


def nice(df: pd.DataFrame, fmt: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Readable column names for marketing readers, with the formats renamed alike."""
    return df.rename(columns=NICE), {NICE.get(k, k): v for k, v in fmt.items()}


def method_name(method: str) -> str:
    """A clustering method in words."""
    return "k-means" if method == "kmeans" else "a Gaussian mixture"


# --------------------------------------------------------------------------- at a glance
def glance_text(
    champions: pd.Series | None,
    k: int,
    stability: float,
    stable: bool,
    has_attributes: bool,
) -> str:
    """The bullet points of "At a glance" (``champions``: their row of the RFM summary)."""
    verdict = (
        "stable: refitted on resampled customers the same groups come back"
        if stable
        else "**not stable**: refitted on resampled customers the groups change, so they are "
        "not presented as real segments below"
    )
    lines = [
        f"- **{count(champions['customers'])}** champions ({pct(champions['customer_share'])} "
        f"of buyers) bring **{pct(champions['revenue_share'])}** of revenue."
        if champions is not None
        else "- No customer qualifies as a champion.",
        f"- The behaviour of buyers falls into **{k} segments**; the segmentation is "
        f"{verdict} (adjusted Rand index {stability:.2f}).",
    ]
    if not has_attributes:
        lines.append(
            "- This dataset holds no customer characteristics (age, region, ...), so the "
            "profiling sections below explain what is missing instead of profiling."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- segments
def shares_chart(table: pd.DataFrame, title: str, with_clv: bool = False) -> go.Figure:
    """Grouped bars per segment: share of customers, of revenue (and of predicted CLV)."""
    fig = go.Figure()
    series = [("customer_share", "share of customers"), ("revenue_share", "share of revenue")]
    if with_clv:
        series.append(("clv_share", "share of predicted CLV"))
    for i, (column, name) in enumerate(series):
        fig.add_bar(x=table.index.astype(str), y=table[column], name=name, marker_color=COLORS[i])
    fig.update_layout(title=title, yaxis_tickformat=".0%", barmode="group")
    return fig


def show_rfm_table(table: pd.DataFrame) -> None:
    """The RFM segment summary with readable headers."""
    shown, fmt = nice(
        table,
        {
            "customers": count,
            "customer_share": pct,
            "revenue": money,
            "revenue_share": pct,
            "revenue_per_customer": money,
        },
    )
    show_table(shown, caption="RFM segments", fmt=fmt)


def stability_chart(selection: pd.DataFrame, threshold: float) -> go.Figure:
    """Bootstrap stability per method and number of segments, k-means silhouette, threshold."""
    fig = go.Figure()
    for i, (method, part) in enumerate(selection.groupby("method", sort=False)):
        fig.add_scatter(
            x=part["k"],
            y=part["stability"],
            mode="lines+markers",
            name=f"{'k-means' if method == 'kmeans' else 'Gaussian mixture'}: stability",
            line_color=COLORS[i],
        )
    km = selection.loc[selection["method"] == "kmeans"]
    if len(km):
        fig.add_scatter(
            x=km["k"],
            y=km["silhouette"],
            mode="lines+markers",
            name="k-means: silhouette",
            line=dict(color=COLORS[0], dash="dot"),
        )
    fig.add_hline(y=threshold, line_dash="dash", line_color="#888888")
    fig.update_layout(
        title="Stability (bootstrap adjusted Rand index) and silhouette by number of segments",
        xaxis_title="number of segments",
        yaxis_title="index",
    )
    return fig


def show_candidates(selection: pd.DataFrame) -> None:
    """The candidate segmentations with their scores."""
    shown = selection[["method", "k", "silhouette", "bic", "stability", "stable", "chosen"]].copy()
    shown["method"] = shown["method"].map({"kmeans": "k-means", "gmm": "Gaussian mixture"})
    show_table(
        shown,
        caption="Candidate segmentations (silhouette: higher is better; BIC: lower is better)",
        fmt={"silhouette": "{:.3f}", "bic": "{:,.0f}", "stability": "{:.2f}"},
    )


def clustering_text(method: str, k: int, stability: float, stable: bool) -> str:
    """The chosen segmentation, or the warning that none is stable."""
    name = method_name(method)
    if stable:
        return (
            f"The chosen segmentation is **{name} with {k} segments** "
            f"(stability {stability:.2f}). Each segment is named after the two "
            "features in which it differs most from the average buyer."
        )
    return (
        f"⚠️ **No candidate segmentation is stable.** The most stable one ({name}, "
        f"{k} groups, stability {stability:.2f}) is shown for "
        "reference only: its groups change when the customers are resampled, so they are a "
        "product of the method, not real segments. Use the RFM segments above instead."
    )


def show_profile(profile: pd.DataFrame, label: str) -> None:
    """The segment profiles with readable headers."""
    shown, fmt = nice(profile.rename_axis(label.lower()), PROFILE_FORMATS)
    show_table(shown, caption="Segment profiles (R, F, M: mean scores 1-5)", fmt=fmt)


def indicator_charts(ci: pd.DataFrame) -> list[go.Figure]:
    """One bar chart with 95% intervals per indicator (revenue, repeat, retained, CLV)."""
    figures = []
    for key in ("revenue", "repeat", "retained", "clv"):
        part = ci.loc[ci["indicator"] == key]
        if part.empty:
            continue
        share = key in ("repeat", "retained")
        fig = go.Figure(
            go.Bar(
                x=part["segment"].astype(str),
                y=part["mean"],
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=part["high"] - part["mean"],
                    arrayminus=part["mean"] - part["low"],
                ),
                marker_color=COLORS[2],
            )
        )
        fig.update_layout(
            title=f"{part['label'].iloc[0].capitalize()} by segment (95% CI)",
            yaxis_title=None if share else money_title(part["label"].iloc[0]),
            yaxis_tickformat=".0%" if share else None,
        )
        figures.append(fig)
    return figures


def show_mixes(mixes: list[tuple[str, pd.DataFrame]]) -> None:
    """Each mix table (column name, shares within each segment) with its caption."""
    captions = {"favourite_category": "Favourite category", "channel": "Spend by channel"}
    for column, mix in mixes:
        caption = captions.get(column, column.replace("_", " ").capitalize())
        show_table(
            mix,
            caption=f"{caption}: share within each segment",
            fmt={c: pct for c in mix.columns},
        )


# --------------------------------------------------------------------------- best customers
def index_chart(levels: pd.DataFrame) -> go.Figure:
    """Horizontal bars of the best-customer index around 100 (above: teal, below: brick)."""
    fig = go.Figure(
        go.Bar(
            x=levels["index"] - 100,
            y=levels["attribute"] + " = " + levels["level"].astype(str),
            base=100,
            orientation="h",
            marker_color=[COLORS[2] if v > 100 else COLORS[3] for v in levels["index"]],
        )
    )
    fig.update_layout(
        title="Over- and under-represented among best customers (index, 100 = average)",
        yaxis_autorange="reversed",
    )
    return fig


def show_index_table(idx: pd.DataFrame, rows: int = 25) -> None:
    """The first ``rows`` levels of the best-customer index table."""
    show_table(
        idx.head(rows)
        .drop(columns=["p_value"])
        .rename(
            columns={
                "target_customers": "best customers",
                "share_of_target": "share among best",
                "share_of_base": "share among all",
                "target_rate": "best-customer rate",
                "p_adjusted": "p (adjusted)",
                "significant": "not chance",
            }
        ),
        caption="Best-customer index (top 10% by net revenue vs all buyers)",
        fmt={
            "share among best": pct,
            "share among all": pct,
            "index": "{:.0f}",
            "best-customer rate": pct,
            "p (adjusted)": "{:.4f}",
        },
    )


# --------------------------------------------------------------------------- purchasing power
def power_holdout_text(title: str, holdout: Mapping[str, float]) -> str:
    """How much of the variation the characteristics explain on held-out customers."""
    return (
        f"Held-out check ({count(holdout['n_test'])} customers): the characteristics explain "
        f"**{pct(max(holdout['r2_test'], 0))}** of the variation in log {title.lower()} "
        f"(error {holdout['rmse_test']:.3f} vs {holdout['rmse_naive']:.3f} for the average "
        "alone). "
        + (
            "Characteristics shift the average, but individual customers vary far more "
            "than the characteristics explain."
            if holdout["r2_test"] < 0.2
            else ""
        )
    )


def sample_text(sample: Any) -> str:
    """Whether a fit used every customer or a sample, and what a sample does to its intervals
    (``sample``: a :class:`crm_models.segments.sampling.SampleInfo`)."""
    what = sample.what[0].upper() + sample.what[1:]
    if not sample.sampled:
        return f"{what}: all {count(sample.population)} customers (exact)."
    how = (
        f"drawn at random within each {sample.strata}, so that each keeps its share"
        if sample.strata
        else "drawn at random"
    )
    text = (
        f"{what}: a sample of {count(sample.n)} of the {count(sample.population)} customers "
        f"({pct(sample.n / sample.population)}), {how}"
    )
    if not sample.intervals:
        return text + "."
    return (
        f"{text}; its 95% intervals are about {sample.widening:.1f} times as wide as with all "
        "customers (a bigger sample narrows them, at the cost of time)."
    )


def exact_and_sampled_text(customers: int, samples: list[Any]) -> str:
    """Bullets: what the report computes on every customer, and what it fits on samples."""
    exact = (
        f"Exact, on all {count(customers)} customers: RFM scores and segments, segment sizes "
        "and revenue shares, profiles, indicator intervals, mixes and the best-customer index; "
        "every buyer is assigned a behavioural segment and every new customer is scored."
    )
    return bullets([exact, *(sample_text(s) for s in samples)])


def show_power_coefficients(coefficients: pd.DataFrame, title: str, rows: int = 15) -> None:
    """The ``rows`` most significant effects of a purchasing-power regression."""
    coefs = coefficients.sort_values("p_value").head(rows).reset_index(drop=True)
    show_table(
        coefs.rename(columns={"low": "95% CI low", "high": "95% CI high", "p_value": "p"}),
        caption=f"{title}: effect of each level against the reference level",
        fmt={"effect": pct, "95% CI low": pct, "95% CI high": pct, "p": "{:.4f}"},
    )


# --------------------------------------------------------------------------- look-alike
def show_lookalike_comparison(
    comparison: pd.DataFrame, cutoffs: Mapping[str, str], counts: Mapping[str, Any]
) -> None:
    """The out-of-time comparison of the look-alike models and the naive rule."""
    show_table(
        comparison.rename(
            columns={"auc": "AUC", "lift_top10": "lift, top 10%", "lift_top20": "lift, top 20%"}
        ),
        caption=(
            f"Out-of-time comparison: trained on new customers up to {cutoffs['train']}, "
            f"tested on those up to {cutoffs['test']} "
            f"({count(counts['test_customers'])} customers, "
            f"{pct(counts['test_rate'])} became high-value)"
        ),
        fmt={
            "AUC": "{:.3f}",
            "lift, top 10%": "{:.2f}",
            "lift, top 20%": "{:.2f}",
            "brier": "{:.4f}",
        },
    )


def lookalike_text(best: str, best_auc: float, naive_auc: float, lift_top10: float) -> str:
    """The look-alike model's AUC against the naive rule, in words."""
    return (
        f"AUC is the chance that the model ranks a customer who became high-value above one "
        f"who did not (0.5 = coin toss). The better model, **{best}**, reaches "
        f"**{best_auc:.3f}** against {naive_auc:.3f} for the naive rule; its top 10% hold "
        f"{lift_top10:.1f}× the average share of future high-value "
        "customers. "
        + (
            "It beats the naive rule out of time."
            if best_auc > naive_auc
            else "**It does not beat the naive rule**: rank new customers by first-order value "
            "instead of using the model."
        )
        + (
            " Early information predicts only part of future value: use the list to "
            "prioritise, not to exclude."
            if best_auc < 0.65
            else ""
        )
    )


def calibration_chart(calibration: pd.DataFrame, name: str) -> go.Figure:
    """Predicted probability against observed share per decile, with the diagonal."""
    fig = go.Figure()
    fig.add_scatter(
        x=calibration["predicted"],
        y=calibration["observed"],
        mode="lines+markers",
        name=name,
        line_color=COLORS[0],
    )
    top = float(max(calibration["predicted"].max(), calibration["observed"].max()))
    fig.add_scatter(
        x=[0, top], y=[0, top], name="perfect calibration", line=dict(dash="dash", color="#888")
    )
    fig.update_layout(
        title="Calibration on the test cohort: predicted vs observed share (deciles)",
        xaxis_title="predicted probability",
        yaxis_title="observed share",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
    )
    return fig


def show_prospects(scored: pd.DataFrame, rows: int = 20) -> None:
    """The first ``rows`` of the look-alike list."""
    show_table(
        scored.head(rows),
        caption=(
            f"Top {rows} of {count(len(scored))} new customers and prospects, most likely to "
            "become high-value first (full list: lookalike_prospects.csv)"
        ),
        fmt={"probability": pct},
    )


# --------------------------------------------------------------------------- verdict
def show_verdict(verdict: pd.DataFrame) -> None:
    """The characteristics verdict table with readable headers."""
    show_table(
        verdict.rename(columns=VERDICT_LABELS),
        caption="Characteristics: verdict (p values adjusted for multiple tests)",
        fmt={v: ("{:.3f}" if "V" in v else "{:.4f}") for v in VERDICT_LABELS.values()},
    )


def verdict_text(matter: list[str], noise: list[str]) -> str:
    """The characteristics that matter and those not worth attention."""
    return (
        f"- **Matter:** {', '.join(matter) or 'none'}.\n"
        f"- **Not worth attention:** {', '.join(noise) or 'none'}."
    )


def importance_chart(importance: pd.DataFrame) -> go.Figure:
    """Permutation importance of the look-alike features with 95% intervals."""
    fig = go.Figure(
        go.Bar(
            x=importance["importance"],
            y=importance["feature"],
            orientation="h",
            error_x=dict(
                type="data",
                symmetric=False,
                array=importance["high"] - importance["importance"],
                arrayminus=importance["importance"] - importance["low"],
            ),
            marker_color=[COLORS[2] if m else "#bbbbbb" for m in importance["matters"]],
        )
    )
    fig.update_layout(
        title="What the look-alike model relies on: drop in held-out AUC when shuffled (95% CI)",
        yaxis_autorange="reversed",
    )
    return fig


# --------------------------------------------------------------------------- findings
WIN_BACK_SEGMENTS = ("can't lose", "at risk")  # RFM segments that used to buy and went quiet


def _lookalike_finding(comparison: pd.DataFrame, best: str) -> str:
    """How much better than chance the look-alike list finds future high-value customers."""
    naive = comparison.loc[[m for m in comparison.index if str(m).startswith("naive")]]
    lift, naive_lift = comparison.loc[best, "lift_top10"], naive["lift_top10"].max()
    tested = (
        f"Tested on later new customers it had not seen, the top 10% of the look-alike list "
        f"held {lift:.1f} times the average share of customers who became high-value "
        f"(ranking by first order size: {naive_lift:.1f} times)"
    )
    if comparison.loc[best, "auc"] <= naive["auc"].max():
        return tested + (
            ". The model does no better than that simple rule: **rank new customers by the "
            "size of their first order** instead."
        )
    return tested + (
        ". **Use `lookalike_prospects.csv` to decide who gets a welcome offer first**"
        + (
            ", not to exclude anyone: the signal is weak."
            if lift < 1.5
            else " (ranked by chance of becoming high-value)."
        )
    )


def _characteristics_finding(
    matter: list[str], noise: list[str], spend_explained: float | None
) -> str:
    """Which customer characteristics to use for targeting and which to ignore."""
    noise, matter = [n.replace("_", " ") for n in noise], [m.replace("_", " ") for m in matter]
    text = (
        f"**Ignore {', '.join(noise)} in targeting**: "
        f"{'it makes' if len(noise) == 1 else 'they make'} no difference to spend or to who "
        "becomes valuable. "
        if noise
        else ""
    )
    if not matter:
        return text + (
            "No characteristic we know changes spend or who becomes valuable: **target on "
            "purchase behaviour, not on profile.**"
        )
    names = ", ".join(matter)
    names = names[:1].upper() + names[1:]
    if spend_explained is not None and spend_explained < 0.2:
        share = "less than 1%" if spend_explained < 0.01 else f"only {pct(spend_explained, 0)}"
        return text + (
            f"{names} {'does' if len(matter) == 1 else 'do'} matter, but together explain "
            f"{share} of the differences in spend per order between customers: **target on "
            "purchase behaviour first**, profile second."
        )
    return (
        text + f"{names} {'does' if len(matter) == 1 else 'do'} matter: **use them in targeting.**"
    )


def findings(
    rfm: pd.DataFrame,
    k: int,
    stable: bool,
    profile: pd.DataFrame,
    lookalike: tuple[pd.DataFrame, str] | None,
    matter: list[str] | None,
    noise: list[str] | None,
    spend_explained: float | None,
) -> str:
    """The report's findings and what to do, as 3-5 Markdown bullets in plain words.

    ``rfm``: the RFM segment summary; ``k``/``stable``/``profile``: the behavioural
    segmentation and its ``segment_profile``; ``lookalike``: the out-of-time comparison and the
    better model's name (None: not judged); ``matter``/``noise``: characteristics that matter
    and those not worth attention (None: no characteristics); ``spend_explained``: share of the
    variation in spend per order they explain on held-out customers.
    """
    lines = []
    if "champions" in rfm.index:
        champ = rfm.loc["champions"]
        lines.append(
            f"**{count(champ['customers'])} champions** ({pct(champ['customer_share'])} of "
            f"buyers) brought **{pct(champ['revenue_share'])}** of revenue "
            f"({money(champ['revenue'])}). **Look after them first**: they are marked in "
            "`customer_segments.csv`."
        )
    else:
        lines.append(
            "No customer qualifies as a champion (recent, frequent and big-spending) yet: "
            "**grow loyal customers into champions** before anything else."
        )
    quiet = rfm.loc[rfm.index.isin(WIN_BACK_SEGMENTS)]
    if quiet["customers"].sum() > 0:
        lines.append(
            f"**{count(quiet['customers'].sum())} customers who used to buy often or a lot have "
            f"gone quiet** ({' and '.join(f'“{s}”' for s in quiet.index)}); they brought "
            f"{pct(quiet['revenue_share'].sum())} of revenue ({money(quiet['revenue'].sum())}). "
            "**Win them back first**, before newer or smaller customers."
        )
    if stable:
        main = profile.sort_values("revenue_share", ascending=False).iloc[0]
        lines.append(
            f"Buyers fall into **{k} groups by how they buy**, and the same groups come back "
            f"when the data is resampled; the group “{main.name}” ({count(main['customers'])} "
            f"customers) brings {pct(main['revenue_share'])} of revenue. **Use these groups to "
            "plan campaigns and messages.**"
        )
    else:
        lines.append(
            "The behavioural groups change when the data is resampled, so they are not real "
            "segments: **do not plan campaigns on them; use the RFM segments instead.**"
        )
    if lookalike is not None:
        lines.append(_lookalike_finding(*lookalike))
    if matter is not None and noise is not None:
        lines.append(_characteristics_finding(matter, noise, spend_explained))
    return bullets(lines)

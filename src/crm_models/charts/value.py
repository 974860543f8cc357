"""Charts, tables and sentences of the "Customer value and retention" report.

Every function takes pandas objects and plain numbers (computed by :mod:`crm_models.value`)
and returns a plotly figure or a sentence, or shows a formatted table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import COLORS, bullets, count, money, money_title, pct, show_table

LIST_FORMATS: dict[str, Any] = {
    "frequency": count,
    "orders": count,
    "revenue": money,
    "days_since_last": count,
    "p_alive": pct,
    "p_alive_change": lambda v: "–" if pd.isna(v) else f"{v * 100:+.0f} pts",
    "p_overdue": lambda v: "–" if pd.isna(v) else pct(v),
    "expected_purchases": "{:.1f}",
    "clv": money,
    "clv_low": money,
    "clv_high": money,
    "potential_value": money,
    "value_at_risk": money,
    "value_decile": count,
}
SURVIVAL_LABELS = {
    "lapses": "lapsed",
    "median_days_to_lapse": "median days to lapse",
    "survival_90d": "active after 90 days",
    "survival_180d": "active after 180 days",
    "survival_365d": "active after 365 days",
}
COMPARISON_LABELS = {
    "log_likelihood": "log-likelihood",
    "parameters": "parameters",
    "holdout_predicted_total": "predicted holdout purchases",
    "holdout_actual_total": "actual holdout purchases",
    "total_error": "error of the total",
    "mae": "MAE",
    "rmse": "RMSE",
    "baseline_mae": "naive MAE",
    "baseline_rmse": "naive RMSE",
}


# --------------------------------------------------------------------------- at a glance
def data_text(
    dataset: str, as_of: pd.Timestamp, customers: int, horizon_weeks: int, rate: float
) -> str:
    """The data line under the title."""
    return (
        f"**Data:** {dataset}, as of **{as_of.date()}** · {count(customers)} customers who have "
        f"bought · horizon {horizon_weeks} weeks, discount rate {pct(rate, 0)} a "
        "year · values are expected net spend (before margin)."
    )


def glance_text(
    figures: Mapping[str, float],
    customers: int,
    expected_purchases: float,
    one_timers: int,
    horizon_weeks: int,
    p_alive_threshold: float,
    risk_rule: Mapping[str, Any] | None = None,
) -> str:
    """The bullet points of "At a glance"; ``risk_rule`` is the risk list's ``attrs``."""
    return (
        f"- The {count(customers)} customers are expected to make **{count(expected_purchases)}** "
        f"purchases and spend **{money(figures['expected_value'])}** over the next {horizon_weeks} "
        "weeks (discounted).\n"
        f"- The most valuable 10% of customers hold **{pct(figures['top_decile_share'])}** of that "
        "value.\n"
        f"- {risk_text(figures, p_alive_threshold, risk_rule)} The list is exported beside this "
        "report (`churn_risk.csv`).\n"
        f"- {count(one_timers)} customers ({pct(one_timers / customers)}) have bought only once. "
        "The model cannot see them leave (in BG/NBD a customer can only drop out after a repeat "
        "purchase, so their P(alive) is 100%); their low value comes from a low expected purchase "
        "rate instead, and they never appear on the risk list."
    )


def risk_text(
    figures: Mapping[str, float],
    p_alive_threshold: float,
    risk_rule: Mapping[str, Any] | None = None,
) -> str:
    """Who is at risk and by which rule (:func:`crm_models.value.retention.risk_rule`)."""
    at_risk, stake = count(figures["customers_at_risk"]), money(figures["value_at_risk"])
    if not risk_rule or risk_rule.get("rule", "p_alive") == "p_alive":
        return (
            f"**{at_risk}** valuable customers are at risk of leaving (P(alive) below "
            f"{pct(p_alive_threshold, 0)} or falling fast); if they are gone, **{stake}** of "
            "potential value goes with them."
        )
    why = (
        "its drop-out part leans on a prior, not on the data"
        if not risk_rule["p_alive_trusted"]
        else f"P(alive) is below {pct(p_alive_threshold, 0)} for only "
        f"{count(risk_rule['low_p_alive'])} of {count(risk_rule['repeat_buyers'])} repeat buyers"
    )
    return (
        f"The purchase model sees almost nobody leaving ({why}), so it cannot say who is slipping "
        "away. The risk list therefore takes the valuable repeat buyers who are **overdue at "
        "their own pace** (had they kept buying as often as before, they would have bought "
        f"again by now with at least {pct(risk_rule['overdue_at'], 0)} probability): "
        f"**{at_risk}** customers, holding **{stake}** of potential value if they have gone. "
        "This is a rule, not a model estimate of who has left."
    )


# --------------------------------------------------------------------------- validation
def _actual_vs_predicted(
    track: pd.DataFrame, actual: str, predicted: str, calibration_end: str
) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=track["period_start"], y=track[actual], name="actual", line_color=COLORS[0])
    fig.add_scatter(
        x=track["period_start"],
        y=track[predicted],
        name="BG/NBD",
        line=dict(color=COLORS[1], dash="dash"),
    )
    fig.add_vline(x=pd.Timestamp(calibration_end), line_dash="dot", line_color="#888")
    return fig


def tracking_charts(track: pd.DataFrame, calibration_end: str) -> list[go.Figure]:
    """Weekly and cumulative repeat purchases, actual vs. BG/NBD, with the calibration end."""
    weekly = _actual_vs_predicted(track, "actual", "predicted", calibration_end)
    weekly.update_layout(
        title="Weekly repeat purchases of the calibration customers: actual vs. predicted",
        yaxis_title="repeat purchases per week",
    )
    cumulative = _actual_vs_predicted(
        track, "actual_cumulative", "predicted_cumulative", calibration_end
    )
    cumulative.update_layout(title="Cumulative repeat purchases", yaxis_title="repeat purchases")
    return [weekly, cumulative]


def conditional_expectations_chart(ce: pd.DataFrame, label: str = "BG/NBD") -> go.Figure:
    """Holdout purchases per customer by calibration repeat purchases: actual, model, naive."""
    fig = go.Figure()
    fig.add_bar(x=ce.index, y=ce["actual"], name="actual", marker_color=COLORS[0])
    fig.add_bar(x=ce.index, y=ce["predicted"], name=label, marker_color=COLORS[1])
    fig.add_bar(x=ce.index, y=ce["naive"], name="naive", marker_color=COLORS[7])
    fig.update_layout(
        barmode="group",
        title="Holdout purchases per customer by calibration repeat purchases",
        xaxis_title="repeat purchases in the calibration period",
        yaxis_title="mean purchases in the holdout",
    )
    return fig


def show_holdout_tables(ce: pd.DataFrame, accuracy: pd.DataFrame) -> None:
    """The conditional-expectations table and the holdout accuracy table."""
    show_table(
        ce,
        caption="Conditional expectations: mean holdout purchases per customer",
        fmt={"customers": count, "actual": "{:.2f}", "predicted": "{:.2f}", "naive": "{:.2f}"},
    )
    show_table(
        accuracy,
        caption="Holdout accuracy",
        fmt={
            "total holdout purchases": count,
            "MAE per customer": "{:.3f}",
            "RMSE per customer": "{:.3f}",
        },
    )


def holdout_text(ev: Mapping[str, float], total_error: float) -> str:
    """How far the holdout prediction was off, against the naive forecast."""
    if not ev["baseline_mae"] > 0:
        return "The holdout has no purchases to compare."
    return (
        f"In the holdout the model predicted **{count(ev['holdout_predicted_total'])}** repeat "
        f"purchases against **{count(ev['holdout_actual_total'])}** actual "
        f"({pct(total_error, 1)}). Per customer its error (MAE {ev['mae']:.2f}) is "
        f"**{pct(1 - ev['mae'] / ev['baseline_mae'], 0)} lower** than the naive forecast's "
        f"({ev['baseline_mae']:.2f})."
    )


def holdout_interval_text(ev: Mapping[str, Any]) -> str:
    """The holdout total with its 80 % and 95 % intervals (from
    :func:`crm_models.value.holdout_interval`) next to the actual, and whether it fell inside."""
    actual = ev["holdout_actual_total"]
    lo80, hi80 = ev["holdout_predicted_interval_80"]
    lo95, hi95 = ev["holdout_predicted_interval_95"]
    if lo80 <= actual <= hi80:
        verdict = "inside the 80% range, as a good model's forecast should be most of the time"
    elif lo95 <= actual <= hi95:
        verdict = "outside the 80% range but inside the 95% range: bad luck or a small bias"
    else:
        side = "above" if actual > hi95 else "below"
        verdict = (
            f"**{side} even the 95% range**: the model misses something about these customers "
            "that chance alone does not explain; read its totals as rough"
        )
    return (
        f"How sure is the forecast? Allowing for the uncertainty of the fitted model and for "
        f"chance in what each customer buys, the holdout total was expected to fall between "
        f"**{count(lo80)} and {count(hi80)}** purchases 8 times out of 10, and between "
        f"{count(lo95)} and {count(hi95)} 19 times out of 20. The actual **{count(actual)}** is "
        f"{verdict}."
    )


def future_value_text(totals: Mapping[str, Any], horizon_weeks: int) -> str:
    """Total expected purchases and CLV of the base with their 80 % and 95 % ranges (the
    ``totals`` of :func:`crm_models.value.value_intervals`)."""
    lo80, hi80 = totals["clv_interval_80"]
    lo95, hi95 = totals["clv_interval_95"]
    plo, phi = totals["purchases_interval_80"]
    return (
        f"Over the next {horizon_weeks} weeks the customers are expected to spend "
        f"**{money(totals['clv'])}** (discounted); allowing for the uncertainty of the models and "
        f"for chance, the total should land between **{money(lo80)} and {money(hi80)}** 8 times "
        f"out of 10 (between {money(lo95)} and {money(hi95)} 19 times out of 20). Purchases: "
        f"{count(totals['expected_purchases'])} expected, {count(plo)} to {count(phi)} in 8 cases "
        "out of 10. The customer lists give each customer a range for their expected value "
        f"(`clv_low` to `clv_high`, {pct(totals['level'], 0)} sure); what one customer actually "
        "spends varies far more."
    )


def show_model_comparison(comparison: pd.DataFrame) -> None:
    """BG/NBD vs. Pareto/NBD on the same calibration and holdout periods."""
    show_table(
        comparison.rename(columns=COMPARISON_LABELS),
        caption="Model comparison on the same calibration and holdout periods",
        fmt={
            "log-likelihood": "{:,.1f}",
            "parameters": count,
            "predicted holdout purchases": count,
            "actual holdout purchases": count,
            "error of the total": pct,
            "MAE": "{:.3f}",
            "RMSE": "{:.3f}",
            "naive MAE": "{:.3f}",
            "naive RMSE": "{:.3f}",
        },
    )


def comparison_text(comparison: pd.DataFrame, used: str = "BG/NBD") -> str:
    """Which purchase model has the lower holdout error (a model whose fit collapsed is named,
    with the reason, instead of compared)."""
    ok = comparison.dropna(subset=["mae"])
    failed = [
        f"**{label}** could not be compared: {note}"
        for label, note in comparison.loc[comparison["mae"].isna(), "note"].items()
    ]
    if len(ok) < 2:
        return " ".join(failed) + f" {used} is used for the scores below."
    return (
        f"**{ok['mae'].idxmin()}** has the lower holdout error; {used} is used for the "
        "scores below (the two differ by "
        f"{pct(abs(ok['mae'].iloc[0] / ok['mae'].iloc[1] - 1))} in MAE)."
    )


CHOICE_LABELS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "total_error": "error of the total",
    "spearman": "rank correlation",
    "predicted_total": "predicted holdout purchases",
    "actual_total": "actual holdout purchases",
}


def value_model_table(choice: Mapping[str, Any]) -> pd.DataFrame:
    """Each candidate on the holdout (``comparison`` of a ``value_model_choice``), with the
    inner-split MAE the rule chose on and which one it chose; empty without a comparison."""
    if not choice.get("comparison"):
        return pd.DataFrame()
    table = pd.DataFrame.from_dict(choice["comparison"], orient="index")
    inner = pd.DataFrame.from_dict(choice["inner_comparison"], orient="index")
    table.insert(0, "inner_mae", inner["mae"].reindex(table.index))
    table.insert(0, "chosen", table.index == choice["model_chosen"])
    table.index.name = "model"
    return table


def show_value_model_choice(table: pd.DataFrame, labels: Mapping[str, str]) -> None:
    """The candidates' holdout accuracy, the chosen one marked (``labels``: model names)."""
    shown = table.rename(index=labels).rename(
        columns={**CHOICE_LABELS, "inner_mae": "MAE on the inner split (the rule)"}
    )
    shown["chosen"] = shown["chosen"].map({True: "yes", False: ""})
    show_table(
        shown,
        caption="Candidate forecasts: chosen on the calibration period, judged on the holdout",
        fmt={
            "MAE on the inner split (the rule)": "{:.3f}",
            "MAE": "{:.3f}",
            "RMSE": "{:.3f}",
            "error of the total": pct,
            "rank correlation": "{:.3f}",
            "predicted holdout purchases": count,
            "actual holdout purchases": count,
        },
    )


def value_model_text(choice: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Which model values the customers and why, and how it did on the holdout against the
    best other candidate, in plain words (``labels``: model names)."""
    name = choice["model_chosen"]
    label = labels[name]
    comparison = choice.get("comparison") or {}
    if name not in comparison or "inner_holdout" not in choice:
        return f"Customer values come from the **{label}** model: {choice['choice_rule']}."
    start, end = choice["inner_holdout"]
    text = (
        f"Customer values come from the **{label}** model. It was chosen by a rule fixed in "
        f"advance: of {len(comparison)} forecasts, it predicted individual customers' purchases "
        f"best from {start} to {end}, the last part of the calibration period; the holdout "
        "period played no part in the choice."
    )
    row = comparison[name]
    text += f" Over the holdout period it missed the total by {pct(row['total_error'])}"
    others = {k: v for k, v in comparison.items() if k != name}
    if others:
        best = min(others, key=lambda k: others[k]["mae"])
        verdict = "closer" if row["mae"] < others[best]["mae"] else "not closer"
        text += (
            f"; customer by customer it was {verdict} than the best other forecast, "
            f"{labels[best]}: off by {row['mae']:.2f} purchases a customer on average, "
            f"against {others[best]['mae']:.2f}"
        )
    failed = choice.get("not_fitted") or {}
    if failed:
        text += ". Not compared: " + "; ".join(
            f"{labels.get(k, k)} ({v})" for k, v in failed.items()
        )
    return text + "."


def fit_check_text(fallback: Mapping[str, Any], warnings: list[str]) -> str:
    """What the fit diagnostics found and what the fallback rule did, in words."""
    if not fallback.get("used") and not warnings:
        return (
            "**Fit check:** the optimiser converged, no parameter is at a bound and the "
            "likelihood is curved in every direction (every standard error is defined)."
        )
    lines = ["**Fit check:**"] + [f"- {w}" for w in warnings]
    return "\n".join(lines)


def histogram_chart(histogram: list[Mapping[str, Any]], label: str) -> go.Figure:
    """Customers by repeat purchases in the calibration period: observed vs model."""
    frame = pd.DataFrame(histogram)
    fig = go.Figure()
    fig.add_bar(x=frame["repeat"], y=frame["observed"], name="actual", marker_color=COLORS[0])
    fig.add_bar(x=frame["repeat"], y=frame["expected"], name=label, marker_color=COLORS[1])
    fig.update_layout(
        barmode="group",
        title="Customers by repeat purchases in the calibration period",
        xaxis_title="repeat purchases",
        yaxis_title="customers",
    )
    return fig


def chi_square_text(gof: Mapping[str, Any]) -> str:
    """The chi-square test of the calibration frequency histogram in words."""
    if gof["p_value"] is None:
        return "Too few histogram bins are left after pooling for a chi-square test."
    verdict = (
        "the model's histogram is **consistent** with the data"
        if gof["p_value"] >= 0.05
        else "the data **differ** from the model's histogram more than chance explains"
    )
    return (
        f"Chi-square test of the histogram (bins with fewer than 5 expected customers pooled): "
        f"χ² = {gof['chi_square']:.2f} on {gof['df']} degrees of freedom, p = "
        f"{gof['p_value']:.3f}: {verdict} (Fader, Hardie & Lee 2005)."
    )


def show_decile_calibration(deciles: pd.DataFrame) -> None:
    """Observed vs predicted share of customers buying in the holdout, by predicted decile."""
    show_table(
        deciles,
        caption="Who bought in the holdout, by decile of predicted P(any purchase) "
        "(1 = least likely)",
        fmt={
            "customers": count,
            "predicted": pct,
            "observed": pct,
            "naive": pct,
            "mean_p_alive": pct,
        },
    )


def decile_text(deciles: pd.DataFrame) -> str:
    """Where the model's P(any purchase in the holdout) is furthest off, in words."""
    gap = deciles["observed"] - deciles["predicted"]
    worst = gap.abs().idxmax()
    low = deciles.iloc[0]
    return (
        f"In the least likely decile the model predicts that {pct(low['predicted'], 0)} buy "
        f"again in the holdout; {pct(low['observed'], 0)} did (naive forecast: "
        f"{pct(low['naive'], 0)}). The largest gap is in decile {worst}: "
        f"{pct(deciles.loc[worst, 'predicted'], 0)} predicted, "
        f"{pct(deciles.loc[worst, 'observed'], 0)} observed"
        + (" (the model under-predicts)." if gap[worst] > 0 else " (the model over-predicts).")
    )


def spend_texts(correlation: float, spend_ev: Mapping[str, float]) -> list[str]:
    """The Gamma-Gamma check: frequency/spend correlation and the holdout spend error."""
    texts = [
        f"- Correlation of purchase frequency and average spend: **{correlation:.2f}** "
        + (
            "(small: the assumption holds)."
            if abs(correlation) < 0.3
            else "(**not small**: treat spend predictions with care)."
        )
    ]
    if spend_ev.get("customers"):
        texts.append(
            f"- For the {count(spend_ev['customers'])} customers who bought in the holdout, "
            f"predicted spend per purchase was off by {money(spend_ev['spend_mae'], 2)} on "
            f"average (their own calibration average: "
            f"{money(spend_ev['spend_baseline_mae'], 2)}); mean "
            f"predicted {money(spend_ev['spend_predicted_mean'], 2)} vs. actual "
            f"{money(spend_ev['spend_actual_mean'], 2)}."
        )
    return texts


def average_customer_text(average: Mapping[str, float]) -> str:
    """The fitted parameters in words: purchase rate, leaving chance, spend per purchase."""
    leave = (
        "after each repeat purchase leaves with a probability of about "
        f"**{pct(average['leave_probability'], 0)}**"
        if "leave_probability" in average
        else f"leaves within a year with a probability of about "
        f"**{pct(average['leave_probability_year'], 0)}**"
    )
    return (
        f"An average customer buys about **{average['purchases_per_year']:.1f} times a year** "
        f"while active, and {leave}; "
        f"an average purchase is worth {money(average['spend_per_purchase'], 2)}."
    )


def show_truth_check(check: pd.DataFrame) -> None:
    """P(alive) bands against the simulator's truth."""
    show_table(
        check.rename_axis("P(alive) band"),
        caption="P(alive) vs. the truth",
        fmt={"customers": count, "mean_p_alive": pct, "truly_active": pct},
    )


# --------------------------------------------------------------------------- value
def deciles_chart(deciles: pd.DataFrame) -> go.Figure:
    """Expected value per decile, with the potential value if all were still active."""
    fig = go.Figure()
    fig.add_bar(
        x=deciles.index.astype(str),
        y=deciles["expected_value"],
        name="expected value",
        marker_color=COLORS[0],
    )
    fig.add_bar(
        x=deciles.index.astype(str),
        y=deciles["potential_value"] - deciles["expected_value"],
        name="potential value if all still active",
        marker_color="#bbbbbb",
    )
    fig.update_layout(
        barmode="stack",
        title="Expected and potential value by value decile (1 = most valuable)",
        xaxis_title="value decile",
        yaxis_title=money_title("value"),
    )
    return fig


def show_deciles(deciles: pd.DataFrame) -> None:
    """The value-decile table."""
    show_table(
        deciles.rename_axis("decile"),
        caption="Value deciles",
        fmt={
            "customers": count,
            "expected_value": money,
            "mean_p_alive": pct,
            "expected_purchases": "{:.2f}",
            "potential_value": money,
            "share_of_value": pct,
        },
    )


P_ALIVE_BINS = 40


def p_alive_histogram(p_alive: pd.Series) -> go.Figure:
    """Distribution of P(alive) over the customers, binned here: the page holds 40 counts,
    not one number per customer (10M customers made a histogram trace of 10M values)."""
    counts, edges = np.histogram(p_alive.dropna(), bins=P_ALIVE_BINS, range=(0.0, 1.0))
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            marker_color=COLORS[2],
            name="customers",
        )
    )
    fig.update_layout(
        title="How likely customers are still active: P(alive)",
        xaxis_title="P(alive)",
        yaxis_title="customers",
        xaxis_tickformat=".0%",
    )
    return fig


def show_customer_list(frame: pd.DataFrame, caption: str, rows: int = 20) -> None:
    """The first ``rows`` of a customer list (risk or top customers)."""
    show_table(frame.head(rows), caption=caption, fmt=LIST_FORMATS)


# --------------------------------------------------------------------------- retention
def cohort_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Share of each cohort (rows) buying in each later month (columns)."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[str(c) for c in matrix.columns],
            y=[str(c) for c in matrix.index],
            colorscale="Blues",
            zmin=0,
            colorbar=dict(title="active", tickformat=".0%"),
            hovertemplate="cohort %{y}, month %{x}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Share of each monthly cohort buying in later months",
        xaxis_title="months since first purchase",
        yaxis_title="cohort",
        yaxis_autorange="reversed",
        yaxis_type="category",
        xaxis_type="category",
        height=max(400, 18 * len(matrix) + 150),
    )
    return fig


def average_retention_chart(avg: pd.Series) -> go.Figure:
    """The size-weighted retention curve of all cohorts (month 0 left out)."""
    fig = go.Figure(
        go.Scatter(x=avg.index[1:], y=avg.iloc[1:], mode="lines+markers", line_color=COLORS[0])
    )
    fig.update_layout(
        title="Average retention curve (all cohorts, weighted by size)",
        xaxis_title="months since first purchase",
        yaxis_title="share buying in the month",
        yaxis_tickformat=".0%",
    )
    return fig


def repeat_text(overall: pd.Series, monthly_retention: float) -> str:
    """Repeat-purchase rates of all customers and the recent month-to-month retention."""
    return (
        f"- **{pct(overall['repeat_ever'])}** of customers have bought more than once; "
        + ", ".join(
            f"{pct(overall[f'repeat_within_{w}d'])} within {w} days"
            for w in (90, 180, 365)
            if pd.notna(overall[f"repeat_within_{w}d"])
        )
        + " of their first purchase (among customers observed that long).\n"
        f"- Month to month, on average **{pct(monthly_retention)}** of a "
        f"month's buyers bought again the next month over the last 12 complete months."
    )


def churn_chart(churn: pd.DataFrame) -> go.Figure:
    """Active customers (bars) and month-to-month churn rate (line, right axis)."""
    fig = go.Figure()
    fig.add_bar(
        x=churn.index, y=churn["active_customers"], name="active customers", marker_color=COLORS[7]
    )
    fig.add_scatter(
        x=churn.index,
        y=churn["churn_rate"],
        name="churn rate",
        yaxis="y2",
        line_color=COLORS[3],
    )
    fig.update_layout(
        title="Active customers and month-to-month churn",
        yaxis=dict(title="active customers"),
        yaxis2=dict(
            title="churn rate", overlaying="y", side="right", tickformat=".0%", rangemode="tozero"
        ),
    )
    return fig


def show_repeat_rates(rr: pd.DataFrame, rows: int = 13) -> None:
    """Repeat-purchase rates of the recent cohorts and all customers, readable headers."""
    shown = rr.tail(rows).rename_axis("cohort")
    shown.columns = [
        c.replace("_", " ").removesuffix("d") + (" days" if "within" in c else "")
        for c in shown.columns
    ]
    show_table(
        shown,
        caption="Repeat-purchase rate by cohort (recent cohorts and all customers)",
        fmt={c: pct for c in shown.columns if c != "customers"},
    )


def survival_chart(curves: pd.DataFrame, lapse_days: int) -> go.Figure:
    """Kaplan-Meier share still active, with its 95% interval."""
    fig = go.Figure()
    fig.add_scatter(
        x=curves["days"],
        y=curves["upper"],
        line=dict(width=0),
        showlegend=False,
        line_shape="hv",
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=curves["days"],
        y=curves["lower"],
        line=dict(width=0),
        fill="tonexty",
        fillcolor="rgba(31,95,139,0.15)",
        name="95% interval",
        line_shape="hv",
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=curves["days"],
        y=curves["survival"],
        name="still active",
        line_color=COLORS[0],
        line_shape="hv",
    )
    fig.update_layout(
        title=f"Share of customers still active, by days since first purchase (lapse: {lapse_days} days)",
        xaxis_title="days since first purchase",
        yaxis_title="still active",
        yaxis_tickformat=".0%",
    )
    return fig


def lapse_text(row: pd.Series, lapse_days: int) -> str:
    """The median time to lapse and the share still buying after a year, in words."""
    median = row["median_days_to_lapse"]
    if pd.isna(median):
        text = (
            f"More than half of the customers are still buying ({count(row['lapses'])} of "
            f"{count(row['customers'])} have lapsed so far)."
        )
    elif median == 0:
        text = (
            f"More than half of the customers never bought again within {lapse_days} days of "
            "their first purchase."
        )
    else:
        text = (
            f"Half of the customers are lost within **{median:.0f} days** of their first purchase."
        )
    if pd.notna(row["survival_365d"]):
        text += f" **{pct(row['survival_365d'])}** are still buying a year after it."
    return text


def group_survival_chart(curves: pd.DataFrame, dim: str, p_value: float) -> go.Figure:
    """Still-active curves of the groups of one dimension, with the log-rank p value."""
    fig = go.Figure()
    for i, (name, part) in enumerate(curves.groupby("group", sort=True)):
        fig.add_scatter(
            x=part["days"],
            y=part["survival"],
            name=str(name),
            line_shape="hv",
            line_color=COLORS[i % len(COLORS)],
        )
    fig.update_layout(
        title=f"Still active by {dim.replace('_', ' ')} (log-rank p = {p_value:.3g})",
        xaxis_title="days since first purchase",
        yaxis_title="still active",
        yaxis_tickformat=".0%",
    )
    return fig


def show_group_survival(summary: pd.DataFrame, dim: str, p_value: float) -> None:
    """Retention summary of the groups of one dimension."""
    title = dim.replace("_", " ")
    show_table(
        summary.rename_axis(title).rename(columns=SURVIVAL_LABELS),
        caption=f"Retention by {title} (log-rank p = {p_value:.3g}"
        + ("; the differences are not significant)" if p_value >= 0.05 else ")"),
        fmt={
            "customers": count,
            "lapsed": count,
            "median days to lapse": "{:.0f}",
            "active after 90 days": pct,
            "active after 180 days": pct,
            "active after 365 days": pct,
        },
    )


def payback_chart(pb: pd.DataFrame, acquisition_cost: float) -> go.Figure:
    """Cumulative margin per customer of about eight cohorts, against the acquisition cost."""
    step = max(1, len(pb) // 8)
    fig = go.Figure()
    for i, (cohort, row) in enumerate(pb.iloc[::step].iterrows()):
        fig.add_scatter(
            x=row.index,
            y=row.to_numpy(),
            name=str(cohort),
            mode="lines",
            line_color=COLORS[i % len(COLORS)],
        )
    fig.add_hline(
        y=acquisition_cost, line_dash="dash", line_color="#888", annotation_text="acquisition cost"
    )
    fig.update_layout(
        title="Cumulative margin per acquired customer, by cohort",
        xaxis_title="months since first purchase",
        yaxis_title=money_title("cumulative margin per customer"),
    )
    return fig


def payback_text(
    margin_rate: float, acquisition_cost: float, median_months: float, share_year: float
) -> str:
    """When the typical cohort and the individual customers pay back, in words."""
    return (
        f"With a margin of {pct(margin_rate, 0)} and an acquisition cost of "
        f"{money(acquisition_cost)}, the typical cohort pays back after "
        + (
            f"**{median_months:.0f} month{'' if median_months == 1 else 's'}**"
            if pd.notna(median_months)
            else "**more than the months observed so far**"
        )
        + (
            f"; **{pct(share_year)}** of individual customers have paid back within a year of "
            "their first purchase."
            if pd.notna(share_year)
            else "."
        )
    )


# --------------------------------------------------------------------------- findings
def _forecast_finding(
    totals: Mapping[str, Any],
    ev: Mapping[str, Any],
    spend_ev: Mapping[str, float],
    holdout_span: str,
    horizon_weeks: int,
) -> str:
    """The value forecast, how it did on the period it did not see, and how far to trust it."""
    lo, hi = totals["clv_interval_80"]
    text = (
        f"Customers are expected to spend **{money(totals['clv'])}** over the next "
        f"{horizon_weeks} weeks (8 times in 10 between {money(lo)} and {money(hi)}). "
    )
    predicted, actual = ev["holdout_predicted_total"], ev["holdout_actual_total"]
    if not (actual > 0 and predicted > 0):
        return text + (
            f"Tested on the last {holdout_span} it did not see, there were no purchases to "
            "compare with. **Treat the figure as untested.**"
        )
    # how far actual revenue ran from the forecast: purchases times spend per purchase
    error = actual / predicted - 1
    text += (
        f"Tested on the last {holdout_span} it did not see, the model predicted "
        f"{count(predicted)} repeat purchases; customers made {count(actual)} "
        f"({pct(abs(error), 0)} {'more' if error > 0 else 'fewer'} than predicted)"
    )
    if spend_ev.get("customers"):
        error = (1 + error) * spend_ev["spend_actual_mean"] / spend_ev["spend_predicted_mean"] - 1
        text += (
            f", spending {money(spend_ev['spend_actual_mean'], 2)} per purchase against "
            f"{money(spend_ev['spend_predicted_mean'], 2)} predicted: in money about "
            f"{pct(abs(error), 0)} {'more' if error > 0 else 'less'} than forecast"
        )
    if abs(error) <= 0.10:
        return text + ". **Use the figure for planning**: it was close."
    if abs(error) <= 0.25:
        return text + (
            f". **Plan with a margin of about {pct(abs(error), 0)}** either way, and trust the "
            "ranking of customers more than the total."
        )
    return text + (
        ". That is far off: **do not budget on the total**; use the value only to rank customers."
    )


def findings(
    values: pd.DataFrame,
    figures: Mapping[str, float],
    totals: Mapping[str, Any],
    ev: Mapping[str, Any],
    spend_ev: Mapping[str, float],
    holdout_span: str,
    risk: pd.DataFrame,
    lapse_row: pd.Series,
    lapse_days: int,
    pb: pd.DataFrame,
    pay: Mapping[str, float],
    horizon_weeks: int,
) -> str:
    """The report's findings and what to do, as 4-5 Markdown bullets in plain words.

    ``values``: the customer value table (``clv``, ``value_decile``); ``figures``:
    ``summary_figures``; ``totals``: the totals of ``value_intervals``; ``ev``/``spend_ev``: the
    purchase and spend checks on the ``holdout_span`` the models did not see; ``risk``: the
    churn-risk list; ``lapse_row``: the overall row of the time-to-lapse summary (lapse after
    ``lapse_days``); ``pb``: a ``payback`` table and ``pay`` its ``payback_figures``.
    """
    top = values["value_decile"] == 1
    lines = [
        _forecast_finding(totals, ev, spend_ev, holdout_span, horizon_weeks),
        f"The most valuable 10% of customers ({count(top.sum())}) hold "
        f"**{pct(figures['top_decile_share'])}** of that value "
        f"({money(values.loc[top, 'clv'].sum())}). **Look after them first**; the top "
        "500 are named in `top_customers.csv`.",
    ]
    if len(risk):
        contactable = (
            f", {count(risk['contactable'].sum())} of whom agreed to marketing"
            if "contactable" in risk.columns
            else ""
        )
        rule = (
            ""
            if figures.get("risk_rule", "p_alive") == "p_alive"
            else " (chosen by a rule: they are overdue at their own pace)"
        )
        lines.append(
            f"**Contact the {count(len(risk))} valuable customers at risk of leaving**{rule} "
            f"in `churn_risk.csv`{contactable}: {money(figures['value_at_risk'])} of value is at "
            "stake if they go. Start at the top: the list is sorted by value at stake."
        )
    else:
        lines.append(
            "No valuable customer looks at risk of leaving now: **no win-back campaign is "
            "needed** on this report's evidence."
        )
    median = lapse_row["median_days_to_lapse"]
    if pd.notna(median):
        lines.append(
            f"Half of new customers stop buying within **{median:.0f} days** of their first "
            f"purchase (no purchase in the {lapse_days} days after their last); "
            f"{pct(lapse_row['survival_365d'])} still buy a year later. **Put effort into the "
            f"second purchase** within the first {max(median, 30) / 30.4:.0f} months "
            "(a follow-up after the first order)."
        )
    first_year = pb.iloc[:, 11].median() if pb.shape[1] > 11 else float("nan")
    months = pay["median_periods"]
    lines.append(
        f"At the assumed {pct(pb.attrs['margin_rate'], 0)} margin and "
        f"{money(pb.attrs['acquisition_cost'])} to acquire a customer, a typical cohort pays "
        + (
            "back later than observed so far"
            if pd.isna(months)
            else "back in its first month"
            if months == 0
            else f"back after {months:.0f} month{'' if months == 1 else 's'}"
        )
        + (
            f"; a typical new customer brings {money(first_year)} of margin in the first 12 "
            f"months. **Spend up to about {money(first_year)} to win a new customer** for it to "
            "pay back within a year (replace the margin and cost with your own figures)."
            if pd.notna(first_year)
            else ". **Replace the margin and cost with your own figures** before deciding on "
            "acquisition spend."
        )
    )
    return bullets(lines)

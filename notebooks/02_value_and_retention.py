# ---
# jupyter:
#   crm_report:
#     slug: value_retention
#     title: Customer value and retention
#     description: What each customer is worth over the next year (BG/NBD and Gamma-Gamma,
#       validated on a holdout period), who is slipping away, how cohorts retain and when they
#       pay back.
#     requires: [transactions]
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Customer value and retention
#
# What is each customer worth over the coming year, which valuable customers are slipping away,
# and how well do cohorts of new customers stay and pay back? Future purchases come from the
# BG/NBD model (Fader, Hardie & Lee 2005), spend per purchase from the Gamma-Gamma model; both
# are first tested on a period they did not see.

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
calibration_end = None  # end of the calibration period for validation (None: automatic)
horizon_weeks = 52  # horizon of expected purchases and CLV, in weeks
annual_discount_rate = 0.10  # discount rate for CLV
margin_rate = 0.30  # share of net revenue kept as margin (payback)
acquisition_cost = 40.0  # assumed cost of acquiring one customer (payback)
lapse_days = 180  # days without a purchase after which a customer counts as lost
p_alive_threshold = 0.5  # below this P(alive) a valuable customer is "at risk"
quick = False  # small, fast run (skips the Pareto/NBD comparison and group survival)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crm_models import value
from crm_models.features import customer_view
from crm_models.plotting import COLORS, count, money, pct, say, show, show_table
from crm_models.reporting import start_report
from crm_models.value import retention

ds, as_of_day, run = start_report("value_retention", globals())
view = customer_view(ds, as_of=as_of_day)
base = value.buyers(view)
purchase_model = value.BetaGeoModel().fit(base)
spend_model = value.GammaGammaModel().fit(base)
values = value.customer_value(
    purchase_model,
    spend_model,
    base,
    horizon=horizon_weeks,
    annual_discount_rate=annual_discount_rate,
)
values["p_alive_change"] = value.p_alive_change(purchase_model, base, periods=4)
risk = retention.churn_risk_list(values, view, p_alive_threshold=p_alive_threshold)
top = retention.top_customers(values, view, n=500)
figures = retention.summary_figures(values, risk)
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {count(len(base))} customers who have "
    f"bought · horizon {horizon_weeks} weeks, discount rate {pct(annual_discount_rate, 0)} a "
    "year · values are expected net spend (before margin)."
)

# %% [markdown]
# ## At a glance

# %%
run.headline(
    "expected_value",
    figures["expected_value"],
    label=f"Expected value of the base, next {horizon_weeks} weeks",
    fmt=money,
)
run.headline(
    "top_decile_share", figures["top_decile_share"], label="Value share of the top 10%", fmt=pct
)
run.headline(
    "customers_at_risk", figures["customers_at_risk"], label="Valuable customers at risk", fmt=count
)
run.headline("value_at_risk", figures["value_at_risk"], label="Value at stake", fmt=money)
expected_purchases = float(values["expected_purchases"].sum())
one_timers = int((values["frequency"] == 0).sum())
run.metric("customers", len(base))
run.metric("expected_purchases", expected_purchases)
run.metric(
    "expected_active_repeat_buyers", float(values.loc[values["frequency"] > 0, "p_alive"].sum())
)
say(
    f"- The {count(len(base))} customers are expected to make **{count(expected_purchases)}** "
    f"purchases and spend **{money(figures['expected_value'])}** over the next {horizon_weeks} "
    "weeks (discounted).\n"
    f"- The most valuable 10% of customers hold **{pct(figures['top_decile_share'])}** of that "
    "value.\n"
    f"- **{count(figures['customers_at_risk'])}** valuable customers are at risk of leaving "
    f"(P(alive) below {pct(p_alive_threshold, 0)} or falling fast); if they are gone, "
    f"**{money(figures['value_at_risk'])}** of potential value goes with them. The list is "
    "exported beside this report (`churn_risk.csv`).\n"
    f"- {count(one_timers)} customers ({pct(one_timers / len(base))}) have bought only once. "
    "The model cannot see them leave (in BG/NBD a customer can only drop out after a repeat "
    "purchase, so their P(alive) is 100%); their low value comes from a low expected purchase "
    "rate instead, and they never appear on the risk list."
)

# %% [markdown]
# ## How well do the models predict?
# The models are fitted on a **calibration period** only and asked to predict the following
# **holdout period**, which they did not see; their predictions are compared with what customers
# actually did, and with a naive forecast (each customer keeps buying at their calibration rate).

# %%
cal = value.calibration_holdout(ds, calibration_end, as_of_day)
cal_model = value.BetaGeoModel().fit(cal)
ev = value.evaluate_holdout(cal_model, cal)
say(
    f"Calibration: first purchase to **{cal.attrs['calibration_end']}** ({count(len(cal))} "
    f"customers); holdout: to **{cal.attrs['holdout_end']}** ({ev['holdout_periods']:.0f} weeks)."
)
track = value.tracking(ds, cal_model, cal)
fig = go.Figure()
fig.add_scatter(x=track["period_start"], y=track["actual"], name="actual", line_color=COLORS[0])
fig.add_scatter(
    x=track["period_start"],
    y=track["predicted"],
    name="BG/NBD",
    line=dict(color=COLORS[1], dash="dash"),
)
fig.add_vline(x=pd.Timestamp(cal.attrs["calibration_end"]), line_dash="dot", line_color="#888")
fig.update_layout(
    title="Weekly repeat purchases of the calibration customers: actual vs. predicted",
    yaxis_title="repeat purchases per week",
)
show(fig)
fig = go.Figure()
fig.add_scatter(
    x=track["period_start"], y=track["actual_cumulative"], name="actual", line_color=COLORS[0]
)
fig.add_scatter(
    x=track["period_start"],
    y=track["predicted_cumulative"],
    name="BG/NBD",
    line=dict(color=COLORS[1], dash="dash"),
)
fig.add_vline(x=pd.Timestamp(cal.attrs["calibration_end"]), line_dash="dot", line_color="#888")
fig.update_layout(title="Cumulative repeat purchases", yaxis_title="repeat purchases")
show(fig)

ce = value.conditional_expectations(cal, ev["predicted"], ev["naive"])
fig = go.Figure()
fig.add_bar(x=ce.index, y=ce["actual"], name="actual", marker_color=COLORS[0])
fig.add_bar(x=ce.index, y=ce["predicted"], name="BG/NBD", marker_color=COLORS[1])
fig.add_bar(x=ce.index, y=ce["naive"], name="naive", marker_color=COLORS[7])
fig.update_layout(
    barmode="group",
    title="Holdout purchases per customer by calibration repeat purchases",
    xaxis_title="repeat purchases in the calibration period",
    yaxis_title="mean purchases in the holdout",
)
show(fig)
show_table(
    ce,
    caption="Conditional expectations: mean holdout purchases per customer",
    fmt={"customers": count, "actual": "{:.2f}", "predicted": "{:.2f}", "naive": "{:.2f}"},
)
accuracy = pd.DataFrame(
    {
        "total holdout purchases": [
            ev["holdout_actual_total"],
            ev["holdout_predicted_total"],
            ev["holdout_naive_total"],
        ],
        "MAE per customer": [np.nan, ev["mae"], ev["baseline_mae"]],
        "RMSE per customer": [np.nan, ev["rmse"], ev["baseline_rmse"]],
    },
    index=pd.Index(["actual", "BG/NBD", "naive (calibration rate)"], name=""),
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
total_error = ev["holdout_predicted_total"] / ev["holdout_actual_total"] - 1
for key in ("mae", "rmse", "baseline_mae", "baseline_rmse"):
    run.metric(f"holdout_{key}", ev[key])
run.metric("holdout_predicted_total", ev["holdout_predicted_total"])
run.metric("holdout_actual_total", ev["holdout_actual_total"])
run.metric("holdout_total_error", total_error)
run.table("holdout_tracking", track.assign(period_start=track["period_start"].dt.date))
run.table("holdout_conditional_expectations", ce)
say(
    f"In the holdout the model predicted **{count(ev['holdout_predicted_total'])}** repeat "
    f"purchases against **{count(ev['holdout_actual_total'])}** actual "
    f"({pct(total_error, 1)}). Per customer its error (MAE {ev['mae']:.2f}) is "
    f"**{pct(1 - ev['mae'] / ev['baseline_mae'], 0)} lower** than the naive forecast's "
    f"({ev['baseline_mae']:.2f})."
    if ev["baseline_mae"] > 0
    else "The holdout has no purchases to compare."
)

# %% [markdown]
# ### BG/NBD or Pareto/NBD?
# Both models tell the same story (customers buy at their own rate until they silently leave);
# they differ in when leaving can happen. Higher log-likelihood (on the calibration data) and
# lower holdout error are better.

# %%
if quick:
    say("*Quick run: the Pareto/NBD comparison is skipped.*")
else:
    comparison = value.compare_models(cal)
    labels = {
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
    show_table(
        comparison.rename(columns=labels),
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
    run.table("model_comparison", comparison)
    for label, row in comparison.iterrows():
        key = label.replace("/", "").lower()
        run.metric(f"{key}_log_likelihood", row["log_likelihood"])
        run.metric(f"{key}_holdout_mae", row["mae"])
    best = comparison["mae"].idxmin()
    say(
        f"**{best}** has the lower holdout error; BG/NBD is used for the scores below (the two "
        "differ by "
        f"{pct(abs(comparison['mae'].iloc[0] / comparison['mae'].iloc[1] - 1))} in MAE)."
    )

# %% [markdown]
# ### Spend per purchase (Gamma-Gamma)
# Gamma-Gamma assumes that how much a customer spends per purchase does not depend on how often
# they buy; the correlation between the two among repeat buyers should be close to zero.

# %%
cal_spend = value.GammaGammaModel().fit(cal)
spend_ev = value.evaluate_spend_holdout(cal_spend, cal)
corr = spend_model.correlation_
say(
    f"- Correlation of purchase frequency and average spend: **{corr:.2f}** "
    + (
        "(small: the assumption holds)."
        if abs(corr) < 0.3
        else "(**not small**: treat spend predictions with care)."
    )
)
if spend_ev.get("customers"):
    say(
        f"- For the {count(spend_ev['customers'])} customers who bought in the holdout, "
        f"predicted spend per purchase was off by {money(spend_ev['spend_mae'], 2)} on average "
        f"(their own calibration average: {money(spend_ev['spend_baseline_mae'], 2)}); mean "
        f"predicted {money(spend_ev['spend_predicted_mean'], 2)} vs. actual "
        f"{money(spend_ev['spend_actual_mean'], 2)}."
    )
    run.metric("spend_holdout_mae", spend_ev["spend_mae"])
    run.metric("spend_holdout_baseline_mae", spend_ev["spend_baseline_mae"])
run.metric("frequency_monetary_correlation", corr)

# %% [markdown]
# ### Fitted parameters
# Fitted on all data up to the report date (standard errors from the observed information).

# %%
params = pd.concat(
    {"BG/NBD": purchase_model.summary(), "Gamma-Gamma": spend_model.summary()}, names=["model"]
)
truth_file = (
    Path(ds.info.get("truth_dir", "")) / "params.json" if ds.info.get("truth_dir") else None
)
if truth_file is not None and truth_file.exists():
    truth = json.loads(truth_file.read_text())
    params["simulated truth"] = [
        truth.get(p, np.nan) if m == "BG/NBD" else np.nan for m, p in params.index
    ]
show_table(params, caption="Model parameters", fmt="{:,.3f}")
for (model, name), row in params.iterrows():
    run.metric(f"{'bgnbd' if model == 'BG/NBD' else 'gg'}_{name}", row["estimate"])
run.metric("bgnbd_log_likelihood", purchase_model.log_likelihood_)
run.model("bgnbd", purchase_model)
run.model("gamma_gamma", spend_model)
r, alpha, a, b = (purchase_model.params_[k] for k in ("r", "alpha", "a", "b"))
say(
    f"An average customer buys about **{r / alpha * 52:.1f} times a year** while active, and "
    f"after each repeat purchase leaves with a probability of about **{pct(a / (a + b), 0)}**; "
    f"an average purchase is worth {money(spend_model.population_mean(), 2)}."
)

# %%
truth_customers = (
    Path(ds.info["truth_dir"]) / "customers.parquet" if ds.info.get("truth_dir") else None
)
if truth_customers is not None and truth_customers.exists():
    truth_c = pd.read_parquet(truth_customers).reindex(values.index)
    bands = pd.cut(values["p_alive"], [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], include_lowest=True)
    check = (
        pd.DataFrame(
            {
                "band": bands.astype(str),
                "alive": truth_c["alive_at_end"].astype(float),
                "p": values["p_alive"],
            }
        )
        .groupby("band", sort=True)
        .agg(customers=("p", "size"), mean_p_alive=("p", "mean"), truly_active=("alive", "mean"))
    )
    say(
        "**Check against the simulator's truth** (only possible on simulated data): customers "
        "grouped by predicted P(alive), and the share of them that were really still active."
    )
    show_table(
        check.rename_axis("P(alive) band"),
        caption="P(alive) vs. the truth",
        fmt={"customers": count, "mean_p_alive": pct, "truly_active": pct},
    )
    err = values["expected_purchases"] - truth_c["expected_purchases_next_52w"]
    run.metric("truth_expected_purchases_mae", float(err.abs().mean()))

# %% [markdown]
# ## What each customer is worth
# **Expected value** (CLV) is what the customer is expected to spend over the horizon, given
# the chance they are still active; **potential value** is what they would spend if they are.
# Customers who bought only once have P(alive) = 100% in BG/NBD (see above), so the low deciles
# mix one-time buyers (sure to be "alive", but rarely buying) with repeat buyers who have
# probably left.

# %%
deciles = values.groupby("value_decile").agg(
    customers=("clv", "size"),
    expected_value=("clv", "sum"),
    mean_p_alive=("p_alive", "mean"),
    expected_purchases=("expected_purchases", "mean"),
    potential_value=("potential_value", "sum"),
)
deciles["share_of_value"] = deciles["expected_value"] / deciles["expected_value"].sum()
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
    yaxis_title="value",
)
show(fig)
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
run.table("value_deciles", deciles)
fig = go.Figure(
    go.Histogram(x=values["p_alive"], nbinsx=40, marker_color=COLORS[2], name="customers")
)
fig.update_layout(
    title="How likely customers are still active: P(alive)",
    xaxis_title="P(alive)",
    yaxis_title="customers",
    xaxis_tickformat=".0%",
)
show(fig)

# %% [markdown]
# ## Customers at risk and top customers
# **At risk**: customers in the top quarter by potential value whose P(alive) is below the
# threshold or fell by 10 points or more in the last four weeks without a purchase, and who are
# not already almost surely gone (P(alive) at least 5%). Ranked by the value at stake. Both lists
# are exported as CSV beside the report (`churn_risk.csv`, `top_customers.csv`), by customer id
# only; `contactable` marks customers who agreed to marketing.

# %%
run.table("churn_risk", risk)
run.table("top_customers", top)
list_fmt = {
    "frequency": count,
    "orders": count,
    "revenue": money,
    "days_since_last": count,
    "p_alive": pct,
    "p_alive_change": lambda v: "–" if pd.isna(v) else f"{v * 100:+.0f} pts",
    "expected_purchases": "{:.1f}",
    "clv": money,
    "potential_value": money,
    "value_at_risk": money,
    "value_decile": count,
}
show_table(risk.head(20), caption=f"Top 20 of {count(len(risk))} customers at risk", fmt=list_fmt)
show_table(top.head(20), caption="Top 20 customers by expected value", fmt=list_fmt)

# %% [markdown]
# ## Retention by cohort
# Customers are grouped by the month of their first purchase; each cell is the share of the
# cohort that bought again in that month after acquisition.

# %%
co = retention.cohorts(ds, as_of=as_of_day)
matrix = co.retention.iloc[:, 1:]
if quick:
    matrix = matrix.tail(12)
matrix = matrix.loc[:, matrix.notna().any()]
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
)
show(fig, height=max(400, 18 * len(matrix) + 150))
avg = co.average_retention()
fig = go.Figure(
    go.Scatter(x=avg.index[1:], y=avg.iloc[1:], mode="lines+markers", line_color=COLORS[0])
)
fig.update_layout(
    title="Average retention curve (all cohorts, weighted by size)",
    xaxis_title="months since first purchase",
    yaxis_title="share buying in the month",
    yaxis_tickformat=".0%",
)
show(fig)
run.table("cohort_retention", co.to_frame())
rr = retention.repeat_rate(ds, as_of=as_of_day)
churn = retention.period_churn(ds, as_of=as_of_day)
overall = rr.loc["all"]
say(
    f"- **{pct(overall['repeat_ever'])}** of customers have bought more than once; "
    + ", ".join(
        f"{pct(overall[f'repeat_within_{w}d'])} within {w} days"
        for w in (90, 180, 365)
        if pd.notna(overall[f"repeat_within_{w}d"])
    )
    + " of their first purchase (among customers observed that long).\n"
    f"- Month to month, on average **{pct(churn['retention_rate'].tail(12).mean())}** of a "
    f"month's buyers bought again the next month over the last 12 complete months."
)
run.metric("repeat_rate", float(overall["repeat_ever"]))
run.metric("monthly_retention_12m", float(churn["retention_rate"].tail(12).mean()))
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
show(fig)
rr_shown = rr.tail(13).rename_axis("cohort")
rr_shown.columns = [
    c.replace("_", " ").removesuffix("d") + (" days" if "within" in c else "")
    for c in rr_shown.columns
]
show_table(
    rr_shown,
    caption="Repeat-purchase rate by cohort (recent cohorts and all customers)",
    fmt={c: pct for c in rr_shown.columns if c != "customers"},
)
run.table("period_churn", churn)

# %% [markdown]
# ## How long customers stay
# Kaplan-Meier survival of the *active lifetime*: a customer counts as lost on their last
# purchase before a gap of more than the lapse window without buying; customers still buying
# count only up to their latest purchase (censored).

# %%
lapse = retention.time_to_lapse(ds, as_of=as_of_day, lapse_days=lapse_days)
curves, surv, _ = retention.survival(lapse)
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
show(fig)
row = surv.iloc[0]
median = row["median_days_to_lapse"]
if pd.isna(median):
    text = (
        f"More than half of the customers are still buying ({count(row['lapses'])} of "
        f"{count(row['customers'])} have lapsed so far)."
    )
elif median == 0:
    text = (
        f"More than half of the customers never bought again within {lapse_days} days of their "
        "first purchase."
    )
else:
    text = f"Half of the customers are lost within **{median:.0f} days** of their first purchase."
if pd.notna(row["survival_365d"]):
    text += f" **{pct(row['survival_365d'])}** are still buying a year after it."
say(text)
run.metric("median_days_to_lapse", row["median_days_to_lapse"])
SURVIVAL_LABELS = {
    "lapses": "lapsed",
    "median_days_to_lapse": "median days to lapse",
    "survival_90d": "active after 90 days",
    "survival_180d": "active after 180 days",
    "survival_365d": "active after 365 days",
}
groups = {} if quick else retention.retention_by(ds, view, lapse)
if not groups and not quick:
    say("*The data has no channel, region or customer attributes to split retention by.*")
for dim, (g_curves, g_summary, p_value) in groups.items():
    fig = go.Figure()
    for i, (name, part) in enumerate(g_curves.groupby("group", sort=True)):
        fig.add_scatter(
            x=part["days"],
            y=part["survival"],
            name=str(name),
            line_shape="hv",
            line_color=COLORS[i % len(COLORS)],
        )
    title = dim.replace("_", " ")
    fig.update_layout(
        title=f"Still active by {title} (log-rank p = {p_value:.3g})",
        xaxis_title="days since first purchase",
        yaxis_title="still active",
        yaxis_tickformat=".0%",
    )
    show(fig)
    show_table(
        g_summary.rename_axis(title).rename(columns=SURVIVAL_LABELS),
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
    run.table(f"retention_by_{dim}", g_summary)
if quick:
    say("*Quick run: retention by channel, region and segment is skipped.*")

# %% [markdown]
# ## When do customers pay back?
# Cumulative margin per acquired customer (net revenue × margin rate) by months since their
# first purchase, against the assumed cost of acquiring a customer. Both the margin rate and the
# acquisition cost are report parameters: replace them with your own figures.

# %%
pb = retention.payback(
    ds, margin_rate=margin_rate, acquisition_cost=acquisition_cost, as_of=as_of_day
)
shown = pb.tail(12) if quick else pb
step = max(1, len(shown) // 8)
fig = go.Figure()
for i, (cohort, row_pb) in enumerate(shown.iloc[::step].iterrows()):
    fig.add_scatter(
        x=row_pb.index,
        y=row_pb.to_numpy(),
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
    yaxis_title="cumulative margin per customer",
)
show(fig)
paid = retention.time_to_payback(
    ds, margin_rate=margin_rate, acquisition_cost=acquisition_cost, as_of=as_of_day
)
pay_curves, pay_summary, _ = retention.survival(paid)
share_year = 1 - pay_summary["survival_365d"].iloc[0]
periods = pb.attrs["payback_period"]
say(
    f"With a margin of {pct(margin_rate, 0)} and an acquisition cost of "
    f"{money(acquisition_cost)}, the typical cohort pays back after "
    + (
        f"**{periods.median():.0f} month{'' if periods.median() == 1 else 's'}**"
        if periods.notna().any()
        else "**more than the months observed so far**"
    )
    + (
        f"; **{pct(share_year)}** of individual customers have paid back within a year of "
        "their first purchase."
        if pd.notna(share_year)
        else "."
    )
)
run.metric("cohort_payback_months_median", float(periods.median()))
run.metric("share_paid_back_1y", float(share_year))
run.table("payback", pb.assign(payback_period=periods))

# %% [markdown]
# ## About the method
# - **Purchases**: all purchase lines of a customer on one day are one purchase; returns never
#   count as purchases. Times are in weeks.
# - **BG/NBD**: while active, each customer buys at their own steady rate; after each repeat
#   purchase they may leave for good. Rates and leaving chances vary between customers (gamma
#   and beta distributions) and are estimated by maximum likelihood on all customers at once.
# - **Gamma-Gamma**: each customer has their own average spend per purchase; a customer with few
#   purchases is pulled towards the average of everybody.
# - **CLV** sums expected purchases month by month over the horizon, times expected spend per
#   purchase, discounted at the annual rate. It is revenue, not profit: multiply by your margin.
# - **Validation** fits on the calibration period only and scores the holdout; the naive
#   forecast assumes each customer keeps their calibration purchase rate.

# %%
run.finish()

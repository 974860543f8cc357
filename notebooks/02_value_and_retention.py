# ---
# jupyter:
#   crm_report:
#     description: What each customer is worth over the next year (BG/NBD and Gamma-Gamma,
#       validated on a holdout period), who is slipping away, how cohorts retain and
#       when they pay back.
#     requires:
#     - transactions
#     slug: value_retention
#     title: Customer value and retention
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: crm_report,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
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
value_model = "auto"  # auto (the rule fixed in advance), bgnbd, pareto_nbd, naive or stacked
value_covariates = ""  # COL,... customer attributes for the stacked model
quick = False  # small, fast run (skips the Pareto/NBD comparison and group survival)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import json
from functools import partial
from pathlib import Path

import pandas as pd

from crm_models import value
from crm_models.charts import value as charts
from crm_models.features import customer_view
from crm_models.plotting import count, money, pct, say, show, show_table
from crm_models.reporting import start_report
from crm_models.units import unit_days
from crm_models.value import retention

ds, as_of_day, run = start_report("value_retention", globals())
view = customer_view(ds, as_of=as_of_day)
# which model values the customers: with "auto" the rule fixed in advance
# (crm_models.value.selection) compares the candidates on the calibration period only
covariates = [c.strip() for c in value_covariates.split(",") if c.strip()] or None
choice = value.value_model_choice(ds, value_model, calibration_end, as_of_day, covariates)
# its BTYD purchase model (BG/NBD for the naive and stacked forecasts) unless that fit is
# degenerate: then the fallback rule of crm_models.value.fit_quality picks the first usable
# fit and says so below (the view above is in weeks: only a fallback to days builds another)
purchase_model, base, fit_fallback = value.fit_with_fallback(
    lambda unit: value.buyers(
        view if unit == "W" else customer_view(ds, as_of=as_of_day, time_unit=unit),
        value.SUMMARY_COLUMNS,
    ),
    model=value.purchase_model_for(choice["model_chosen"]),
)
per_week = 7 / unit_days(purchase_model.time_unit)  # model periods per week
spend_model = value.GammaGammaModel().fit(base)
# a chosen naive or stacked forecast corrects the purchase model customer by customer
multiplier = value.forecast_multiplier(
    choice["model_chosen"],
    ds,
    as_of_day,
    horizon_weeks * per_week,
    purchase_model,
    base,
    covariates,
)
values = value.customer_value(
    purchase_model,
    spend_model,
    base,
    horizon=horizon_weeks * per_week,
    annual_discount_rate=annual_discount_rate,
    multiplier=multiplier,
)
values["p_alive_change"] = value.p_alive_change(purchase_model, base, periods=4 * per_week)
# 80 % ranges of each customer's expected purchases and CLV, and the totals' 80 %/95 % ranges
value_ranges, value_totals = value.value_intervals(
    purchase_model,
    spend_model,
    base,
    horizon=horizon_weeks * per_week,
    annual_discount_rate=annual_discount_rate,
    multiplier=multiplier,
)
values = values.join(value_ranges)
risk = retention.churn_risk_list(
    values,
    view,
    p_alive_threshold=p_alive_threshold,
    p_alive_trusted=fit_fallback["prior_sd"] is None,
)
top = retention.top_customers(values, view, n=500)
figures = retention.summary_figures(values, risk)
say(charts.data_text(ds.name, as_of_day, len(base), horizon_weeks, annual_discount_rate))

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
totals = value.base_figures(values)
for key in ("customers", "expected_purchases", "expected_active_repeat_buyers"):
    run.metric(key, totals[key])
say(
    charts.glance_text(
        figures,
        len(base),
        totals["expected_purchases"],
        totals["one_timers"],
        horizon_weeks,
        p_alive_threshold,
        risk.attrs,
    )
)
say(charts.value_model_text(choice, value.VALUE_MODEL_LABELS))
if fit_fallback["text"]:
    say(f"*{fit_fallback['text']}*")
say(charts.future_value_text(value_totals, horizon_weeks))
for level in ("80", "95"):
    for side, number in zip(("low", "high"), value_totals[f"clv_interval_{level}"], strict=True):
        run.metric(f"expected_value_{side}_{level}", number)

# %% [markdown]
# ## How well do the models predict?
# The models are fitted on a **calibration period** only and asked to predict the following
# **holdout period**, which they did not see; their predictions are compared with what customers
# actually did, and with a naive forecast (each customer keeps buying at their calibration rate).

# %%
cal_model, cal, cal_fallback = value.fit_with_fallback(
    lambda unit: value.calibration_holdout(ds, calibration_end, as_of_day, unit),
    model=value.purchase_model_for(choice["model_chosen"]),
)
ev = value.evaluate_holdout(cal_model, cal)
ev.update(value.holdout_interval(cal_model, cal))
unit_name = {"W": "weeks", "D": "days"}[cal_model.time_unit]
say(
    f"Calibration: first purchase to **{cal.attrs['calibration_end']}** ({count(len(cal))} "
    f"customers); holdout: to **{cal.attrs['holdout_end']}** ({ev['holdout_periods']:.0f} "
    f"{unit_name}); model: **{cal_model.label}**."
)
total_error = value.holdout_total_error(ev)
say(charts.holdout_text(ev, total_error))
track = value.tracking(ds, cal_model, cal)
for fig in charts.tracking_charts(track, cal.attrs["calibration_end"]):
    show(fig)
for key in ("mae", "rmse", "baseline_mae", "baseline_rmse"):
    run.metric(f"holdout_{key}", ev[key])
run.metric("holdout_predicted_total", ev["holdout_predicted_total"])
run.metric("holdout_actual_total", ev["holdout_actual_total"])
run.metric("holdout_total_error", total_error)
run.table("holdout_tracking", track.assign(period_start=track["period_start"].dt.date))
for level in ("80", "95"):
    low_high = ev[f"holdout_predicted_interval_{level}"]
    for side, number in zip(("low", "high"), low_high, strict=True):
        run.metric(f"holdout_predicted_{side}_{level}", number)

# %% tags=["how-we-know"]
cal_warnings = value.fit_warnings(cal_fallback, cal_model)
say(charts.fit_check_text(cal_fallback, cal_warnings))
run.metric("fit_warnings", len(cal_warnings))
say(charts.holdout_interval_text(ev))
ce = value.conditional_expectations(cal, ev["predicted"], ev["naive"])
show(charts.conditional_expectations_chart(ce, cal_model.label))
charts.show_holdout_tables(ce, value.holdout_accuracy(ev, cal_model.label))
run.table("holdout_conditional_expectations", ce)

# %% [markdown] tags=["how-we-know"]
# ### Goodness of fit
# Does the model reproduce how many customers made 0, 1, 2, ... repeat purchases in the
# calibration period (chi-square test, Fader, Hardie & Lee 2005)? And do the customers it
# expects to buy in the holdout actually buy? Customers are split into ten equal groups by
# their predicted chance of buying at least once in the holdout; the naive forecast is each
# customer's calibration rate (as a Poisson chance of at least one purchase).

# %% tags=["how-we-know"]
gof = value.frequency_histogram(cal_model, cal)
show(charts.histogram_chart(gof["histogram"], cal_model.label))
say(charts.chi_square_text(gof))
run.metric("chi_square", gof["chi_square"])
run.metric("chi_square_p_value", gof["p_value"])
run.table("calibration_histogram", pd.DataFrame(gof["histogram"]))
calibration_deciles = value.decile_calibration(cal_model, cal)
charts.show_decile_calibration(calibration_deciles)
say(charts.decile_text(calibration_deciles))
run.table("holdout_decile_calibration", calibration_deciles)

# %% [markdown] tags=["how-we-know"]
# ### Which model values the customers?
# Four forecasts of each customer's purchases compete: BG/NBD, Pareto/NBD, the naive rate
# (each customer keeps their calibration rate) and a stacked model (BG/NBD's forecast corrected
# by gradient boosting on recent activity and first-order spend). The rule, fixed in advance,
# never looks at the holdout: it splits the calibration period once more, fits every candidate
# on the earlier part and keeps the one with the lowest per-customer error (MAE) on the later
# part. The table shows how each candidate then did on the holdout.

# %% tags=["how-we-know"]
choice_table = charts.value_model_table(choice)
if choice_table.empty:
    say(charts.value_model_text(choice, value.VALUE_MODEL_LABELS))
else:
    charts.show_value_model_choice(choice_table, value.VALUE_MODEL_LABELS)
    run.table("value_model_comparison", choice_table)
    for name, row in choice_table.iterrows():
        for key in ("mae", "rmse", "total_error", "spearman"):
            run.metric(f"value_model_{name}_{key}", row[key])

# %% [markdown] tags=["how-we-know"]
# ### BG/NBD or Pareto/NBD?
# Both models tell the same story (customers buy at their own rate until they silently leave);
# they differ in when leaving can happen. Higher log-likelihood (on the calibration data) and
# lower holdout error are better.

# %% tags=["how-we-know"]
if quick:
    say("*Quick run: the Pareto/NBD comparison is skipped.*")
else:
    comparison = value.compare_models(cal, time_unit=cal_model.time_unit)
    charts.show_model_comparison(comparison)
    run.table("model_comparison", comparison)
    for key, number in value.comparison_metrics(comparison).items():
        run.metric(key, number)
    say(charts.comparison_text(comparison, value.VALUE_MODEL_LABELS[choice["model_chosen"]]))

# %% [markdown] tags=["how-we-know"]
# ### Spend per purchase (Gamma-Gamma)
# Gamma-Gamma assumes that how much a customer spends per purchase does not depend on how often
# they buy; the correlation between the two among repeat buyers should be close to zero.

# %% tags=["how-we-know"]
cal_spend = value.GammaGammaModel().fit(cal)
spend_ev = value.evaluate_spend_holdout(cal_spend, cal)
corr = spend_model.correlation_
for text in charts.spend_texts(corr, spend_ev):
    say(text)
if spend_ev.get("customers"):
    run.metric("spend_holdout_mae", spend_ev["spend_mae"])
    run.metric("spend_holdout_baseline_mae", spend_ev["spend_baseline_mae"])
run.metric("frequency_monetary_correlation", corr)

# %% [markdown] tags=["how-we-know"]
# ### Fitted parameters
# Fitted on all data up to the report date (standard errors from the observed information;
# none where the data do not identify the parameter).

# %% tags=["how-we-know"]
truth_dir = Path(ds.info["truth_dir"]) if ds.info.get("truth_dir") else None
truth_file = truth_dir / "params.json" if truth_dir is not None else None
truth = json.loads(truth_file.read_text()) if truth_file and truth_file.exists() else None
params = value.parameter_table(purchase_model, spend_model, truth)
show_table(params, caption="Model parameters", fmt="{:,.3f}")
model_key = fit_fallback["model"]
for (model, name), row in params.iterrows():
    run.metric(f"{model_key if model == purchase_model.label else 'gg'}_{name}", row["estimate"])
run.metric(f"{model_key}_log_likelihood", purchase_model.log_likelihood_)
# MLflow model: customer_value of buyers' frequency/recency/T (model periods)/monetary_value
run.model(
    "customer_value",
    partial(
        value.customer_value,
        purchase_model,
        spend_model,
        horizon=horizon_weeks * per_week,
        annual_discount_rate=annual_discount_rate,
    ),
    base,
    metadata={
        "purchase_model": purchase_model.label,
        "time_unit": purchase_model.time_unit,
        "horizon_weeks": horizon_weeks,
        "annual_discount_rate": annual_discount_rate,
    },
)
full_warnings = value.fit_warnings(fit_fallback, purchase_model)
say(charts.fit_check_text(fit_fallback, full_warnings))
say(
    charts.average_customer_text(value.average_customer(purchase_model, spend_model, 52 * per_week))
)

# %% tags=["how-we-know"]
truth_customers = truth_dir / "customers.parquet" if truth_dir is not None else None
if truth_customers is not None and truth_customers.exists():
    truth_c = pd.read_parquet(truth_customers).reindex(values.index)
    say(
        "**Check against the simulator's truth** (only possible on simulated data): customers "
        "grouped by predicted P(alive), and the share of them that were really still active."
    )
    charts.show_truth_check(value.p_alive_vs_truth(values["p_alive"], truth_c["alive_at_end"]))
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
deciles = value.value_deciles(values)
show(charts.deciles_chart(deciles))
run.table("value_deciles", deciles)

# %% tags=["how-we-know"]
charts.show_deciles(deciles)
show(charts.p_alive_histogram(values["p_alive"]))

# %% [markdown]
# ## Customers at risk and top customers
# **At risk**: customers in the top quarter by potential value whose P(alive) is below the
# threshold or fell by 10 points or more in the last four weeks without a purchase, and who are
# not already almost surely gone (P(alive) at least 5%). Ranked by the value at stake. Both lists
# are exported as CSV beside the report (`churn_risk.csv`, `top_customers.csv`), by customer id
# only; `contactable` marks customers who agreed to marketing. When the purchase model sees
# almost nobody leaving, the list takes valuable repeat buyers who are overdue at their own pace
# instead, and says so here.

# %%
if risk.attrs["rule"] == "overdue":
    say(charts.risk_text(figures, p_alive_threshold, risk.attrs))
run.table("churn_risk", risk)
run.table("top_customers", top)
charts.show_customer_list(risk, caption=f"Top 20 of {count(len(risk))} customers at risk")
charts.show_customer_list(top, caption="Top 20 customers by expected value")

# %% [markdown]
# ## Retention by cohort
# Customers are grouped by the month of their first purchase; each cell is the share of the
# cohort that bought again in that month after acquisition.

# %%
co = retention.cohorts(ds, as_of=as_of_day)
show(charts.cohort_heatmap(retention.cohort_matrix(co, last=12 if quick else None)))
show(charts.average_retention_chart(co.average_retention()))
run.table("cohort_retention", co.to_frame())
rr = retention.repeat_rate(ds, as_of=as_of_day)
churn = retention.period_churn(ds, as_of=as_of_day)
monthly = retention.monthly_retention(churn, 12)
say(charts.repeat_text(rr.loc["all"], monthly))
run.metric("repeat_rate", float(rr.loc["all", "repeat_ever"]))
run.metric("monthly_retention_12m", monthly)
show(charts.churn_chart(churn))
run.table("period_churn", churn)

# %% tags=["how-we-know"]
charts.show_repeat_rates(rr)

# %% [markdown]
# ## How long customers stay
# Kaplan-Meier survival of the *active lifetime*: a customer counts as lost on their last
# purchase before a gap of more than the lapse window without buying; customers still buying
# count only up to their latest purchase (censored).

# %%
lapse = retention.time_to_lapse(ds, as_of=as_of_day, lapse_days=lapse_days)
curves, surv, _ = retention.survival(lapse)
show(charts.survival_chart(curves, lapse_days))
say(charts.lapse_text(surv.iloc[0], lapse_days))
run.metric("median_days_to_lapse", surv.iloc[0]["median_days_to_lapse"])

# %% tags=["how-we-know"]
groups = {} if quick else retention.retention_by(ds, view, lapse)
if not groups and not quick:
    say("*The data has no channel, region or customer attributes to split retention by.*")
for dim, (g_curves, g_summary, p_value) in groups.items():
    show(charts.group_survival_chart(g_curves, dim, p_value))
    charts.show_group_survival(g_summary, dim, p_value)
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
    ds, margin_rate=margin_rate, acquisition_cost=acquisition_cost, as_of=as_of_day, co=co
)
show(charts.payback_chart(pb.tail(12) if quick else pb, acquisition_cost))
paid = retention.time_to_payback(
    ds, margin_rate=margin_rate, acquisition_cost=acquisition_cost, as_of=as_of_day
)
pay = retention.payback_figures(pb, paid)
say(
    charts.payback_text(
        margin_rate, acquisition_cost, pay["median_periods"], pay["share_paid_back_1y"]
    )
)
run.metric("cohort_payback_months_median", pay["median_periods"])
run.metric("share_paid_back_1y", pay["share_paid_back_1y"])
run.table("payback", pb.assign(payback_period=pb.attrs["payback_period"]))

# %% [markdown]
# ## About the method

# %% [markdown] tags=["how-we-know"]
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
# - **Ranges**: the fitted parameters are redrawn 200 times from their estimated uncertainty
#   (or, when the data do not pin a parameter down, refitted on customers resampled with
#   replacement), and for totals each draw also plays out what every customer might buy. The
#   80% range holds 8 draws out of 10. A customer's `clv_low`/`clv_high` is the 80% range of
#   the value *expected* of them; the totals' ranges also include chance. On a large base (more
#   than 10,000 distinct pairs of repeat purchases and customer age) a customer's range comes
#   from how their value responds to each parameter, under the same spread of the parameters,
#   and above 40,000 customers the chance part of the totals is played out on a random sample
#   of 40,000 customers, scaled up.
# - **Fit check and fallback**: every fit is checked for convergence, parameters that collapse
#   to 0 or run off to infinity, and a likelihood that is flat in some direction (Hessian not
#   positive definite); such parameters get no standard error. When BG/NBD's fit is degenerate,
#   a rule fixed in advance tries, in order, Pareto/NBD, BG/NBD in days, and BG/NBD then
#   Pareto/NBD with a weak prior on the log-parameters; the first usable fit is used and named.

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
say(
    charts.findings(
        values,
        figures,
        value_totals,
        ev,
        spend_ev,
        f"{ev['holdout_periods']:.0f} {unit_name}",
        risk,
        surv.iloc[0],
        lapse_days,
        pb,
        pay,
        horizon_weeks,
    )
)

# %%
run.finish()

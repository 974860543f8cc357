# ---
# jupyter:
#   crm_report:
#     description: What each campaign did against its control group, who responds versus
#       who is persuadable, uplift models tested honestly, and the profit-optimal contact
#       list that respects opt-outs, contact-frequency caps and preferred channels.
#     requires:
#     - campaigns
#     slug: targeting
#     title: Campaign response and targeting
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
# # Campaign response and targeting

# %% [markdown]
# Who should get the next mailing? Mailing the customers most likely to buy is not the answer:
# many of them buy anyway. What matters is **uplift**, the *extra* response a contact causes,
# and it can only be measured against a randomly chosen control group that was not contacted.
# This report measures what past campaigns did, compares models that predict uplift per
# customer on customers they never saw, and turns the best one into a contact list with its
# expected incremental profit, honouring opt-outs, contact-frequency caps and preferred channels.

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file (e.g. a path to hillstrom.csv)
as_of = None  # date the contact list is drawn up (YYYY-MM-DD), or None for the last date
outcome = None  # outcome to model, or None for visit where the data has it, else responded
quick = False  # small, fast run (fewer models and bootstrap resamples)
test_size = 0.3  # share of campaign rows held out for testing
seed = 42  # random seed of the split and the bootstrap
max_fit_rows = None  # campaign rows the models are fitted on at most (None: 65,000; 0: all)
budget = None  # contacts in the next send, or None for a quarter of the eligible customers
budget_amount = None  # money to spend on contacts in the next send, or None (both budgets hold)
cost_per_contact = {"email": 0.10, "sms": 0.05, "post": 0.80, "default": 0.10}  # per channel
margin = 0.4  # share of a response order's value that is profit
# offer cost as a share of a response order: discounts, shipping paid, points redeemed
offer_costs = {
    "discount_10": 0.1,
    "discount_20": 0.2,
    "free_shipping": 0.05,
    "loyalty_points": 0.03,
}
clv_weight = 0.5  # weight of the lifetime-value gain a response brings (0 switches it off)
max_contacts = 2  # frequency cap: at most this many contacts ...
window_days = 30  # ... in this many days (the new contact included)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import pandas as pd

from crm_models import targeting as tg
from crm_models.charts import targeting as charts
from crm_models.features import customer_view
from crm_models.plotting import count, money, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("targeting", globals())
# every customer's model inputs as of today (the contact list scores them): the build's
# customer view with only the campaigns whose response window closed counted, built first (at
# 10M customers building them beside the campaign rows took the kernel past 7 GB)
features = tg.customer_features(ds, as_of_day, view=customer_view(ds, as_of=as_of_day))
data = tg.campaign_data(ds)
primary = outcome or ("visit" if "visit" in data.outcomes else "responded")
rate = tg.is_rate_outcome(primary)  # a 0/1 outcome, shown in %; else money per customer
truth = tg.true_uplift(ds)
n_boot = 50 if quick else 200
offers = {arm: data.label(arm) for arm in [data.control, *data.arms]}
say(
    f"**Data:** {ds.name} · {count(len(data.rows))} customer contacts in "
    f"{len(data.campaigns)} campaign(s) · offers: "
    f"{', '.join(data.label(a) for a in data.arms)} · control group: "
    f"{data.label(data.control)} · outcome modelled: **{primary}**."
)
fit_data = tg.fit_sample(data, primary, max_fit_rows, seed)  # all rows up to the stated cap
if fit_data.sampled_from:
    say(f"*{tg.sample_note(fit_data)}*")

# %% [markdown]
# ## What each campaign did
# Each campaign held back a random control group. The difference between an offer's response
# and its control group's response is the campaign's true average effect; the bars show 95%
# intervals, so an interval that crosses zero means the campaign may have done nothing.

# %%
summary = tg.arm_summary(data, primary)
ate_table = tg.average_effects(data)
show(charts.arm_effects_chart(summary, data.control, primary, rate))
say(charts.strongest_effect_text(summary, data.control, primary, rate))
run.table("campaign_effects", summary)
run.table("average_effects", ate_table)

# %% tags=["how-we-know"]
charts.show_effects(summary, data.control, primary, rate)
charts.show_average_effects(ate_table)

# %% [markdown]
# ## The contact list
# Who gets which offer in the next send: each customer gets the offer expected to pay best, or
# nothing when no offer pays for itself. Customers who opted out, never consented or would
# exceed the contact-frequency cap are never on the list, whatever the budget. The chart
# compares the list with simpler choices: mailing everyone, or mailing the customers most
# likely to buy.

# %%
# the uplift models (shown under "Who is persuadable" below) decide who is on the list
ev = tg.evaluate_uplift(
    fit_data, primary, test_size=test_size, seed=seed, n_boot=n_boot, truth=truth, quick=quick
)
# the chosen model, or the baseline when it does not beat the baseline (see "The chosen model")
model = tg.TargetingModel(ev.used, max_fit_rows=max_fit_rows, sample_seed=seed).fit(ds, data)
run.model(  # checked on the first 1,000 customers (all of them are scored below)
    "targeting_model",
    model.predict,
    features[model.feature_columns_].head(1_000),
    metadata={"learner": model.learner, "outcome": model.outcome, "offers": ",".join(model.arms_)},
)
send_date = as_of_day + pd.Timedelta(days=1)
policy = tg.ContactPolicy(
    budget_money=budget_amount,
    cost_per_contact=cost_per_contact,
    max_contacts=max_contacts,
    window_days=window_days,
    margin=margin,
    offer_costs=offer_costs,
    clv_weight=clv_weight,
)
scores = model.score(ds, as_of_day, features)
del features  # not needed once every customer is scored
customers, campaigns = tg.permission_tables(ds)  # consent, opt-outs and contact history
result = tg.budgeted_contact_list(
    scores, model.arms_, policy, customers, campaigns, send_date, budget
)
s = result.summary
say(
    charts.contact_list_text(
        s, send_date, policy.budget, max_contacts, window_days, margin, clv_weight, model.clv_note_
    )
)
run.headline("contacts", s["contacts"], label="Customers on the contact list", fmt=count)
run.headline(
    "expected_incremental_profit",
    s["expected_incremental_profit"],
    label="Expected incremental profit of the list",
    fmt=money,
)
run.headline(
    "excluded_by_permission",
    s["excluded_by_permission_rules"],
    label="Customers excluded by permission rules",
    fmt=count,
)
show(charts.strategy_profit_chart(result.comparison))
by_arm = pd.Series(s["by_arm"], name="customers").rename(index=data.label).rename_axis("offer")
contacts = result.contacts.assign(arm=result.contacts["arm"].map(data.label))
charts.show_contact_list(result.comparison, result.exclusions, by_arm, contacts)
# the list as `crm-models target` writes it: campaign id, send date, hold-out
mailing = tg.mailing_list(
    contacts, send_date, tg.default_campaign_id(ds.name, send_date), seed=seed
)
run.table("contact_list", mailing)
run.table("contact_list_comparison", result.comparison)
run.table("contact_list_decisions", result.exclusions)

# %% [markdown] tags=["how-we-know"]
# The expected incremental profit of contacting a customer with an offer is the extra response
# the model expects × the expected value of a response order (the customer's own average order,
# shrunk towards the average and calibrated on past response orders) × the margin, minus the
# part of the order an offer gives away (paid by *every* responder, also those who would have
# bought anyway), minus the cost of the contact in the customer's preferred channel. A response
# is also worth more than its order: it re-activates the customer, so the response value includes
# a share (`clv_weight`) of the gain in expected lifetime value, the customer-value model's
# (BG/NBD and Gamma-Gamma) one-year CLV if they are certainly active after buying today minus
# their current CLV, largest for valuable customers who are slipping away. Each
# offer's predicted uplift is re-centred on the effect measured in its own randomised
# campaign(s), so offers tested at different times compete on equal terms.

# %% [markdown]
# ## Who responds
# A response model estimates the probability that a contacted customer responds, from what was
# known the day before the send (purchase history, earlier campaigns, attributes). The curve
# shows how many of the buyers are reached by contacting the best-scored customers first. Good
# response models find buyers; the next section asks whether those buyers needed the mailing.

# %%
resp = tg.evaluate_response(fit_data, "responded" if "responded" in data.outcomes else primary)
show(charts.cumulative_response_chart(resp.cumulative))
run.metric("response_auc", float(resp.metrics.loc[resp.best, "auc"]))
run.table("response_gains", resp.gains)

# %% tags=["how-we-know"]
say(
    f"*Test design:* {resp.split}; {count(resp.n_train)} training and {count(resp.n_test)} test "
    "contacts. Gradient boosting is compared with a regularised logistic regression."
)
charts.show_response_models(resp.metrics)
charts.show_gains(resp.gains, resp.best)
show(charts.calibration_chart(resp.calibration, resp.best))

# %% [markdown]
# ## Who is persuadable
# Uplift models estimate, per customer and offer, how much the contact itself changes the
# outcome. The bars show the extra response actually measured in each tenth of test customers
# the models never saw, ranked by the chosen model and by the response model (mailing the
# likeliest buyers first): a good uplift model puts the largest gains in the first tenths.

# %%
labels = tg.MODEL_LABELS
shown = ev.chosen if ev.chosen != "random" else tg.BASELINE  # random has no curve of its own
for arm in ev.arms:
    ranked = [shown, "response_model"]
    show(charts.uplift_deciles_chart(ev.deciles, ranked, arm, offers[arm], primary, labels))
run.table("uplift_models", ev.metrics)

# %% [markdown] tags=["how-we-know"]
# The model is chosen by cross-fitting on the training part (three folds, each scored
# by the models fitted on the other two, the Qini coefficient averaged over folds and offers;
# random targeting and the two-model logistic baseline are always candidates), refitted on the
# whole training part and tested on a part it never saw (split stratified on offer × outcome,
# fixed seeds). Each is compared with **random targeting**, with **ranking by the response
# model** (mailing the likeliest buyers) and with the **two-model logistic baseline**; it
# *beats the baseline* only where its uplift@30% lies above the baseline's 95% interval. The
# Qini coefficient and the normalised AUUC are 0 for random targeting and 1 for a perfect
# ranking; uplift@30% is the measured extra response among the 30% ranked highest.

# %% tags=["how-we-know"]
charts.show_uplift_models(ev.metrics, offers, labels, ev.truth, ev.n_test, primary)
for arm in ev.arms:
    curves = [*ev.models, "response_model"]
    show(charts.qini_chart(ev.qini, curves, shown, arm, offers[arm], primary, labels))

# %% [markdown]
# ## The chosen model and why
# Which model ranks the customers for the contact list, whether it does better than a simple
# baseline on customers it never saw, and how sure these figures are.

# %% tags=["how-we-know"]
best = tg.chosen_model_summary(ev)
true_fit = tg.truth_summary(ev)
say(
    charts.chosen_model_text(
        labels[ev.chosen], ev.reason, best, offers, primary, rate, true_fit, shown
    )
)
say(charts.baseline_verdict_text(ev.verdict, ev.beats_baseline, ev.used, offers, labels))
intervals = tg.repeated_split_intervals(
    fit_data, primary, [shown, tg.BASELINE], ev.arms, test_size, seed, repeats=2 if quick else 5
)
say(charts.intervals_text(intervals, shown, tg.BASELINE, offers, labels, rate))
run.table("uplift_intervals", intervals)
for arm in ev.arms:
    run.metric(f"uplift_at_30_{arm}", float(best.at[arm, "uplift_at_30"]))
    run.metric(f"qini_{arm}", float(best.at[arm, "qini_auc"]))
    run.metric(f"baseline_uplift_at_30_{arm}", float(best.at[arm, "baseline_uplift_at_30"]))
    run.metric(f"beats_baseline_{arm}", float(ev.beats_baseline[arm]))
if true_fit is not None:
    run.metric("rank_corr_true_chosen", float(true_fit["rank_corr"][shown]))
    run.metric("rank_corr_true_response_model", true_fit["response_rank_corr"])
best_arm = best["uplift_at_30"].idxmax()
run.headline(
    "uplift_at_30",
    float(best.at[best_arm, "uplift_at_30"]),
    label=f"Uplift@30%, {data.label(best_arm)} ({primary})",
    fmt=charts.signed_format(rate),
)
charts.show_validation(ev.validation, labels)

# %% [markdown]
# ### Other outcomes
# The same comparison, with the chosen model type and the baseline, for the remaining outcomes
# (money outcomes in money per customer).

# %% tags=["how-we-know"]
others = [o for o in tg.distinct_outcomes(data) if o != primary]
other = tg.other_outcomes_uplift(
    fit_data, others, ev.chosen, test_size=test_size, seed=seed, n_boot=n_boot
)
if len(other):
    show_table(other, caption="Uplift@30% on the test part for the other outcomes", fmt="{:,.4f}")
    run.table("uplift_other_outcomes", other)
else:
    say("*The data has no other outcome.*")

# %% [markdown]
# ## About the data and the method

# %% tags=["how-we-know"]
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
notes += [
    "Features are computed as of the day before each send; earlier campaigns count only once "
    f"their {tg.RESPONSE_WINDOW_DAYS}-day response window had closed (no leakage).",
    "Metric definitions follow scikit-uplift's documented ones (uplift and Qini curves, "
    "normalised AUUC and Qini coefficient, uplift@k 'overall'); customers with tied scores "
    "count in proportion at a cut-off and in the tenths, so nothing depends on row order.",
    f"Split: {pct(1 - test_size, 0)} for fitting (the model chosen by "
    f"{ev.info['folds']}-fold cross-fitting on it), {pct(test_size, 0)} for testing; seed {seed}; "
    f"{n_boot} bootstrap resamples; {int(intervals['repeats'].iloc[0])} further splits for "
    "the 90% intervals.",
]
notes += data.notes + list(ev.info.get("arms_left_out", {}).values())
notes += [tg.sample_note(fit_data)] if fit_data.sampled_from else []
if ds.name == "hillstrom":
    notes.append(
        "Hillstrom (2008), MineThatData e-mail challenge: offers 'Mens E-Mail', 'Womens E-Mail', "
        "control 'No E-Mail'; outcomes in the two weeks after the send."
    )
say("\n".join(f"- {n}" for n in notes))

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
money_outcome = next((o for o in tg.distinct_outcomes(data) if not tg.is_rate_outcome(o)), None)
say(
    charts.findings(
        ate_table,
        primary,
        rate,
        money_outcome,
        result.comparison,
        data.label(s["single_best_offer"]),
        by_arm,
        tg.holdout_summary(mailing),
    )
)
run.finish()

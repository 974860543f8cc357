# ---
# jupyter:
#   crm_report:
#     slug: targeting
#     title: Campaign response and targeting
#     description: What each campaign did against its control group, who responds versus who is
#       persuadable, uplift models tested honestly, and the profit-optimal contact list that
#       respects opt-outs, contact-frequency caps and preferred channels.
#     requires: [campaigns]
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
# # Campaign response and targeting
#
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
budget = None  # contacts in the next send, or None for a quarter of the eligible customers
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
import plotly.graph_objects as go

from crm_models import targeting as tg
from crm_models.plotting import COLORS, count, money, pct, say, show, show_table
from crm_models.reporting import start_report
from crm_models.targeting import LEARNERS

ds, as_of_day, run = start_report("targeting", globals())
data = tg.campaign_data(ds)
primary = outcome or ("visit" if "visit" in data.outcomes else "responded")
binary_outcomes = [o for o in data.outcomes if o not in ("spend", "response_amount")]
truth = tg.true_uplift(ds)
n_boot = 50 if quick else 200
MODEL_NAMES = {k: v[0] for k, v in LEARNERS.items()} | {
    "random": "random targeting",
    "response_model": "ranking by response model",
    "oracle (true uplift)": "oracle (true uplift, simulated data only)",
}
say(
    f"**Data:** {ds.name} · {count(len(data.rows))} customer contacts in "
    f"{len(data.campaigns)} campaign(s) · offers: "
    f"{', '.join(data.label(a) for a in data.arms)} · control group: "
    f"{data.label(data.control)} · outcome modelled: **{primary}**."
)

# %% [markdown]
# ## What each campaign did
# Each campaign held back a random control group. The difference between an offer's response
# and its control group's response is the campaign's true average effect; the bars show 95%
# intervals, so an interval that crosses zero means the campaign may have done nothing.

# %%
summary = tg.arm_summary(data, primary)
fig = go.Figure()
for i, arm in enumerate(sorted(summary["arm"].unique(), key=lambda a: a != data.control)):
    s = summary.loc[summary["arm"] == arm]
    fig.add_bar(
        x=s["campaign_id"],
        y=s["mean"],
        name=data.label(arm),
        marker_color=COLORS[7] if arm == data.control else COLORS[i % 7],
        error_y=dict(
            type="data",
            symmetric=False,
            array=s["mean_high"] - s["mean"],
            arrayminus=s["mean"] - s["mean_low"],
        ),
    )
fig.update_layout(
    title=f"{primary} by campaign and offer (95% intervals)",
    barmode="group",
    yaxis_title=primary,
    yaxis_tickformat=".1%" if primary in binary_outcomes else None,
)
fig.update_xaxes(type="category")
show(fig)
effects = summary.loc[summary["arm"] != data.control].reset_index(drop=True)
rate_fmt = pct if primary in binary_outcomes else (lambda v: money(v, 2))
show_table(
    effects[["campaign_id", "label", "customers", "mean", "effect", "effect_low", "effect_high"]]
    .rename(
        columns={
            "label": "offer",
            "mean": primary,
            "effect": "effect vs control",
            "effect_low": "95% low",
            "effect_high": "95% high",
        }
    )
    .assign(**{"customers": lambda d: d["customers"].astype(int)}),
    caption=f"Measured effect of each offer on {primary} (difference from the control group)",
    fmt={
        primary: rate_fmt,
        "effect vs control": rate_fmt,
        "95% low": rate_fmt,
        "95% high": rate_fmt,
    },
)
run.table("campaign_effects", summary)
# on Hillstrom "responded" is "conversion" and "response_amount" is "spend": show each once
duplicates = {"responded": "conversion", "response_amount": "spend"}
all_outcomes = [o for o in data.outcomes if duplicates.get(o) not in data.outcomes]
ate_rows = []
for o in all_outcomes:
    for arm in data.arms:
        rows = tg.arm_rows(data, arm)
        is_arm = (data.rows["arm"] == arm).to_numpy()
        y = data.rows[o].to_numpy(dtype=float)
        diff, lo, hi = tg.mean_ci(y[is_arm], y[rows & ~is_arm])
        ate_rows.append(
            {
                "outcome": o,
                "offer": data.label(arm),
                "customers": int(is_arm.sum()),
                "rate or mean": y[is_arm].mean(),
                "control": y[rows & ~is_arm].mean(),
                "effect": diff,
                "95% low": lo,
                "95% high": hi,
            }
        )
ate_table = pd.DataFrame(ate_rows)
show_table(
    ate_table,
    caption="Average effect per offer and outcome, all campaigns",
    fmt={"customers": count, **{c: "{:,.4f}" for c in ate_table.columns[3:]}},
)
run.table("average_effects", ate_table)
best_effect = effects.sort_values("effect", ascending=False).iloc[0]
say(
    f"The strongest measured effect: **{best_effect['label']}** in {best_effect['campaign_id']}, "
    f"{rate_fmt(best_effect['effect'])} on {primary} over the control group "
    f"(95% interval {rate_fmt(best_effect['effect_low'])} to "
    f"{rate_fmt(best_effect['effect_high'])})."
)

# %% [markdown]
# ## Who responds
# A response model estimates the probability that a contacted customer responds, from what was
# known the day before the send (purchase history, earlier campaigns, attributes). Gradient
# boosting is compared with a regularised logistic regression. Good response models find
# buyers; the next section asks whether those buyers needed the mailing.

# %%
resp = tg.evaluate_response(data, "responded" if "responded" in data.outcomes else primary)
say(
    f"*Test design:* {resp.split}; {count(resp.n_train)} training and {count(resp.n_test)} test contacts."
)
show_table(
    resp.metrics.rename_axis("model"),
    caption="Response models on the test contacts (AUC: 0.5 = guessing, 1 = perfect)",
    fmt={"auc": "{:.3f}", "log_loss": "{:.4f}", "brier": "{:.4f}", "top_decile_lift": "{:.2f}"},
)
fig = go.Figure()
for i, col in enumerate(c for c in resp.cumulative.columns if c != "share_contacted"):
    fig.add_scatter(
        x=resp.cumulative["share_contacted"],
        y=resp.cumulative[col],
        name=col,
        line_color=COLORS[i],
    )
fig.add_scatter(x=[0, 1], y=[0, 1], name="random", line=dict(dash="dash", color="#888888"))
fig.update_layout(
    title="Cumulative response: share of responders reached by contacting the top x%",
    xaxis_title="share of customers contacted (best scores first)",
    yaxis_title="share of responders reached",
    xaxis_tickformat=".0%",
    yaxis_tickformat=".0%",
)
show(fig)
show_table(
    resp.gains,
    caption=f"Gains table ({resp.best}, test contacts, deciles of the score)",
    fmt={
        "response_rate": pct,
        "lift": "{:.2f}",
        "cumulative_share_of_responders": pct,
        "mean_score": pct,
    },
)
fig = go.Figure()
fig.add_scatter(
    x=resp.calibration["predicted"],
    y=resp.calibration["observed"],
    mode="lines+markers",
    name=resp.best,
    line_color=COLORS[0],
)
top = float(max(resp.calibration[["predicted", "observed"]].max()))
fig.add_scatter(
    x=[0, top], y=[0, top], name="perfect calibration", line=dict(dash="dash", color="#888888")
)
fig.update_layout(
    title="Calibration: predicted vs observed response (tenths of the test contacts)",
    xaxis_title="predicted probability",
    yaxis_title="observed response rate",
    xaxis_tickformat=".0%",
    yaxis_tickformat=".0%",
)
show(fig)
run.metric("response_auc", float(resp.metrics.loc[resp.best, "auc"]))
run.table("response_gains", resp.gains)

# %% [markdown]
# ## Who is persuadable
# Uplift models estimate, per customer and offer, how much the contact itself changes the
# outcome. They are fitted on one part of the campaign data, chosen on a second part and tested
# on a third part they never saw (split stratified on offer × outcome, fixed seed). Each is
# compared with **random targeting**, with **ranking by the response model** (mailing the
# likeliest buyers) and with the **two-model logistic baseline**. The Qini coefficient and the
# normalised AUUC are 0 for random targeting and 1 for a perfect ranking; uplift@30% is the
# measured extra response among the 30% ranked highest.

# %%
ev = tg.evaluate_uplift(
    data, primary, test_size=test_size, seed=seed, n_boot=n_boot, truth=truth, quick=quick
)
m = ev.metrics.copy()
m["model"] = m["model"].map(lambda k: MODEL_NAMES.get(k, k))
m["offer"] = m["arm"].map(data.label)
cols = [
    "offer",
    "model",
    "uplift_at_30",
    "uplift_at_30_low",
    "uplift_at_30_high",
    "qini_auc",
    "auuc",
]
if ev.truth:
    cols += ["rank_corr_true", "auuc_vs_oracle"]
show_table(
    m[cols].rename(
        columns={
            "uplift_at_30": "uplift@30%",
            "uplift_at_30_low": "95% low",
            "uplift_at_30_high": "95% high",
            "qini_auc": "Qini coefficient",
            "auuc": "AUUC",
            "rank_corr_true": "rank corr. with true uplift",
            "auuc_vs_oracle": "true gain vs oracle",
        }
    ),
    caption=f"Uplift models on the test part ({count(ev.n_test)} rows), outcome {primary}",
    fmt="{:.3f}",
    max_rows=80,
)
run.table("uplift_models", ev.metrics)
for arm in ev.arms:
    fig = go.Figure()
    for i, name in enumerate([*ev.models, "response_model"]):
        q = ev.qini[(name, arm)]
        fig.add_scatter(
            x=q["share"],
            y=q["qini"],
            name=MODEL_NAMES.get(name, name),
            line_color=COLORS[i % 8],
            line_width=3 if name == ev.chosen else 1.5,
        )
    last = ev.qini[(ev.chosen, arm)]["qini"].iloc[-1]
    fig.add_scatter(x=[0, 1], y=[0, last], name="random", line=dict(dash="dash", color="#888888"))
    fig.update_layout(
        title=f"Qini curve, {data.label(arm)}: extra {primary} won by contacting the top x%",
        xaxis_title="share of test customers contacted (highest predicted uplift first)",
        yaxis_title=f"incremental {primary}",
        xaxis_tickformat=".0%",
    )
    show(fig)
    fig = go.Figure()
    for i, name in enumerate([ev.chosen, "response_model"]):
        d = ev.deciles[(name, arm)]
        fig.add_bar(
            x=d.index,
            y=d["uplift"],
            name=MODEL_NAMES.get(name, name),
            marker_color=COLORS[i],
            error_y=dict(type="data", array=1.96 * d["std_uplift"]),
        )
    fig.update_layout(
        title=f"Measured uplift by tenth of customers, {data.label(arm)} (95% intervals)",
        xaxis_title="tenth of test customers (best predicted first)",
        yaxis_title=f"uplift in {primary}",
        barmode="group",
    )
    fig.update_xaxes(type="category")
    show(fig)

# %% [markdown]
# ## The chosen model and why

# %%
best = ev.best_rows().set_index("arm")
base = ev.metrics.loc[ev.metrics["model"] == "two_model_logistic"].set_index("arm")
rnd = ev.metrics.loc[ev.metrics["model"] == "random"].set_index("arm")
respm = ev.metrics.loc[ev.metrics["model"] == "response_model"].set_index("arm")
lines = [
    f"**Chosen model: {MODEL_NAMES[ev.chosen]}**, for the {ev.reason}.",
]
for arm in ev.arms:
    lines.append(
        f"- {data.label(arm)}: among the 30% it ranks highest the contact raised {primary} by "
        f"**{rate_fmt(best.at[arm, 'uplift_at_30'])}** (95% interval "
        f"{rate_fmt(best.at[arm, 'uplift_at_30_low'])} to {rate_fmt(best.at[arm, 'uplift_at_30_high'])}), "
        f"against {rate_fmt(rnd.at[arm, 'uplift_at_30'])} for random targeting, "
        f"{rate_fmt(respm.at[arm, 'uplift_at_30'])} for the response model and "
        f"{rate_fmt(base.at[arm, 'uplift_at_30'])} for the logistic baseline; "
        f"Qini coefficient {best.at[arm, 'qini_auc']:.3f}."
    )
    run.metric(f"uplift_at_30_{arm}", float(best.at[arm, "uplift_at_30"]))
    run.metric(f"qini_{arm}", float(best.at[arm, "qini_auc"]))
    run.metric(f"baseline_uplift_at_30_{arm}", float(base.at[arm, "uplift_at_30"]))
if ev.truth:
    rc = (
        ev.metrics.loc[ev.metrics["model"].isin(ev.models)]
        .groupby("model")["rank_corr_true"]
        .mean()
    )
    rr = float(respm["rank_corr_true"].mean())
    gain = (
        ev.metrics.loc[ev.metrics["model"].isin(ev.models)]
        .groupby("model")["auuc_vs_oracle"]
        .mean()
    )
    lines.append(
        f"- On this simulated shop the true uplift of every customer is known: the chosen model's "
        f"rank correlation with it is **{rc[ev.chosen]:.2f}** on average over the offers "
        f"(best model {rc.idxmax()}: {rc.max():.2f}; response model: {rr:.2f}), and targeting "
        f"by its scores captures **{gain[ev.chosen]:.0%}** of the true extra response the "
        f"oracle ranking would (best model {gain.idxmax()}: {gain.max():.0%}; response model: "
        f"{float(respm['auuc_vs_oracle'].mean()):.0%}). The response model finds sure things "
        "(recent buyers who buy anyway) and sleeping dogs rather than persuadable customers."
    )
    run.metric("rank_corr_true_chosen", float(rc[ev.chosen]))
    run.metric("rank_corr_true_response_model", rr)
lines.append(
    "- The intervals are wide: a test part of a campaign holds few responders, and uplift is a "
    "difference between two small rates. Decisions should rest on the Qini curves' overall "
    "shape, not on one decile."
)
say("\n".join(lines))
best_arm = best["uplift_at_30"].idxmax()
run.headline(
    "uplift_at_30",
    float(best.at[best_arm, "uplift_at_30"]),
    label=f"Uplift@30%, {data.label(best_arm)} ({primary})",
    fmt=lambda v: f"{v:+.2%}" if primary in binary_outcomes else money(v, 2),
)
show_table(
    ev.validation.rename(index=lambda k: MODEL_NAMES.get(k, k)).rename_axis("model"),
    caption="Model choice: mean Qini coefficient on the validation part",
    fmt="{:.3f}",
)

# %% [markdown]
# ### Other outcomes
# The same comparison, with the chosen model type and the baseline, for the remaining outcomes
# (money outcomes in money per customer).

# %%
other_rows = []
for o in all_outcomes:
    if o == primary:
        continue
    ev_o = tg.evaluate_uplift(
        data,
        o,
        models=[ev.chosen, "two_model_logistic"],
        test_size=test_size,
        seed=seed,
        n_boot=n_boot,
        quick=True,
    )
    mo = ev_o.metrics.set_index(["arm", "model"])
    for arm in ev_o.arms:
        other_rows.append(
            {
                "outcome": o,
                "offer": data.label(arm),
                "test effect (random)": mo.loc[(arm, "random"), "uplift_at_30"],
                "uplift@30% chosen model": mo.loc[(arm, ev.chosen), "uplift_at_30"],
                "95% low": mo.loc[(arm, ev.chosen), "uplift_at_30_low"],
                "95% high": mo.loc[(arm, ev.chosen), "uplift_at_30_high"],
                "uplift@30% logistic baseline": mo.loc[(arm, "two_model_logistic"), "uplift_at_30"],
                "Qini": mo.loc[(arm, ev.chosen), "qini_auc"],
            }
        )
if other_rows:
    other = pd.DataFrame(other_rows)
    show_table(other, caption="Uplift@30% on the test part for the other outcomes", fmt="{:,.4f}")
    run.table("uplift_other_outcomes", other)
else:
    say("*The data has no other outcome.*")

# %% [markdown]
# ## The contact list
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
# campaign(s), so offers tested at different times compete on equal terms. Each customer gets
# the offer that pays best, or nothing; customers who opted out, never consented or would
# exceed the contact-frequency cap are never on the list, whatever the budget.

# %%
model = tg.TargetingModel(ev.chosen).fit(ds, data)
scores = model.score(ds, as_of_day)
send_date = as_of_day + pd.Timedelta(days=1)
policy = tg.ContactPolicy(
    budget=None,
    cost_per_contact=cost_per_contact,
    max_contacts=max_contacts,
    window_days=window_days,
    margin=margin,
    offer_costs=offer_costs,
    clv_weight=clv_weight,
)
first = tg.contact_list(scores, model.arms_, policy, ds.customers, ds.campaigns, send_date)
eligible = int(
    (
        ~first.decisions["exclusion"].isin(["NO_CONSENT", "OPTED_OUT", "FREQUENCY_CAP", "CHANNEL"])
    ).sum()
)
policy.budget = int(budget) if budget is not None else max(1, eligible // 4)
result = tg.contact_list(scores, model.arms_, policy, ds.customers, ds.campaigns, send_date)
s = result.summary
say(
    f"Send date **{send_date.date()}**; frequency cap: at most {max_contacts} contacts in "
    f"{window_days} days; budget **{count(policy.budget)}** contacts; margin {pct(margin, 0)}.\n\n"
    f"- {count(s['customers_scored'])} customers scored; **{count(s['excluded_by_permission_rules'])}** "
    f"excluded by the permission rules ({count(s['excluded_no_consent'])} never consented, "
    f"{count(s['excluded_opted_out'])} opted out, {count(s['excluded_frequency_cap'])} over the "
    f"frequency cap).\n"
    f"- **{count(s['contacts'])}** customers on the list, expected to bring "
    f"**{s['expected_incremental_responses']:,.0f}** extra responses and "
    f"**{money(s['expected_incremental_profit'])}** expected incremental profit after "
    f"{money(s['contact_cost'])} contact cost, including "
    f"{money(s['expected_incremental_clv'])} from the lifetime-value gain of re-activated "
    f"customers (weight {clv_weight:g}; {model.clv_note_})."
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
comp = result.comparison
fig = go.Figure(
    go.Bar(
        x=comp["strategy"],
        y=comp["expected_incremental_profit"],
        marker_color=[
            COLORS[2] if v >= 0 else COLORS[3] for v in comp["expected_incremental_profit"]
        ],
    )
)
fig.update_layout(
    title="Expected incremental profit by strategy", yaxis_title="expected incremental profit"
)
show(fig)
show_table(
    comp,
    caption="Strategies compared (model-based expected figures)",
    fmt={
        "contacts": count,
        "expected_incremental_responses": "{:,.1f}",
        "expected_incremental_revenue": money,
        "expected_incremental_clv": money,
        "contact_cost": money,
        "expected_incremental_profit": money,
    },
)
show_table(result.exclusions, caption="Every customer's decision", fmt={"customers": count})
by_arm = pd.Series(s["by_arm"], name="customers").rename(index=data.label).rename_axis("offer")
show_table(by_arm, caption="Customers on the list by offer", fmt=count)
show_table(
    result.contacts.head(15).assign(arm=lambda d: d["arm"].map(data.label)),
    caption="The first 15 customers on the list (the full list is in the run's tables)",
    fmt={
        "customer_id": str,
        "expected_incremental_response": pct,
        "expected_incremental_clv": lambda v: money(v, 2),
        "expected_incremental_profit": lambda v: money(v, 2),
    },
)
run.table("contact_list", result.contacts.assign(arm=result.contacts["arm"].map(data.label)))
run.table("contact_list_comparison", comp)
run.table("contact_list_decisions", result.exclusions)

# %% [markdown]
# ## About the data and the method

# %%
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
notes += [
    "Features are computed as of the day before each send; earlier campaigns count only once "
    f"their {tg.RESPONSE_WINDOW_DAYS}-day response window had closed (no leakage).",
    "Metric definitions follow scikit-uplift's documented ones (uplift and Qini curves, "
    "normalised AUUC and Qini coefficient, uplift@k 'overall'); ties are broken by row order.",
    f"Split: {pct(1 - test_size, 0)} for fitting (of which a quarter chooses the model), "
    f"{pct(test_size, 0)} for testing; seed {seed}; {n_boot} bootstrap resamples.",
]
notes += data.notes + list(ev.info.get("arms_left_out", {}).values())
if ds.name == "hillstrom":
    notes.append(
        "Hillstrom (2008), MineThatData e-mail challenge: offers 'Mens E-Mail', 'Womens E-Mail', "
        "control 'No E-Mail'; outcomes in the two weeks after the send."
    )
say("\n".join(f"- {n}" for n in notes))
run.finish()

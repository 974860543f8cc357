# ---
# jupyter:
#   crm_report:
#     description: RFM segments and behavioural segments that are checked for stability,
#       what best customers look like, what drives spend, and the new customers most
#       likely to become valuable.
#     requires:
#     - transactions
#     slug: segments_profiles
#     title: Segments and customer profiles
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
# # Segments and customer profiles
#
# Who are the main groups of customers, which groups bring the money, and are the groups real
# or an artefact of the method ("do not take the wished-for for the real")? What do the best
# customers look like, how does spending depend on what we know about a customer, and which
# new customers are most likely to become valuable?

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
quick = False  # small, fast run (fewer bootstrap refits and permutations)
horizon_days = 180  # look-alike model: how far ahead "becomes valuable" is judged
seed = 0  # random seed: the same data and seed give the same segments
value_model = "auto"  # CLV in the profiles: auto (as the value report) or bgnbd, pareto_nbd, ...
segment_sample_cap = 200_000  # above this many buyers, segments are chosen on a stratified sample
power_sample_cap = 100_000  # purchasing power: fitted on a stratified sample above this
lookalike_sample_cap = 50_000  # look-alike model: new customers per cohort it is trained on
importance_sample_cap = 10_000  # look-alike: held-out customers the importance shuffles
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
from crm_models import segments
from crm_models import value as clv_model
from crm_models.charts import segments as charts
from crm_models.data.dataset import UnsupportedData
from crm_models.features import customer_view
from crm_models.plotting import count, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("segments_profiles", globals())
view = customer_view(ds, as_of=as_of_day)
seg = segments.segment_customers(
    view, quick=quick, random_state=seed, sample_cap=segment_sample_cap
)
clustering = seg.clustering
# CLV in the profiles comes from the model the value report chose (the same rule)
chosen = clv_model.value_model_choice(ds, value_model, None, as_of_day)["model_chosen"]
clv = segments.clv_if_available(view, ds=ds, value_model=chosen)
attributes = segments.attribute_columns(view)
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {count(seg.info['buyers'])} customers "
    f"who have bought · revenue is net of returns."
)

# %% [markdown]
# ## At a glance

# %%
rfm_sum = seg.rfm_summary
champ = rfm_sum.loc["champions"] if "champions" in rfm_sum.index else None
run.headline("segments", clustering.k_, label="Behavioural segments found", fmt="{:.0f}")
run.headline(
    "stability_ari", clustering.stability_, label="Segment stability (adjusted Rand)", fmt="{:.2f}"
)
if champ is not None:
    run.headline(
        "champions_revenue_share",
        champ["revenue_share"],
        label="Revenue share of champions",
        fmt=pct,
    )
run.metric("segments_stable", float(clustering.stable_))
run.metric("champions_customer_share", float(champ["customer_share"]) if champ is not None else 0)
say(
    charts.glance_text(
        champ, clustering.k_, clustering.stability_, clustering.stable_, bool(attributes)
    )
)

# %% [markdown]
# ## RFM segments
# Every buyer gets three scores from 1 (worst fifth) to 5 (best fifth): **R**ecency of the last
# purchase, **F**requency (orders) and **M**onetary value (net revenue). Customers with equal
# values always get equal scores. The R score and the average of F and M name the segment,
# by the first matching rule of a fixed table (under "How we know").

# %%
table = rfm_sum.rename_axis("segment")
show(charts.shares_chart(table, "RFM segments: customers and revenue"))
charts.show_rfm_table(table)
run.table("rfm_segments", table.reset_index())

# %% tags=["how-we-know"]
show_table(segments.rfm_rules_table(), caption="RFM segment rules (first match wins)")

# %% [markdown]
# ## Behavioural segments
# Buyers are grouped by how they buy: number of orders, order value, time since the last and
# the first purchase, range of categories, returns and channel mix (counts and money on a log
# scale, all standardised). Two methods (k-means and a Gaussian mixture) are tried for 2 to 7
# groups. A grouping is only accepted when it is **stable**: the models are refitted on
# bootstrap resamples of the customers, and the groups must come back (mean adjusted Rand
# index of at least 0.75; 1 = identical, 0 = no better than chance).

# %%
sel = clustering.selection_
run.table("segmentation_candidates", sel)
for key, stability in segments.stability_metrics(sel).items():
    run.metric(key, stability)
say(
    charts.clustering_text(
        clustering.method_, clustering.k_, clustering.stability_, clustering.stable_
    )
)

# %% tags=["how-we-know"]
show(charts.stability_chart(sel, clustering.stability_threshold))
charts.show_candidates(sel)

# %%
profile = segments.segment_profile(view, seg.assignments["cluster_name"], seg.rfm, clv)
label = "Segment" if clustering.stable_ else "Group (unstable, for reference only)"
show(charts.shares_chart(profile, f"{label}s: customers, revenue and value", clv is not None))
charts.show_profile(profile, label)
if clv is None:
    say("*Predicted customer lifetime value is not available for this data.*")
else:
    say("CLV: predicted net spend over the next 12 months (BG/NBD and Gamma-Gamma models).")
run.table("segment_profiles", profile.reset_index())

# %% [markdown]
# ### How key indicators differ by segment
# Averages with 95% confidence intervals: where two intervals do not overlap, the difference
# between the segments is not down to chance.

# %%
ci = segments.indicator_intervals(view, seg.assignments["cluster_name"], clv)
for fig in charts.indicator_charts(ci):
    show(fig)
run.table("segment_indicators", ci)

# %% [markdown]
# ### Category, channel and customer mix of the segments

# %%
mix_columns = ["favourite_category", "channel", *attributes[:4]]
charts.show_mixes(segments.segment_mixes(view, seg.assignments["cluster_name"], mix_columns))
run.table("customer_segments", seg.to_frame())
behaviour = ["orders", "revenue", "days_since_last", *clustering.features_]
run.model(  # checked on (and its example taken from) the first 1,000 buyers
    "segmentation_model",
    clustering.predict,
    view.loc[clustering.labels_.index[:1000], view.columns.intersection(behaviour)],
)
say(
    f"The segment of every customer ({count(len(seg.to_frame()))} rows: customer id, R/F/M "
    "scores, RFM segment, behavioural segment) is exported as `customer_segments.csv`."
)

# %% [markdown]
# ## What best customers look like
# Best customers are the top 10% of buyers by net revenue. For each characteristic level the
# **index** compares its share among best customers with its share among all buyers
# (100 = as common as everywhere, 150 = half as common again). Levels whose difference
# could be chance (adjusted p ≥ 0.05) are marked.

# %%
if attributes:
    idx = segments.index_table(view, "top_decile", attributes)
    assoc = segments.attribute_association(view, "top_decile", attributes)
    shown = idx.loc[idx["significant"]].head(12)
    if shown.empty:
        say("No characteristic level is significantly more or less common among best customers.")
    else:
        show(charts.index_chart(shown))
    run.table("best_customer_index", idx)
else:
    idx = assoc = None
    say(
        "*The data has no customer characteristics (only transactions), so best customers "
        "cannot be profiled by who they are. Add a `customers` table with attributes such as "
        "age, region or acquisition channel to get this section.*"
    )

# %% tags=["how-we-know"]
if idx is not None:
    charts.show_index_table(idx)

# %% [markdown]
# ## What purchasing power depends on
# A regression of spending on everything we know about customers at once, so each effect is
# "other characteristics equal". Effects are percentages against the most common level, with
# 95% confidence intervals. It is also fitted on 70% of the customers and checked on the
# other 30% against simply predicting the average.

# %%
power = {}
if attributes:
    for outcome in ("avg_order_value", "orders_per_year"):
        try:
            power[outcome] = segments.purchasing_power(
                view, attributes, outcome=outcome, random_state=seed, sample_cap=power_sample_cap
            )
        except UnsupportedData as err:
            say(f"*{err}*")
    for outcome, res in power.items():
        say(f"### {charts.POWER_TITLES[outcome]}")
        words = res.sentences(top=6)
        say("\n".join(f"- {w}" for w in words) if words else "- No significant effect.")
        for key in ("r2_test", "rmse_test", "rmse_naive"):
            run.metric(f"power_{outcome}_{key}", res.holdout[key])
        run.table(f"purchasing_power_{outcome}", res.coefficients)
else:
    say("*No customer characteristics in this data: there is nothing to relate spend to.*")

# %% tags=["how-we-know"]
for outcome, res in power.items():
    title = charts.POWER_TITLES[outcome]
    say(charts.power_holdout_text(title, res.holdout) + " " + charts.sample_text(res.sample))
    charts.show_power_coefficients(res.coefficients, title)

# %% [markdown]
# ## New customers most likely to become valuable
# A model learns from what is known at a customer's **first order** (characteristics,
# first-order value and how long ago it was) whether the customer becomes **high-value**:
# spending after the first order in the top quarter of the customers acquired at the same
# time, within the next months. It is trained on an earlier cohort of new customers and judged
# **out of time** on a later one, against a regularised logistic regression and the naive rule
# "the biggest first order first".

# %%
try:
    look = segments.lookalike(
        ds,
        as_of=as_of_day,
        horizon_days=horizon_days,
        quick=quick,
        random_state=seed,
        views={as_of_day: view},
        sample_cap=lookalike_sample_cap,
        importance_cap=importance_sample_cap,
    )
except UnsupportedData as err:
    look = None
    say(f"*The look-alike model cannot be judged honestly on this data.* {err}")
if look is not None:
    comp = look.comparison
    best_auc, naive_auc = segments.lookalike_aucs(look)
    run.headline(
        "lookalike_auc", best_auc, label="Look-alike model AUC (out of time)", fmt="{:.3f}"
    )
    run.metric("lookalike_naive_auc", naive_auc)
    for key, number in segments.lookalike_metrics(comp).items():
        run.metric(key, number)
    say(charts.lookalike_text(look.best, best_auc, naive_auc, comp.loc[look.best, "lift_top10"]))
    run.table("lookalike_prospects", look.scored)
    run.model(
        "lookalike_model",
        look.model.predict,
        view.loc[look.scored.index[:1000], look.model.columns],  # the 1,000 likeliest
        metadata={"outcome": look.counts["outcome"], "horizon_days": look.horizon_days},
    )
    charts.show_prospects(look.scored)

# %% tags=["how-we-know"]
if look is not None:
    charts.show_lookalike_comparison(look.comparison, look.cutoffs, look.counts)
    say(" ".join(charts.sample_text(s) for s in look.samples))
    cal = look.calibration.loc[look.calibration["model"] == look.best]
    show(charts.calibration_chart(cal, look.best))

# %% [markdown]
# ## Characteristics that matter, and those not worth attention
# A characteristic **matters** when it changes spend per order or orders per year (joint test
# of the regression above, adjusted for testing several characteristics) or helps predict
# which new customers become valuable (shuffling it lowers the model's held-out AUC, 95%
# interval above zero). The others are **not worth attention** for targeting.

# %%
if attributes:
    verdict = segments.characteristics(
        attributes,
        power.get("avg_order_value"),
        look,
        assoc,
        extra_power=[power["orders_per_year"]] if "orders_per_year" in power else None,
    )
    noise = segments.attributes_by_verdict(verdict, "not worth attention")
    matter = segments.attributes_by_verdict(verdict, "matters")
    say(charts.verdict_text(matter, noise))
    run.metric("attributes_matter", len(matter))
    run.metric("attributes_not_worth_attention", len(noise))
    run.table("characteristics", verdict)
else:
    matter = noise = None
    say("*No customer characteristics in this data.*")
if look is not None:
    run.table("lookalike_importance", look.importance)

# %% tags=["how-we-know"]
if attributes:
    charts.show_verdict(verdict)
if look is not None:
    show(charts.importance_chart(look.importance))

# %% [markdown]
# ## About the method and the data

# %% [markdown] tags=["how-we-know"]
# RFM scores are quantile ranks of the buyers; segments follow the rule table above.
# Behavioural segments: k-means and Gaussian mixtures on standardised log features, fitted on
# a sample (random, or stratified by RFM segment for a large customer base) and applied to
# everybody; stability is the mean adjusted Rand index between the segmentation and its refits
# on bootstrap resamples. For a large customer base the models below are fitted on samples
# that keep each group's share (stratified); a sample of n out of N customers makes an
# interval about √(N/n) times as wide. All random steps use a fixed seed.

# %% tags=["how-we-know"]
fits = [clustering.sample_, *(res.sample for res in power.values())]
say(charts.exact_and_sampled_text(len(view), fits + (look.samples if look is not None else [])))

# %% tags=["how-we-know"]
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
say("\n".join(f"- {n}" for n in notes))

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
spend_power = power.get("avg_order_value")
say(
    charts.findings(
        rfm_sum,
        clustering.k_,
        clustering.stable_,
        profile,
        (look.comparison, look.best) if look is not None else None,
        matter,
        noise,
        spend_power.holdout["r2_test"] if spend_power is not None else None,
    )
)

# %%
run.finish()

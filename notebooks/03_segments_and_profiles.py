# ---
# jupyter:
#   crm_report:
#     slug: segments_profiles
#     title: Segments and customer profiles
#     description: RFM segments and behavioural segments that are checked for stability, what
#       best customers look like, what drives spend, and the new customers most likely to become
#       valuable.
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
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import plotly.graph_objects as go

from crm_models import segments
from crm_models.data.dataset import UnsupportedData
from crm_models.features import customer_view
from crm_models.plotting import COLORS, count, money, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("segments_profiles", globals())
view = customer_view(ds, as_of=as_of_day)
seg = segments.segment_customers(view, quick=quick, random_state=seed)
clustering = seg.clustering
clv = segments.clv_if_available(view)
attributes = segments.attribute_columns(view)
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {count(seg.info['buyers'])} customers "
    f"who have bought · revenue is net of returns."
)

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


def nice(df, fmt):
    """Readable column names for marketing readers, with the formats renamed alike."""
    return df.rename(columns=NICE), {NICE.get(k, k): v for k, v in fmt.items()}


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
verdict = (
    "stable: refitted on resampled customers the same groups come back"
    if clustering.stable_
    else "**not stable**: refitted on resampled customers the groups change, so they are not "
    "presented as real segments below"
)
lines = [
    f"- **{count(champ['customers'])}** champions ({pct(champ['customer_share'])} of buyers) "
    f"bring **{pct(champ['revenue_share'])}** of revenue."
    if champ is not None
    else "- No customer qualifies as a champion.",
    f"- The behaviour of buyers falls into **{clustering.k_} segments**; the segmentation is "
    f"{verdict} (adjusted Rand index {clustering.stability_:.2f}).",
]
if not attributes:
    lines.append(
        "- This dataset holds no customer characteristics (age, region, ...), so the "
        "profiling sections below explain what is missing instead of profiling."
    )
say("\n".join(lines))

# %% [markdown]
# ## RFM segments
# Every buyer gets three scores from 1 (worst fifth) to 5 (best fifth): **R**ecency of the last
# purchase, **F**requency (orders) and **M**onetary value (net revenue). Customers with equal
# values always get equal scores. The R score and the average of F and M name the segment,
# by the first matching rule in this table:

# %%
show_table(segments.rfm_rules_table(), caption="RFM segment rules (first match wins)")
table = rfm_sum.rename_axis("segment")
fig = go.Figure()
fig.add_bar(
    x=table.index.astype(str),
    y=table["customer_share"],
    name="share of customers",
    marker_color=COLORS[0],
)
fig.add_bar(
    x=table.index.astype(str),
    y=table["revenue_share"],
    name="share of revenue",
    marker_color=COLORS[1],
)
fig.update_layout(
    title="RFM segments: customers and revenue", yaxis_tickformat=".0%", barmode="group"
)
show(fig)
shown_rfm, rfm_fmt = nice(
    table,
    {
        "customers": count,
        "customer_share": pct,
        "revenue": money,
        "revenue_share": pct,
        "revenue_per_customer": money,
    },
)
show_table(shown_rfm, caption="RFM segments", fmt=rfm_fmt)
run.table("rfm_segments", table.reset_index())

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
fig = go.Figure()
for i, (method, part) in enumerate(sel.groupby("method", sort=False)):
    fig.add_scatter(
        x=part["k"],
        y=part["stability"],
        mode="lines+markers",
        name=f"{'k-means' if method == 'kmeans' else 'Gaussian mixture'}: stability",
        line_color=COLORS[i],
    )
km = sel.loc[sel["method"] == "kmeans"]
if len(km):
    fig.add_scatter(
        x=km["k"],
        y=km["silhouette"],
        mode="lines+markers",
        name="k-means: silhouette",
        line=dict(color=COLORS[0], dash="dot"),
    )
fig.add_hline(y=clustering.stability_threshold, line_dash="dash", line_color="#888888")
fig.update_layout(
    title="Stability (bootstrap adjusted Rand index) and silhouette by number of segments",
    xaxis_title="number of segments",
    yaxis_title="index",
)
show(fig)
shown_sel = sel[["method", "k", "silhouette", "bic", "stability", "stable", "chosen"]].copy()
shown_sel["method"] = shown_sel["method"].map({"kmeans": "k-means", "gmm": "Gaussian mixture"})
show_table(
    shown_sel,
    caption="Candidate segmentations (silhouette: higher is better; BIC: lower is better)",
    fmt={"silhouette": "{:.3f}", "bic": "{:,.0f}", "stability": "{:.2f}"},
)
run.table("segmentation_candidates", sel)
for _, r in sel.iterrows():
    run.metric(f"stability_{r['method']}_k{int(r['k'])}", float(r["stability"]))
method_name = "k-means" if clustering.method_ == "kmeans" else "a Gaussian mixture"
if clustering.stable_:
    say(
        f"The chosen segmentation is **{method_name} with {clustering.k_} segments** "
        f"(stability {clustering.stability_:.2f}). Each segment is named after the two "
        "features in which it differs most from the average buyer."
    )
else:
    say(
        f"⚠️ **No candidate segmentation is stable.** The most stable one ({method_name}, "
        f"{clustering.k_} groups, stability {clustering.stability_:.2f}) is shown for "
        "reference only: its groups change when the customers are resampled, so they are a "
        "product of the method, not real segments. Use the RFM segments above instead."
    )

# %%
profile = segments.segment_profile(view, seg.assignments["cluster_name"], seg.rfm, clv)
label = "Segment" if clustering.stable_ else "Group (unstable, for reference only)"
fig = go.Figure()
fig.add_bar(
    x=profile.index.astype(str),
    y=profile["customer_share"],
    name="share of customers",
    marker_color=COLORS[0],
)
fig.add_bar(
    x=profile.index.astype(str),
    y=profile["revenue_share"],
    name="share of revenue",
    marker_color=COLORS[1],
)
if clv is not None:
    fig.add_bar(
        x=profile.index.astype(str),
        y=profile["clv_share"],
        name="share of predicted CLV",
        marker_color=COLORS[2],
    )
fig.update_layout(
    title=f"{label}s: customers, revenue and value", yaxis_tickformat=".0%", barmode="group"
)
show(fig)
fmt = {
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
shown_profile, fmt = nice(profile.rename_axis(label.lower()), fmt)
show_table(shown_profile, caption="Segment profiles (R, F, M: mean scores 1-5)", fmt=fmt)
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
        yaxis_tickformat=".0%" if share else None,
    )
    show(fig)
run.table("segment_indicators", ci)

# %% [markdown]
# ### Category, channel and customer mix of the segments

# %%
for column, caption in (
    ("favourite_category", "Favourite category"),
    ("channel", "Spend by channel"),
    *[(a, a.replace("_", " ").capitalize()) for a in attributes[:4]],
):
    try:
        mix = segments.mix_table(view, seg.assignments["cluster_name"], column)
    except KeyError:
        continue
    show_table(
        mix, caption=f"{caption}: share within each segment", fmt={c: pct for c in mix.columns}
    )
run.table("customer_segments", seg.to_frame())
run.model("segmentation_model", clustering)
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
        fig = go.Figure(
            go.Bar(
                x=shown["index"] - 100,
                y=shown["attribute"] + " = " + shown["level"].astype(str),
                base=100,
                orientation="h",
                marker_color=[COLORS[2] if v > 100 else COLORS[3] for v in shown["index"]],
            )
        )
        fig.update_layout(
            title="Over- and under-represented among best customers (index, 100 = average)",
            yaxis_autorange="reversed",
        )
        show(fig)
    show_table(
        idx.head(25)
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
    run.table("best_customer_index", idx)
else:
    idx = assoc = None
    say(
        "*The data has no customer characteristics (only transactions), so best customers "
        "cannot be profiled by who they are. Add a `customers` table with attributes such as "
        "age, region or acquisition channel to get this section.*"
    )

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
                view, attributes, outcome=outcome, random_state=seed
            )
        except UnsupportedData as err:
            say(f"*{err}*")
    for outcome, res in power.items():
        title = {"avg_order_value": "Spend per order", "orders_per_year": "Orders per year"}
        say(f"### {title[outcome]}")
        words = res.sentences(top=6)
        say("\n".join(f"- {w}" for w in words) if words else "- No significant effect.")
        h = res.holdout
        say(
            f"Held-out check ({count(h['n_test'])} customers): the characteristics explain "
            f"**{pct(max(h['r2_test'], 0))}** of the variation in log {title[outcome].lower()} "
            f"(error {h['rmse_test']:.3f} vs {h['rmse_naive']:.3f} for the average alone). "
            + (
                "Characteristics shift the average, but individual customers vary far more "
                "than the characteristics explain."
                if h["r2_test"] < 0.2
                else ""
            )
        )
        coefs = res.coefficients.sort_values("p_value").head(15).reset_index(drop=True)
        show_table(
            coefs.rename(columns={"low": "95% CI low", "high": "95% CI high", "p_value": "p"}),
            caption=f"{title[outcome]}: effect of each level against the reference level",
            fmt={"effect": pct, "95% CI low": pct, "95% CI high": pct, "p": "{:.4f}"},
        )
        run.metric(f"power_{outcome}_r2_test", h["r2_test"])
        run.metric(f"power_{outcome}_rmse_test", h["rmse_test"])
        run.metric(f"power_{outcome}_rmse_naive", h["rmse_naive"])
        run.table(f"purchasing_power_{outcome}", res.coefficients)
else:
    say("*No customer characteristics in this data: there is nothing to relate spend to.*")

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
    )
except UnsupportedData as err:
    look = None
    say(f"*The look-alike model cannot be judged honestly on this data.* {err}")
if look is not None:
    comp = look.comparison
    naive = [m for m in comp.index if m.startswith("naive")]
    best_auc, naive_auc = comp.loc[look.best, "auc"], comp.loc[naive, "auc"].max()
    run.headline(
        "lookalike_auc", best_auc, label="Look-alike model AUC (out of time)", fmt="{:.3f}"
    )
    run.metric("lookalike_naive_auc", naive_auc)
    for model_name, r in comp.iterrows():
        key = model_name.split(":")[0].replace(" ", "_")
        for metric in ("auc", "lift_top10", "lift_top20", "brier"):
            run.metric(f"lookalike_{key}_{metric}", float(r[metric]))
    show_table(
        comp.rename(
            columns={"auc": "AUC", "lift_top10": "lift, top 10%", "lift_top20": "lift, top 20%"}
        ),
        caption=(
            f"Out-of-time comparison: trained on new customers up to {look.cutoffs['train']}, "
            f"tested on those up to {look.cutoffs['test']} "
            f"({count(look.counts['test_customers'])} customers, "
            f"{pct(look.counts['test_rate'])} became high-value)"
        ),
        fmt={
            "AUC": "{:.3f}",
            "lift, top 10%": "{:.2f}",
            "lift, top 20%": "{:.2f}",
            "brier": "{:.4f}",
        },
    )
    beats = best_auc > naive_auc
    say(
        f"AUC is the chance that the model ranks a customer who became high-value above one "
        f"who did not (0.5 = coin toss). The better model, **{look.best}**, reaches "
        f"**{best_auc:.3f}** against {naive_auc:.3f} for the naive rule; its top 10% hold "
        f"{comp.loc[look.best, 'lift_top10']:.1f}× the average share of future high-value "
        "customers. "
        + (
            "It beats the naive rule out of time."
            if beats
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
    cal = look.calibration.loc[look.calibration["model"] == look.best]
    fig = go.Figure()
    fig.add_scatter(
        x=cal["predicted"],
        y=cal["observed"],
        mode="lines+markers",
        name=look.best,
        line_color=COLORS[0],
    )
    top = float(max(cal["predicted"].max(), cal["observed"].max()))
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
    show(fig)
    scored = look.scored
    run.table("lookalike_prospects", scored)
    run.model("lookalike_model", look.model)
    show_table(
        scored.head(20),
        caption=(
            f"Top 20 of {count(len(scored))} new customers and prospects, most likely to become "
            "high-value first (full list: lookalike_prospects.csv)"
        ),
        fmt={"probability": pct},
    )

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
    readable = {
        "spend_p_adjusted": "spend per order: p",
        "rate_p_adjusted": "orders per year: p",
        "lookalike_importance": "look-alike: AUC drop",
        "lookalike_low": "AUC drop, low",
        "lookalike_high": "AUC drop, high",
        "best_customer_v": "best customers: Cramér's V",
        "best_customer_p_adjusted": "best customers: p",
    }
    show_table(
        verdict.rename(columns=readable),
        caption="Characteristics: verdict (p values adjusted for multiple tests)",
        fmt={v: ("{:.3f}" if "V" in v else "{:.4f}") for v in readable.values()},
    )
    noise = verdict.loc[verdict["verdict"] == "not worth attention", "attribute"].tolist()
    matter = verdict.loc[verdict["verdict"] == "matters", "attribute"].tolist()
    say(
        f"- **Matter:** {', '.join(matter) or 'none'}.\n"
        f"- **Not worth attention:** {', '.join(noise) or 'none'}."
    )
    run.metric("attributes_matter", len(matter))
    run.metric("attributes_not_worth_attention", len(noise))
    run.table("characteristics", verdict)
else:
    say("*No customer characteristics in this data.*")
if look is not None:
    imp = look.importance
    fig = go.Figure(
        go.Bar(
            x=imp["importance"],
            y=imp["feature"],
            orientation="h",
            error_x=dict(
                type="data",
                symmetric=False,
                array=imp["high"] - imp["importance"],
                arrayminus=imp["importance"] - imp["low"],
            ),
            marker_color=[COLORS[2] if m else "#bbbbbb" for m in imp["matters"]],
        )
    )
    fig.update_layout(
        title="What the look-alike model relies on: drop in held-out AUC when shuffled (95% CI)",
        yaxis_autorange="reversed",
    )
    show(fig)
    run.table("lookalike_importance", imp)

# %% [markdown]
# ## About the method and the data
# RFM scores are quantile ranks of the buyers; segments follow the rule table above.
# Behavioural segments: k-means and Gaussian mixtures on standardised log features, fitted on
# a random sample and applied to everybody; stability is the mean adjusted Rand index between
# the segmentation and its refits on bootstrap resamples. All random steps use a fixed seed.

# %%
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
say("\n".join(f"- {n}" for n in notes))
run.finish()

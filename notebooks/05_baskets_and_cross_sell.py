# ---
# jupyter:
#   crm_report:
#     slug: baskets
#     title: Baskets and cross-sell
#     description: What is bought together (association rules tested for significance), which
#       combinations carry the most money, category affinities, personal cross-sell offers
#       checked against a popularity baseline, and when categories are bought.
#     requires: [transactions]
#     requires_columns: ["transactions.product_id|transactions.category"]
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
# # Baskets and cross-sell
#
# Which products are bought together, which of those combinations are real (not chance) and
# worth money, what to offer each customer next, and when each category sells. Rules are mined
# exactly as R's *arules* `apriori` does and tested with Fisher's exact test; the cross-sell
# offers are checked on purchases made **after** the data they were learnt from.

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
level = "product"  # "product" or "category": the items of the baskets
min_support = None  # share of baskets a rule must cover; None chooses one from the data
min_confidence = 0.1  # share of the antecedent's baskets that must hold the consequent
max_len = 4  # most items in a rule (both sides)
alpha = 0.01  # significance level of the Fisher test (Bonferroni-corrected)
k = 5  # offers per customer
horizon_days = 180  # out-of-time test window after the learning cut-off
quick = False  # small, fast run (fewer rows shown)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crm_models import baskets as basket
from crm_models.data.dataset import UnsupportedData
from crm_models.plotting import COLORS, count, money, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("baskets", globals())
tx_columns = ds.transactions.columns
if level == "product" and "product_id" not in tx_columns:
    level = "category"
has_categories = "category" in tx_columns
service = basket.service_items(ds) if level == "product" else []  # postage, fees, ...
baskets = basket.baskets_from_transactions(ds, level=level, as_of=as_of_day, exclude=service)
support = min_support or basket.choose_min_support(baskets, min_confidence)
rules = basket.association_rules(baskets, support, min_confidence, min_len=2, max_len=max_len)
rules = basket.add_significance(rules, alpha=alpha, adjust="bonferroni")
rules["redundant"] = basket.is_redundant(rules)
rules = basket.rule_revenue(rules, baskets)
good = rules.loc[rules["significant"] & ~rules["redundant"] & (rules["lift"] > 1)]
size = baskets.summary()
show_n = 10 if quick else 15
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {count(size['baskets'])} baskets "
    f"(orders with purchases) over {count(size['items'])} {level}s · returns and cancellations "
    "are not baskets."
)

# %% [markdown]
# ## At a glance

# %%
evaluation = None
if ds.customer_transactions()["customer_id"].nunique() >= 50:
    try:
        evaluation = basket.evaluate_cross_sell(
            ds,
            cutoff=as_of_day - pd.Timedelta(days=horizon_days),
            horizon_days=horizon_days,
            ks=(1, 3, 5, 10),
            model=basket.CrossSell(k=k, level=level, exclude=service),
            max_customers=5_000 if quick else None,
        )
    except UnsupportedData as err:
        say(f"*The cross-sell offers could not be tested out of time.* {err}")

run.headline("baskets", size["baskets"], label="Baskets analysed", fmt=count)
run.headline("strong_rules", len(good), label="Significant, non-redundant rules", fmt=count)
if len(good):
    run.headline("top_lift", float(good["lift"].max()), label="Strongest rule lift", fmt="{:.1f}x")
if evaluation is not None:
    m = evaluation.metrics.set_index(["method", "k"])
    kk = k if k in (1, 3, 5, 10) else 5
    run.headline(
        "cross_sell_hit_rate",
        m.loc[("cross-sell", kk), "hit_rate"],
        label=f"Cross-sell hit rate @{kk} (out of time)",
        fmt=pct,
    )
    for (method, kx), row in m.iterrows():
        tag = "cross_sell" if method == "cross-sell" else "popularity"
        for metric in ("hit_rate", "precision", "recall"):
            run.metric(f"{tag}_{metric}_at_{kx}", float(row[metric]))
run.metric("rules", len(rules))
run.metric("rules_significant", int(rules["significant"].sum()))
run.metric("rules_redundant", int(rules["redundant"].sum()))
run.metric("min_support", support)
run.metric("items", size["items"])

lines = [
    f"- **{count(size['baskets'])}** baskets with on average **{size['mean_size']:.2f}** different "
    f"{level}s; {pct(size['single_item_baskets'] / max(size['baskets'], 1))} hold a single {level}.",
    f"- At a support of **{support:g}** (at least {count(rules.attrs['min_count'])} baskets) and a "
    f"confidence of {pct(min_confidence, 0)}, **{count(len(rules))}** rules were found; "
    f"**{count(len(good))}** of them are significant (Fisher's exact test, Bonferroni-corrected, "
    f"{alpha:g}), not redundant and positive (lift above 1).",
]
if evaluation is not None:
    lines.append(
        f"- Personal cross-sell offers (top {kk}) were bought by "
        f"**{pct(m.loc[('cross-sell', kk), 'hit_rate'])}** of customers within "
        f"{horizon_days} days, against {pct(m.loc[('popularity', kk), 'hit_rate'])} for simply "
        "offering the best-sellers."
    )
say("\n".join(lines))

# %% [markdown]
# ## What is bought together
# The strongest rules, in words. *Lift* says how many times more likely the second product is
# in a basket that holds the first than in an average basket; only rules that pass the
# significance test and are not just a weaker copy of a simpler rule are shown.


# %%
def rules_table(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customers who buy": [", ".join(a) for a in df["antecedent_names"]],
            "also buy": [", ".join(c) for c in df["consequent_names"]],
            "baskets": df["count"].to_numpy(),
            "support": df["support"].to_numpy(),
            "confidence": df["confidence"].to_numpy(),
            "lift": df["lift"].to_numpy(),
            "revenue of these baskets": df["revenue"].to_numpy(),
        }
    )


rule_fmt = {
    "support": lambda v: pct(v, 2),
    "confidence": pct,
    "lift": "{:.1f}",
    "revenue of these baskets": money,
    "baskets": count,
}
if len(good) == 0:
    say(
        "*No rule passes the thresholds and the significance test: nothing is bought together "
        "more often than chance would give.*"
    )
else:
    strongest = basket.rank_rules(good, "lift", show_n)
    say("\n".join(f"- {basket.rule_sentence(r)}." for _, r in strongest.head(8).iterrows()))
    show_table(rules_table(strongest), caption="Strongest rules by lift", fmt=rule_fmt)
    run.table("rules_by_lift", rules_table(basket.rank_rules(good, "lift")))

# %% [markdown]
# ## The most valuable combinations
# The same rules ranked by the money in the baskets that hold the whole combination: these are
# the pairings worth protecting with stock, shelf placement and bundles.

# %%
if len(good):
    valuable = basket.rank_rules(good, "revenue", show_n)
    top = valuable.iloc[0]
    say(
        f"The combination worth most is **{', '.join(top['antecedent_names'])} + "
        f"{', '.join(top['consequent_names'])}**: {count(top['count'])} baskets worth "
        f"{money(top['revenue'])} ({pct(top['revenue_share'])} of all basket value)."
    )
    show_table(rules_table(valuable), caption="Rules by revenue of the baskets", fmt=rule_fmt)
    run.table("rules_by_revenue", rules_table(basket.rank_rules(good, "revenue")))

# %% [markdown]
# ## Rule map
# Each cell is a rule "row product → column product"; the darker, the higher the lift. Empty
# cells have no rule that passed.

# %%
if len(good):
    single = good.loc[good["antecedent_names"].map(len) == 1].head(40)
    ante = list(dict.fromkeys(a[0] for a in single["antecedent_names"]))[:15]
    cons = list(dict.fromkeys(c[0] for c in single["consequent_names"]))[:15]
    grid = pd.DataFrame(np.nan, index=ante, columns=cons)
    for _, r in single.iterrows():
        a, c = r["antecedent_names"][0], r["consequent_names"][0]
        if a in grid.index and c in grid.columns:
            grid.loc[a, c] = r["lift"]
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
    show(fig)
    fig = go.Figure(
        go.Scatter(
            x=good["support"],
            y=good["confidence"],
            mode="markers",
            marker=dict(
                size=8,
                color=np.log2(good["lift"]),
                colorscale="Viridis",
                colorbar=dict(title="log2 lift"),
            ),
            text=[
                f"{', '.join(a)} → {', '.join(c)}"
                for a, c in zip(good["antecedent_names"], good["consequent_names"], strict=True)
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
    show(fig)

# %% [markdown]
# ## Category affinities
# Which categories end up in the same basket more often than chance (lift above 1) or less
# (below 1).

# %%
if has_categories:
    cat_baskets = (
        baskets
        if level == "category"
        else basket.baskets_from_transactions(ds, level="category", as_of=as_of_day)
    )
    pairs = basket.pair_affinities(cat_baskets, min_count=5)
    cats = list(cat_baskets.item_counts.index[:15])
    lift_grid = (
        pairs.loc[pairs["item"].isin(cats) & pairs["with_item"].isin(cats)]
        .pivot(index="item", columns="with_item", values="lift")
        .reindex(index=cats, columns=cats)
    )
    fig = go.Figure(
        go.Heatmap(
            z=lift_grid.to_numpy(),
            x=lift_grid.columns,
            y=lift_grid.index,
            colorscale="RdBu",
            zmid=1,
            colorbar=dict(title="lift"),
            hovertemplate="%{y} with %{x}<br>lift %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title="Category affinity (lift of buying both in one basket)", height=480)
    fig.update_yaxes(autorange="reversed")
    show(fig)
    best = pairs.loc[(pairs["item"] < pairs["with_item"]) & (pairs["lift"] > 1.05)].head(5)
    if len(best) == 0:
        say("No two categories are bought together clearly more often than chance.")
    else:
        say(
            "Strongest category pairs: "
            + "; ".join(
                f"**{r.item} + {r.with_item}** ({r.lift:.2f}x, {count(r.count)} baskets)"
                for r in best.itertuples()
            )
            + "."
        )
    run.table("category_affinities", pairs)
else:
    say("*The data has no product categories, so there are no category affinities.*")

# %% [markdown]
# ## Rule hygiene
# Mining finds many rules by chance alone. Each rule is tested with Fisher's exact test (is the
# second product really more common in these baskets?), with a Bonferroni correction for the
# number of rules tested, and rules that add nothing to a simpler rule with the same outcome
# (the simpler one is at least as reliable) are set aside as redundant.

# %%
hygiene = pd.DataFrame(
    {
        "rules": [
            len(rules),
            int(rules["significant"].sum()),
            int((~rules["redundant"]).sum()),
            int((rules["significant"] & ~rules["redundant"]).sum()),
            len(good),
        ]
    },
    index=pd.Index(
        [
            "mined",
            "significant",
            "not redundant",
            "significant and not redundant",
            "… and lift above 1 (shown in this report)",
        ],
        name="",
    ),
)
show_table(hygiene, caption="From mined rules to rules worth reading", fmt={"rules": count})

# %% [markdown]
# ## Cross-sell offers: do they work?
# For every customer we pick the products they have not bought yet that customers with the
# same purchases went on to buy (item-to-item, learnt from customers' own baskets), falling
# back to best-sellers when there is nothing to go on. To test this honestly the offers were
# learnt from purchases **up to a cut-off date** and compared with what customers actually
# bought **after it**, against the simple alternative of offering everybody the best-sellers
# they do not have yet.

# %%
if evaluation is not None:
    metrics = evaluation.metrics
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
    show(fig)
    table = metrics.pivot(index="k", columns="method", values=["hit_rate", "precision", "recall"])
    names = {"cross-sell": "personal offers", "popularity": "best-sellers"}
    table.columns = [
        f"{metric.replace('_', ' ')}, {names[method]}" for metric, method in table.columns
    ]
    show_table(
        table.reset_index().rename(columns={"k": "offers per customer"}),
        caption="Out-of-time quality of the offers",
        fmt={c: pct for c in table.columns},
    )
    gain = evaluation.lift_over_baseline(kk)
    say(
        f"Learnt up to **{evaluation.cutoff.date()}** and checked on "
        f"{count(evaluation.customers)} customers who bought something new to them by "
        f"{evaluation.end.date()} (on average {evaluation.new_items_per_customer:.1f} new "
        f"{level}s each). With {kk} offers each, the personal offers hit "
        f"**{pct(m.loc[('cross-sell', kk), 'hit_rate'])}** of customers against "
        f"{pct(m.loc[('popularity', kk), 'hit_rate'])} for best-sellers "
        f"(**{gain:.2f}x**); *hit rate* = share of customers who bought at least one offer, "
        "*precision* = share of offers bought, *recall* = share of their new purchases that "
        "had been offered."
    )
    run.table("cross_sell_evaluation", metrics)

# %% [markdown]
# ## When categories are bought
# A seasonal index of 1.2 means the category takes a 20% larger share of sales in that period
# than over the year; 1.0 means it simply follows the shop's overall rhythm.

# %%
if has_categories:
    for by, title in (("month", "month"), ("weekday", "day of the week"), ("hour", "hour")):
        if by == "hour" and not basket.has_times(ds):
            say("*The data has no times of day, so there is no hourly pattern.*")
            continue
        season = basket.category_seasonality(ds, by=by, as_of=as_of_day)
        fig = go.Figure(
            go.Heatmap(
                z=season.to_numpy(),
                x=list(season.columns),
                y=list(season.index),
                colorscale="RdBu",
                zmid=1,
                colorbar=dict(title="index"),
                hovertemplate="%{y}, %{x}: %{z:.2f}<extra></extra>",
            )
        )
        fig.update_layout(title=f"Seasonal index by {title}", height=360)
        show(fig)
        lines_by = season.attrs["lines"].sum(axis=0)
        busy = season.loc[:, (lines_by >= 0.02 * lines_by.sum()).to_numpy()]  # skip quiet hours
        peak = busy.stack().idxmax()
        busiest = season.columns[int(np.argmax(lines_by.to_numpy()))]
        if float((busy - 1).abs().to_numpy().max()) < 0.15:
            verdict = (
                "no category has a rhythm of its own: every category's share stays within 15% "
                f"of its usual share (largest: {peak[0]} in {peak[1]}, {busy.loc[peak]:.2f})"
            )
        else:
            verdict = (
                f"the most seasonal category is **{peak[0]}**, with a {busy.loc[peak] - 1:.0%} "
                f"larger share than usual in {peak[1]}"
            )
        say(f"By {title}: the busiest {title} overall is **{busiest}**; {verdict}.")
        run.table(f"seasonality_{by}", season)
else:
    say("*The data has no product categories, so there are no category timing patterns.*")

# %% [markdown]
# ### What customers buy next
# From the categories of a customer's first order to the categories of their second order: a
# lift above 1 means that move is more common than the category's overall popularity suggests.

# %%
if has_categories:
    moves = basket.category_transitions(ds, which="first", as_of=as_of_day)
    if len(moves):
        grid = moves.pivot(index="from_category", columns="to_category", values="share").fillna(0)
        fig = go.Figure(
            go.Heatmap(
                z=grid.to_numpy(),
                x=list(grid.columns),
                y=list(grid.index),
                colorscale="Blues",
                colorbar=dict(title="share"),
                hovertemplate="first %{y} → next %{x}: %{z:.0%}<extra></extra>",
            )
        )
        fig.update_layout(
            title="First order's category → second order's category (row shares)",
            xaxis_title="next order",
            yaxis_title="first order",
            height=440,
        )
        fig.update_yaxes(autorange="reversed")
        show(fig)
        same = moves.loc[moves["from_category"] == moves["to_category"]]
        say(
            f"Customers come back to the category they started with "
            f"{same['lift'].mean():.2f}x as often as chance would give (average over categories); "
            "the row shares show where first-time buyers of each category go next."
        )
        run.table("next_category", moves)
    else:
        say("*Too few customers have a second order to show what they buy next.*")
else:
    say("*No product categories in the data: no category transitions.*")

# %% [markdown]
# ### Time between purchases in a category
# How long customers take to buy again in the same category: a guide to when a reminder or
# a replenishment offer is due.

# %%
if has_categories:
    gaps = basket.repurchase_intervals(ds, as_of=as_of_day)
    show_table(
        gaps.reset_index()[
            ["category", "median_days", "p25_days", "p75_days", "customers", "repeat_share"]
        ].rename(
            columns={
                "median_days": "median days",
                "p25_days": "25% within (days)",
                "p75_days": "75% within (days)",
                "customers": "repeat customers",
                "repeat_share": "buyers who came back",
            }
        ),
        caption="Days between a customer's purchases in the same category",
        fmt={
            "median days": "{:,.0f}",
            "25% within (days)": "{:,.0f}",
            "75% within (days)": "{:,.0f}",
            "repeat customers": count,
            "buyers who came back": pct,
        },
    )
    run.table("repurchase_intervals", gaps)
else:
    say("*No product categories in the data: no repurchase intervals by category.*")

# %% [markdown]
# ## The cross-sell list
# The offers for every customer, learnt from all purchases up to the report date: the products
# to offer, a score (the estimated chance the customer buys it, from customers with the same
# purchases) and the reason in words. Customers who opted out of marketing are marked; the
# full list is attached to the report run as `cross_sell_list.csv`.

# %%
model = basket.CrossSell(k=k, level=level, exclude=service).fit(ds, as_of=as_of_day)
offers = model.recommend(k=k)
if ds.customers is not None and {"opt_in"} <= set(ds.customers.columns):
    cust = ds.customers.set_index("customer_id")
    ok = cust["opt_in"].fillna(False).astype(bool)
    if "opt_out_date" in cust.columns:
        ok &= ~(cust["opt_out_date"] <= as_of_day).fillna(False)
    offers["contactable"] = offers["customer_id"].map(ok).fillna(False).astype(bool)
wanted = ("customer_id", "rank", "product", "product_name", "score", "rule", "contactable")
export = offers[[c for c in wanted if c in offers.columns]]
run.table("cross_sell_list", export)
customers_listed = export["customer_id"].nunique()
say(
    f"**{count(customers_listed)}** customers have {k} offers each"
    + (
        f"; {count(export.loc[export['contactable'], 'customer_id'].nunique())} of them may be "
        "contacted (marketing consent, not opted out)."
        if "contactable" in export.columns
        else "."
    )
)
popular_offers = export.groupby("product_name").size().sort_values(ascending=False)
show_table(
    export.head(20),
    caption="The first rows of the cross-sell list",
    fmt={"score": pct, "customer_id": "{}"},
)
show_table(
    popular_offers.head(10).rename("customers offered").rename_axis("product").reset_index(),
    caption="Products offered most often",
    fmt={"customers offered": count},
)

# %% [markdown]
# ## About the method and the data
# - **Baskets** are orders with purchase lines; returns and cancellations are left out, lines
#   without a customer are kept (a basket needs no customer).
# - **Rules** are found as R's *arules* `apriori` finds them (one product on the right, rule
#   length counting both sides, thresholds compared on exact basket counts).
#   *Support* = share of baskets holding the whole rule; *confidence* = share of the baskets
#   with the left side that also hold the right side; *lift* = confidence divided by the right
#   side's overall share.
# - **Significance**: one-sided Fisher exact test, Bonferroni-corrected, as arules
#   `is.significant`; **redundancy** as arules `is.redundant`.
# - **Offers** score each product a customer has not bought by the average, over the products
#   they bought, of the share of those products' buyers who also bought it.

# %%
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
if service:
    names = ds.products.set_index("product_id")["name"].reindex(service).dropna().unique()
    notes.append(
        f"{len(service)} service codes are not products and were left out of baskets and "
        f"offers: {', '.join(map(str, names[:12]))}"
    )
notes.append(
    f"rules mined at support {support:g} (at least {rules.attrs['min_count']:,} baskets), "
    f"confidence {min_confidence:g}, 2 to {max_len} items"
)
say("\n".join(f"- {n}" for n in notes))
run.finish()

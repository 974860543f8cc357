# ---
# jupyter:
#   crm_report:
#     description: What is bought together (association rules tested for significance),
#       which combinations carry the most money, category affinities, personal cross-sell
#       offers checked against a popularity baseline, and when categories are bought.
#     requires:
#     - transactions|baskets
#     requires_columns:
#     - transactions.product_id|transactions.category|baskets.item
#     slug: baskets
#     title: Baskets and cross-sell
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
# # Baskets and cross-sell

# %% [markdown]
# Which products are bought together, which of those combinations are real (not chance) and
# worth money, what to offer each customer next, and when each category sells. Rules are mined
# exactly as R's *arules* `apriori` does and tested with Fisher's exact test; the cross-sell
# offers are checked on purchases made **after** the data they were learnt from.

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
level = "product"  # "product" or "category": the items of the baskets
min_support = None  # share of baskets a rule must cover; None chooses one from the data
memory_budget = "1GB"  # memory the rules may take on top of the data (mining stops over it)
min_confidence = 0.1  # share of the antecedent's baskets that must hold the consequent
max_len = 4  # most items in a rule (both sides)
alpha = 0.01  # significance level of the Fisher test (Bonferroni-corrected)
k = 5  # offers per customer
horizon_days = 180  # out-of-time test window after the learning cut-off
quick = False  # small, fast run (fewer rows shown)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import pandas as pd

from crm_models import baskets as basket
from crm_models.charts import baskets as charts
from crm_models.data.dataset import UnsupportedData
from crm_models.engine.sources import table_of
from crm_models.plotting import count, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("baskets", globals())
# a basket file (e.g. Groceries) holds baskets only: no customers, dates, amounts or categories
from_file = not ds.has("transactions")
if from_file:
    level, has_categories, service = "item", False, []
    baskets = basket.as_baskets(ds)
else:
    if level == "product" and "product_id" not in ds.columns("transactions"):
        level = "category"
    has_categories = "category" in ds.columns("transactions")
    service = basket.service_items(ds) if level == "product" else []  # postage, fees, ...
    baskets = basket.baskets_from_transactions(ds, level=level, as_of=as_of_day, exclude=service)
budget = basket.parse_bytes(memory_budget)
choice = None
if not min_support:
    choice = basket.choose_support(
        baskets, budget, max_len=max_len, min_confidence=min_confidence, target_rules=40
    )
support = min_support or choice.min_support
rules = basket.mine_rules(  # the rules the support choice found are not mined again
    baskets,
    support,
    min_confidence,
    max_len=max_len,
    alpha=alpha,
    memory_budget=budget,
    mined=choice.rules if choice else None,
)
good = basket.strong_rules(rules)
size = baskets.summary()
del baskets  # the rules are mined: free the matrix of every order (GBs at 10M customers)
show_n = 10 if quick else 15
say(
    f"**Data:** {ds.name}, a basket file · {count(size['baskets'])} baskets over "
    f"{count(size['items'])} items · it holds no customers, dates or amounts, so this report "
    "shows what is bought together and leaves out money, timing and personal offers."
    if from_file
    else f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {count(size['baskets'])} baskets "
    f"(orders with purchases) over {count(size['items'])} {level}s · returns and cancellations "
    "are not baskets."
)

# %% [markdown]
# ## At a glance

# %%
evaluation = None
if not from_file and basket.known_customers(ds) >= 50:
    try:
        evaluation = basket.evaluate_cross_sell(
            ds,
            cutoff=as_of_day - pd.Timedelta(days=horizon_days),
            horizon_days=horizon_days,
            ks=(1, 3, 5, 10),
            model=basket.CrossSell(k=k, level=level, exclude=service),
            max_customers=5_000 if quick else basket.EVALUATION_SAMPLE,
        )
    except UnsupportedData as err:
        say(f"*The cross-sell offers could not be tested out of time.* {err}")

run.headline("baskets", size["baskets"], label="Baskets analysed", fmt=count)
run.headline("strong_rules", len(good), label="Significant, non-redundant rules", fmt=count)
if len(good):
    run.headline("top_lift", float(good["lift"].max()), label="Strongest rule lift", fmt="{:.1f}x")
glance = charts.glance_text(size, level, len(good))
offer_test = None
if evaluation is not None:
    kk = k if k in (1, 3, 5, 10) else 5
    hits = evaluation.metrics.set_index(["method", "k"])["hit_rate"]
    run.headline(
        "cross_sell_hit_rate",
        hits[("cross-sell", kk)],
        label=f"Cross-sell hit rate @{kk} (out of time)",
        fmt=pct,
    )
    for name, value in basket.evaluation_metrics(evaluation.metrics).items():
        run.metric(name, value)
    offer_test = (hits[("cross-sell", kk)], hits[("popularity", kk)], kk, horizon_days)
    glance += (
        f"\n- Personal cross-sell offers (top {kk}) were bought by "
        f"**{pct(hits[('cross-sell', kk)])}** of customers within {horizon_days} days, against "
        f"{pct(hits[('popularity', kk)])} for simply offering the best-sellers."
    )
run.metric("rules", len(rules))
run.metric("rules_significant", int(rules["significant"].sum()))
run.metric("rules_redundant", int(rules["redundant"].sum()))
run.metric("min_support", support)
run.metric("memory_budget_bytes", budget)
run.metric("items", size["items"])
say(glance)

# %% tags=["how-we-know"]
say(
    charts.rules_method_text(
        support,
        rules.attrs["min_count"],
        min_confidence,
        len(rules),
        len(good),
        alpha,
        why=None if choice is None else choice.rule,
    )
)

# %% [markdown]
# ## What is bought together
# The strongest rules, in words. *Lift* says how many times more likely the second product is
# in a basket that holds the first than in an average basket; only rules that pass the
# significance test and are not just a weaker copy of a simpler rule are shown.

# %%
if len(good) == 0:
    say(
        "*No rule passes the thresholds and the significance test: nothing is bought together "
        "more often than chance would give.*"
    )
else:
    strongest = basket.rank_rules(good, "lift", show_n)
    say("\n".join(f"- {basket.rule_sentence(r)}." for _, r in strongest.head(8).iterrows()))
    charts.show_rules(basket.rules_table(strongest), caption="Strongest rules by lift")
    run.table("rules_by_lift", basket.rules_table(basket.rank_rules(good, "lift")))

# %% [markdown]
# ## The most valuable combinations
# The same rules ranked by the money in the baskets that hold the whole combination: these are
# the pairings worth protecting with stock, shelf placement and bundles.

# %%
if from_file:
    say("*A basket file has no amounts, so combinations cannot be ranked by money.*")
elif len(good):
    valuable = basket.rank_rules(good, "revenue", show_n)
    say(charts.valuable_text(valuable.iloc[0]))
    charts.show_rules(basket.rules_table(valuable), caption="Rules by revenue of the baskets")
    run.table("rules_by_revenue", basket.rules_table(basket.rank_rules(good, "revenue")))

# %% [markdown]
# ## Rule map
# Each cell is a rule "row product → column product"; the darker, the higher the lift. Empty
# cells have no rule that passed.

# %%
if len(good):
    show(charts.rule_matrix_chart(basket.rule_lift_grid(good)))

# %% tags=["how-we-know"]
if len(good):
    show(charts.rule_scatter_chart(good))

# %% [markdown]
# ## Category affinities
# Which categories end up in the same basket more often than chance (lift above 1) or less
# (below 1).

# %%
if has_categories:
    pairs, category_counts = basket.level_affinities(ds, "category", as_of_day, min_count=5)
    top_categories = category_counts.index[:15]
    show(charts.category_affinity_chart(basket.affinity_grid(pairs, top_categories)))
    say(charts.category_pairs_text(basket.strongest_pairs(pairs)))
    run.table("category_affinities", pairs)
else:
    say("*The data has no product categories, so there are no category affinities.*")

# %% [markdown]
# ## Rule hygiene
# Mining finds many combinations by chance alone; only those that pass a test are used.

# %% [markdown] tags=["how-we-know"]
# Each rule is tested with Fisher's exact test (is the second product really more common in
# these baskets?), with a Bonferroni correction for the number of rules tested, and rules that
# add nothing to a simpler rule with the same outcome (the simpler one is at least as reliable)
# are set aside as redundant.

# %% tags=["how-we-know"]
show_table(
    basket.rule_hygiene(rules),
    caption="From mined rules to rules worth reading",
    fmt={"rules": count},
)

# %% [markdown]
# ## Cross-sell offers: do they work?
# For every customer we pick the products they have not bought yet that customers with the
# same purchases went on to buy (item-to-item, learnt from customers' own baskets), falling
# back to best-sellers when there is nothing to go on. To test this honestly the offers were
# learnt from purchases **up to a cut-off date** and compared with what customers actually
# bought **after it**, against the simple alternative of offering everybody the best-sellers
# they do not have yet.

# %%
if from_file:
    say("*A basket file has no customers or dates, so offers cannot be tested out of time.*")
elif evaluation is not None:
    show(charts.hit_rate_chart(evaluation.metrics))
    say(charts.evaluation_text(evaluation, evaluation.metrics, kk, level))
    run.table("cross_sell_evaluation", evaluation.metrics)

# %% tags=["how-we-know"]
if evaluation is not None and not from_file:
    charts.show_offer_quality(evaluation.metrics)

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
        show(charts.seasonality_chart(season, title))
        say(charts.seasonality_text(basket.seasonal_peak(season), title))
        run.table(f"seasonality_{by}", season)
else:
    say("*The data has no product categories, so there are no category timing patterns.*")

# %% [markdown]
# ### What customers buy next
# From the categories of a customer's first order to the categories of their second order: a
# lift above 1 means that move is more common than the category's overall popularity suggests.

# %%
moves = basket.category_transitions(ds, which="first", as_of=as_of_day) if has_categories else None
if moves is None:
    say("*No product categories in the data: no category transitions.*")
elif len(moves) == 0:
    say("*Too few customers have a second order to show what they buy next.*")
else:
    show(charts.next_category_chart(moves))
    say(
        f"Customers come back to the category they started with "
        f"{basket.repeat_category_lift(moves):.2f}x as often as chance would give (average over "
        "categories); the row shares show where first-time buyers of each category go next."
    )
    run.table("next_category", moves)

# %% [markdown]
# ### Time between purchases in a category
# How long customers take to buy again in the same category: a guide to when a reminder or
# a replenishment offer is due.

# %%
if has_categories:
    gaps = basket.repurchase_intervals(ds, as_of=as_of_day)
    charts.show_repurchase_intervals(gaps)
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
export = None
if from_file:
    say("*A basket file has no customers, so there are no personal offers.*")
else:
    model = basket.CrossSell(k=k, level=level, exclude=service).fit(ds, as_of=as_of_day)
    export = basket.cross_sell_list(model.recommend(k=k), ds, as_of_day)
    run.table("cross_sell_list", export)
    say(charts.cross_sell_list_text(export, k))
    charts.show_cross_sell_list(export, basket.offer_counts(export))

# %% [markdown]
# ## About the method and the data

# %% [markdown] tags=["how-we-know"]
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

# %% tags=["how-we-know"]
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
if service:
    products = table_of(ds, "products").set_index("product_id")
    names = products["name"].reindex(service).dropna().unique()
    notes.append(
        f"{len(service)} service codes are not products and were left out of baskets and "
        f"offers: {', '.join(map(str, names[:12]))}"
    )
notes.append(
    f"rules mined at support {support:g} (at least {rules.attrs['min_count']:,} baskets), "
    f"confidence {min_confidence:g}, 2 to {max_len} items"
)
notes.append(
    "no sample: every count uses all baskets (longer combinations are counted on the baskets "
    "of three or more products, the only ones that can hold them), and every customer is scored"
)
say("\n".join(f"- {n}" for n in notes))

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
say(charts.findings(good, len(rules), size["baskets"], basket.rule_sentence, offer_test, export, k))
run.finish()

# ---
# jupyter:
#   crm_report:
#     description: Size and activity of the customer base, where revenue comes from,
#       how concentrated it is, and revenue split into customers x orders per customer
#       x order value (R = N*L*V).
#     requires:
#     - transactions
#     slug: customer_base
#     title: Customer base and revenue
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
# # Customer base and revenue
#
# How big and how active is the customer base, where does revenue come from, and why did it
# change? Revenue is read through the success formula **R = N · L · V**: the number of active
# customers (N) times their loyalty, orders per active customer (L), times the average order
# value (V).

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
freq = "M"  # reporting period: "M" months, "Q" quarters, "W" weeks
quick = False  # small, fast run (fewer periods shown)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
from crm_models import revenue
from crm_models.charts import revenue as charts
from crm_models.features import customer_view
from crm_models.plotting import count, money, pct, say, show
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("customer_base", globals())
nlv = revenue.nlv_table(ds, freq=freq, as_of=as_of_day, require_sales=True)
period_name = charts.period_name(freq)
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · "
    f"{nlv.index[0]} to {nlv.index[-1]} · revenue is net of returns."
)

# %% [markdown]
# ## At a glance

# %%
view = customer_view(ds, as_of=as_of_day)
base = revenue.base_summary(view, nlv, as_of_day)
conc = revenue.concentration(ds, as_of=as_of_day)
top = {f: conc.top_share(f) for f in (0.01, 0.10, 0.20)}

run.headline("revenue_12m", base["revenue_12m"], label="Net revenue, last 12 months", fmt=money)
run.headline(
    "active_customers_12m", base["active_12m"], label="Active customers, last 12 months", fmt=count
)
run.headline("top10_share", top[0.10], label="Revenue share of top 10% customers", fmt=pct)
run.metric("customers", base["customers"])
run.metric("gini", conc.gini)

say(
    f"- **{count(base['customers'])}** customers have bought at least once; "
    f"**{count(base['active_12m'])}** of them bought in the last 12 months.\n"
    f"- Net revenue in the last 12 months: **{money(base['revenue_12m'])}**.\n"
    f"- The top 10% of customers bring **{pct(top[0.10])}** of revenue "
    f"(top 1%: {pct(top[0.01])}, top 20%: {pct(top[0.20])}); "
    f"Gini coefficient {conc.gini:.2f}."
)

# %% [markdown]
# ## Size and activity of the base
# Active customers bought at least once in the period; new customers made their first purchase
# in it (in the first period of the data everybody looks new).

# %%
show(charts.activity_bars(revenue.base_activity(ds, freq=freq, as_of=as_of_day), period_name))

# %% [markdown]
# ## Revenue over time and by segment of the business
# For each of channel, region and category: revenue over time of the largest ones, and the
# overall split.

# %%
show(charts.revenue_bars(nlv, period_name))
dimensions = ("channel", "region", "category")
by = revenue.revenue_by_each(
    ds, revenue.available_dimensions(ds, dimensions), freq=freq, as_of=as_of_day
)
for dimension in dimensions:
    if dimension not in by:
        say(f"*Revenue by {dimension}: the data has no {dimension} information.*")
        continue
    shares = revenue.revenue_share_by(ds, dimension, as_of=as_of_day)
    charts.show_dimension(by[dimension], shares, dimension, period_name)
    run.table(f"revenue_by_{dimension}", shares)

# %% [markdown]
# ## How concentrated is revenue?
# The Lorenz curve sorts customers from the smallest to the largest buyer: the further it sags
# below the diagonal, the more revenue depends on a few customers.

# %%
charts.show_concentration(conc.lorenz, conc.gini, top)
if conc.n_negative:
    say(
        f"{count(conc.n_negative)} customers returned more than they bought in the period "
        f"({money(abs(conc.negative_revenue))}); they count as zero revenue here."
    )


# %% [markdown]
# ## New versus returning customers

# %%
nvr = revenue.new_vs_returning(ds, freq=freq, as_of=as_of_day)
show(charts.new_vs_returning_bars(nvr, period_name))
new_share, n_recent = revenue.recent_new_share(nvr, periods=12)
say(
    f"Over the last {n_recent} complete {period_name}s, **{pct(new_share)}** "
    "of revenue came from customers in their first period."
)

# %% [markdown]
# ## Life-cycle stages
# *New*: first purchase in the last 90 days; *active*: last purchase within 180 days;
# *at risk*: 180–365 days; *lapsed*: over a year ago; *prospect*: known but never bought.

# %%
stage_table = revenue.lifecycle_mix(view)
charts.show_lifecycle(stage_table)
run.metric("share_lapsed", revenue.stage_share(stage_table, "lapsed"))
run.table("lifecycle_stages", stage_table.reset_index())

# %% [markdown]
# ## R = N · L · V: what drives revenue
# Per period: N active customers, L orders per active customer, V average order value, and
# their product R, the net revenue.

# %%
nlv_shown = nlv.loc[~nlv["partial"]].tail(6 if quick else 24)
show(charts.nlv_chart(nlv_shown))
run.table("nlv", nlv.reset_index().assign(period=lambda d: d["period"].astype(str)))

# %% tags=["how-we-know"]
charts.show_nlv_table(nlv_shown, period_name)

# %% [markdown]
# ### Why revenue changed
# The change between two periods is split exactly into the parts due to more or fewer customers
# (N), more or fewer orders per customer (L) and higher or lower order values (V): the three
# parts add up to the whole change.

# %%
change = revenue.latest_change(nlv)
effects = revenue.change_effects(change)
show(charts.change_waterfall(change, effects))
biggest = revenue.largest_effect(effects)
say(
    f"Revenue went from **{money(change['revenue_from'])}** in {change['period_from']} to "
    f"**{money(change['revenue_to'])}** in {change['period_to']} ({money(change['change'], signed=True)}). "
    f"The largest part came from **{biggest[0]}** ({money(biggest[1], signed=True)})."
)
run.metric("revenue_change", float(change["change"]))
for key in ("effect_N", "effect_L", "effect_V"):
    run.metric(f"revenue_change_{key}", float(change[key]))

# %% [markdown] tags=["how-we-know"]
# The split uses the log-mean Divisia index (LMDI; Ang 2004, *Energy Policy* 32: 1131-1139),
# which divides the change of a product R = N · L · V among its factors with no remainder.

# %% [markdown]
# ## About the data
# What loading cleaned or set aside (nothing is dropped silently).

# %% tags=["how-we-know"]
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
notes.append("no sample: every figure uses all transactions up to the report date")
if ds.anonymous_lines:
    notes.append(
        f"{ds.anonymous_lines:,} transaction lines without a customer are left out of customer figures"
    )
say(charts.bullets(notes))

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
say(
    charts.findings(
        change,
        top[0.10],
        conc.n_customers,
        conc.total_revenue,
        stage_table,
        new_share,
        n_recent,
        period_name,
    )
)

# %%
run.finish()

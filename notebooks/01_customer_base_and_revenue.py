# ---
# jupyter:
#   crm_report:
#     slug: customer_base
#     title: Customer base and revenue
#     description: Size and activity of the customer base, where revenue comes from, how concentrated
#       it is, and revenue split into customers × orders per customer × order value (R = N·L·V).
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
import pandas as pd
import plotly.graph_objects as go

from crm_models import revenue
from crm_models.features import STAGES, customer_view
from crm_models.plotting import COLORS, count, money, pct, period_bars, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("customer_base", globals())
nlv = revenue.nlv_table(ds, freq=freq, as_of=as_of_day, require_sales=True)
full = nlv.loc[~nlv["partial"]]
period_name = {"M": "month", "Q": "quarter", "W": "week", "Y": "year"}.get(freq, "period")
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · "
    f"{nlv.index[0]} to {nlv.index[-1]} · revenue is net of returns."
)

# %% [markdown]
# ## At a glance

# %%
view = customer_view(ds, as_of=as_of_day)
buyers = view.loc[view["first_purchase"].notna()]
year = nlv.loc[nlv.index.end_time > as_of_day - pd.DateOffset(years=1)]
last_year_revenue = float(year["revenue"].sum())
active_year = int(((as_of_day - buyers["last_purchase"]).dt.days < 365).sum())
conc = revenue.concentration(ds, as_of=as_of_day)

run.headline("revenue_12m", last_year_revenue, label="Net revenue, last 12 months", fmt=money)
run.headline(
    "active_customers_12m", active_year, label="Active customers, last 12 months", fmt=count
)
run.headline(
    "top10_share", conc.top_share(0.10), label="Revenue share of top 10% customers", fmt=pct
)
run.metric("customers", len(buyers))
run.metric("gini", conc.gini)

say(
    f"- **{count(len(buyers))}** customers have bought at least once; "
    f"**{count(active_year)}** of them bought in the last 12 months.\n"
    f"- Net revenue in the last 12 months: **{money(last_year_revenue)}**.\n"
    f"- The top 10% of customers bring **{pct(conc.top_share(0.10))}** of revenue "
    f"(top 1%: {pct(conc.top_share(0.01))}, top 20%: {pct(conc.top_share(0.20))}); "
    f"Gini coefficient {conc.gini:.2f}."
)

# %% [markdown]
# ## Size and activity of the base
# Active customers bought at least once in the period; new customers made their first purchase
# in it (in the first period of the data everybody looks new).

# %%
activity = revenue.base_activity(ds, freq=freq, as_of=as_of_day)
fig = period_bars(
    activity,
    {"returning_customers": "returning", "new_customers": "new"},
    title=f"Active customers per {period_name}",
    yaxis_title="customers",
)
show(fig)

# %% [markdown]
# ## Revenue over time and by segment of the business

# %%
fig = go.Figure()
fig.add_bar(x=nlv.index.astype(str), y=nlv["revenue"], name="net revenue", marker_color=COLORS[0])
partial = nlv.loc[nlv["partial"]]
fig.add_bar(
    x=partial.index.astype(str),
    y=partial["revenue"],
    name="incomplete period",
    marker_color="#bbbbbb",
)
fig.update_layout(title=f"Net revenue per {period_name}", yaxis_title="revenue", barmode="overlay")
show(fig)

for dimension in ("channel", "region", "category"):
    try:
        shares = revenue.revenue_share_by(ds, dimension, as_of=as_of_day)
    except ValueError:
        say(f"*Revenue by {dimension}: the data has no {dimension} information.*")
        continue
    by = revenue.revenue_by(ds, dimension, freq=freq, as_of=as_of_day)
    top = list(shares.index[:8])
    fig = go.Figure()
    for i, level in enumerate(top):
        fig.add_scatter(
            x=by.index.astype(str),
            y=by[level],
            name=str(level),
            mode="lines",
            line_color=COLORS[i % len(COLORS)],
        )
    fig.update_layout(title=f"Net revenue per {period_name} by {dimension}", yaxis_title="revenue")
    show(fig)
    show_table(
        shares.head(10),
        caption=f"Revenue by {dimension}",
        fmt={"revenue": money, "share": pct, "customers": count},
    )
    run.table(f"revenue_by_{dimension}", shares)

# %% [markdown]
# ## How concentrated is revenue?
# The Lorenz curve sorts customers from the smallest to the largest buyer: the further it sags
# below the diagonal, the more revenue depends on a few customers.

# %%
lorenz = conc.lorenz
step = max(1, len(lorenz) // 2000)
fig = go.Figure()
fig.add_scatter(
    x=lorenz["customer_share"].iloc[::step],
    y=lorenz["revenue_share"].iloc[::step],
    name="customers",
    line_color=COLORS[0],
    fill="tozeroy",
)
fig.add_scatter(
    x=[0, 1], y=[0, 1], name="perfect equality", line=dict(dash="dash", color="#888888")
)
fig.update_layout(
    title=f"Lorenz curve of customer revenue (Gini {conc.gini:.2f})",
    xaxis_title="share of customers (smallest first)",
    yaxis_title="share of revenue",
    xaxis_tickformat=".0%",
    yaxis_tickformat=".0%",
)
show(fig)
top_table = pd.DataFrame(
    {"share of revenue": [conc.top_share(f) for f in (0.01, 0.10, 0.20)]},
    index=pd.Index(
        ["top 1% of customers", "top 10% of customers", "top 20% of customers"], name=""
    ),
)
show_table(top_table, caption="Concentration of net revenue", fmt={"share of revenue": pct})
if conc.n_negative:
    say(
        f"{count(conc.n_negative)} customers returned more than they bought in the period "
        f"({money(abs(conc.negative_revenue))}); they count as zero revenue here."
    )


# %% [markdown]
# ## New versus returning customers

# %%
nvr = revenue.new_vs_returning(ds, freq=freq, as_of=as_of_day)
fig = period_bars(
    nvr,
    {"returning_revenue": "returning customers", "new_revenue": "new customers"},
    title=f"Revenue from new and returning customers per {period_name}",
    yaxis_title="revenue",
)
show(fig)
recent = nvr.loc[~nvr["partial"]].tail(12)
say(
    f"Over the last {len(recent)} complete {period_name}s, **{pct(recent['new_revenue'].sum() / recent['revenue'].sum())}** "
    "of revenue came from customers in their first period."
)

# %% [markdown]
# ## Life-cycle stages
# *New*: first purchase in the last 90 days; *active*: last purchase within 180 days;
# *at risk*: 180–365 days; *lapsed*: over a year ago; *prospect*: known but never bought.

# %%
stages = view["lifecycle_stage"].value_counts().reindex(list(STAGES), fill_value=0)
stage_revenue = (
    view.groupby("lifecycle_stage", observed=False)["revenue"].sum().reindex(list(STAGES))
)
stage_table = pd.DataFrame(
    {
        "customers": stages,
        "share of customers": stages / stages.sum(),
        "revenue to date": stage_revenue,
    }
)
stage_table = stage_table.loc[stage_table["customers"] > 0]
fig = go.Figure(
    go.Bar(x=stage_table.index.astype(str), y=stage_table["customers"], marker_color=COLORS[2])
)
fig.update_layout(title="Customers by life-cycle stage", yaxis_title="customers")
show(fig)
show_table(
    stage_table.rename_axis("stage"),
    caption="Life-cycle stage mix",
    fmt={"share of customers": pct, "revenue to date": money},
)
run.metric("share_lapsed", float(stages.get("lapsed", 0) / max(stages.sum(), 1)))
run.table("lifecycle_stages", stage_table.reset_index())

# %% [markdown]
# ## R = N · L · V: what drives revenue
# Per period: N active customers, L orders per active customer, V average order value, and
# their product R, the net revenue.

# %%
shown = full.tail(6 if quick else 24)
NLV_LABELS = {
    "revenue": "R: net revenue",
    "active_customers": "N: active customers",
    "orders_per_customer": "L: orders per customer",
    "avg_order_value": "V: average order value",
}
fig = go.Figure()
for i, col in enumerate(["active_customers", "orders_per_customer", "avg_order_value"]):
    label = NLV_LABELS[col]
    base = shown[col].iloc[0]
    fig.add_scatter(
        x=shown.index.astype(str), y=shown[col] / base * 100, name=label, line_color=COLORS[i]
    )
fig.update_layout(title=f"N, L and V indexed to 100 in {shown.index[0]}", yaxis_title="index")
show(fig)
show_table(
    shown[["revenue", "active_customers", "orders_per_customer", "avg_order_value"]]
    .rename(columns=NLV_LABELS)
    .rename_axis(period_name)
    .iloc[::-1],
    caption="R = N · L · V per period (most recent first)",
    fmt={
        NLV_LABELS["revenue"]: money,
        NLV_LABELS["active_customers"]: count,
        NLV_LABELS["orders_per_customer"]: "{:.3f}",
        NLV_LABELS["avg_order_value"]: lambda v: money(v, 2),
    },
)
run.table("nlv", nlv.reset_index().assign(period=lambda d: d["period"].astype(str)))

# %% [markdown]
# ### Why revenue changed
# The change between two periods is split exactly into the parts due to more or fewer customers
# (N), more or fewer orders per customer (L) and higher or lower order values (V), with the
# log-mean Divisia index: the three parts add up to the whole change.

# %%
try:
    change = revenue.decompose_latest(nlv, against="year")
except ValueError:
    change = revenue.decompose_latest(nlv, against="previous")
effects = [
    ("active customers (N)", change["effect_N"]),
    ("orders per customer (L)", change["effect_L"]),
    ("order value (V)", change["effect_V"]),
]
if abs(change["effect_other"]) > 0.005:
    effects.append(("returns in empty periods", change["effect_other"]))
fig = go.Figure(
    go.Waterfall(
        x=[str(change["period_from"])] + [e[0] for e in effects] + [str(change["period_to"])],
        measure=["absolute"] + ["relative"] * len(effects) + ["total"],
        y=[change["revenue_from"]] + [e[1] for e in effects] + [change["revenue_to"]],
        connector={"line": {"color": "#999999"}},
        increasing={"marker": {"color": COLORS[2]}},
        decreasing={"marker": {"color": COLORS[3]}},
        totals={"marker": {"color": COLORS[0]}},
    )
)
fig.update_layout(
    title=f"Revenue change {change['period_from']} → {change['period_to']}", showlegend=False
)
fig.update_xaxes(type="category")
show(fig)
biggest = max(effects[:3], key=lambda e: abs(e[1]))
say(
    f"Revenue went from **{money(change['revenue_from'])}** in {change['period_from']} to "
    f"**{money(change['revenue_to'])}** in {change['period_to']} ({money(change['change'], signed=True)}). "
    f"The largest part came from **{biggest[0]}** ({money(biggest[1], signed=True)})."
)
run.metric("revenue_change", float(change["change"]))
for key in ("effect_N", "effect_L", "effect_V"):
    run.metric(f"revenue_change_{key}", float(change[key]))

# %% [markdown]
# ## About the data
# What loading cleaned or set aside (nothing is dropped silently).

# %%
notes = [str(n) for n in ds.cleaning_log] or ["nothing needed cleaning"]
if ds.anonymous_lines:
    notes.append(
        f"{ds.anonymous_lines:,} transaction lines without a customer are left out of customer figures"
    )
say("\n".join(f"- {n}" for n in notes))
run.finish()

# ---
# jupyter:
#   crm_report:
#     slug: forecast
#     title: Sales forecast
#     description: What sales will be next month, with a likely range, from the model that
#       forecast the past best, beside a forecast built up from the customer base.
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
# # Sales forecast
#
# What will sales be next month? Several forecasting methods are tried on the past: each one
# pretends to stand at an earlier date, forecasts the following months, and is scored against
# what really happened. The forecast shown is the one from the method that did best, with the
# range in which sales will fall with 80 % (and 95 %) probability if the future behaves like
# the past.

# %% tags=["parameters"]
dataset = "demo"  # dataset name, folder or recognised file
as_of = None  # report date as YYYY-MM-DD, or None for the last date in the data
measure = "revenue"  # "revenue", "orders" or "customers" (active customers)
freq = "M"  # forecast period: "M" months, "W" weeks, "Q" quarters
horizon = None  # periods ahead (default: 3 months / 13 weeks / 2 quarters)
windows = None  # backtest windows (default: 6 for months, 4 for weeks; fewer when quick)
by = None  # also forecast every level of this column, e.g. "category" or "region"
weekly = True  # add a weekly view of the next 13 weeks (skipped when quick)
quick = False  # small, fast run (fewer models and backtest windows)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
import pandas as pd
import plotly.graph_objects as go

from crm_models import forecast as fc
from crm_models.plotting import COLORS, count, money, pct, say, show, show_table
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("forecast", globals())
result = fc.forecast_sales(
    ds, measure, freq, horizon=horizon, windows=windows, as_of=as_of_day, quick=quick
)
PERIOD = {"M": "month", "W": "week", "Q": "quarter"}[result.freq]
WHAT = {"revenue": "net revenue", "orders": "orders", "customers": "active customers"}[measure]
fmt_value = money if measure == "revenue" else count
history = result.result.history
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {len(history)} full {PERIOD}s "
    f"({history.index[0]} to {history.index[-1]}) · {WHAT}"
    + (", net of returns." if measure == "revenue" else ".")
)


def period_label(p):
    if result.freq == "M":
        return p.strftime("%B %Y")
    if result.freq == "W":
        return f"the week of {p.start_time:%d %B %Y}"
    return str(p)


VERB = "is" if measure == "revenue" else "are"


# %% [markdown]
# ## Next period at a glance

# %%
nxt = result.forecast.iloc[0]
nxt_period = result.forecast.index[0]
label = fc.MODEL_LABELS.get(result.model, result.model)
metrics = result.metrics()
win = metrics.loc[result.model]
snaive = metrics.loc["seasonal_naive"] if "seasonal_naive" in metrics.index else None
say(
    f"**{WHAT.capitalize()} in {period_label(nxt_period)} {VERB} forecast at "
    f"{fmt_value(nxt['mean'])}**, most likely (80 % chance) between "
    f"{fmt_value(nxt['lower_80'])} and {fmt_value(nxt['upper_80'])} "
    f"(95 %: {fmt_value(nxt['lower_95'])} to {fmt_value(nxt['upper_95'])})."
)
last_full = history.iloc[-1]
year_ago = nxt_period - fc.season_length(result.freq)
lines = [
    f"- Last full {PERIOD} ({period_label(history.index[-1])}): {fmt_value(last_full)}"
    + (
        f"; {period_label(year_ago)}: {fmt_value(history.loc[year_ago])}"
        if year_ago in history.index
        else ""
    )
    + ".",
    f"- Method: **{label}**, the best of {len(metrics)} methods over "
    f"{len(result.backtest.origins)} test forecasts of the past (typical error "
    f"{pct(win['smape'])} sMAPE"
    + (
        f", against {pct(snaive['smape'])} for simply repeating last year"
        if snaive is not None
        else ""
    )
    + ").",
    f"- In those tests the 80 % range held the real figure {pct(win['coverage_80'], 0)} of the "
    f"time and the 95 % range {pct(win['coverage_95'], 0)}.",
]
if result.booked is not None and len(result.booked):
    lines.append(
        f"- {period_label(result.booked.index[0])} has started: {fmt_value(result.booked.iloc[0])} "
        "booked so far (not used for fitting)."
    )
say("\n".join(lines))
run.headline(
    "forecast_next",
    float(nxt["mean"]),
    label=f"{WHAT.capitalize()} forecast, {period_label(nxt_period)}",
    fmt=fmt_value,
)
run.headline(
    "forecast_next_lower_80", float(nxt["lower_80"]), label="80 % range: low", fmt=fmt_value
)
run.headline(
    "forecast_next_upper_80", float(nxt["upper_80"]), label="80 % range: high", fmt=fmt_value
)
run.metric("forecast_horizon_total", float(result.forecast["mean"].sum()))
run.metric("chosen_mase", float(win["mase"]))
run.metric("chosen_coverage_80", float(win["coverage_80"]))
run.metric("chosen_coverage_95", float(win["coverage_95"]))
if snaive is not None:
    run.metric("seasonal_naive_mase", float(snaive["mase"]))
run.metric("backtest_windows", len(result.backtest.origins))

# %% [markdown]
# ## History, tests on the past and the forecast
# The solid line is what happened. Dotted lines are the chosen method's forecasts made at
# earlier dates (its tests on the past); the shaded bands are the 80 % and 95 % ranges of the
# forecast ahead.


# %%
def forecast_chart(res, title):
    hist = res.result.history
    x = lambda idx: idx.to_timestamp()  # noqa: E731
    fig = go.Figure()
    future = res.forecast
    fig.add_scatter(
        x=list(x(future.index)) + list(x(future.index))[::-1],
        y=list(future["upper_95"]) + list(future["lower_95"])[::-1],
        fill="toself",
        fillcolor="rgba(31,95,139,0.12)",
        line_width=0,
        name="95 % range",
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=list(x(future.index)) + list(x(future.index))[::-1],
        y=list(future["upper_80"]) + list(future["lower_80"])[::-1],
        fill="toself",
        fillcolor="rgba(31,95,139,0.25)",
        line_width=0,
        name="80 % range",
        hoverinfo="skip",
    )
    fig.add_scatter(x=x(hist.index), y=hist.values, name="actual", line_color="#1f2933")
    rows = res.backtest_rows(res.model)
    for i, (_origin, grp) in enumerate(rows.groupby("origin", sort=True)):
        fig.add_scatter(
            x=x(pd.PeriodIndex(grp["period"])),
            y=grp["mean"],
            mode="lines",
            line=dict(dash="dot", color=COLORS[1]),
            name="forecasts of the past",
            showlegend=i == 0,
        )
    fig.add_scatter(
        x=x(future.index), y=future["mean"], name="forecast", line=dict(color=COLORS[0], width=3)
    )
    fig.update_layout(title=title, yaxis_title=WHAT, hovermode="x unified")
    return fig


show(forecast_chart(result, f"{WHAT.capitalize()} per {PERIOD}: history and forecast ({label})"))

# %% [markdown]
# ## Which method, and how well each did on the past
# Every method forecast the same test periods. **MASE** compares a method's average error with
# that of simply repeating the same period of the previous year (below 1 = better than that);
# **sMAPE** is the average percentage error; **bias** says whether a method tends to forecast too
# high (+) or too low (−); **coverage** is how often the real figure fell inside the 80 % / 95 %
# range (ideally 80 % and 95 %), and **width** is the average width of the 80 % range relative to
# sales. The first row is the method used above.

# %%
table = metrics.copy()
table.insert(0, "method", [fc.MODEL_LABELS.get(m, m) for m in table.index])
table = table.rename_axis("model").reset_index()[
    ["method", "mase", "smape", "bias_pct", "coverage_80", "coverage_95", "width_80", "windows"]
]
table.columns = [
    "method",
    "MASE",
    "sMAPE",
    "bias",
    "80 % coverage",
    "95 % coverage",
    "80 % width",
    "tests",
]
show_table(
    table,
    caption=f"Tests on the past: {len(result.backtest.origins)} forecasts of {result.horizon} "
    f"{PERIOD}s each, made at different dates",
    fmt={
        "MASE": "{:.2f}",
        "sMAPE": pct,
        "bias": lambda v: pct(v) if v < 0 else "+" + pct(v),
        "80 % coverage": lambda v: pct(v, 0),
        "95 % coverage": lambda v: pct(v, 0),
        "80 % width": lambda v: pct(v, 0),
        "tests": "{:.0f}",
    },
)
run.table("backtest", metrics.reset_index())
for name, row in metrics.iterrows():
    run.metric(f"mase_{name}", float(row["mase"]))
    run.metric(f"coverage_80_{name}", float(row["coverage_80"]))
ahead = result.forecast.copy()
ahead.index = [period_label(p) for p in ahead.index]
show_table(
    ahead.rename_axis(PERIOD).rename(
        columns={
            "mean": "forecast",
            "lower_80": "80 % low",
            "upper_80": "80 % high",
            "lower_95": "95 % low",
            "upper_95": "95 % high",
        }
    ),
    caption=f"Forecast for the next {result.horizon} {PERIOD}s ({label})",
    fmt={c: fmt_value for c in ("forecast", "80 % low", "80 % high", "95 % low", "95 % high")},
)
run.table("forecast", result.forecast.rename_axis("period").reset_index().astype({"period": str}))
if result.result.config:
    say(
        f"*Best time-series model: {fc.MODEL_LABELS[result.series_model]} — {result.result.config}.*"
    )

# %% [markdown]
# ## Bottom-up: the forecast built from the customers
# A second, independent forecast adds up what the customers themselves are expected to buy: the
# expected purchases of every existing customer (from their own buying pattern, allowing for
# customers who have quietly stopped) times their expected spend, plus the new customers expected
# at the recent acquisition rate. It is tested on the same past periods, and averaged with the best
# time-series method into a combination.

# %%
if result.comparison is not None:
    comp = result.comparison.copy()
    comp.index = [period_label(p) for p in comp.index]
    cols = {
        "series_model": f"time series ({result.series_model})",
        "bottom_up": "bottom-up",
        "combination": "combination",
        "bottom_up_existing": "… from existing customers",
        "bottom_up_new": "… from new customers",
        "new_customers": "new customers expected",
    }
    show_table(
        comp.rename(columns=cols).rename_axis(PERIOD),
        caption="Time-series and bottom-up forecasts side by side",
        fmt={
            **{v: fmt_value for k, v in cols.items() if k != "new_customers"},
            cols["new_customers"]: count,
        },
    )
    fig = go.Figure()
    fig.add_scatter(
        x=history.index.to_timestamp(), y=history.values, name="actual", line_color="#1f2933"
    )
    for i, (col, name) in enumerate(list(cols.items())[:3]):
        fig.add_scatter(
            x=result.comparison.index.to_timestamp(),
            y=result.comparison[col],
            name=name,
            line=dict(color=COLORS[i], dash=None if i == 0 else "dash"),
        )
    fig.update_layout(title="Time-series, bottom-up and combined forecasts", yaxis_title=WHAT)
    show(fig)
    ts_row, bu_row = metrics.loc[result.series_model], metrics.loc["bottom_up"]
    first = result.comparison.iloc[0]
    gap = first["bottom_up"] / first["series_model"] - 1 if first["series_model"] else float("nan")
    better = "bottom-up" if bu_row["mase"] < ts_row["mase"] else "time-series"
    text = (
        f"On the past tests the **{better}** forecast was more accurate "
        f"(MASE {bu_row['mase']:.2f} bottom-up vs {ts_row['mase']:.2f} time series). "
    )
    if abs(gap) > 0.05:
        text += (
            f"For {period_label(result.comparison.index[0])} they differ by {pct(abs(gap))}: the "
            f"bottom-up forecast is {'higher' if gap > 0 else 'lower'}. "
            "The time-series forecast follows the recent run of sales; the bottom-up forecast "
            "follows the customers: how many are still buying, how often and how much, and how "
            "many new ones arrive. "
        )
        if better == "bottom-up":
            text += "The customer history has been the better guide here, so trust the bottom-up figure more."
        else:
            text += "The sales history has been the better guide here, so trust the time-series figure more."
    else:
        text += (
            "Both approaches agree within 5 % for the next period, which strengthens the forecast."
        )
    if result.comparison["new_customers"].sum() == 0:
        text += (
            " No new customers joined in the recent history (the data follow one group of "
            "customers acquired together), so the bottom-up forecast comes entirely from "
            "existing customers — the situation a sales-history model cannot see coming."
        )
    say(text)
    run.metric("bottom_up_mase", float(bu_row["mase"]))
    run.metric("bottom_up_next", float(first["bottom_up"]))
    run.table(
        "bottom_up", result.comparison.rename_axis("period").reset_index().astype({"period": str})
    )
else:
    say(
        "*No bottom-up forecast for this measure or dataset:* "
        + ("; ".join(n for n in result.notes if n.startswith("no bottom-up")) or "not available.")
    )

# %% [markdown]
# ## The next weeks
# The same comparison on weekly figures, for a closer look at the coming quarter.

# %%
if weekly and not quick and result.freq != "W":
    wk = fc.forecast_sales(ds, measure, "W", as_of=as_of_day, quick=True)
    wmetrics = wk.metrics()
    wlabel = fc.MODEL_LABELS.get(wk.model, wk.model)
    show(forecast_chart(wk, f"{WHAT.capitalize()} per week: history and forecast ({wlabel})"))
    wnext = wk.forecast
    say(
        f"Over the next {wk.horizon} weeks ({wnext.index[0].start_time.date()} to "
        f"{wnext.index[-1].end_time.date()}) the weekly forecast adds up to "
        f"**{fmt_value(wnext['mean'].sum())}** ({wlabel}; backtest MASE "
        f"{wmetrics.loc[wk.model, 'mase']:.2f}, 80 % coverage {pct(wmetrics.loc[wk.model, 'coverage_80'], 0)})."
    )
    run.metric("weekly_horizon_total", float(wnext["mean"].sum()))
    run.table("weekly_backtest", wmetrics.reset_index())
else:
    say("*Weekly view skipped in this run.*")

# %% [markdown]
# ## Forecasts by segment

# %%
if by:
    seg = fc.segment_forecasts(
        ds, by, measure, result.freq, as_of=as_of_day, quick=quick, n_jobs=None
    )
    shown = seg.drop(columns=["note"]).rename(
        columns={
            "model": "method",
            "mase": "MASE",
            "seasonal_naive_mase": "MASE of same period last year",
            "last_period": f"last full {PERIOD}",
            "next_period": f"next {PERIOD}",
            "lower_80": "80 % low",
            "upper_80": "80 % high",
            "horizon_total": f"next {result.horizon} {PERIOD}s",
        }
    )
    money_cols = [f"last full {PERIOD}", f"next {PERIOD}", "80 % low", "80 % high"]
    show_table(
        shown,
        caption=f"Forecast by {by}: next {PERIOD} ({seg.attrs['next_period']}) and range",
        fmt={
            "MASE": "{:.2f}",
            "MASE of same period last year": "{:.2f}",
            **{c: fmt_value for c in [*money_cols, f"next {result.horizon} {PERIOD}s"]},
        },
    )
    run.table(f"forecast_by_{by}", seg.reset_index())
else:
    say(
        "*Not requested for this run: set the parameter `by` (for example `-p by=category`) to "
        "forecast every category, region or segment separately.*"
    )

# %% [markdown]
# ## How to read this, and its limits

# %%
notes = list(result.notes)
notes.append(
    "the ranges assume the future behaves like the tested past; a new campaign, a price change "
    "or a shock to the business is not in them"
)
say("\n".join(f"- {n[0].upper() + n[1:]}." if not n.endswith(".") else f"- {n}" for n in notes))
run.finish()

# ---
# jupyter:
#   crm_report:
#     description: What sales will be next month, with a likely range, from the model
#       that forecast the past best, beside a forecast built up from the customer base.
#     requires:
#     - transactions
#     slug: forecast
#     title: Sales forecast
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
# # Sales forecast

# %% [markdown]
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
value_model = "auto"  # customers' model in the bottom-up forecast (auto: as the value report)
quick = False  # small, fast run (fewer models and backtest windows)
output_dir = ""  # where the build collects run.json and tables
mlflow_experiment = None  # default: crm-models/<dataset>

# %%
from crm_models import forecast as fc
from crm_models import value as clv
from crm_models.charts import forecast as charts
from crm_models.plotting import count, money, money_title, pct, say, show
from crm_models.reporting import start_report

ds, as_of_day, run = start_report("forecast", globals())
# the bottom-up forecast values customers with the model the value report chose (same rule)
choice = (
    clv.value_model_choice(ds, value_model, None, as_of_day)
    if ds.has("transactions")
    else {"model_chosen": "bgnbd"}
)
result = fc.forecast_sales(
    ds,
    measure,
    freq,
    horizon=horizon,
    windows=windows,
    as_of=as_of_day,
    quick=quick,
    purchase_model=choice["model_chosen"],
)
PERIOD = charts.period_name(result.freq)
WHAT = charts.measure_words(measure)
VERB = "is" if measure == "revenue" else "are"
fmt_value = money if measure == "revenue" else count
AXIS = money_title(WHAT) if measure == "revenue" else WHAT  # "net revenue (£)"
history = result.result.history
say(
    f"**Data:** {ds.name}, as of **{as_of_day.date()}** · {len(history)} full {PERIOD}s "
    f"({history.index[0]} to {history.index[-1]}) · {WHAT}"
    + (", net of returns." if measure == "revenue" else ".")
)


def period_label(p):
    return charts.period_label(p, result.freq)


# %% [markdown]
# ## Next period at a glance

# %%
nxt, nxt_period = result.forecast.iloc[0], result.forecast.index[0]
label = fc.MODEL_LABELS.get(result.model, result.model)
metrics = result.metrics()
win = metrics.loc[result.model]
snaive = metrics.loc["seasonal_naive"] if "seasonal_naive" in metrics.index else None
last_year = fc.same_period_last_year(history, nxt_period)
say(
    f"**{WHAT.capitalize()} in {period_label(nxt_period)} {VERB} forecast at "
    f"{fmt_value(nxt['mean'])}**, most likely (80 % chance) between "
    f"{fmt_value(nxt['lower_80'])} and {fmt_value(nxt['upper_80'])} "
    f"(95 %: {fmt_value(nxt['lower_95'])} to {fmt_value(nxt['upper_95'])})."
)
lines = [
    f"Last full {PERIOD} ({period_label(history.index[-1])}): {fmt_value(history.iloc[-1])}"
    + (f"; {period_label(last_year[0])}: {fmt_value(last_year[1])}" if last_year else "")
    + ".",
]
partial = result.to_dict()["partial_period"]
if partial is not None:
    lines.append(
        f"{period_label(result.booked.index[0])} has started ({partial['days_booked']} of "
        f"{partial['days_in_period']} days): {fmt_value(partial['booked'])} is booked and "
        f"{fmt_value(partial['remainder'])} more is expected, so it should end at "
        f"{fmt_value(partial['total'])}. The part booked is not used for fitting."
    )
say(charts.bullets(lines))
for key, column, text in [
    ("forecast_next", "mean", f"{WHAT.capitalize()} forecast, {period_label(nxt_period)}"),
    ("forecast_next_lower_80", "lower_80", "80 % range: low"),
    ("forecast_next_upper_80", "upper_80", "80 % range: high"),
]:
    run.headline(key, float(nxt[column]), label=text, fmt=fmt_value)
for key, value in fc.report_metrics(result).items():
    run.metric(key, value)

# %% tags=["how-we-know"]
method = [
    f"Method: **{label}**, the best of {len(metrics)} methods over "
    f"{len(result.backtest.origins)} test forecasts of the past (typical error "
    f"{pct(win['smape'])} sMAPE"
    + (
        f", against {pct(snaive['smape'])} for simply repeating last year"
        if snaive is not None
        else ""
    )
    + ").",
    f"In those tests the 80 % range held the real figure {pct(win['coverage_80'], 0)} of the "
    f"time and the 95 % range {pct(win['coverage_95'], 0)} (the method's own ranges: "
    f"{pct(win['coverage_80_raw'], 0)} and {pct(win['coverage_95_raw'], 0)}; they are widened "
    "or narrowed by the errors of the other tests so that they hold the figure as often as "
    "they claim).",
    "Methods are ranked by a score that rewards both accuracy and ranges that hold the real "
    "figure (the weighted interval score), not by accuracy alone. "
    + fc.scale_sentence(result.backtest.scale, result.freq)
    + ".",
]
say(charts.bullets(method))

# %% [markdown]
# ## History, tests on the past and the forecast
# The solid line is what happened. Dotted lines are the chosen method's forecasts made at
# earlier dates (its tests on the past); the shaded bands are the 80 % and 95 % ranges of the
# forecast ahead.

# %%
title = f"{WHAT.capitalize()} per {PERIOD}: history and forecast ({label})"
show(
    charts.forecast_chart(history, result.forecast, result.backtest_rows(result.model), title, AXIS)
)

# %% [markdown]
# ## Which method, and how well each did on the past
# Every method forecast the same past periods, as if standing at an earlier date; the one whose
# forecasts came closest, with ranges that held the real figures, makes the forecast below.

# %% [markdown] tags=["how-we-know"]
# **Score** (the weighted interval score, divided
# by the yardstick below; lower is better) ranks them: it adds the error of the forecast to the
# width of its ranges and a penalty for every real figure that fell outside them. **MASE** compares a method's average error with
# one yardstick for all tests: the average error of simply repeating the same period of the
# previous year (or the previous period, with less than two years of history; below 1 = better);
# **sMAPE** is the average percentage error; **bias** says whether a method tends to forecast too
# high (+) or too low (−); **coverage** is how often the real figure fell inside the 80 % / 95 %
# range (ideally 80 % and 95 %), and **width** is the average width of the 80 % range relative to
# sales. The first row is the method used above.

# %% tags=["how-we-know"]
charts.show_backtest(
    metrics,
    fc.MODEL_LABELS,
    caption=f"Tests on the past: {len(result.backtest.origins)} forecasts of {result.horizon} "
    f"{PERIOD}s each, made at different dates",
)
if result.result.config:
    say(
        f"*Best time-series model: {fc.MODEL_LABELS[result.series_model]} — {result.result.config}.*"
    )

# %%
run.table("backtest", metrics.reset_index())
charts.show_forecast_table(
    result.forecast,
    result.freq,
    caption=f"Forecast for the next {result.horizon} {PERIOD}s ({label})",
    fmt_value=fmt_value,
)
run.table("forecast", result.forecast.rename_axis("period").reset_index().astype({"period": str}))

# %% [markdown]
# ## Bottom-up: the forecast built from the customers
# A second, independent forecast adds up what the customers themselves are expected to buy: the
# expected purchases of every existing customer (from their own buying pattern, allowing for
# customers who have quietly stopped) times their expected spend, plus the new customers expected
# at the recent acquisition rate. It is tested on the same past periods, and averaged with the best
# time-series method into a combination.

# %%
if result.comparison is not None:
    charts.show_comparison(
        history, result.comparison, result.series_model, result.freq, AXIS, fmt_value
    )
    cmp = fc.compare_bottom_up(result)
    run.metric("bottom_up_mase", cmp["bottom_up_mase"])
    run.metric("bottom_up_next", cmp["bottom_up_next"])
    run.table(
        "bottom_up", result.comparison.rename_axis("period").reset_index().astype({"period": str})
    )
else:
    say(
        "*No bottom-up forecast for this measure or dataset:* "
        + ("; ".join(n for n in result.notes if n.startswith("no bottom-up")) or "not available.")
    )

# %% tags=["how-we-know"]
if result.comparison is not None:
    say(charts.bottom_up_sentence(cmp, period_label(cmp["period"])))
    say(charts.bottom_up_model_text(choice, clv.VALUE_MODEL_LABELS))

# %% [markdown]
# ## The next weeks
# The same comparison on weekly figures, for a closer look at the coming quarter.

# %%
if weekly and not quick and result.freq != "W":
    wk = fc.forecast_sales(ds, measure, "W", as_of=as_of_day, quick=True)
    wmetrics, wnext = wk.metrics(), wk.forecast
    wlabel = fc.MODEL_LABELS.get(wk.model, wk.model)
    title = f"{WHAT.capitalize()} per week: history and forecast ({wlabel})"
    show(charts.forecast_chart(wk.result.history, wnext, wk.backtest_rows(wk.model), title, AXIS))
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
    charts.show_segments(seg, by, result.freq, result.horizon, fmt_value)
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
notes.append("no sample: the series and the bottom-up forecast use every transaction and customer")
notes.append(
    "the ranges assume the future behaves like the tested past; a new campaign, a price change "
    "or a shock to the business is not in them"
)
say(charts.notes_text(notes))

# %% [markdown] tags=["findings"]
# ## Findings and what to do

# %% tags=["findings"]
say(
    charts.findings(
        result.forecast,
        history,
        result.freq,
        WHAT,
        fmt_value,
        last_year,
        win,
        snaive,
        len(result.backtest.origins),
        partial,
    )
)
run.finish()

"""Charts, tables and sentences of the "Campaign response and targeting" report.

Every function takes pandas objects and plain numbers (computed by :mod:`crm_models.targeting`)
and returns a plotly figure, a formatter or a sentence, or shows a formatted table.  ``rate``
says whether the outcome is a 0/1 rate (shown as a percentage) or money per customer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from crm_models.plotting import COLORS, count, money, money_title, pct, show_table

GREY = "#888888"
EFFECT_COLUMNS = {
    "label": "offer",
    "effect": "effect vs control",
    "effect_low": "95% low",
    "effect_high": "95% high",
}
UPLIFT_COLUMNS = {
    "uplift_at_30": "uplift@30%",
    "uplift_at_30_low": "95% low",
    "uplift_at_30_high": "95% high",
    "qini_auc": "Qini coefficient",
    "auuc": "AUUC",
    "rank_corr_true": "rank corr. with true uplift",
    "auuc_vs_oracle": "true gain vs oracle",
}
STRATEGY_FORMATS: dict[str, Any] = {
    "contacts": count,
    "expected_incremental_responses": "{:,.1f}",
    "expected_incremental_revenue": money,
    "expected_incremental_clv": money,
    "contact_cost": money,
    "expected_incremental_profit": money,
}


def rate_format(rate: bool) -> Callable[[float], str]:
    """How an outcome's values read: a percentage for rates, money (cents) otherwise."""
    return pct if rate else (lambda v: money(v, 2))


def signed_format(rate: bool) -> Callable[[float], str]:
    """An uplift with its sign for rates ("+1.23%"), money (cents) otherwise."""
    return (lambda v: f"{v:+.2%}") if rate else (lambda v: money(v, 2))


def _line_chart_layout(fig: go.Figure, title: str, xaxis: str, yaxis: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=xaxis,
        yaxis_title=yaxis,
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
    )
    return fig


def arm_effects_chart(summary: pd.DataFrame, control: str, outcome: str, rate: bool) -> go.Figure:
    """Mean outcome per campaign and offer (control group first, in grey) with 95% intervals."""
    fig = go.Figure()
    for i, arm in enumerate(sorted(summary["arm"].unique(), key=lambda a: a != control)):
        s = summary.loc[summary["arm"] == arm]
        fig.add_bar(
            x=s["campaign_id"],
            y=s["mean"],
            name=s["label"].iloc[0],
            marker_color=COLORS[7] if arm == control else COLORS[i % 7],
            error_y=dict(
                type="data",
                symmetric=False,
                array=s["mean_high"] - s["mean"],
                arrayminus=s["mean"] - s["mean_low"],
            ),
        )
    fig.update_layout(
        title=f"{outcome} by campaign and offer (95% intervals)",
        barmode="group",
        yaxis_title=outcome if rate else money_title(outcome),
        yaxis_tickformat=".1%" if rate else None,
    )
    fig.update_xaxes(type="category")
    return fig


def show_effects(summary: pd.DataFrame, control: str, outcome: str, rate: bool) -> None:
    """The measured effect of each offer in each campaign (difference from its control)."""
    effects = summary.loc[summary["arm"] != control].reset_index(drop=True)
    fmt = rate_format(rate)
    columns = ["campaign_id", "label", "customers", "mean", "effect", "effect_low", "effect_high"]
    show_table(
        effects[columns]
        .rename(columns=EFFECT_COLUMNS | {"mean": outcome})
        .assign(customers=lambda d: d["customers"].astype(int)),
        caption=f"Measured effect of each offer on {outcome} (difference from the control group)",
        fmt={c: fmt for c in (outcome, "effect vs control", "95% low", "95% high")},
    )


def strongest_effect_text(summary: pd.DataFrame, control: str, outcome: str, rate: bool) -> str:
    """The strongest measured effect of an offer, with its interval."""
    effects = summary.loc[summary["arm"] != control].reset_index(drop=True)
    best = effects.sort_values("effect", ascending=False).iloc[0]
    fmt = rate_format(rate)
    return (
        f"The strongest measured effect: **{best['label']}** in {best['campaign_id']}, "
        f"{fmt(best['effect'])} on {outcome} over the control group "
        f"(95% interval {fmt(best['effect_low'])} to {fmt(best['effect_high'])})."
    )


def show_average_effects(table: pd.DataFrame) -> None:
    """The average effect per offer and outcome over all campaigns."""
    show_table(
        table,
        caption="Average effect per offer and outcome, all campaigns",
        fmt={"customers": count, **{c: "{:,.4f}" for c in table.columns[3:]}},
    )


def show_response_models(metrics: pd.DataFrame) -> None:
    """Quality of the response models on the test contacts."""
    show_table(
        metrics.rename_axis("model"),
        caption="Response models on the test contacts (AUC: 0.5 = guessing, 1 = perfect)",
        fmt={"auc": "{:.3f}", "log_loss": "{:.4f}", "brier": "{:.4f}", "top_decile_lift": "{:.2f}"},
    )


def cumulative_response_chart(cumulative: pd.DataFrame) -> go.Figure:
    """Share of responders reached by contacting the best-scored x%, per model and at random."""
    fig = go.Figure()
    for i, col in enumerate(c for c in cumulative.columns if c != "share_contacted"):
        fig.add_scatter(
            x=cumulative["share_contacted"], y=cumulative[col], name=col, line_color=COLORS[i]
        )
    fig.add_scatter(x=[0, 1], y=[0, 1], name="random", line=dict(dash="dash", color=GREY))
    return _line_chart_layout(
        fig,
        "Cumulative response: share of responders reached by contacting the top x%",
        "share of customers contacted (best scores first)",
        "share of responders reached",
    )


def show_gains(gains: pd.DataFrame, model: str) -> None:
    """The gains table of the best response model (deciles of its score)."""
    show_table(
        gains,
        caption=f"Gains table ({model}, test contacts, deciles of the score)",
        fmt={
            "response_rate": pct,
            "lift": "{:.2f}",
            "cumulative_share_of_responders": pct,
            "mean_score": pct,
        },
    )


def calibration_chart(calibration: pd.DataFrame, model: str) -> go.Figure:
    """Predicted against observed response per tenth of the test contacts."""
    fig = go.Figure()
    fig.add_scatter(
        x=calibration["predicted"],
        y=calibration["observed"],
        mode="lines+markers",
        name=model,
        line_color=COLORS[0],
    )
    top = float(max(calibration[["predicted", "observed"]].max()))
    fig.add_scatter(
        x=[0, top], y=[0, top], name="perfect calibration", line=dict(dash="dash", color=GREY)
    )
    return _line_chart_layout(
        fig,
        "Calibration: predicted vs observed response (tenths of the test contacts)",
        "predicted probability",
        "observed response rate",
    )


def show_uplift_models(
    metrics: pd.DataFrame,
    arm_labels: Mapping[str, str],
    model_labels: Mapping[str, str],
    truth: bool,
    n_test: int,
    outcome: str,
) -> None:
    """Every uplift model (and random, response-model ranking) per offer on the test part."""
    m = metrics.copy()
    m["model"] = m["model"].map(lambda k: model_labels.get(k, k))
    m["offer"] = m["arm"].map(arm_labels)
    cols = ["offer", "model", "uplift_at_30", "uplift_at_30_low", "uplift_at_30_high"]
    cols += ["qini_auc", "auuc"] + (["rank_corr_true", "auuc_vs_oracle"] if truth else [])
    show_table(
        m[cols].rename(columns=UPLIFT_COLUMNS),
        caption=f"Uplift models on the test part ({count(n_test)} rows), outcome {outcome}",
        fmt="{:.3f}",
        max_rows=80,
    )


def qini_chart(
    qini: Mapping[tuple[str, str], pd.DataFrame],
    models: Sequence[str],
    chosen: str,
    arm: str,
    arm_label: str,
    outcome: str,
    model_labels: Mapping[str, str],
) -> go.Figure:
    """Qini curves of ``models`` for one offer (the chosen one bold) against random targeting."""
    fig = go.Figure()
    for i, name in enumerate(models):
        q = qini[(name, arm)]
        fig.add_scatter(
            x=q["share"],
            y=q["qini"],
            name=model_labels.get(name, name),
            line_color=COLORS[i % 8],
            line_width=3 if name == chosen else 1.5,
        )
    last = qini[(chosen, arm)]["qini"].iloc[-1]
    fig.add_scatter(x=[0, 1], y=[0, last], name="random", line=dict(dash="dash", color=GREY))
    fig.update_layout(
        title=f"Qini curve, {arm_label}: extra {outcome} won by contacting the top x%",
        xaxis_title="share of test customers contacted (highest predicted uplift first)",
        yaxis_title=f"incremental {outcome}",
        xaxis_tickformat=".0%",
    )
    return fig


def uplift_deciles_chart(
    deciles: Mapping[tuple[str, str], pd.DataFrame],
    models: Sequence[str],
    arm: str,
    arm_label: str,
    outcome: str,
    model_labels: Mapping[str, str],
) -> go.Figure:
    """Measured uplift per tenth of the test customers, ranked by each of ``models``."""
    fig = go.Figure()
    for i, name in enumerate(models):
        d = deciles[(name, arm)]
        fig.add_bar(
            x=d.index,
            y=d["uplift"],
            name=model_labels.get(name, name),
            marker_color=COLORS[i],
            error_y=dict(type="data", array=1.96 * d["std_uplift"]),
        )
    fig.update_layout(
        title=f"Measured uplift by tenth of customers, {arm_label} (95% intervals)",
        xaxis_title="tenth of test customers (best predicted first)",
        yaxis_title=f"uplift in {outcome}",
        barmode="group",
    )
    fig.update_xaxes(type="category")
    return fig


def chosen_model_text(
    model: str,
    reason: str,
    summary: pd.DataFrame,
    arm_labels: Mapping[str, str],
    outcome: str,
    rate: bool,
    truth: Mapping[str, Any] | None,
    chosen: str,
) -> str:
    """Why the model was chosen and what it does per offer (``summary``: per-arm figures of
    ``chosen_model_summary``; ``truth``: ``truth_summary`` on simulated data, else None)."""
    fmt = rate_format(rate)
    lines = [f"**Chosen model: {model}**, for the {reason}."]
    for arm, r in summary.iterrows():
        lines.append(
            f"- {arm_labels[arm]}: among the 30% it ranks highest the contact raised {outcome} by "
            f"**{fmt(r['uplift_at_30'])}** (95% interval {fmt(r['uplift_at_30_low'])} to "
            f"{fmt(r['uplift_at_30_high'])}), against {fmt(r['random_uplift_at_30'])} for random "
            f"targeting, {fmt(r['response_model_uplift_at_30'])} for the response model and "
            f"{fmt(r['baseline_uplift_at_30'])} for the logistic baseline; "
            f"Qini coefficient {r['qini_auc']:.3f}."
        )
    if truth is not None:
        rc, gain = truth["rank_corr"], truth["gain_vs_oracle"]
        lines.append(
            "- On this simulated shop the true uplift of every customer is known: the chosen "
            f"model's rank correlation with it is **{rc[chosen]:.2f}** on average over the offers "
            f"(best model {rc.idxmax()}: {rc.max():.2f}; response model: "
            f"{truth['response_rank_corr']:.2f}), and targeting by its scores captures "
            f"**{gain[chosen]:.0%}** of the true extra response the oracle ranking would (best "
            f"model {gain.idxmax()}: {gain.max():.0%}; response model: "
            f"{truth['response_gain_vs_oracle']:.0%}). The response model finds sure things "
            "(recent buyers who buy anyway) and sleeping dogs rather than persuadable customers."
        )
    lines.append(
        "- The intervals are wide: a test part of a campaign holds few responders, and uplift is a "
        "difference between two small rates. Decisions should rest on the Qini curves' overall "
        "shape, not on one decile."
    )
    return "\n".join(lines)


def baseline_verdict_text(
    verdict: str,
    beats: Mapping[str, bool],
    used: str,
    arm_labels: Mapping[str, str],
    model_labels: Mapping[str, str],
) -> str:
    """In words: does the chosen model beat the two-model logistic baseline on the test part
    (per offer), and which learner the contact list uses."""
    lines = [f"**Against the baseline.** {verdict}"]
    lines += [
        f"- {arm_labels[arm]}: {'beats' if yes else 'does not beat'} the baseline."
        for arm, yes in beats.items()
    ]
    lines.append(f"- The contact list below uses: **{model_labels.get(used, used)}**.")
    return "\n".join(lines)


def intervals_text(
    intervals: pd.DataFrame,
    chosen: str,
    baseline: str,
    arm_labels: Mapping[str, str],
    model_labels: Mapping[str, str],
    rate: bool,
) -> str:
    """The repeated-split intervals of the chosen model and the baseline per offer, in words
    (``intervals``: :func:`~crm_models.targeting.repeated_split_intervals`)."""
    fmt = rate_format(rate)
    iv = intervals.set_index(["arm", "model"])
    level, repeats = float(intervals["level"].iloc[0]), int(intervals["repeats"].iloc[0])
    lines = [
        f"**How sure are these figures?** {level:.0%} intervals over {repeats} further random "
        "splits of the campaign rows (the models refitted on each, each test part resampled):"
    ]
    for arm in dict.fromkeys(intervals["arm"]):
        parts = []
        for name in dict.fromkeys([chosen, baseline]):
            r = iv.loc[(arm, name)]
            parts.append(
                f"{model_labels.get(name, name)}: Qini {r['qini_low']:.3f} to {r['qini_high']:.3f}, "
                f"uplift@30% {fmt(r['uplift_at_k_low'])} to {fmt(r['uplift_at_k_high'])}"
            )
        overlap = chosen != baseline and (
            iv.loc[(arm, chosen), "qini_low"] <= iv.loc[(arm, baseline), "qini_high"]
        )
        tail = " The ranges overlap: the data cannot tell the two apart." if overlap else ""
        lines.append(f"- {arm_labels[arm]}: {'; '.join(parts)}.{tail}")
    return "\n".join(lines)


def show_validation(validation: pd.DataFrame, model_labels: Mapping[str, str]) -> None:
    """The mean Qini coefficient per model over the cross-fitting folds of the training part
    (how the model was chosen), with its spread over folds and offers."""
    table = validation.rename(
        columns={"validation_qini": "mean Qini", "validation_qini_sd": "sd over folds and offers"}
    )
    show_table(
        table.rename(index=lambda k: model_labels.get(k, k)).rename_axis("model"),
        caption="Model choice: mean Qini coefficient in cross-fitting on the training part",
        fmt="{:.3f}",
    )


def contact_list_text(
    summary: Mapping[str, Any],
    send_date: pd.Timestamp,
    budget: int,
    max_contacts: int,
    window_days: int,
    margin: float,
    clv_weight: float,
    clv_note: str,
) -> str:
    """The send, the permission rules' exclusions and the list's expected results."""
    s = summary
    return (
        f"Send date **{send_date.date()}**; frequency cap: at most {max_contacts} contacts in "
        f"{window_days} days; budget **{count(budget)}** contacts; margin {pct(margin, 0)}.\n\n"
        f"- {count(s['customers_scored'])} customers scored; "
        f"**{count(s['excluded_by_permission_rules'])}** excluded by the permission rules "
        f"({count(s['excluded_no_consent'])} never consented, {count(s['excluded_opted_out'])} "
        f"opted out, {count(s['excluded_frequency_cap'])} over the frequency cap).\n"
        f"- **{count(s['contacts'])}** customers on the list, expected to bring "
        f"**{s['expected_incremental_responses']:,.0f}** extra responses and "
        f"**{money(s['expected_incremental_profit'])}** expected incremental profit after "
        f"{money(s['contact_cost'])} contact cost, including "
        f"{money(s['expected_incremental_clv'])} from the lifetime-value gain of re-activated "
        f"customers (weight {clv_weight:g}; {clv_note}).\n"
        f"- {_selection_text(s['selection'])}"
    )


def _selection_text(selection: Mapping[str, Any]) -> str:
    """How the list was found: exact, or greedy with its distance from the best possible."""
    if selection["method"] == "exact":
        return f"The list is the best possible under the budget: {selection['how']}."
    return (
        f"The list was found greedily ({selection['how']}); it is at most "
        f"{money(selection['gap'], 2)} ({pct(selection['gap_share'], 3)}) below the best possible."
    )


def strategy_profit_chart(comparison: pd.DataFrame) -> go.Figure:
    """Expected incremental profit per targeting strategy (losses in brick)."""
    profit = comparison["expected_incremental_profit"]
    fig = go.Figure(
        go.Bar(
            x=comparison["strategy"],
            y=profit,
            marker_color=[COLORS[2] if v >= 0 else COLORS[3] for v in profit],
        )
    )
    fig.update_layout(
        title="Expected incremental profit by strategy",
        yaxis_title=money_title("expected incremental profit"),
    )
    return fig


def show_contact_list(
    comparison: pd.DataFrame,
    exclusions: pd.DataFrame,
    by_arm: pd.Series,
    contacts: pd.DataFrame,
) -> None:
    """The strategies compared, every customer's decision, the list by offer and its start
    (``contacts`` with offers in words)."""
    show_table(
        comparison,
        caption="Strategies compared (model-based expected figures)",
        fmt=STRATEGY_FORMATS,
    )
    show_table(exclusions, caption="Every customer's decision", fmt={"customers": count})
    show_table(by_arm, caption="Customers on the list by offer", fmt=count)
    show_table(
        contacts.head(15),
        caption="The first 15 customers on the list (the full list is in the run's tables)",
        fmt={
            "customer_id": str,
            "expected_incremental_response": pct,
            "expected_incremental_clv": lambda v: money(v, 2),
            "expected_incremental_profit": lambda v: money(v, 2),
        },
    )


# --------------------------------------------------------------------------- findings
# how a 0/1 outcome reads in a finding ("3.1 more responses per 100 customers mailed")
OUTCOME_WORDS = {"responded": "responses", "visit": "visits", "conversion": "purchases"}
MONEY_WORDS = {"response_amount": "sales", "spend": "spend"}  # ... "+$5.12 of sales"
COMPARISON_ROWS = {  # the strategies of ``targeting.contact_list``, by the start of their name
    "list": "uplift list (this list)",
    "all_profitable": "uplift list without a budget",
    "everyone": "mail every eligible customer",
    "by_response": "top ",
}


def _effect_words(r: pd.Series, outcome: str, rate: bool) -> str:
    """One offer's measured effect per customer mailed, with its 95% range, in words."""
    if rate:
        what = OUTCOME_WORDS.get(outcome, outcome)
        v, lo, hi = (100 * r[c] for c in ("effect", "95% low", "95% high"))
        more = "more" if v >= 0 else "fewer"
        return f"{abs(v):.1f} {more} {what} per 100 customers mailed (range {lo:+.1f} to {hi:+.1f})"
    lo, hi = (money(r[c], 2, signed=True) for c in ("95% low", "95% high"))
    what = MONEY_WORDS.get(outcome, outcome)
    return (
        f"{money(r['effect'], 2, signed=True)} of {what} per customer mailed (range {lo} to {hi})"
    )


def _join_names(names: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _on_list(offer: str, on_list: pd.Series) -> str:
    """The customers the contact list still gives an offer without a measurable average effect."""
    n = int(on_list.get(offer, 0))
    if n == 0:
        return ""
    return (
        f"; the list gives it only to the {count(n)} customers the model expects to respond to "
        "it: compare them with their share of the hold-out group after the send"
    )


def _offer_bullets(
    effects: pd.DataFrame, outcome: str, money_outcome: str | None, rate: bool, on_list: pd.Series
) -> list[str]:
    """Which offers worked (95% range above zero), did nothing (range around zero) or did
    harm (range below zero), each with its effect per customer mailed (``on_list``: customers
    on the contact list per offer)."""
    e = effects.loc[effects["outcome"] == outcome].set_index("offer")
    e = e.sort_values("effect", ascending=False)
    cash = None
    if money_outcome and money_outcome != outcome:
        cash = effects.loc[effects["outcome"] == money_outcome].set_index("offer")
    worked = e.loc[e["95% low"] > 0]
    harmed = e.loc[e["95% high"] < 0]
    nothing = e.loc[(e["95% low"] <= 0) & (e["95% high"] >= 0)]
    out = []
    if len(worked):
        parts = []
        for offer, r in worked.iterrows():
            text = f"**{offer}**: {_effect_words(r, outcome, rate)}"
            if cash is not None and offer in cash.index:
                text += f", {_effect_words(cash.loc[offer], money_outcome, False)}"
            parts.append(text)
        verb = "it" if len(worked) == 1 else "they"
        out.append(
            f"**Use {_join_names(worked.index)}: {verb} worked.** Against customers chosen at "
            "random and not mailed, " + "; ".join(parts) + "."
        )
    else:
        out.append(
            f"**No offer measurably raised {OUTCOME_WORDS.get(outcome, outcome)}**: none has "
            "shown it is worth its cost; test again before mailing widely."
        )
    verdicts, parts = [], []
    if len(worked) and len(nothing):  # with none working, the bullet above says it all
        verdicts.append(
            f"skip {_join_names(nothing.index)} as a mass mailing: no measurable effect"
        )
        parts += [
            f"{offer}: {_effect_words(r, outcome, rate)}, a range that includes zero"
            + _on_list(offer, on_list)
            for offer, r in nothing.iterrows()
        ]
    if len(harmed):
        verdicts.append(f"stop {_join_names(harmed.index)}: mailing did harm")
        parts += [f"{offer}: {_effect_words(r, outcome, rate)}" for offer, r in harmed.iterrows()]
    if verdicts:
        text = "; ".join(verdicts)
        out.append(f"**{text[0].upper()}{text[1:]}.** " + "; ".join(parts) + ".")
    return out


def _strategy(comparison: pd.DataFrame, key: str) -> pd.Series:
    """A row of the strategy comparison by its kind (:data:`COMPARISON_ROWS`)."""
    rows = comparison.loc[comparison["strategy"].str.startswith(COMPARISON_ROWS[key])]
    return rows.iloc[0]


def _than(diff: float) -> str:
    """ "$1,234 more" or "$1,234 less": a difference of expected profit in words."""
    return f"{money(abs(diff))} {'more' if diff >= 0 else 'less'}"


def _list_bullets(
    comparison: pd.DataFrame,
    best_offer: str,
    by_offer: pd.Series,
    holdout: Mapping[str, Any] | None,
) -> list[str]:
    """Who to mail, what it is expected to bring against mailing everyone or the likeliest
    buyers, what a bigger budget would add and what the hold-out group costs."""
    mine = _strategy(comparison, "list")
    n, profit = int(mine["contacts"]), float(mine["expected_incremental_profit"])
    if n == 0:
        return [
            "**Mail nobody this time**: no customer the rules allow to contact is expected to "
            "bring more than the offer and contact cost."
        ]
    everyone, likeliest = _strategy(comparison, "everyone"), _strategy(comparison, "by_response")
    mix = ", ".join(f"{count(v)} {k}" for k, v in by_offer.sort_values(ascending=False).items())
    clv = float(mine["expected_incremental_clv"])
    later = f", {money(clv)} of it from later purchases of customers won back" if clv > 0 else ""
    out = [
        f"**Mail the {count(n)} customers on the contact list** ({mix}): expected "
        f"**{money(profit, signed=True)}** profit over not mailing, after "
        f"{money(mine['contact_cost'])} of contact costs{later}. That is "
        f"{_than(profit - everyone['expected_incremental_profit'])} than mailing all "
        f"{count(everyone['contacts'])} customers who may be contacted with {best_offer} "
        f"({money(everyone['expected_incremental_profit'], signed=True)}), and "
        f"{_than(profit - likeliest['expected_incremental_profit'])} than mailing the "
        f"{count(n)} likeliest buyers ({money(likeliest['expected_incremental_profit'], signed=True)}),"
        " many of whom buy anyway."
    ]
    wider = _strategy(comparison, "all_profitable")
    extra = float(wider["expected_incremental_profit"]) - profit
    if int(wider["contacts"]) > n and extra > 0:
        out.append(
            f"**A bigger budget would pay**: mailing all {count(wider['contacts'])} customers "
            f"expected to pay back would add {money(extra)} "
            f"({count(wider['contacts'] - n)} more contacts, "
            f"{money(wider['contact_cost'] - mine['contact_cost'])} more contact cost)."
        )
    if holdout is not None and holdout["held_out"] > 0:
        kept = float(holdout["expected_incremental_profit_mailed"])
        out.append(
            f"**Do not mail the {count(holdout['held_out'])} customers marked 'hold out'** on "
            f"the list ({pct(holdout['holdout_share'], 0)}, picked at random): comparing them "
            "with the mailed customers measures what this send really did. It costs about "
            f"{money(profit - kept)} of the expected profit, leaving {money(kept, signed=True)}."
        )
    return out


def findings(
    effects: pd.DataFrame,
    outcome: str,
    rate: bool,
    money_outcome: str | None,
    comparison: pd.DataFrame,
    best_offer: str,
    by_offer: pd.Series,
    holdout: Mapping[str, Any] | None = None,
) -> str:
    """The report's findings and what to do, as 3-5 Markdown bullets for a marketing reader.

    ``effects``: :func:`~crm_models.targeting.average_effects` (offers in words); ``outcome``:
    the outcome the offers are judged on (``rate``: a 0/1 outcome); ``money_outcome``: an
    outcome in money whose effect is added per offer, or None; ``comparison``: the strategies
    of :func:`~crm_models.targeting.contact_list`; ``best_offer``: the single offer that pays
    best when mailing everyone, in words; ``by_offer``: customers on the list per offer in
    words; ``holdout``: :func:`~crm_models.targeting.holdout_summary` of the mailing list, or
    None when nobody is held out.
    """
    lines = _offer_bullets(effects, outcome, money_outcome, rate, by_offer)
    lines += _list_bullets(comparison, best_offer, by_offer, holdout)
    return "\n".join(f"- {line}" for line in lines)

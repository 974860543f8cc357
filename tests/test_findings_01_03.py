"""The "Findings and what to do" bullets of reports 01-03 (customer base, value, segments):
3-5 bullets in plain words, each with its numbers and an action, and honest when the evidence
is weak."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from crm_models.charts import revenue as revenue_charts
from crm_models.charts import segments as segment_charts
from crm_models.charts import value as value_charts
from crm_models.plotting import current_currency, use_currency

# Method words a marketing lead should not need: they belong in "How we know".
JARGON = (
    "Qini",
    "AUUC",
    "AUC",
    "log-likelihood",
    "log likelihood",
    "chi-square",
    "χ²",
    "MAE",
    "RMSE",
    "Gini",
    "BG/NBD",
    "Pareto/NBD",
    "Gamma-Gamma",
    "P(alive)",
    "p-value",
    "p =",
    "Divisia",
    "LMDI",
    "Rand",
    "silhouette",
    "BIC",
    "R²",
    "regression",
    "holdout",
    "calibration",
    "bootstrap",
    "Kaplan",
    "confidence interval",
    "k-means",
    "Gaussian",
)
# Every bullet recommends something: one of these verbs in bold.
ACTIONS = re.compile(
    r"\*\*(Look after|Win|Keep|Work on|Contact|Put|Spend|Use|Plan|Do not|do not|Ignore|"
    r"Rank|rank|Replace|Treat|target|grow|no win-back)"
)


@pytest.fixture(autouse=True)
def dollars():
    before = current_currency()
    use_currency("USD")
    yield
    use_currency(before)


def bullets_of(text: str) -> list[str]:
    lines = text.split("\n")
    assert all(line.startswith("- ") for line in lines), text
    assert 3 <= len(lines) <= 5, text
    for line in lines:
        assert ACTIONS.search(line), f"no recommended action in: {line}"
        for word in JARGON:
            assert word not in line, f"jargon {word!r} in: {line}"
    return lines


NOTEBOOKS = [
    Path(__file__).parents[1] / "notebooks" / name
    for name in (
        "01_customer_base_and_revenue.py",
        "02_value_and_retention.py",
        "03_segments_and_profiles.py",
    )
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_findings_after_the_evidence_and_folded_method_detail(path):
    cells = jupytext.read(path).cells
    tags = [set(c.metadata.get("tags", [])) for c in cells]
    found = [i for i, t in enumerate(tags) if "findings" in t]
    assert [cells[i].cell_type for i in found] == ["markdown", "code"]
    assert cells[found[0]].source.strip() == "## Findings and what to do"
    assert "charts.findings(" in cells[found[1]].source
    # computed last: after it only the cell that closes the run
    assert found[1] == len(cells) - 2 and cells[-1].source.strip() == "run.finish()"
    assert sum("how-we-know" in t for t in tags) >= 2


# --------------------------------------------------------------------------- 01 customer base
def change(n: float, l_: float, v: float, since: str = "2024-06") -> pd.Series:
    total = n + l_ + v
    return pd.Series(
        {
            "period_from": pd.Period(since, "M"),
            "period_to": pd.Period("2025-06", "M"),
            "revenue_from": 400_000.0,
            "revenue_to": 400_000.0 + total,
            "change": total,
            "effect_N": n,
            "effect_L": l_,
            "effect_V": v,
        }
    )


STAGES = pd.DataFrame(
    {
        "customers": [2452, 7401, 4629, 5518],
        "share of customers": [0.12, 0.37, 0.23, 0.28],
        "revenue to date": [441_554.0, 5_149_786.0, 1_778_297.0, 1_866_001.0],
    },
    index=pd.Index(["new", "active", "at_risk", "lapsed"], name="lifecycle_stage"),
)


def test_customer_base_findings_carry_the_numbers_and_actions():
    text = revenue_charts.findings(
        change(141_558, 1_868, -11_766), 0.44, 20_000, 9_235_640, STAGES, 0.235, 12, "month"
    )
    lines = bullets_of(text)
    assert len(lines) == 4
    assert "$531,660" in lines[0] and "up $131,660" in lines[0]
    assert "more customers buying (+$141,558)" in lines[0]
    assert "Keep investing in acquisition and win-back" in lines[0]
    assert "season" not in lines[0]
    # top 10 % of 20,000 customers with 44 % of revenue: 0.44/0.1 over 0.56/0.9 = 7.1 times
    assert "2,000 people" in lines[1] and "44.0%" in lines[1] and "7.1 times" in lines[1]
    assert "$4,063,682" in lines[1]
    assert "4,629" in lines[2] and "$1,778,297" in lines[2] and "5,518" in lines[2]
    assert "23.5%" in lines[3] and "12 complete months" in lines[3]


def test_customer_base_fall_points_to_its_driver():
    text = revenue_charts.findings(
        change(-2_000, 1_000, -30_000, since="2025-05"),
        0.30,
        500,
        100_000,
        STAGES.drop("at_risk"),
        0.1,
        4,
        "month",
    )
    lines = bullets_of(text)
    assert len(lines) == 3  # no customer 6-12 months quiet: no win-back bullet
    assert "(the month before, as the data do not reach back a year" in lines[0]
    assert "down $31,000" in lines[0] and "smaller orders (-$30,000)" in lines[0]
    assert "Work on order size" in lines[0]


# --------------------------------------------------------------------------- 02 value
def value_inputs(
    predicted: float, actual: float, risk_rows: int = 3, payback_months: float = 4.0
) -> dict:
    values = pd.DataFrame(
        {"clv": [500.0, 300.0, 100.0, 50.0, 50.0], "value_decile": [1, 2, 5, 9, 10]}
    )
    risk = pd.DataFrame(
        {
            "value_at_risk": np.linspace(300, 100, risk_rows),
            "contactable": [True, False, True][:risk_rows],
        }
    )
    pb = pd.DataFrame(np.tile(np.arange(1, 14) * 12.0, (3, 1)))  # 144 after 12 months
    pb.attrs.update(margin_rate=0.3, acquisition_cost=40.0)
    return dict(
        values=values,
        figures={
            "top_decile_share": 0.5,
            "customers_at_risk": risk_rows,
            "value_at_risk": float(risk["value_at_risk"].sum()),
            "risk_rule": "p_alive",
        },
        totals={"clv": 1000.0, "clv_interval_80": (900.0, 1100.0)},
        ev={"holdout_predicted_total": predicted, "holdout_actual_total": actual},
        spend_ev={"customers": 4, "spend_predicted_mean": 100.29, "spend_actual_mean": 101.08},
        holdout_span="52 weeks",
        risk=risk,
        lapse_row=pd.Series({"median_days_to_lapse": 102.0, "survival_365d": 0.221}),
        lapse_days=180,
        pb=pb,
        pay={"median_periods": payback_months, "share_paid_back_1y": 0.77},
        horizon_weeks=52,
    )


def test_value_findings_carry_the_numbers_and_actions():
    lines = bullets_of(value_charts.findings(**value_inputs(22_771, 23_654)))
    assert len(lines) == 5
    assert "$1,000" in lines[0] and "$900 and $1,100" in lines[0]
    assert "last 52 weeks it did not see" in lines[0]
    assert "22,771" in lines[0] and "23,654" in lines[0] and "4% more" in lines[0]
    assert "$101.08" in lines[0] and "in money about 5% more" in lines[0]  # 1.039 * 1.008
    assert "Use the figure for planning" in lines[0]
    assert "(1)" in lines[1] and "50.0%" in lines[1] and "$500" in lines[1]
    assert "Contact the 3 valuable customers" in lines[2] and "2 of whom agreed" in lines[2]
    assert "$600" in lines[2]
    assert "102 days" in lines[3] and "22.1%" in lines[3] and "first 3 months" in lines[3]
    assert "4 months" in lines[4] and "Spend up to about $144" in lines[4]


def test_value_findings_say_so_when_the_forecast_was_far_off():
    inputs = value_inputs(15_000, 23_654, risk_rows=0, payback_months=0.0)
    lines = bullets_of(value_charts.findings(**inputs))
    assert "58% more than predicted" in lines[0] and "do not budget on the total" in lines[0]
    assert "no win-back campaign is needed" in lines[2]
    assert "pays back in its first month" in lines[4]


# --------------------------------------------------------------------------- 03 segments
RFM = pd.DataFrame(
    {
        "customers": [4008, 1264, 2972, 1987],
        "customer_share": [0.2, 0.06, 0.15, 0.1],
        "revenue": [4_246_608.0, 827_118.0, 1_517_175.0, 250_187.0],
        "revenue_share": [0.46, 0.09, 0.164, 0.027],
    },
    index=pd.Index(["champions", "can't lose", "at risk", "lost"], name="segment"),
)
PROFILE = pd.DataFrame(
    {"customers": [4752, 4492], "revenue_share": [0.13, 0.599]},
    index=["Web-first, rarely store", "Frequent, broad-range"],
)


def comparison(model_auc: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"auc": [model_auc, 0.533], "lift_top10": [1.21, 1.10]},
        index=["logistic regression", "naive: biggest first order first"],
    )


def test_segment_findings_carry_the_numbers_and_actions():
    text = segment_charts.findings(
        RFM,
        6,
        True,
        PROFILE,
        (comparison(0.553), "logistic regression"),
        ["acquisition_channel", "age_band"],
        ["gender"],
        0.008,
    )
    lines = bullets_of(text)
    assert len(lines) == 5
    assert "4,008 champions" in lines[0] and "46.0%" in lines[0] and "$4,246,608" in lines[0]
    assert "4,236 customers" in lines[1] and "25.4%" in lines[1] and "$2,344,293" in lines[1]
    assert "6 groups" in lines[2] and "“Frequent, broad-range” (4,492" in lines[2]
    assert "59.9%" in lines[2] and "Use these groups" in lines[2]
    assert "1.2 times" in lines[3] and "1.1 times" in lines[3] and "lookalike_prospects" in lines[3]
    assert "Ignore gender" in lines[4] and "Acquisition channel, age band do matter" in lines[4]
    assert "less than 1%" in lines[4]


def test_segment_findings_warn_off_unstable_groups_and_a_useless_model():
    text = segment_charts.findings(
        RFM.drop(["can't lose", "at risk"]),
        3,
        False,
        PROFILE,
        (comparison(0.52), "logistic regression"),
        None,
        None,
        None,
    )
    lines = bullets_of(text)
    assert len(lines) == 3
    assert "do not plan campaigns on them" in lines[1]
    assert "rank new customers by the size of their first order" in lines[2]


def test_p_alive_histogram_holds_bin_counts_not_every_customer():
    # a report on 10M customers embedded all 10M P(alive) values in its page
    p_alive = pd.Series(np.random.default_rng(3).uniform(size=100_000))
    p_alive.iloc[:5] = [0.0, 1.0, 1.0, 0.5, np.nan]
    (bars,) = value_charts.p_alive_histogram(p_alive).data
    assert len(bars.y) == value_charts.P_ALIVE_BINS
    assert sum(bars.y) == p_alive.notna().sum()  # P(alive) = 1 counts in the last bar
    assert bars.x[0] == pytest.approx(0.5 / value_charts.P_ALIVE_BINS)
    assert bars.y[-1] >= 2

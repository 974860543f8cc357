"""The "Findings and what to do" bullets of the targeting, baskets and forecast reports: their
numbers, their count, their actions, and no method jargon (issue 17: findings first, in plain
words for a marketing lead; method detail goes to "How we know")."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from crm_models.charts import baskets, forecast, targeting
from crm_models.plotting import count, money, use_currency

JARGON = re.compile(
    r"\b(qini|auuc|auc|log[ -]?loss|mase|smape|p-value|fisher|bonferroni|uplift|lift|"
    r"calibrat\w*|backtest\w*|coefficient|support|confidence|precision|recall)\b",
    re.IGNORECASE,
)
ACTIONS = re.compile(
    r"\b(mail|skip|stop|use|keep|send|offer|bundle|recommend|place|plan|treat|do not|test)\b",
    re.IGNORECASE,
)


@pytest.fixture(autouse=True)
def dollars():
    use_currency("USD")
    yield
    use_currency(None)


def bullets(text: str) -> list[str]:
    lines = text.split("\n")
    assert all(line.startswith("- **") for line in lines), text
    return lines


def plain_findings(text: str, low: int = 3, high: int = 5) -> list[str]:
    """3-5 bullets, each bold-led with a number, the first and most of them saying what to do,
    and no method jargon."""
    lines = bullets(text)
    assert low <= len(lines) <= high, text
    assert not JARGON.search(text), JARGON.search(text)
    assert all(re.search(r"\d", line) for line in lines), text
    actions = [bool(ACTIONS.search(line)) for line in lines]
    assert actions[0] and sum(actions) > len(lines) / 2, text
    return lines


# --------------------------------------------------------------------------- targeting
def effects(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    """An ``average_effects`` table from (outcome, offer, effect, low, high)."""
    return pd.DataFrame(rows, columns=["outcome", "offer", "effect", "95% low", "95% high"])


EFFECTS = effects(
    [
        ("responded", "discount_20", 0.045, 0.031, 0.060),
        ("responded", "loyalty_points", 0.002, -0.015, 0.019),
        ("responded", "free_gift", -0.020, -0.035, -0.005),
        ("response_amount", "discount_20", 5.12, 2.69, 7.55),
        ("response_amount", "loyalty_points", 1.65, -0.69, 3.99),
        ("response_amount", "free_gift", -1.0, -2.0, -0.1),
    ]
)


def comparison(list_profit: float, contacts: int) -> pd.DataFrame:
    columns = ["contacts", "expected_incremental_clv", "contact_cost"]
    rows = {
        "uplift list (this list)": (contacts, 20_000.0, 700.0, list_profit),
        "uplift list without a budget (every profitable customer)": (13_250, 50_000, 2_400, 78_900),
        "mail every eligible customer (discount_20)": (14_728, 18_000.0, 2_850.0, 28_307.0),
        f"top {contacts:,} by response score (discount_20)": (contacts, 12_000.0, 660.0, 21_232),
        "mail nobody": (0, 0.0, 0.0, 0.0),
    }
    return pd.DataFrame(
        [(k, *v) for k, v in rows.items()],
        columns=["strategy", *columns, "expected_incremental_profit"],
    )


HOLDOUT = {"held_out": 368, "holdout_share": 0.1, "expected_incremental_profit_mailed": 48_308.0}


def test_targeting_findings_name_what_worked_what_did_nothing_and_who_to_mail():
    by_offer = pd.Series({"discount_20": 2_873, "loyalty_points": 809})
    text = targeting.findings(
        EFFECTS,
        "responded",
        True,
        "response_amount",
        comparison(53_079.0, 3_682),
        "discount_20",
        by_offer,
        HOLDOUT,
    )
    lines = plain_findings(text)
    worked, skip, mail, budget, holdout = lines
    assert worked.startswith("- **Use discount_20: it worked.**")
    assert "4.5 more responses per 100 customers mailed (range +3.1 to +6.0)" in worked
    assert "+$5.12 of sales per customer mailed (range +$2.69 to +$7.55)" in worked
    assert "loyalty_points" not in worked and "free_gift" not in worked
    assert "Skip loyalty_points" in skip and "stop free_gift: mailing did harm" in skip
    assert "2.0 fewer responses per 100" in skip and "809 customers" in skip
    assert "Mail the 3,682 customers" in mail and "+$53,079" in mail
    assert f"{money(53_079 - 28_307)} more than mailing all 14,728" in mail
    assert f"{money(53_079 - 21_232)} more than mailing the 3,682 likeliest buyers" in mail
    assert "$20,000 of it from later purchases" in mail
    assert f"would add {money(78_900 - 53_079)}" in budget and "9,568 more contacts" in budget
    assert "368 customers marked 'hold out'" in holdout
    assert f"about {money(53_079 - 48_308)}" in holdout and "+$48,308" in holdout


def test_targeting_findings_when_nothing_worked_and_nobody_pays():
    nothing = effects(
        [("visit", "mens", 0.001, -0.01, 0.012), ("visit", "womens", -0.002, -0.013, 0.009)]
    )
    text = targeting.findings(
        nothing, "visit", True, None, comparison(0.0, 0), "mens", pd.Series(dtype=int)
    )
    lines = bullets(text)
    assert lines[0].startswith("- **No offer measurably raised visits**")
    assert lines[1].startswith("- **Mail nobody this time**")
    assert len(lines) == 2 and not JARGON.search(text)


def test_targeting_findings_on_a_money_outcome_and_a_list_worse_than_mailing_everyone():
    spend = effects([("spend", "mens", 0.77, 0.48, 1.06)])
    text = targeting.findings(
        spend, "spend", False, "spend", comparison(20_000.0, 1_000), "mens", pd.Series({"mens": 1})
    )
    assert "+$0.77 of spend per customer mailed (range +$0.48 to +$1.06)" in text
    assert f"{money(8_307)} less than mailing all 14,728" in text
    assert f"{money(1_232)} less than mailing the 1,000 likeliest buyers" in text


# --------------------------------------------------------------------------- baskets
def rules(with_revenue: bool = True) -> pd.DataFrame:
    r = pd.DataFrame(
        {
            "antecedent_names": [("Batteries",), ("Remote-control car",), ("Shampoo",)],
            "consequent_names": [("Remote-control car",), ("Batteries",), ("Conditioner",)],
            "lift": [47.9, 47.9, 15.4],
            "confidence": [0.66, 0.71, 0.82],
            "count": [961, 961, 3_689],
            "support": [0.0098, 0.0098, 0.0378],
        }
    )
    if with_revenue:
        r["revenue"] = [186_409.0, 186_409.0, 443_781.0]
        r["revenue_share"] = [0.02, 0.02, 0.047]
    return r


def sentence(r: pd.Series) -> str:
    a, c = ", ".join(r["antecedent_names"]), ", ".join(r["consequent_names"])
    return f"Customers who buy {a} are {r['lift']:.1f} times as likely to buy {c}"


def test_basket_findings_pairs_bundle_offers_list_and_reliability():
    offers = pd.DataFrame(
        {"customer_id": [1, 1, 2, 2, 3], "contactable": [True, True, False, False, True]}
    )
    text = baskets.findings(rules(), 156, 97_577, sentence, (0.50, 0.40, 5, 180), offers, k=5)
    recommend, bundle, personal, ready, reliable = plain_findings(text)
    # the two directions of one pair count once, in the more reliable direction
    assert "Remote-control car are 47.9 times as likely to buy Batteries" in recommend
    assert "Batteries are 47.9" not in recommend
    assert "Shampoo are 15.4 times as likely to buy Conditioner" in recommend
    assert "Bundle Shampoo + Conditioner" in bundle and "$443,781" in bundle and "4.7%" in bundle
    assert "Send the personal cross-sell offers" in personal and "50.0%" in personal
    assert "40.0%" in personal and "180 days" in personal
    assert "**3** customers have 5 offers each; 2 of them may be contacted" in ready
    assert "3 of the 156 combinations" in reliable


@pytest.mark.parametrize(
    ("hits", "verdict"),
    [
        ((0.448, 0.421), "only slightly better than the best-sellers"),
        ((0.30, 0.35), "Offer the best-sellers rather than the personal offers"),
    ],
)
def test_basket_findings_say_when_personal_offers_do_not_beat_best_sellers(hits, verdict):
    text = baskets.findings(rules(), 3, 1_000, sentence, (*hits, 5, 180))
    assert verdict in text and "Send the personal" not in text


@pytest.mark.parametrize("amounts", ["none", "missing"])
def test_basket_findings_of_a_basket_file_and_of_no_rules(amounts):
    file_rules = rules(with_revenue=False)
    if amounts == "missing":  # a basket file's rules carry revenue columns without amounts
        file_rules = file_rules.assign(revenue=float("nan"), revenue_share=float("nan"))
    text = baskets.findings(file_rules, 10, 9_835, sentence)
    lines = plain_findings(text)
    assert "most common combination is Shampoo + Conditioner" in lines[1]
    assert "3,689 baskets (3.8% of all)" in lines[1]
    empty = baskets.findings(rules().iloc[:0], 0, 9_835, sentence)
    assert bullets(empty) == [
        "- **Nothing is bought together more often than chance** in these 9,835 baskets: do "
        "not build bundles or 'bought together' suggestions from this data."
    ]


# --------------------------------------------------------------------------- forecast
def series(values: list[float], start: str) -> pd.Series:
    return pd.Series(values, index=pd.period_range(start, periods=len(values), freq="M"))


AHEAD = pd.DataFrame(
    {
        "mean": [110_000.0, 120_000.0, 130_000.0],
        "lower_80": [100_000.0, 105_000.0, 110_000.0],
        "upper_80": [121_000.0, 135_000.0, 150_000.0],
    },
    index=pd.period_range("2025-07", periods=3, freq="M"),
)
HISTORY = series([90_000.0] * 12 + [105_000.0], "2024-06")  # to June 2025


def test_forecast_findings_plan_trend_total_and_accuracy():
    text = forecast.findings(
        AHEAD,
        HISTORY,
        "M",
        "net revenue",
        money,
        (pd.Period("2024-07", "M"), 100_000.0),
        {"smape": 0.095, "coverage_80": 0.89},
        {"smape": 0.444, "coverage_80": 0.9},
        3,
        {
            "period": "2025-07",
            "booked": 20_000.0,
            "days_booked": 5,
            "days_in_period": 31,
            "total": 111_000.0,
        },
    )
    plan, trend, total, trust, started = plain_findings(text)
    assert "Plan on $110,000 of net revenue in July 2025" in plan
    assert "between $100,000 and $121,000" in plan
    assert "Up 10.0% on the same month last year** (July 2024: $100,000)" in trend
    assert "set targets and stock above that level" in trend
    assert "June 2025, brought $105,000" in trend
    assert "$360,000 over the next 3 months" in total and "September 2025" in total
    assert "off by 9.5% on average, against 44.4% for simply repeating last year" in trust
    assert "89% of the time" in trust and "with care" not in trust
    assert "Plan with the range" in trust
    assert "July 2025 has started**: $20,000 is booked in 5 of 31 days" in started
    assert "should end at $111,000" in started


def test_forecast_findings_short_history_and_a_method_worse_than_last_year():
    text = forecast.findings(
        AHEAD.iloc[:1],
        series([120_000.0, 125_000.0], "2025-05"),
        "M",
        "orders",
        count,
        None,
        {"smape": 0.2, "coverage_80": 0.7},
        {"smape": 0.1, "coverage_80": 0.8},
        4,
    )
    lines = plain_findings(text, low=3, high=3)
    assert "Down 12.0% on the last full month" in lines[1] and "too short" in lines[1]
    assert "Repeating last year was closer on average: treat the forecast with care." in lines[2]

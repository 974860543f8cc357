"""Data a report cannot handle is said in plain words (GitHub issue 13, finding 5).

Each test crafts a small dataset with one condition (no control group, no sales, too few
customers, ...) and checks that the package function a report calls first raises
:class:`UnsupportedData` with one plain sentence for a marketing reader (the build shows it on
the report's card), not a raw exception.  Small data only: no notebook runs here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from crm_models import baskets as basket
from crm_models import forecast as fc
from crm_models import revenue
from crm_models import segments as profiling
from crm_models import segments as segmentation
from crm_models import targeting as tg
from crm_models import targeting as ul
from crm_models import value as clv
from crm_models.data.dataset import Dataset, UnsupportedData
from crm_models.data.simulate import simulate_retailer
from crm_models.features import customer_view

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sim():
    """A small simulated shop: 300 customers, 2023-01 .. 2025-06, five campaigns."""
    return simulate_retailer(n_customers=300, seed=1)


def shop(sim, name="shop", transactions=None, customers=None, campaigns=None) -> Dataset:
    """The simulated shop with some tables replaced (``False`` drops a table)."""

    def pick(given, default):
        return None if given is False else (default if given is None else given)

    return Dataset(
        name,
        transactions=pick(transactions, sim.transactions),
        customers=pick(customers, sim.customers.drop(columns=["name", "email", "phone"])),
        campaigns=pick(campaigns, sim.campaigns),
        products=sim.products,
    )


def first_customers(sim, n: int, **tables) -> Dataset:
    """The shop reduced to its first ``n`` customers."""
    keep = sim.transactions["customer_id"].drop_duplicates().iloc[:n]
    return shop(
        sim,
        f"first_{n}",
        transactions=sim.transactions.loc[sim.transactions["customer_id"].isin(keep)],
        customers=sim.customers.loc[sim.customers["customer_id"].isin(keep)].drop(
            columns=["name", "email", "phone"]
        ),
        campaigns=sim.campaigns.loc[sim.campaigns["customer_id"].isin(keep)],
        **tables,
    )


def assert_plain(err: pytest.ExceptionInfo) -> str:
    """One sentence in plain words: no Python noise a marketing reader would stumble over."""
    msg = str(err.value)
    assert isinstance(err.value, UnsupportedData)
    # the report build recognises a data condition by the name a notebook kernel reports
    assert type(err.value).__name__ == "UnsupportedData"
    assert msg[0].isupper() and msg.endswith("."), msg
    assert "\n" not in msg and ". " not in msg, f"more than one sentence: {msg}"
    for noise in ("KeyError", "ValueError", "Error", "Traceback", "[", "]", "{", "}", "'", "_x"):
        assert noise not in msg, f"{noise!r} in {msg!r}"
    assert not re.search(r"\bnan\b", msg, re.IGNORECASE), msg
    assert not re.search(r"\b(NaT|inf)\b", msg), msg
    return msg


# ============================================================================ campaigns
def test_campaigns_without_a_control_group(sim):
    c = sim.campaigns.copy()
    c["treated"] = True
    c["arm"] = c["arm"].where(c["arm"] != "control", "discount_10")
    with pytest.raises(UnsupportedData, match="no control group") as err:
        tg.campaign_data(shop(sim, campaigns=c))
    assert "keep a random 10-20 % of each campaign unmailed" in assert_plain(err)


def test_campaigns_without_anybody_mailed(sim):
    c = sim.campaigns.assign(treated=False, arm="control")
    with pytest.raises(UnsupportedData, match="Nobody in the campaigns was mailed") as err:
        tg.campaign_data(shop(sim, campaigns=c))
    assert_plain(err)


def test_no_campaign_with_both_groups(sim):
    c = sim.campaigns.copy()
    ids = c["campaign_id"].unique()
    first = c["campaign_id"] == ids[0]
    c.loc[first, "treated"] = True  # the first campaign mailed everybody ...
    c.loc[~first, "treated"] = False  # ... the others nobody
    with pytest.raises(UnsupportedData, match="No campaign has both") as err:
        tg.campaign_data(shop(sim, campaigns=c))
    assert_plain(err)


def test_a_campaign_without_a_control_group_is_left_out_with_a_note(sim):
    c = sim.campaigns.copy()
    first = c["campaign_id"] == c["campaign_id"].iloc[0]
    c.loc[first, "treated"] = True
    data = tg.campaign_data(shop(sim, campaigns=c))
    cid = c["campaign_id"].iloc[0]
    assert cid not in data.campaigns and len(data.campaigns) == c["campaign_id"].nunique() - 1
    assert data.notes == [
        f"Campaign {cid} is left out: it has no control group (every customer was mailed)."
    ]


def test_campaigns_without_any_responder(sim):
    c = sim.campaigns.assign(responded=False, response_amount=0.0)
    with pytest.raises(UnsupportedData, match="No customer responded to any campaign") as err:
        tg.campaign_data(shop(sim, campaigns=c))
    assert_plain(err)


def test_no_campaigns_table(sim):
    with pytest.raises(UnsupportedData, match="no campaigns") as err:
        tg.campaign_data(shop(sim, campaigns=False))
    assert_plain(err)


@pytest.fixture(scope="module")
def data(sim):
    return tg.campaign_data(shop(sim))


def test_response_model_needs_responders_among_the_mailed(sim, data):
    rows = data.rows.copy()
    treated = rows["treated"].astype(bool)
    rows.loc[treated, "responded"] = 0.0  # only control customers responded
    none = data.with_rows(rows)
    with pytest.raises(UnsupportedData, match="None of the .* mailed customers responded") as err:
        tg.evaluate_response(none)
    assert_plain(err)
    few_rows = rows.copy()
    responders = np.flatnonzero(treated & (data.rows["responded"] > 0))
    few_rows.loc[few_rows.index[responders[:3]], "responded"] = 1.0  # three responders
    few = data.with_rows(few_rows)
    with pytest.raises(UnsupportedData, match="Only 3 of the .* too few of one kind") as err:
        tg.evaluate_response(few)
    assert_plain(err)


def test_response_model_falls_back_to_a_random_split_when_the_latest_campaign_has_no_responder(
    data,
):
    rows = data.rows.copy()
    latest = (rows["campaign_id"] == data.campaigns[-1]).to_numpy()
    rows.loc[latest, "responded"] = 0.0
    d = data.with_rows(rows)
    res = tg.evaluate_response(d)
    assert res.split.startswith("stratified random split") and res.n_test > 0


def test_small_offers_are_left_out_of_the_uplift_comparison_and_said_so(data):
    # in this small shop only discount_10 has enough customers and responders
    ev = tg.evaluate_uplift(data, "responded", models=["two_model_logistic"], n_boot=5, seed=1)
    assert ev.arms == ["discount_10"]
    left = ev.info["arms_left_out"]
    assert set(left) == {"discount_20", "free_shipping", "loyalty_points"}
    assert "its control group holds 17, too few to measure its uplift" in left["loyalty_points"]
    assert "Only 4 customers responded after the offer free_shipping" in left["free_shipping"]


def test_an_offer_with_no_responders_or_too_few_customers_cannot_be_measured(data):
    rows = data.rows.copy()
    arm_rows = tg.arm_rows(data, "discount_10")
    rows.loc[arm_rows, "responded"] = 0.0
    d = data.with_rows(rows)
    with pytest.raises(
        UnsupportedData, match="Not a single customer responded after the offer discount_10"
    ) as err:
        tg.evaluate_uplift(d, "responded", arms=["discount_10"], n_boot=5)
    assert_plain(err)
    with pytest.raises(UnsupportedData, match="No offer has enough customers") as err:
        tg.evaluate_uplift(d, "responded", n_boot=5)
    assert_plain(err)


def test_too_few_campaign_rows_to_keep_some_back(data):
    one = data.with_rows(data.rows.iloc[:1])
    with pytest.raises(UnsupportedData, match="keep some back for testing") as err:
        tg.stratified_split(one, "responded")
    assert_plain(err)


def test_uplift_learners_need_both_groups():
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(float)
    with pytest.raises(UnsupportedData, match="both treated and control") as err:
        ul.TwoModelUplift().fit(X, np.ones(50, bool), y)
    assert_plain(err)
    with pytest.raises(UnsupportedData, match="both treated and control"):
        ul.make_multi_arm("pooled_s_learner_gbm").fit(X, np.full(50, "a", dtype=object), y)


# ============================================================================ no sales
@pytest.fixture(scope="module", params=["returns only", "zero amounts"])
def no_sales(sim, request):
    t = sim.transactions.copy()
    if request.param == "returns only":
        t["amount"] = -t["amount"].abs()
        t["quantity"] = -t["quantity"].abs()
    else:
        t["amount"] = 0.0
    return shop(sim, request.param.replace(" ", "_"), transactions=t)


NO_SALES = r"^The transactions hold no sales up to 2025-06-30 \(every amount is zero or a return\)"


def test_no_sales_customer_base(no_sales):
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so there is no revenue") as err:
        revenue.nlv_table(no_sales, "M", require_sales=True)
    assert_plain(err)
    assert not revenue.nlv_table(no_sales, "M")["orders"].any()  # the plain table still works


def test_no_sales_value_and_retention(no_sales):
    view = customer_view(no_sales)
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so customer value cannot") as err:
        clv.buyers(view)
    assert_plain(err)
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so customer value cannot"):
        clv.calibration_holdout(no_sales)


def test_no_sales_segments(no_sales):
    view = customer_view(no_sales)
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so there are no customers") as err:
        segmentation.segment_customers(view, quick=True)
    assert_plain(err)


def test_no_sales_forecast(no_sales):
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so there is no revenue") as err:
        fc.forecast_sales(no_sales, "orders", "M", quick=True)
    assert_plain(err)


def test_no_sales_baskets(no_sales):
    with pytest.raises(UnsupportedData, match=NO_SALES + ", so there are no baskets") as err:
        basket.baskets_from_transactions(no_sales)
    assert_plain(err)


# ============================================================================ too few customers
def _btyd(n_repeat: int, n_once: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = np.r_[rng.integers(1, 6, n_repeat), np.zeros(n_once)].astype(float)
    T = np.full(len(x), 52.0)
    tx = np.where(x > 0, rng.uniform(5, 50, len(x)), 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": 20.0 * (x > 0)})


@pytest.mark.parametrize("model", [clv.BetaGeoModel, clv.ParetoNBDModel])
def test_value_models_need_twenty_repeat_buyers(model):
    with pytest.raises(
        UnsupportedData, match="^Only 12 customers made a repeat purchase, too few"
    ) as err:
        model().fit(_btyd(12))
    assert "at least 20 are needed" in assert_plain(err)
    assert isinstance(err.value, clv.FitError)  # callers that fall back on FitError still do
    with pytest.raises(UnsupportedData, match="No customer has made a repeat purchase") as err:
        model().fit(_btyd(0))
    assert_plain(err)
    with pytest.raises(UnsupportedData, match="No customer has bought anything yet") as err:
        model().fit(_btyd(0, 0))
    assert_plain(err)


def test_spend_model_needs_three_repeat_buyers_with_a_positive_amount():
    with pytest.raises(UnsupportedData, match="fewer than 3 customers") as err:
        clv.GammaGammaModel().fit(_btyd(2))
    assert_plain(err)


def test_a_degenerate_value_model_fit_is_said_in_plain_words():
    n = 200  # everybody buys every week and nobody stops: the drop-out rate runs off to 0
    data = pd.DataFrame(
        {"frequency": np.full(n, 20.0), "recency": np.full(n, 20.0), "T": np.full(n, 20.0)}
    )
    with pytest.raises(
        UnsupportedData, match="too few repeat purchases for the BG/NBD model"
    ) as err:
        clv.BetaGeoModel().fit(data)
    assert_plain(err)
    assert "ran off to 0 or infinity" in err.value.detail  # the technical reason is kept


def test_calibration_period_with_too_few_repeat_buyers(sim):
    ds = first_customers(sim, 12)
    with pytest.raises(UnsupportedData, match="customers made a repeat purchase by 20") as err:
        clv.calibration_holdout(ds)
    assert_plain(err)


def test_history_too_short_for_a_holdout(sim):
    t = sim.transactions
    short = t.loc[t["order_date"] >= t["order_date"].max() - pd.Timedelta(days=30)]
    with pytest.raises(UnsupportedData, match="too short to fit the value model") as err:
        clv.calibration_holdout(shop(sim, transactions=short, campaigns=False))
    assert_plain(err)


def test_holdout_without_purchases(sim):
    ds = shop(sim)
    last = ds.transactions["order_date"].max().normalize()
    with pytest.raises(UnsupportedData, match="bought again up to") as err:
        clv.calibration_holdout(ds, calibration_end=last, holdout_end=last + pd.Timedelta(days=60))
    assert_plain(err)


def test_too_few_customers_for_segments(sim):
    view = customer_view(first_customers(sim, 12))
    with pytest.raises(UnsupportedData, match="^Only 12 customers have bought, too few") as err:
        segmentation.segment_customers(view, quick=True)
    assert "at least 14 are needed" in assert_plain(err)


def test_purchasing_power_needs_customers_with_half_a_year_of_history(sim):
    t = sim.transactions
    recent = t.loc[t["order_date"] >= t["order_date"].max() - pd.Timedelta(days=90)]
    ds = shop(sim, transactions=recent, campaigns=False)
    view = customer_view(ds)
    with pytest.raises(UnsupportedData, match="^Not a single customer has at least 180") as err:
        profiling.purchasing_power(view, ["region"], outcome="orders_per_year")
    assert_plain(err)
    assert profiling.purchasing_power(view, ["region"]).n > 30  # spend per order still works


def _one_timers(n: int = 1200) -> Dataset:
    """``n`` customers who each bought once, spread over two years (nobody becomes
    high-value: one class only)."""
    rng = np.random.default_rng(5)
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    ids = np.arange(1, n + 1)
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "order_id": [f"O{i}" for i in ids],
            "order_date": day,
            "amount": rng.uniform(10, 100, n).round(2),
        }
    )
    customers = pd.DataFrame({"customer_id": ids, "region": rng.choice(["N", "S"], n)})
    return Dataset("one_timers", transactions=tx, customers=customers)


def test_lookalike_with_one_class_only():
    with pytest.raises(UnsupportedData, match="0 became high-value and .* did not") as err:
        profiling.lookalike(_one_timers(), quick=True)
    assert "at least 20 of each are needed" in assert_plain(err)


def test_lookalike_with_too_few_new_customers():
    with pytest.raises(UnsupportedData, match="too few to train the look-alike model") as err:
        profiling.lookalike(_one_timers(150), quick=True)
    assert_plain(err)


def test_lookalike_with_too_short_a_history(sim):
    t = sim.transactions
    recent = t.loc[t["order_date"] >= t["order_date"].max() - pd.Timedelta(days=200)]
    with pytest.raises(UnsupportedData, match="too short to check the look-alike model") as err:
        profiling.lookalike(shop(sim, transactions=recent, campaigns=False))
    assert_plain(err)


def test_forecast_needs_a_history_longer_than_the_backtest(sim):
    t = sim.transactions
    recent = t.loc[t["order_date"] >= pd.Timestamp("2025-03-01")]
    ds = shop(sim, transactions=recent, campaigns=False)
    with pytest.raises(UnsupportedData, match="^Only 4 full months of sales history") as err:
        fc.forecast_sales(ds, "revenue", "M", quick=True)
    assert "at least 7 are needed" in assert_plain(err)


def test_baskets_need_enough_orders_and_customers(sim):
    ds = first_customers(sim, 3)
    b = basket.baskets_from_transactions(ds)
    with pytest.raises(
        UnsupportedData, match="baskets \\(orders with purchases\\), too few"
    ) as err:
        basket.choose_min_support(b)
    assert_plain(err)
    with pytest.raises(UnsupportedData, match="No product was bought by at least 5") as err:
        basket.CrossSell().fit(ds)
    assert_plain(err)


def test_baskets_of_single_products_still_give_a_report(sim):
    """No order holds two products: no rule, but the customer-level cross-sell still works
    (a meaningful result, so no refusal)."""
    single = shop(sim, transactions=sim.transactions.drop_duplicates("order_id"))
    b = basket.baskets_from_transactions(single)
    assert (b.sizes == 1).all()
    assert basket.association_rules(b, basket.choose_min_support(b), 0.1, min_len=2).empty
    offers = basket.CrossSell(k=3).fit(single).recommend()
    assert len(offers) and offers["rule"].str.len().gt(0).all()

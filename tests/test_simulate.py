"""The simulated demo retailer: contract, determinism, and data consistent with its truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_models.data.simulate import SimulatedRetailer, simulate_retailer

N = 4_000
SEED = 7


@pytest.fixture(scope="module")
def sim() -> SimulatedRetailer:
    return simulate_retailer(n_customers=N, seed=SEED)


@pytest.fixture(scope="module")
def big() -> SimulatedRetailer:
    return simulate_retailer(n_customers=20_000, seed=11)


def _end(sim: SimulatedRetailer) -> pd.Timestamp:
    """The first instant after the simulated period."""
    return pd.Timestamp(sim.params["end"]) + pd.Timedelta(days=1)


def _kind(tx: pd.DataFrame) -> pd.Series:
    return tx["order_id"].str[0]


# --- invariants that must hold for any seed, size and period -------------------------------
def check_invariants(sim: SimulatedRetailer) -> None:
    tx, cu, ca, pr = sim.transactions, sim.customers, sim.campaigns, sim.products
    truth = sim.truth["customers"]
    n = sim.params["n_customers"]
    start, end = pd.Timestamp(sim.params["start"]), _end(sim)

    assert (cu["customer_id"].to_numpy() == np.arange(1, n + 1)).all()
    assert tx["order_date"].between(start, end, inclusive="left").all()
    keys = tx[["order_date", "order_id"]]
    assert keys.equals(keys.sort_values(["order_date", "order_id"], kind="stable"))
    price = tx["product_id"].map(pr.set_index("product_id")["price"])
    np.testing.assert_allclose(tx["amount"], tx["quantity"] * price, rtol=1e-12)

    kind = _kind(tx)
    assert set(kind.unique()) <= {"O", "K", "R"}
    assert ((tx["quantity"] < 0) == (kind == "R")).all()
    assert (tx["quantity"] != 0).all()

    # every customer's first line is their sign-up, and it is an ordinary order
    first = tx.groupby("customer_id")["order_date"].min()
    assert first.index.equals(pd.Index(cu["customer_id"]))
    assert (first.to_numpy() == cu["signup_date"].to_numpy()).all()

    # nobody buys after dropping out (returns of earlier purchases are allowed)
    purchases = tx[kind != "R"]
    drop = purchases["customer_id"].map(truth["dropout_date"])
    assert not (purchases["order_date"] > drop).any()
    assert (truth["alive_at_end"] == truth["dropout_date"].isna()).all()

    # returns come after a purchase of the same product by the same customer
    ret = tx[kind == "R"]
    if len(ret):
        bought = purchases.groupby(["customer_id", "product_id"]).agg(
            first=("order_date", "min"), qty=("quantity", "sum")
        )
        back = ret.groupby(["customer_id", "product_id"]).agg(
            first=("order_date", "min"), qty=("quantity", "sum")
        )
        joined = back.merge(
            bought, left_index=True, right_index=True, suffixes=("", "_bought"), how="left"
        )
        assert joined["first_bought"].notna().all()
        assert (joined["first"] > joined["first_bought"]).all()
        assert (-joined["qty"] <= joined["qty_bought"]).all()
        assert (ret.groupby("order_id")["customer_id"].nunique() == 1).all()

    # campaigns: only eligible customers, never after opting out, responses are real orders
    members = ca.merge(cu, on="customer_id", how="left")
    assert (members["signup_date"] < members["sent_date"]).all()
    assert not (members["opt_out_date"] <= members["sent_date"]).any()
    assert members["customer_id"].map(truth["consent_at_signup"]).all()
    assert not ca.duplicated(["campaign_id", "customer_id"]).any()
    assert ((ca["arm"] == "control") == ~ca["treated"]).all()
    assert (ca["responded"] == (ca["response_amount"] > 0)).all()
    k_orders = (
        tx[kind == "K"]
        .groupby("order_id")
        .agg(
            customer_id=("customer_id", "first"),
            order_date=("order_date", "first"),
            amount=("amount", "sum"),
            channel=("channel", "first"),
        )
    )
    resp = ca[ca["responded"]]
    assert len(k_orders) == len(resp)
    per_customer = resp.groupby("customer_id")["response_amount"].agg(["size", "sum"])
    k_per_customer = k_orders.groupby("customer_id")["amount"].agg(["size", "sum"])
    pd.testing.assert_frame_equal(per_customer, k_per_customer, check_dtype=False)
    pairs = resp.merge(k_orders.reset_index(), on="customer_id")
    # a response follows the send, by at most 14 calendar days
    lag = pairs["order_date"].dt.floor("D") - pairs["sent_date"].dt.floor("D")
    after = pairs["order_date"] > pairs["sent_date"]
    pairs["in_window"] = after & (lag <= pd.Timedelta(days=14))
    assert pairs.groupby("order_id")["in_window"].any().all()

    # opt-outs: a date exactly when the customer is no longer opted in after consenting
    has_date = cu["opt_out_date"].notna()
    assert (has_date == cu["opt_out_reason"].notna()).all()
    assert not (cu["opt_in"] & has_date).any()
    consent = cu["customer_id"].map(truth["consent_at_signup"])
    assert (cu["opt_in"] == (consent & ~has_date)).all()
    assert (cu.loc[has_date, "opt_out_date"] >= cu.loc[has_date, "signup_date"]).all()
    assert (cu.loc[has_date, "opt_out_date"] < end).all()

    # the true uplift table covers every audience member and every offer of the campaign
    plan = sim.truth["campaigns"].set_index("campaign_id")["arms"].str.split(",")
    up = sim.truth["uplift"]
    expected = sum(int((ca["campaign_id"] == cid).sum()) * len(arms) for cid, arms in plan.items())
    assert len(up) == expected
    cover = ca[["campaign_id", "customer_id"]].merge(up, on=["campaign_id", "customer_id"])
    assert len(cover) == expected
    np.testing.assert_allclose(up["uplift"], up["p_treated"] - up["p_control"])
    assert up[["p_control", "p_treated"]].stack().between(0, 1).all()
    treated_arm = ca[ca["treated"]].merge(up, on=["campaign_id", "customer_id", "arm"])
    assert len(treated_arm) == int(ca["treated"].sum())
    for cid, arms in plan.items():
        got = set(ca.loc[ca["campaign_id"] == cid, "arm"]) - {"control"}
        assert got <= set(arms)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 400),
    days=st.integers(60, 1_000),
    start=st.dates(
        min_value=pd.Timestamp("2015-01-01").date(), max_value=pd.Timestamp("2030-01-01").date()
    ),
)
def test_invariants_hold_for_any_seed_size_and_period(seed, n, days, start):
    end = pd.Timestamp(start) + pd.Timedelta(days=days - 1)
    sim = simulate_retailer(n_customers=n, start=str(start), end=str(end.date()), seed=seed)
    check_invariants(sim)


def test_invariants_default_size(sim):
    check_invariants(sim)


# --- determinism -----------------------------------------------------------------------------
def test_same_seed_gives_identical_frames():
    a = simulate_retailer(n_customers=1_500, seed=3)
    b = simulate_retailer(n_customers=1_500, seed=3)
    for name in ("transactions", "customers", "campaigns", "products"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.truth.keys() == b.truth.keys()
    for name in a.truth:
        pd.testing.assert_frame_equal(a.truth[name], b.truth[name])
    assert a.params == b.params


def test_different_seed_gives_different_data():
    a = simulate_retailer(n_customers=1_500, seed=3)
    b = simulate_retailer(n_customers=1_500, seed=4)
    assert not a.transactions.equals(b.transactions)
    assert not a.customers["signup_date"].equals(b.customers["signup_date"])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        simulate_retailer(n_customers=0)
    with pytest.raises(ValueError):
        simulate_retailer(n_customers=10, start="2024-01-01", end="2024-01-20")


# --- the table contract ------------------------------------------------------------------------
CONTRACT = {
    "transactions": {
        "customer_id": "int64",
        "order_id": "str",
        "order_date": "datetime64",
        "amount": "float64",
        "product_id": "str",
        "category": "str",
        "quantity": "int64",
        "channel": "str",
        "region": "str",
    },
    "customers": {
        "customer_id": "int64",
        "signup_date": "datetime64",
        "age": "int64",
        "age_band": "str",
        "gender": "str",
        "region": "str",
        "acquisition_channel": "str",
        "preferred_channel": "str",
        "opt_in": "bool",
        "opt_out_date": "datetime64",
        "opt_out_reason": "str",
        "name": "str",
        "email": "str",
        "phone": "str",
    },
    "campaigns": {
        "campaign_id": "str",
        "customer_id": "int64",
        "sent_date": "datetime64",
        "channel": "str",
        "treated": "bool",
        "responded": "bool",
        "response_amount": "float64",
        "arm": "str",
    },
    "products": {"product_id": "str", "name": "str", "category": "str", "price": "float64"},
}


def _dtype_ok(series: pd.Series, kind: str) -> bool:
    if kind == "str":
        return pd.api.types.is_string_dtype(series.dtype) and series.dtype != object
    if kind == "datetime64":
        return pd.api.types.is_datetime64_dtype(series.dtype)
    return str(series.dtype) == kind


@pytest.mark.parametrize("table", list(CONTRACT))
def test_columns_and_dtypes(sim, table):
    df = getattr(sim, table)
    assert list(df.columns) == list(CONTRACT[table])
    for col, kind in CONTRACT[table].items():
        assert _dtype_ok(df[col], kind), (table, col, df[col].dtype)


def test_values_follow_the_contract(sim):
    tx, cu, ca, pr = sim.transactions, sim.customers, sim.campaigns, sim.products
    assert tx["order_id"].str.fullmatch(r"[OKR]\d{8}").all()
    assert set(tx["channel"].unique()) == {"web", "store", "app"}
    assert set(ca["channel"].unique()) <= {"email", "sms", "post"}
    assert set(cu["preferred_channel"].unique()) == {"email", "sms", "post"}
    assert 4 <= cu["region"].nunique() <= 5
    assert (tx["region"] == tx["customer_id"].map(cu.set_index("customer_id")["region"])).all()
    assert (tx["order_date"].dt.time != pd.Timestamp("2000-01-01").time()).mean() > 0.99
    labels = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    bands = pd.cut(cu["age"], [17, 24, 34, 44, 54, 64, 200], labels=labels).astype("str")
    assert (bands == cu["age_band"]).all()
    assert (
        cu["opt_out_reason"]
        .dropna()
        .isin(["not relevant", "privacy", "moved away", "other", "too many messages"])
        .all()
    )
    # personal data is present but obviously fake
    assert (cu["name"] == "Customer " + cu["customer_id"].astype("str")).all()
    assert cu["email"].str.endswith("@example.com").all()
    assert cu["phone"].str.startswith("+00 555 ").all()
    # catalogue
    assert 100 <= len(pr) <= 150 and pr["product_id"].is_unique
    assert 7 <= pr["category"].nunique() <= 9
    assert (pr["price"] > 0).all()
    assert set(tx["product_id"]) <= set(pr["product_id"])
    cat = tx["product_id"].map(pr.set_index("product_id")["category"])
    assert (cat == tx["category"]).all()
    # campaign channel is the channel the customer agreed to
    pref = ca["customer_id"].map(cu.set_index("customer_id")["preferred_channel"])
    assert (ca["channel"] == pref).all()


def test_params_are_json_serialisable_and_complete(sim):
    params = json.loads(json.dumps(sim.params))
    for key in ("r", "alpha", "a", "b", "seed", "n_customers", "start", "end", "seasonality"):
        assert key in params
    assert params["n_customers"] == N and params["seed"] == SEED
    assert len(params["campaigns"]) >= 4


def test_write_round_trips(sim, tmp_path):
    small = simulate_retailer(n_customers=300, seed=5)
    out = small.write(tmp_path / "demo")
    assert out == tmp_path / "demo"
    for name in ("transactions", "customers", "campaigns", "products"):
        back = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, getattr(small, name), check_dtype=False)
        assert list(back.columns) == list(getattr(small, name).columns)
    for name, table in small.truth.items():
        back = pd.read_parquet(out / "truth" / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, table, check_dtype=False, check_index_type=False)
    assert json.loads((out / "truth" / "params.json").read_text()) == small.params


# --- ground truth recovered from the data -------------------------------------------------------
def test_size_is_in_the_intended_range(big):
    lines = len(big.transactions)
    assert 100_000 <= lines <= 200_000


def test_bgnbd_parameters_are_recovered(big):
    from lifetimes import BetaGeoFitter

    tx = big.transactions
    orders = tx[_kind(tx) == "O"].drop_duplicates("order_id")
    day = orders["order_date"].dt.floor("D")
    days = orders.assign(day=day).drop_duplicates(["customer_id", "day"])
    g = days.groupby("customer_id")["day"].agg(["min", "max", "count"])
    week = pd.Timedelta(weeks=1)
    fit = BetaGeoFitter().fit(
        g["count"] - 1, (g["max"] - g["min"]) / week, (_end(big) - g["min"]) / week
    )
    for name in ("r", "alpha", "a", "b"):
        assert fit.params_[name] == pytest.approx(big.params[name], rel=0.25), name


def test_dropout_happens_after_a_repeat_purchase(sim):
    tx, truth = sim.transactions, sim.truth["customers"]
    orders = tx[_kind(tx) == "O"].drop_duplicates("order_id")
    per = orders.groupby("customer_id")["order_date"].agg(["max", "count"])
    dead = truth[~truth["alive_at_end"]]
    assert (per.loc[dead.index, "count"] >= 2).all()
    assert (per.loc[dead.index, "max"] == dead["dropout_date"]).all()
    # with a, b as chosen, roughly half the customers are gone by the end
    assert 0.3 < (~truth["alive_at_end"]).mean() < 0.7


def test_rates_match_the_truth(big):
    tx, truth = big.transactions, big.truth["customers"]
    orders = tx[_kind(tx) == "O"].drop_duplicates("order_id")
    n_orders = orders.groupby("customer_id").size()
    # customers with the higher true rate buy more often (rank correlation)
    corr = n_orders.rank().corr(truth["lambda_"].rank())
    assert corr > 0.4
    assert truth["lambda_"].mean() == pytest.approx(big.params["r"] / big.params["alpha"], rel=0.1)


def test_spend_matches_the_truth(big):
    tx, truth, cu = big.transactions, big.truth["customers"], big.customers
    lines = tx[_kind(tx) == "O"]
    # per-line averages weighted by how many lines each customer bought
    weight = lines.groupby("customer_id").size().reindex(truth.index, fill_value=0)
    for column, expected in (("quantity", "expected_quantity"), ("amount", "expected_line_amount")):
        truth_mean = np.average(truth[expected], weights=weight)
        assert lines[column].mean() == pytest.approx(truth_mean, rel=0.03), column
    orders = lines.groupby("order_id").agg(value=("amount", "sum"), lines=("amount", "size"))
    owner = lines.drop_duplicates("order_id").set_index("order_id")["customer_id"]
    expected_value = owner.map(truth["expected_order_value"])
    expected_lines = owner.map(truth["expected_lines_per_order"])
    assert orders["value"].mean() == pytest.approx(expected_value.mean(), rel=0.03)
    assert orders["lines"].mean() == pytest.approx(expected_lines.mean(), rel=0.01)
    # spend per order differs by age band the way the truth says
    q = lines.groupby(lines["customer_id"].map(cu.set_index("customer_id")["age_band"]))[
        "quantity"
    ].mean()
    effects = big.truth["attribute_effects"]
    age = effects[effects["attribute"] == "age_band"].set_index("level")["multiplier"]
    assert q.rank().corr(age.reindex(q.index).rank()) > 0.8


def test_channel_shares_match_the_truth(big):
    tx, truth = big.transactions, big.truth["customers"]
    orders = tx[_kind(tx) == "O"].drop_duplicates("order_id")
    share = pd.crosstab(orders["customer_id"], orders["channel"], normalize="index")
    many = orders.groupby("customer_id").size() >= 10
    ids = many[many].index
    assert share.loc[ids, "store"].corr(truth.loc[ids, "p_store"]) > 0.7


def test_returns_follow_category_rates(big):
    tx = big.transactions
    sold = tx[tx["quantity"] > 0].groupby("category").size()
    back = tx[tx["quantity"] < 0].groupby("category").size()
    rate = (back / sold).fillna(0)
    truth = big.truth["returns"].set_index("category")["return_rate"]
    np.testing.assert_allclose(rate.reindex(truth.index), truth, atol=0.015)
    assert (tx.loc[tx["quantity"] < 0, "amount"] < 0).all()


def test_planted_affinities_have_high_lift(big):
    tx = big.transactions
    baskets = tx[tx["quantity"] > 0][["order_id", "product_id"]]
    onehot = pd.crosstab(baskets["order_id"], baskets["product_id"]).gt(0)
    n = len(onehot)
    for row in big.truth["affinities"].itertuples():
        a, b = onehot[row.antecedent], onehot[row.consequent]
        confidence = (a & b).sum() / a.sum()
        lift = confidence / (b.sum() / n)
        assert a.sum() > 100
        assert lift > 2, row
        assert confidence == pytest.approx(row.probability, abs=0.08)


def test_seasonality_truth_and_realised_pattern(big):
    season = big.truth["seasonality"]
    week = season[season["component"] == "day_of_week"]["multiplier"]
    hour = season[season["component"] == "hour_of_day"]["multiplier"]
    month = season[season["component"] == "month"]["multiplier"].to_numpy()
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    assert week.mean() == pytest.approx(1)
    assert hour.mean() == pytest.approx(1)
    assert np.average(month, weights=days) == pytest.approx(1)
    tx = big.transactions
    orders = tx[_kind(tx) == "O"].drop_duplicates("order_id")
    dow = orders["order_date"].dt.day_of_week.value_counts()
    assert dow[5] > 1.2 * dow[1]  # Saturday beats Tuesday
    daily = orders.groupby(orders["order_date"].dt.month).size() / days
    assert daily[12] > 1.3 * daily[2]  # December beats February per day
    hours = orders["order_date"].dt.hour.value_counts()
    assert hours.get(20, 0) > 5 * hours.get(3, 0)


def test_acquisition_grows_over_the_period(big):
    signup = big.customers["signup_date"]
    mid = pd.Timestamp(big.params["start"]) + (_end(big) - pd.Timestamp(big.params["start"])) / 2
    first_half = (signup < mid).mean()
    assert 0.3 < first_half < 0.45  # trend 1: rate doubles, so ~5/12 come in the first half
    assert signup.is_monotonic_increasing


def test_campaign_design(big):
    ca = big.campaigns
    plan = big.truth["campaigns"]
    assert len(plan) >= 4
    assert (plan["n_arms"] >= 2).any()
    control = 1 - ca.groupby("campaign_id")["treated"].mean()
    share = plan.set_index("campaign_id")["control_share"]
    se = np.sqrt(share * (1 - share) / ca.groupby("campaign_id").size())
    assert ((control - share).abs() < 4 * se).all()
    assert ca.groupby("campaign_id")["sent_date"].nunique().eq(1).all()
    tx = big.transactions
    k = tx[_kind(tx) == "K"].drop_duplicates("order_id")
    resp = ca[ca["responded"]].merge(plan[["campaign_id", "redemption_channel"]], on="campaign_id")
    got = k.set_index("customer_id")["channel"]
    assert len(k) == len(resp)
    assert sorted(got) == sorted(resp["redemption_channel"])


def test_realised_uplift_matches_true_uplift(big):
    ca, up = big.campaigns, big.truth["uplift"]
    z_scores = []
    for (cid, arm), truth in up.groupby(["campaign_id", "arm"]):
        rows = ca[ca["campaign_id"] == cid]
        t = rows.loc[rows["arm"] == arm, "responded"]
        c = rows.loc[~rows["treated"], "responded"]
        realised = t.mean() - c.mean()
        pt, pc = t.mean(), c.mean()
        se = np.sqrt(pt * (1 - pt) / len(t) + pc * (1 - pc) / len(c))
        z = (realised - truth["uplift"].mean()) / se
        z_scores.append(z)
        assert abs(z) < 4, (cid, arm, realised, truth["uplift"].mean())
    assert np.mean(np.square(z_scores)) < 4


def test_true_uplift_structure(big):
    up, cu = big.truth["uplift"], big.customers
    tc = big.truth["customers"]
    dead = ~up["alive_at_send"]
    assert (up.loc[dead, ["p_control", "p_treated"]] == 0).all().all()
    dogs = up["customer_id"].map(tc["sleeping_dog"]) & up["alive_at_send"]
    assert (up.loc[dogs, "uplift"] < 0).all()
    assert (up.loc[~dogs & ~dead, "uplift"] > 0).all()
    age = up["customer_id"].map(cu.set_index("customer_id")["age"])
    disc = up[up["arm"].str.startswith("discount") & ~dogs & ~dead]
    young = age.loc[disc.index] < 35
    assert disc.loc[young, "uplift"].mean() > disc.loc[~young, "uplift"].mean() + 0.03
    alive = up[~dead & ~dogs]
    # persuadables lapse (2-7 months since the last purchase); sure things bought recently
    w = alive["recency_weeks"]
    lapsing = alive.loc[w.between(8, 32), "uplift"].mean()
    assert lapsing > alive.loc[w < 2, "uplift"].mean() + 0.03
    assert lapsing > alive.loc[w > 52, "uplift"].mean() + 0.02
    assert alive.loc[w < 2, "p_control"].mean() > alive.loc[w.between(8, 32), "p_control"].mean()
    assert 0.02 < (tc["sleeping_dog"]).mean() < 0.12


def test_response_rates_match_true_probabilities(big):
    ca, up = big.campaigns, big.truth["uplift"]
    rows = ca.merge(up, on=["campaign_id", "customer_id"], how="left")
    treated = rows[rows["treated"] & (rows["arm_x"] == rows["arm_y"])]
    control = rows[~rows["treated"]].drop_duplicates(["campaign_id", "customer_id"])
    assert treated["responded"].mean() == pytest.approx(treated["p_treated"].mean(), abs=0.01)
    assert control["responded"].mean() == pytest.approx(control["p_control"].mean(), abs=0.015)


def test_opt_outs(big):
    cu, ca = big.customers, big.campaigns
    out = cu[cu["opt_out_date"].notna()]
    assert 0.02 < len(out) / len(cu) < 0.2
    too_many = out[out["opt_out_reason"] == "too many messages"]
    assert len(too_many) > 0
    contacts = ca[ca["treated"]].merge(too_many[["customer_id", "opt_out_date"]], on="customer_id")
    lag = contacts["opt_out_date"] - contacts["sent_date"]
    just_after = (lag > pd.Timedelta(0)) & (lag <= pd.Timedelta(days=3))
    assert just_after.groupby(contacts["customer_id"]).any().all()
    assert contacts.groupby("customer_id").size().size == len(too_many)
    # nobody without consent at sign-up was ever contacted
    consent = big.truth["customers"]["consent_at_signup"]
    assert ca["customer_id"].map(consent).all()
    assert 0.7 < consent.mean() < 0.9

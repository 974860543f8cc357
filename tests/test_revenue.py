"""Tests for crm_models.revenue: hand-computed examples and property tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_models import revenue as rv
from crm_models.data.dataset import Dataset

# Each example runs a few pandas pipelines (~10-30 ms each): keep the example counts modest.
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_ds(rows: list[tuple], **tables) -> Dataset:
    """rows: (customer_id, order_id, date, amount[, channel])."""
    cols = ["customer_id", "order_id", "order_date", "amount", "channel"][: len(rows[0])]
    df = pd.DataFrame(rows, columns=cols)
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["amount"] = df["amount"].astype(float)
    return Dataset("t", transactions=df, **tables)


@pytest.fixture
def ds() -> Dataset:
    # Jan: a buys o1 (100, of which 10 returned on the same order in Feb) and o2 (50); b buys o3.
    # Feb: b returns o3 in its own order r3; c buys o4 (no channel); an anonymous sale.
    # Mar: nothing.  Apr: a buys again (data ends 10 April).
    return make_ds(
        [
            ("a", "o1", "2024-01-03", 100, "web"),
            ("a", "o1", "2024-02-02", -10, "web"),
            ("a", "o2", "2024-01-20", 50, "store"),
            ("b", "o3", "2024-01-10", 30, "web"),
            ("b", "r3", "2024-02-05", -30, "web"),
            ("c", "o4", "2024-02-14", 80, None),
            (None, "o5", "2024-02-01", 999, "web"),
            ("a", "o6", "2024-04-10", 20, "store"),
        ]
    )


# ------------------------------------------------------------------------------------------
# nlv_table
# ------------------------------------------------------------------------------------------


def test_nlv_table_hand_computed(ds):
    t = rv.nlv_table(ds)
    assert list(t.index.astype(str)) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert t.index.name == "period"
    assert list(t.columns) == rv.NLV_COLUMNS
    # o1 nets to 90 and stays in January (its order date); r3 is a return, not an order.
    assert t["revenue"].tolist() == [170.0, 50.0, 0.0, 20.0]
    assert t["orders"].tolist() == [3, 1, 0, 1]
    assert t["active_customers"].tolist() == [2, 1, 0, 1]
    assert t["new_customers"].tolist() == [2, 1, 0, 0]
    assert t["gross_revenue"].tolist() == [170.0, 80.0, 0.0, 20.0]
    assert t["returns_amount"].tolist() == [0.0, -30.0, 0.0, 0.0]
    assert t.loc["2024-01", "orders_per_customer"] == 1.5
    assert t.loc["2024-01", "avg_order_value"] == pytest.approx(170 / 3)
    assert t.loc["2024-02", "avg_order_value"] == 50.0  # net revenue / orders
    assert np.isnan(t.loc["2024-03", "orders_per_customer"])
    assert np.isnan(t.loc["2024-03", "avg_order_value"])
    assert t["empty"].tolist() == [False, False, True, False]
    # starts 3 Jan (mid-month), ends 10 Apr (mid-month)
    assert t["partial"].tolist() == [True, False, False, True]


def test_nlv_table_as_of_and_full_periods(ds):
    t = rv.nlv_table(ds, as_of="2024-02-29")
    assert list(t.index.astype(str)) == ["2024-01", "2024-02"]
    assert t["partial"].tolist() == [True, False]
    # the return line of o1 dated 2 Feb is included; o6 (April) is not
    assert t["revenue"].tolist() == [170.0, 50.0]
    t = rv.nlv_table(ds, as_of="2024-01-31")
    # the February return line of o1 is after as_of: o1 is worth 100 at that date
    assert t["revenue"].tolist() == [180.0]


def test_nlv_table_as_of_extends_calendar_with_empty_periods(ds):
    t = rv.nlv_table(ds, as_of="2024-06-30")
    assert list(t.index.astype(str))[-2:] == ["2024-05", "2024-06"]
    assert t["empty"].tolist()[-2:] == [True, True]
    assert t["partial"].tolist()[-1] is False


def test_nlv_table_quarterly(ds):
    t = rv.nlv_table(ds, freq="Q")
    assert list(t.index.astype(str)) == ["2024Q1", "2024Q2"]
    assert t["revenue"].tolist() == [220.0, 20.0]
    assert t["orders"].tolist() == [4, 1]
    assert t["active_customers"].tolist() == [3, 1]
    assert t["partial"].tolist() == [True, True]


def test_nlv_table_returns_only_period():
    d = make_ds([("a", "o1", "2024-01-01", 50), ("a", "r1", "2024-02-10", -20)])
    t = rv.nlv_table(d)
    assert t.loc["2024-02", "revenue"] == -20.0
    assert t.loc["2024-02", "active_customers"] == 0
    assert bool(t.loc["2024-02", "empty"])


# ------------------------------------------------------------------------------------------
# decompose_change
# ------------------------------------------------------------------------------------------


def nlv_frame(factors: list[tuple[float, float, float]], start: str = "2024-01") -> pd.DataFrame:
    """A minimal nlv table with R = N·L·V from (N, L, V) rows."""
    idx = pd.period_range(start, periods=len(factors), freq="M", name="period")
    f = np.array(factors, dtype=float)
    return pd.DataFrame(
        {
            "revenue": f.prod(axis=1),
            "active_customers": f[:, 0],
            "orders_per_customer": f[:, 1],
            "avg_order_value": f[:, 2],
            "partial": False,
        },
        index=idx,
    )


def effects_sum(d) -> float:
    return d["effect_N"] + d["effect_L"] + d["effect_V"] + d["effect_other"]


def test_decompose_lmdi_hand_computed():
    # customers double, nothing else moves: all of the +100 is the N effect
    d = rv.decompose_change(nlv_frame([(1, 1, 100), (2, 1, 100)]), "2024-01", "2024-02")
    assert d["method"] == "lmdi"
    assert d["change"] == 100.0
    assert d["effect_N"] == pytest.approx(100.0)
    assert d["effect_L"] == 0.0 and d["effect_V"] == 0.0


def test_decompose_lmdi_formula(ds):
    t = rv.nlv_table(ds)
    d = rv.decompose_change(t, "2024-01", pd.Period("2024-02", "M"))
    r0, r1 = 170.0, 50.0
    lm = (r1 - r0) / (math.log(r1) - math.log(r0))
    assert d["effect_N"] == pytest.approx(lm * math.log(1 / 2))
    assert d["effect_L"] == pytest.approx(lm * math.log(1 / 1.5))
    assert d["effect_V"] == pytest.approx(lm * math.log(50 / (170 / 3)))
    assert effects_sum(d) == pytest.approx(-120.0, rel=1e-12)


def test_decompose_shapley_hand_computed():
    # (N, L, V): (1, 1, 10) -> (2, 1, -5): revenue 10 -> -10, LMDI undefined (V < 0)
    d = rv.decompose_change(nlv_frame([(1, 1, 10), (2, 1, -5)]), "2024-01", "2024-02")
    assert d["method"] == "shapley"
    assert "LMDI undefined" in d["note"]
    assert d["effect_N"] == pytest.approx(2.5)  # 1 * ((10 - 5)/3 + (-5 + 10)/6)
    assert d["effect_L"] == 0.0
    assert d["effect_V"] == pytest.approx(-22.5)  # -15 * ((1 + 2)/3 + (1 + 2)/6)
    assert effects_sum(d) == pytest.approx(-20.0)


def test_decompose_shapley_on_request_equals_lmdi_when_one_factor_moves():
    t = nlv_frame([(3, 2, 10), (3, 2, 15)])
    s = rv.decompose_change(t, "2024-01", "2024-02", method="shapley")
    assert s["method"] == "shapley" and s["note"] == ""
    assert s["effect_V"] == pytest.approx(30.0)
    with pytest.raises(ValueError, match="method"):
        rv.decompose_change(t, "2024-01", "2024-02", method="foo")
    with pytest.raises(ValueError, match="2023-01"):
        rv.decompose_change(t, "2023-01", "2024-02")


def test_decompose_empty_and_returns_only_periods():
    d = make_ds(
        [
            ("a", "o1", "2024-01-01", 50),
            ("a", "r1", "2024-02-10", -20),
            ("b", "o2", "2024-03-03", 40),
            ("b", "o3", "2024-03-09", 20),
        ]
    )
    t = rv.nlv_table(d)
    # Jan -> Feb: the customer disappears (N effect -50), the return is outside N·L·V
    d1 = rv.decompose_change(t, "2024-01", "2024-02")
    assert d1["method"] == "shapley"
    assert d1["effect_N"] == pytest.approx(-50.0)
    assert d1["effect_L"] == 0.0 and d1["effect_V"] == 0.0
    assert d1["effect_other"] == -20.0
    assert "effect_other" in d1["note"]
    assert effects_sum(d1) == pytest.approx(d1["change"])
    # Feb -> Mar: a new customer with two orders of 30 on average; the return leaves other
    d2 = rv.decompose_change(t, "2024-02", "2024-03")
    assert d2["effect_N"] == pytest.approx(60.0)
    assert d2["effect_other"] == 20.0
    assert effects_sum(d2) == pytest.approx(80.0)


def test_decompose_changes_and_latest(ds):
    t = rv.nlv_table(ds, as_of="2025-03-31")
    prev = rv.decompose_changes(t)
    assert len(prev) == len(t) - 1
    assert list(prev.index) == list(t.index[1:])
    assert np.allclose(effects_sum(prev), prev["change"], rtol=1e-12, atol=1e-9)
    assert bool(prev["partial"].iloc[0])  # Jan 2024 is partial
    yoy = rv.decompose_changes(t, against="year")
    assert [str(p) for p in yoy.index] == ["2025-01", "2025-02", "2025-03"]
    assert [str(p) for p in yoy["period_from"]] == ["2024-01", "2024-02", "2024-03"]
    assert yoy["change"].tolist() == [-170.0, -50.0, 0.0]
    latest = rv.decompose_latest(t, against="year")
    assert str(latest["period_to"]) == "2025-03" and str(latest["period_from"]) == "2024-03"
    latest = rv.decompose_latest(rv.nlv_table(ds), against="previous")
    assert str(latest["period_to"]) == "2024-03"  # April is partial
    with pytest.raises(ValueError, match="comparison"):
        rv.decompose_latest(rv.nlv_table(ds), against="year")


positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
anything = st.one_of(
    st.just(0.0), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
)


def _check_exact(d) -> None:
    terms = [d["revenue_from"], d["revenue_to"], d["effect_N"], d["effect_L"], d["effect_V"]]
    scale = max(*(abs(x) for x in terms), 1.0)
    # exact up to float rounding, relative to the size of the numbers being added
    assert np.isclose(effects_sum(d), d["change"], rtol=1e-9, atol=1e-9 * scale)


@FAST
@given(st.tuples(positive, positive, positive), st.tuples(positive, positive, positive))
def test_lmdi_effects_add_up(f0, f1):
    d = rv.decompose_change(nlv_frame([f0, f1]), "2024-01", "2024-02")
    assert d["method"] == "lmdi"
    assert d["effect_other"] == 0.0
    _check_exact(d)


@FAST
@given(st.tuples(anything, anything, anything), st.tuples(anything, anything, anything))
def test_shapley_effects_add_up(f0, f1):
    t = nlv_frame([f0, f1])
    d = rv.decompose_change(t, "2024-01", "2024-02")
    if min(*f0, *f1) <= 0:
        assert d["method"] == "shapley"
    _check_exact(d)
    _check_exact(rv.decompose_change(t, "2024-01", "2024-02", method="shapley"))


# ------------------------------------------------------------------------------------------
# concentration
# ------------------------------------------------------------------------------------------


def test_concentration_hand_computed(ds):
    c = rv.concentration(ds)
    # a: 90 + 50 + 20 = 160, b: 30 - 30 = 0, c: 80; anonymous left out
    assert c.per_customer.to_dict() == {"a": 160.0, "c": 80.0, "b": 0.0}
    assert c.n_customers == 3 and c.total_revenue == 240.0 and c.n_negative == 0
    assert c.gini == pytest.approx(2 * (0 + 2 * 80 + 3 * 160) / (3 * 240) - 4 / 3)
    assert c.lorenz["customer_share"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert c.lorenz["revenue_share"].tolist() == pytest.approx([0, 0, 1 / 3, 1])
    # interpolated on the Lorenz curve: top 20 % -> 1 - L(0.8) = 1 - (1/3 + 2 * (0.8 - 2/3))
    assert c.top_shares.tolist() == pytest.approx([0.02, 0.2, 0.4])
    f = c.to_frame()
    assert f.loc["Gini coefficient", "value"] == pytest.approx(c.gini)
    assert f.loc["revenue share of top 10% customers", "value"] == pytest.approx(0.2)


def test_concentration_negative_customers_clipped_and_window():
    d = make_ds(
        [
            ("a", "o1", "2024-01-01", 100),
            ("b", "o2", "2024-01-05", 100),
            ("c", "r9", "2024-02-01", -40),
            ("c", "o3", "2023-12-01", 40),
        ]
    )
    whole = rv.concentration(d)
    assert whole.n_negative == 0 and whole.n_customers == 3
    c = rv.concentration(d, start="2024-01-01")
    assert c.n_negative == 1 and c.negative_revenue == -40.0
    assert c.total_revenue == 160.0
    assert c.gini == pytest.approx(1 / 3)  # values 0, 100, 100
    assert c.lorenz["revenue_share"].iloc[-1] == 1.0
    early = rv.concentration(d, as_of="2023-12-31")
    assert early.n_customers == 1 and early.gini == 0.0


def conc_from(values: list[float]):
    rows = [(f"c{i}", f"o{i}", "2024-01-01", v) for i, v in enumerate(values)]
    return rv.concentration(make_ds(rows))


def test_gini_extremes():
    assert conc_from([5.0] * 7).gini == pytest.approx(0.0, abs=1e-12)
    assert conc_from([0.0] * 9 + [50.0]).gini == pytest.approx(0.9)
    assert np.isnan(conc_from([0.0, 0.0]).gini)


@FAST
@given(st.lists(st.floats(min_value=-50, max_value=1e4, allow_nan=False), min_size=1, max_size=60))
def test_concentration_properties(values):
    c = conc_from(values)
    lor = c.lorenz
    assert c.n_customers == len(values)
    if np.isnan(c.gini):
        assert max(values) <= 0
        return
    assert 0.0 <= c.gini <= 1.0
    assert (np.diff(lor["customer_share"]) >= 0).all()
    assert (np.diff(lor["revenue_share"]) >= -1e-15).all()
    assert tuple(lor.iloc[0]) == (0.0, 0.0) and tuple(lor.iloc[-1]) == (1.0, 1.0)
    s = c.top_shares.to_numpy()
    assert s[0] <= s[1] <= s[2] <= 1.0
    assert (s >= np.array(rv.TOP_FRACTIONS) - 1e-12).all()  # the top hold at least their share


@SLOW
@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0.01, max_value=1e6))
def test_gini_equal_and_one_holds_all(n, amount):
    assert conc_from([amount] * n).gini == pytest.approx(0.0, abs=1e-9)
    assert conc_from([0.0] * (n - 1) + [amount]).gini == pytest.approx((n - 1) / n)


# ------------------------------------------------------------------------------------------
# new_vs_returning, revenue_by, revenue_share_by, base_activity
# ------------------------------------------------------------------------------------------


def test_new_vs_returning_hand_computed(ds):
    t = rv.new_vs_returning(ds)
    assert t["revenue"].tolist() == [170.0, 50.0, 0.0, 20.0]
    assert t["new_revenue"].tolist() == [170.0, 80.0, 0.0, 0.0]  # Feb: c is new
    assert t["returning_revenue"].tolist() == [0.0, -30.0, 0.0, 20.0]  # b's return, a's rebuy
    assert t["new_share"].iloc[0] == 1.0 and np.isnan(t["new_share"].iloc[2])
    assert t["partial"].tolist() == [True, False, False, True]


def test_revenue_by_hand_computed(ds):
    w = rv.revenue_by(ds, "channel")
    assert w.columns.name == "channel"
    assert list(w.columns) == ["web", "(missing)", "store"]  # by total: 90, 80, 70
    assert w["web"].tolist() == [120.0, -30.0, 0.0, 0.0]  # o1 nets in Jan; r3 in Feb
    assert w["store"].tolist() == [50.0, 0.0, 0.0, 20.0]
    assert w.sum(axis=1).tolist() == rv.nlv_table(ds)["revenue"].tolist()
    anon = rv.revenue_by(ds, "channel", include_anonymous=True)
    assert anon.loc["2024-02", "web"] == 969.0


def test_revenue_share_by_hand_computed(ds):
    s = rv.revenue_share_by(ds, "channel")
    assert s.index.name == "channel"
    assert s["revenue"].to_dict() == {"web": 90.0, "(missing)": 80.0, "store": 70.0}
    assert s["share"].sum() == pytest.approx(1.0)
    assert s.loc["web", "share"] == pytest.approx(90 / 240)
    assert s["customers"].to_dict() == {"web": 2, "(missing)": 1, "store": 1}


def test_revenue_by_missing_column_names_it(ds):
    with pytest.raises(ValueError, match="'region'"):
        rv.revenue_by(ds, "region")
    with pytest.raises(ValueError, match="'category'"):
        rv.revenue_share_by(ds, "category")
    with pytest.raises(ValueError, match="'region'"):
        rv.revenue_by_each(ds, ["channel", "region"])
    # the report splits revenue only by what the data has
    assert rv.available_dimensions(ds, ["channel", "region", "category"]) == ["channel"]


def test_revenue_by_category_from_products_table():
    products = pd.DataFrame({"product_id": ["p1", "p2"], "category": ["toys", "food"]})
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "order_id": ["o1", "o1", "o2"],
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
            "amount": [10.0, 5.0, 7.0],
            "product_id": ["p1", "p2", "p3"],
        }
    )
    d = Dataset("t", transactions=df, products=products)
    w = rv.revenue_by(d, "category")
    assert w.loc["2024-01"].to_dict() == {"toys": 10.0, "(missing)": 0.0, "food": 5.0}
    assert w.loc["2024-02", "(missing)"] == 7.0


def test_base_activity_hand_computed(ds):
    b = rv.base_activity(ds)
    assert b["active_customers"].tolist() == [2, 1, 0, 1]
    assert b["new_customers"].tolist() == [2, 1, 0, 0]
    assert b["returning_customers"].tolist() == [0, 0, 0, 1]
    assert b["cumulative_customers"].tolist() == [2, 3, 3, 3]


def test_weekly_frequency(ds):
    t = rv.nlv_table(ds, freq="W")
    assert t["revenue"].sum() == 240.0
    assert t.index.freqstr.startswith("W")
    assert bool(t["empty"].any())


def test_no_transactions_raises():
    with pytest.raises(ValueError, match="no transactions"):
        rv.nlv_table(Dataset("empty"))


# ------------------------------------------------------------------------------------------
# Properties on random transaction logs
# ------------------------------------------------------------------------------------------

line = st.tuples(
    st.sampled_from(["c0", "c1", "c2", "c3", "c4", None]),
    st.sampled_from([f"o{i}" for i in range(8)]),
    st.integers(min_value=0, max_value=150),
    st.integers(min_value=-5000, max_value=20000).map(lambda c: c / 100),
    st.sampled_from(["web", "store", None]),
)


def random_ds(rows) -> Dataset:
    start = pd.Timestamp("2024-01-01")
    return make_ds([(c, o, start + pd.Timedelta(days=d), a, ch) for c, o, d, a, ch in rows])


@SLOW
@given(st.lists(line, min_size=1, max_size=40), st.sampled_from(["M", "W", "Q"]))
def test_random_logs_are_consistent(rows, freq):
    d = random_ds(rows)
    t = rv.nlv_table(d, freq=freq)
    known = d.customer_transactions()
    assert np.isclose(t["revenue"].sum(), known["amount"].sum(), atol=1e-6)
    full = ~t["empty"]
    # R = N · L · V in every period with orders
    nlv = t["active_customers"] * t["orders_per_customer"] * t["avg_order_value"]
    assert np.allclose(nlv[full], t["revenue"][full], rtol=1e-12, atol=1e-9)
    assert (t.loc[~full, "active_customers"] == 0).all()
    assert np.allclose(t["gross_revenue"] + t["returns_amount"], t["revenue"])
    assert (t["returns_amount"] <= 0).all() and (t["gross_revenue"] >= 0).all()
    assert (t["orders"] >= t["active_customers"]).all()
    assert (t["new_customers"] <= t["active_customers"]).all()

    nvr = rv.new_vs_returning(d, freq=freq)
    assert np.allclose(nvr["revenue"], t["revenue"])
    assert np.allclose(nvr["new_revenue"] + nvr["returning_revenue"], t["revenue"])

    w = rv.revenue_by(d, "channel", freq=freq)
    assert np.allclose(w.sum(axis=1), t["revenue"])

    b = rv.base_activity(d, freq=freq)
    assert (b["active_customers"] == t["active_customers"]).all()
    assert (b["new_customers"] == t["new_customers"]).all()
    assert (b["returning_customers"] >= 0).all()
    assert b["cumulative_customers"].is_monotonic_increasing

    if len(t) > 1:
        for against in ("previous", "year"):
            dec = rv.decompose_changes(t, against=against)
            if dec.empty:
                continue
            scale = np.maximum(np.maximum(dec["revenue_from"].abs(), dec["revenue_to"].abs()), 1)
            assert np.allclose(effects_sum(dec) - dec["change"], 0, rtol=0, atol=1e-9 * scale.max())


# ------------------------------------------------------------------------------------------
# report figures: base_summary, lifecycle_mix, recent_new_share, latest_change, change_effects
# ------------------------------------------------------------------------------------------


def hand_view() -> pd.DataFrame:
    """A customer view: a bought today, b 406 days ago, c 364 days ago, d never."""
    return pd.DataFrame(
        {
            "first_purchase": pd.to_datetime(["2023-01-01", "2023-01-05", "2023-02-01", None]),
            "last_purchase": pd.to_datetime(["2024-04-10", "2023-03-01", "2023-04-12", None]),
            "lifecycle_stage": pd.Categorical(
                ["active", "lapsed", "at_risk", "prospect"],
                categories=["prospect", "new", "active", "at_risk", "lapsed"],
            ),
            "revenue": [300.0, 40.0, 60.0, 0.0],
        },
        index=pd.Index(["a", "b", "c", "d"], name="customer_id"),
    )


def test_base_summary_counts_buyers_active_and_last_year_revenue(ds):
    nlv = rv.nlv_table(ds, as_of="2025-02-15")
    out = rv.base_summary(hand_view(), nlv, pd.Timestamp("2024-04-10"))
    assert out["customers"] == 3 and out["active_12m"] == 2  # c: 364 days, b: 406 days
    assert out["revenue_12m"] == 240.0  # every period ends after 2023-04-10
    out = rv.base_summary(hand_view(), nlv, pd.Timestamp("2025-02-15"))
    assert out["revenue_12m"] == 70.0  # January 2024 (170) ends before 2024-02-15


def test_lifecycle_mix_and_stage_share():
    mix = rv.lifecycle_mix(hand_view())
    assert list(mix.index) == ["prospect", "active", "at_risk", "lapsed"]  # "new" is empty
    assert mix["customers"].tolist() == [1, 1, 1, 1]
    assert mix["share of customers"].tolist() == [0.25] * 4
    assert mix["revenue to date"].tolist() == [0.0, 300.0, 60.0, 40.0]
    assert rv.stage_share(mix, "lapsed") == 0.25
    assert rv.stage_share(mix, "new") == 0.0


def test_recent_new_share_uses_full_periods_only(ds):
    nvr = rv.new_vs_returning(ds)  # Jan and Apr are partial
    share, n = rv.recent_new_share(nvr, periods=12)
    assert n == 2 and share == pytest.approx(80 / 50)  # Feb: 80 new, -30 returned; Mar: 0
    with np.errstate(invalid="ignore"):
        share, n = rv.recent_new_share(nvr, periods=1)
    assert n == 1 and np.isnan(share)  # March: no revenue


def test_latest_change_falls_back_to_the_previous_period(ds):
    change = rv.latest_change(rv.nlv_table(ds))  # no year-earlier period: March vs February
    assert str(change["period_from"]) == "2024-02" and str(change["period_to"]) == "2024-03"
    change = rv.latest_change(rv.nlv_table(ds, as_of="2025-03-31"))
    assert str(change["period_from"]) == "2024-03" and str(change["period_to"]) == "2025-03"


def test_change_effects_labels_and_largest_effect():
    change = pd.Series({"effect_N": 10.0, "effect_L": -30.0, "effect_V": 5.0, "effect_other": 0.0})
    effects = rv.change_effects(change)
    assert list(effects.index) == [
        "active customers (N)",
        "orders per customer (L)",
        "order value (V)",
    ]
    assert effects.tolist() == [10.0, -30.0, 5.0]
    assert rv.largest_effect(effects) == ("orders per customer (L)", -30.0)
    effects = rv.change_effects(change.replace({0.0: -100.0}))
    assert effects.index[-1] == "returns in empty periods" and effects.iloc[-1] == -100.0
    assert rv.largest_effect(effects) == ("orders per customer (L)", -30.0)  # N, L, V only

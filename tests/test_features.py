"""The single customer view: BTYD summary equal to lifetimes, published CDNOW calibration data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models.data.dataset import Dataset
from crm_models.data.loading import _lifetimes_file, load_dataset
from crm_models.features import STAGES, btyd_summary, customer_view


def lifetimes_summary(tx: pd.DataFrame, as_of: str, freq_multiplier: int = 7) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    tx = tx.loc[tx["order_date"] <= as_of]
    return summary_data_from_transaction_data(
        tx,
        "customer_id",
        "order_date",
        "amount",
        observation_period_end=as_of,
        freq="D",
        freq_multiplier=freq_multiplier,
    ).sort_index()


@pytest.mark.parametrize(
    "name,as_of", [("cdnow", "1998-06-30"), ("cdnow", "1997-12-31"), ("cdnow_sample", "1997-09-30")]
)
def test_btyd_columns_equal_lifetimes(name, as_of):
    ds = load_dataset(name)
    view = customer_view(ds, as_of=as_of)
    ref = lifetimes_summary(ds.transactions, as_of)
    got = view.loc[ref.index]
    assert len(ref) == view["frequency"].notna().sum()
    np.testing.assert_array_equal(got["frequency"].to_numpy(), ref["frequency"].to_numpy())
    for col in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(
            got[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-12, atol=1e-9
        )


def test_days_unit_equals_lifetimes_days():
    ds = load_dataset("cdnow_sample")
    view = customer_view(ds, as_of="1997-09-30", time_unit="D")
    ref = lifetimes_summary(ds.transactions, "1997-09-30", freq_multiplier=1)
    np.testing.assert_allclose(view.loc[ref.index, "T"].to_numpy(float), ref["T"].to_numpy(float))


def test_cdnow_sample_reproduces_fhl_calibration_data():
    # Fader, Hardie & Lee (2005) calibration summary of the CDNOW sample at 1997-09-30, as
    # published in Hardie's spreadsheet (cdnow_customers_summary_with_transactions.csv, shipped
    # with lifetimes): x, t_x, T in weeks printed to 2 decimals; zbar = mean repeat spend.
    ref = pd.read_csv(
        _lifetimes_file("cdnow_sample").with_name("cdnow_customers_summary_with_transactions.csv")
    )
    ref = ref.set_index(ref.columns[0]).sort_index()
    view = customer_view(load_dataset("cdnow_sample"), as_of="1997-09-30").loc[ref.index]
    np.testing.assert_array_equal(view["frequency"].to_numpy(), ref["x"].to_numpy())
    np.testing.assert_allclose(view["recency"], ref["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(view["T"], ref["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(view["monetary_value"], ref["zbar"], atol=0.006)
    assert view["frequency"].sum() == 2_457 and (view["frequency"] == 0).sum() == 1_411


def test_view_excludes_the_future_and_counts_returns():
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 2],
            "order_id": ["a", "a", "b", "r", "c", "d"],
            "order_date": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 09:00",
                    "2024-01-01 17:00",
                    "2024-01-10",
                    "2024-01-05",
                    "2024-03-01",
                ],
                format="mixed",
            ),
            "amount": [10.0, 5.0, 20.0, -5.0, 40.0, 99.0],
            "category": ["x", "y", "y", "y", "x", "x"],
            "channel": ["web", "web", "store", "web", "web", "web"],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "signup_date": pd.to_datetime(["2023-12-01"] * 3),
            "gender": ["f", "m", "f"],
        }
    )
    view = customer_view(Dataset("t", transactions=tx, customers=customers), as_of="2024-01-31")
    c1, c2, c3 = (view.loc[i] for i in (1, 2, 3))
    assert (c1["frequency"], c1["orders"], c1["return_orders"]) == (0, 2, 1)
    assert c1["revenue"] == 30.0 and c1["gross_sales"] == 35.0 and c1["returns"] == 5.0
    assert c1["return_rate"] == pytest.approx(5 / 35) and c1["avg_order_value"] == 15.0
    assert c1["favourite_category"] == "y" and c1["n_categories"] == 2
    assert c1["channel_share_store"] == pytest.approx(20 / 35)
    assert c2["revenue"] == 40.0  # the March order is after the as-of date
    assert c3["lifecycle_stage"] == "prospect" and c3["orders"] == 0 and c3["gender"] == "f"
    assert c1["lifecycle_stage"] == "new"
    assert view.attrs["as_of"] == "2024-01-31"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 60), st.floats(0, 500, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_btyd_summary_properties(rows):
    df = pd.DataFrame(rows, columns=["c", "d", "a"])
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(df["d"], unit="D")
    s = btyd_summary(df["c"], dates, df["a"], pd.Timestamp("2024-03-31"))
    days = df.groupby("c")["d"].nunique()
    assert (s["frequency"] == days - 1).all()
    assert (s["recency"] <= s["T"]).all() and (s["recency"] >= 0).all()
    assert ((s["frequency"] > 0) | (s["monetary_value"] == 0)).all()
    assert np.isclose(
        (s["monetary_value"] * s["frequency"]).sum()
        + df.groupby("c")
        .apply(lambda g: g.loc[g["d"] == g["d"].min(), "a"].sum(), include_groups=False)
        .sum(),
        df["a"].sum(),
    )


def test_demo_view_has_every_stage_and_no_pii(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_MODELS_DATA", str(tmp_path))
    ds = load_dataset("demo", n_customers=2000, seed=3)
    view = customer_view(ds)
    assert view.index.is_unique and len(view) == len(ds.customers)
    assert {"name", "email", "phone"}.isdisjoint(view.columns)
    assert set(view["lifecycle_stage"].dropna().unique()) <= set(STAGES)
    assert {"contacts", "responses", "opt_in", "frequency", "T"} <= set(view.columns)


@pytest.mark.parametrize("limit", [10**9, 0])
def test_favourite_level_same_with_dense_and_grouped_paths(monkeypatch, limit):
    import crm_models.features as features

    monkeypatch.setattr(features, "DENSE_LIMIT", limit)
    codes = np.array([0, 0, 1, 1, 1, 2, 3])
    labels = pd.Series(["a", "b", "a", "b", "b", None, "c"])
    weights = np.array([5.0, 1, 1, 2, 2, 3, 0])
    mode, distinct, _ = features._per_customer_mode(codes, labels, weights, 4)
    assert list(mode) == ["a", "b", None, "c"] and list(distinct) == [2, 2, 0, 1]


def test_responses_count_only_after_the_response_window():
    tx = pd.DataFrame(
        {
            "customer_id": [1],
            "order_id": ["a"],
            "order_date": [pd.Timestamp("2024-01-01")],
            "amount": [10.0],
        }
    )
    camp = pd.DataFrame(
        {
            "campaign_id": ["k1", "k2"],
            "customer_id": [1, 1],
            "sent_date": pd.to_datetime(["2024-02-01", "2024-03-01"]),
            "channel": ["email"] * 2,
            "treated": [True, True],
            "responded": [True, True],
            "response_amount": [5.0, 7.0],
        }
    )
    ds = Dataset("t", transactions=tx, campaigns=camp)
    early = customer_view(ds, as_of="2024-03-05").loc[1]
    assert (early["contacts"], early["responses"], early["response_amount"]) == (2, 1, 5.0)
    late = customer_view(ds, as_of="2024-03-15").loc[1]
    assert (late["contacts"], late["responses"], late["response_rate"]) == (2, 2, 1.0)

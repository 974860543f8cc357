"""The revenue tables at scale: orders are told apart once per transactions frame, the
by-dimension tables group integer codes, and every figure equals the plain pandas netting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_models import revenue as rv
from crm_models.data.loading import load_dataset


@pytest.fixture(scope="module")
def retail(shared_data):
    """UCI Online Retail: anonymous lines, cancellations booked as their own orders."""
    path = shared_data / "online_retail" / "online_retail.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return load_dataset(str(path))


def plain_orders(tx: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The netting of the module docstring written as one pandas group-by per order."""
    tx = tx.loc[tx["customer_id"].notna() & (tx["order_date"] < as_of + pd.Timedelta(days=1))]
    g = tx.groupby(["customer_id", "order_id"], sort=True)
    return g.agg(order_date=("order_date", "min"), amount=("amount", "sum")).reset_index()


def test_netted_orders_equal_a_plain_groupby_on_online_retail(retail):
    as_of = pd.Timestamp("2011-06-30")
    got = rv.netted_orders(retail, "M", as_of).orders
    want = plain_orders(retail.transactions, as_of)
    got = got.sort_values(["customer_id", "order_id"]).reset_index(drop=True)
    assert len(got) == len(want) > 10_000
    assert (got["order_id"].astype(str).to_numpy() == want["order_id"].astype(str)).all()
    assert (got["order_date"].to_numpy() == want["order_date"].to_numpy()).all()
    np.testing.assert_allclose(got["amount"], want["amount"], rtol=0, atol=1e-9)
    assert (got["period"] == got["order_date"].dt.to_period("M")).all()


def test_an_order_cut_by_the_as_of_day_keeps_its_first_date_and_earlier_lines():
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 1],
            "order_id": ["a", "a", "b", "a"],
            "order_date": pd.to_datetime(["2024-01-31", "2024-02-02", "2024-01-05", "2024-01-30"]),
            "amount": [10.0, 5.0, 7.0, 3.0],
        }
    )
    ds = rv.Dataset("cut", transactions=tx)
    early = rv.netted_orders(ds, "M", "2024-01-31").orders.set_index("order_id")
    late = rv.netted_orders(ds, "M", "2024-02-28").orders.set_index("order_id")
    assert early.loc["a", "amount"] == 13.0 and late.loc["a", "amount"] == 18.0
    assert early.loc["a", "order_date"] == late.loc["a", "order_date"] == pd.Timestamp("2024-01-30")


def test_the_orders_are_worked_out_once_per_frame_and_reused():
    ds = load_dataset("demo")
    first = rv.netted_orders(ds, "M")
    assert rv.netted_orders(ds, "M") is first  # the same table, not worked out again
    other = rv.netted_orders(rv.Dataset("copy", transactions=ds.transactions.copy()), "M")
    assert other is not first
    pd.testing.assert_frame_equal(other.orders, first.orders)
    # the lines table is built on demand and agrees with the orders
    lines = first.lines
    per_order = lines.groupby("order_key")["amount"].sum()
    np.testing.assert_allclose(per_order.to_numpy(), first.orders["amount"].to_numpy())
    assert (
        lines["period"].to_numpy() == first.orders["period"].to_numpy()[lines["order_key"]]
    ).all()


def test_revenue_by_dimension_equals_a_groupby_of_the_lines():
    ds = load_dataset("demo")
    by = rv.revenue_by(ds, "channel", "Q")
    lines = rv.netted_orders(ds, "Q").lines
    channel = ds.transactions.loc[lines.index, "channel"].fillna("(missing)")
    want = lines["amount"].groupby([lines["period"], channel]).sum().unstack(fill_value=0.0)
    pd.testing.assert_frame_equal(
        by.reindex(columns=want.columns).loc[want.index],
        want,
        check_names=False,
        check_column_type=False,
    )
    shares = rv.revenue_share_by(ds, "channel")
    buyers = ds.transactions.loc[ds.transactions["amount"] > 0].groupby("channel")["customer_id"]
    assert shares["customers"].to_dict() == buyers.nunique().to_dict()
    assert shares["share"].sum() == pytest.approx(1.0)

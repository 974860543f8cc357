"""The bottom-up forecast at scale: the purchase days are built once per dataset, with
customers as numbers, and cut at each origin; the business totals of the purchase model are
summed without a customers x periods matrix.  Both give what the per-customer computation
gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import btyd_columns, customer_view
from crm_models.forecast.bottom_up import _buyer_sums, _purchase_days
from crm_models.units import as_of_day, unit_days


@pytest.fixture(scope="module")
def cdnow():
    return load_dataset("cdnow")


@pytest.mark.parametrize("cutoff", ["1997-06-30", "1997-12-31"])
def test_buyer_sums_cut_from_the_shared_days_equal_the_customer_view(cdnow, cutoff):
    cut = pd.Timestamp(cutoff)
    since = cut - pd.Timedelta(days=365)
    sums, recent = _buyer_sums(cdnow, cut, since)
    view = customer_view(cdnow, as_of=cut)
    buyers = view.loc[view["first_purchase"].notna()]
    assert list(sums.index) == list(buyers.index)
    first = sums["first_day"].to_numpy().astype("datetime64[D]")
    assert (first == buyers["first_purchase"].to_numpy().astype("datetime64[D]")).all()
    assert (sums["n_days"].to_numpy() == buyers["frequency"].to_numpy() + 1).all()
    # the purchase days after `since`, counted from the lines themselves
    tx = cdnow.customer_transactions()
    buys = tx.loc[(tx["amount"] >= 0) & (tx["order_date"] > since) & (tx["order_date"] <= cut)]
    assert (
        recent
        == len(buys.assign(day=buys["order_date"].dt.normalize()).groupby(["customer_id", "day"]))
        > 0
    )


def test_purchase_days_are_built_once_per_dataset(cdnow):
    customers, rows = _purchase_days(cdnow)
    assert _purchase_days(cdnow)[1] is rows  # the monthly and the weekly forecast share them
    assert customers.is_monotonic_increasing and customers.is_unique
    key = rows["customer"].to_numpy().astype(np.int64) * 100_000 + rows["day"].to_numpy()
    assert (np.diff(key) > 0).all()  # sorted by customer and day, one row per pair


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto_nbd"])
def test_business_totals_equal_the_per_customer_matrix_summed(cdnow, model_name):
    sums, _ = _buyer_sums(cdnow, pd.Timestamp("1997-12-31"), pd.Timestamp("1997-01-01"))
    summary = pd.DataFrame(
        btyd_columns(sums, as_of_day(pd.Timestamp("1997-12-31")), unit_days("W")),
        index=sums.index,
    )
    model = clv.make_purchase_model(model_name, time_unit="W").fit(summary)
    weeks = [4.0, 8.5, 13.0, 26.0]
    spend = np.random.default_rng(0).gamma(2.0, 10.0, len(summary))
    totals = model.total_expected_purchases(summary, weeks, [None, spend])
    matrix = model.expected_purchases_by_horizon(summary, weeks).to_numpy()
    np.testing.assert_allclose(totals[0], matrix.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(totals[1], spend @ matrix, rtol=1e-12)
    assert (np.diff(totals, axis=1) > 0).all()  # more purchases over a longer horizon

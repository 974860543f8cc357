"""The bottom-up forecast at scale: the purchase days are built once per backtest and cut at
each origin, with the same sums as building them at every cutoff."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_models import forecast as fc
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view
from crm_models.forecast.bottom_up import _buyer_sums, _purchase_days, bottom_up_forecast


@pytest.fixture(scope="module")
def cdnow():
    return load_dataset("cdnow")


@pytest.mark.parametrize("cutoff", ["1997-06-30", "1997-12-31"])
def test_buyer_sums_cut_from_the_shared_days_equal_the_customer_view(cdnow, cutoff):
    cut = pd.Timestamp(cutoff)
    since = cut - pd.Timedelta(days=365)
    shared = _buyer_sums(cdnow, cut, since, _purchase_days(cdnow))
    alone = _buyer_sums(cdnow, cut, since)
    pd.testing.assert_frame_equal(shared[0], alone[0])
    assert shared[1] == alone[1] > 0
    view = customer_view(cdnow, as_of=cut)
    buyers = view.loc[view["first_purchase"].notna()]
    assert list(shared[0].index) == list(buyers.index)
    first = shared[0]["first_day"].to_numpy().astype("datetime64[D]")
    assert (first == buyers["first_purchase"].to_numpy().astype("datetime64[D]")).all()


def test_bottom_up_forecast_is_the_same_with_the_shared_days(cdnow):
    y = fc.sales_series(cdnow, "revenue", "M").fitting("total")
    train = y.iloc[:-3]
    days = _purchase_days(cdnow)
    pd.testing.assert_frame_equal(
        bottom_up_forecast(cdnow, train, 3, days=days), bottom_up_forecast(cdnow, train, 3)
    )

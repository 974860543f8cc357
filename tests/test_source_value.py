"""The value and retention report on an engine: holdout tracking, repeat rates, churn per period,
time to lapse, first channel, retention by group and payback give the same answers from a
loaded Dataset (NumPy) and from a DuckDB Source (the Dataset registered, or a folder read out
of core), where only per-day, per-period and per-customer figures reach pandas.

Counts, dates, labels and flags exactly; floats to 1e-9 relative.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_models import value
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.engine import as_source, open_dataset
from crm_models.engine.settings import default_settings
from crm_models.features import customer_view
from crm_models.value import retention, selection

AS_OF = pd.Timestamp("2024-06-30")
DUCKDB = default_settings("duckdb")


def tiny_dataset() -> Dataset:
    """Six customers with the awkward cases: two lines of one day, a tie between channels on
    the first day (app wins alphabetically), returns, a customer with returns only (no buyer)
    and a first day whose lines add up to 80 (at a margin of 0.5 exactly the cost of 40), which
    floating point makes 79.99999999999999 when added in some orders."""
    rows = [
        (1, "a1", "2024-01-05", 50.0, "web"),
        (1, "a2", "2024-01-20", 30.0, "web"),
        (1, "a3", "2024-02-10", 20.0, "store"),
        (1, "a4", "2024-06-01", 40.0, "web"),
        (2, "b1", "2024-01-15", 100.0, "store"),
        (3, "c1", "2024-02-01", 15.0, "web"),
        (3, "c1", "2024-02-01", 15.0, "app"),
        (3, "c2", "2024-03-03", 25.0, "app"),
        (3, "c3", "2024-03-10", -25.0, "app"),
        (4, "d1", "2024-03-20", 60.0, "web"),
        (4, "d2", "2024-03-25", 10.0, "web"),
        (4, "d3", "2024-04-02", -10.0, "web"),
        (5, "e1", "2024-01-10", -20.0, "web"),
        (6, "f1", "2024-02-05", 0.08, "store"),
        (6, "f2", "2024-02-05", 78.35, "web"),
        (6, "f3", "2024-02-05", 1.57, "store"),
        (6, "f4", "2024-05-20", 5.0, "web"),
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount", "channel"])
    tx["order_date"] = pd.to_datetime(tx["order_date"])
    return Dataset("tiny", transactions=tx)


@pytest.fixture(scope="module", params=["tiny", "demo", "folder"])
def pair(request):
    """(Dataset, Source) of the same data: tiny and demo registered on DuckDB, the simulated
    folder loaded into pandas and read out of core; with the as-of day of the data."""
    if request.param == "folder":
        path = request.getfixturevalue("folder")
        ds, src = load_dataset(path), open_dataset(path, settings=DUCKDB)
    else:
        ds = tiny_dataset() if request.param == "tiny" else load_dataset("demo")
        src = as_source(ds, DUCKDB)
    return ds, src, AS_OF if request.param == "tiny" else None


def same(a, b) -> None:
    """Equal frames or series: exact for integers, flags, labels and dates, floats to 1e-9."""
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, rtol=1e-9)
    else:
        pd.testing.assert_frame_equal(a, b, rtol=1e-9)


def test_repeat_rate_and_period_churn_are_the_same(pair):
    ds, src, as_of = pair
    same(retention.repeat_rate(ds, as_of, engine="pandas"), retention.repeat_rate(src, as_of))
    for freq in ("M", "W", "Q"):
        expected = retention.period_churn(ds, as_of, freq, engine="pandas")
        same(expected, retention.period_churn(src, as_of, freq))
        assert expected["active_customers"].sum() > 0


@pytest.mark.parametrize("lapse_days", [30, 180])
def test_time_to_lapse_is_the_same(pair, lapse_days):
    ds, src, as_of = pair
    expected = retention.time_to_lapse(ds, as_of, lapse_days, engine="pandas")
    got = retention.time_to_lapse(src, as_of, lapse_days)
    same(expected, got)
    assert got.attrs == expected.attrs


def test_first_channel_and_retention_by_group_are_the_same(pair):
    ds, src, as_of = pair
    expected = retention.first_purchase_channel(ds, as_of, engine="pandas")
    same(expected, retention.first_purchase_channel(src, as_of))
    view_a = customer_view(ds, as_of=as_of, engine="pandas")
    view_b = customer_view(src, as_of=as_of)
    by_a = retention.retention_by(ds, view_a, retention.time_to_lapse(ds, as_of, engine="pandas"))
    by_b = retention.retention_by(src, view_b, retention.time_to_lapse(src, as_of))
    assert list(by_a) == list(by_b) and "first_channel" in by_a
    for dim, (curves, summary, p_value) in by_a.items():
        same(curves, by_b[dim][0])
        same(summary, by_b[dim][1])
        if p_value is None:  # one group (the small ones pooled)
            assert by_b[dim][2] is None
        else:
            assert p_value == pytest.approx(by_b[dim][2], rel=1e-9)


def test_payback_is_the_same(pair):
    ds, src, as_of = pair
    for cost in (10.0, 40.0):
        expected = retention.time_to_payback(ds, 0.3, cost, as_of, engine="pandas")
        same(expected, retention.time_to_payback(src, 0.3, cost, as_of))
        pb_a = retention.payback(ds, 0.3, cost, as_of, co=retention.cohorts(ds, as_of))
        pb_b = retention.payback(src, 0.3, cost, as_of, co=retention.cohorts(src, as_of))
        same(pb_a, pb_b)
        same(pb_a.attrs["payback_period"], pb_b.attrs["payback_period"])


def test_the_awkward_cases_on_both_paths():
    ds = tiny_dataset()
    for data in (ds, as_source(ds, DUCKDB)):
        channel = retention.first_purchase_channel(data, AS_OF)
        assert channel.to_dict() == {1: "web", 2: "store", 3: "app", 4: "web", 6: "web"}
        paid = retention.time_to_payback(data, 0.5, 40.0, AS_OF)
        assert 5 not in paid.index  # returns only: never acquired
        assert paid.loc[6, "lapsed"] and paid.loc[6, "duration_days"] == 0  # both lines of a day
        assert paid.loc[1, "duration_days"] == 15 and not paid.loc[3, "lapsed"]
        lapse = retention.time_to_lapse(data, AS_OF, lapse_days=30)
        # 1: Jan 5, Jan 20, Feb 10, then nothing until Jun 1: lost on Feb 10
        assert lapse.loc[1, "lapsed"] and lapse.loc[1, "duration_days"] == 36
        assert lapse.loc[6, "duration_days"] == 0 and lapse.loc[6, "lapsed"]
        rates = retention.repeat_rate(data, AS_OF, windows=(30,))
        # January buyers observed 30 days: 1 (again on Jan 20), 2 (never); 5 bought nothing
        assert rates.loc["2024-01", "repeat_within_30d"] == 0.5
        assert rates.loc["all", "customers"] == 5


@pytest.mark.parametrize("name", ["demo", "folder"])
def test_holdout_tracking_is_the_same(request, name):
    if name == "folder":
        path = request.getfixturevalue("folder")
        ds, src = load_dataset(path), open_dataset(path, settings=DUCKDB)
    else:
        ds = load_dataset("demo")
        src = as_source(ds, DUCKDB)
    cal_a = value.calibration_holdout(ds, engine="pandas")
    cal_b = value.calibration_holdout(src)
    model = value.BetaGeoModel().fit(cal_a)
    expected = value.tracking(ds, model, cal_a, engine="pandas")
    got = value.tracking(src, model, cal_b)
    same(expected, got)
    assert got.attrs == expected.attrs
    # every repeat purchase day of the calibration customers falls into one period
    assert expected["actual"].sum() == pytest.approx(
        (cal_a["frequency"] + cal_a["frequency_holdout"]).sum()
    )


def test_the_model_choice_on_a_customer_sample_is_the_same():
    ds = load_dataset("demo")
    src = as_source(ds, DUCKDB)
    hold_end = ds.last_date()
    cal_end = value.default_calibration_end(ds, hold_end)
    sample, buyers = selection.choice_sample(ds, cal_end, max_customers=2000)
    got_sample, got_buyers = selection.choice_sample(src, cal_end, max_customers=2000)
    assert len(sample) == 2000 and buyers > 2000 and got_buyers == buyers
    assert (got_sample == sample).all()
    assert selection.choice_sample(ds, cal_end, max_customers=buyers)[0] is None
    expected = selection.auto_comparison(ds, cal_end, hold_end, max_customers=2000)
    got = selection.auto_comparison(src, cal_end, hold_end, max_customers=2000)
    assert got["model_chosen"] == expected["model_chosen"]
    assert f"sample of 2,000 of the {buyers:,} customers" in got["choice_rule"]
    for key in ("inner_comparison", "comparison"):
        same(pd.DataFrame(expected[key]), pd.DataFrame(got[key]))
    actual = pd.DataFrame(expected["comparison"]).loc["actual_total"]
    assert (actual < 2000 * 10).all()  # purchases of the sample only

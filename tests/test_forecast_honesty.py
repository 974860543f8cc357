"""Honest forecasts (issue 15): one error scale per series, the period in progress forecast as
booked + remainder, conformal intervals and model choice by the weighted interval score."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import forecast as F
from crm_models import revenue
from crm_models.cli import main
from crm_models.data.dataset import Dataset
from crm_models.data.simulate import simulate_retailer
from crm_models.forecast.backtest import summarise_backtest
from crm_models.forecast.calibration import apply_factors, calibrate_backtest
from crm_models.forecast.metrics import error_scale, interval_score, weighted_interval_score
from crm_models.forecast.sales import book_partial


@pytest.fixture(scope="module")
def shop() -> Dataset:
    """A small simulated retailer (1,000 customers, 2023-01 .. 2024-06)."""
    sim = simulate_retailer(n_customers=1000, start="2023-01-01", end="2024-06-30", seed=11)
    return Dataset("shop", transactions=sim.transactions)


def series(values, freq="M", start="2018-01") -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float),
        index=pd.period_range(start, periods=len(values), freq=freq, name="period"),
    )


# ------------------------------------------------------------------------------ one scale
@settings(max_examples=15, deadline=None)
@given(n=st.integers(16, 40), seed=st.integers(0, 10_000))
def test_one_scale_for_every_window(n, seed):
    rng = np.random.default_rng(seed)
    y = series(100 + np.cumsum(rng.normal(0, 5, n)) + 20 * np.sin(np.arange(n) / 12 * 2 * np.pi))
    bt = F.backtest(y, ("naive", "seasonal_naive", "mean"), horizon=3, windows=4, step=2)
    assert bt.forecasts["scale"].nunique() == 1
    assert bt.forecasts["scale"].iloc[0] == bt.scale["value"]
    expected = error_scale(y.to_numpy(), 12)
    assert bt.scale == expected
    assert bt.scale["naive"] == ("seasonal_naive" if n >= 24 else "naive")
    assert bt.scale["lag"] == (12 if n >= 24 else 1)


def test_mase_is_the_mean_error_over_that_one_scale():
    rng = np.random.default_rng(4)
    y = series(200 + rng.normal(0, 10, 36))
    bt = F.backtest(y, ("naive", "mean"), horizon=3, windows=4, step=1)
    rows = bt.forecasts.loc[bt.forecasts["model"] == "mean"]
    mae = float(np.mean(np.abs(rows["actual"] - rows["mean"])))
    assert bt.metrics.loc["mean", "mase"] == pytest.approx(mae / bt.scale["value"])


# ------------------------------------------------------------------------------ period in progress
@settings(max_examples=40, deadline=None)
@given(
    mean=st.floats(0, 1e6),
    spread=st.floats(0, 1e5),
    booked=st.floats(0, 2e6),
)
def test_booked_plus_remainder_is_the_period_total(mean, spread, booked):
    idx = pd.period_range("2024-01", periods=2, freq="M")
    fc = pd.DataFrame(
        {
            "mean": [mean, mean],
            "lower_80": [max(mean - spread, 0), mean],
            "upper_80": [mean + spread, mean],
            "lower_95": [max(mean - 2 * spread, 0), mean],
            "upper_95": [mean + 2 * spread, mean],
        },
        index=idx,
    )
    out = book_partial(fc, pd.Series([booked], index=idx[:1]))
    total = out["mean"].iloc[0]
    remainder = max(mean - booked, 0.0)
    assert total == pytest.approx(booked + remainder)
    assert (out.iloc[0] >= booked).all() and (out.iloc[0] >= fc.iloc[0]).all()
    assert out.iloc[0]["lower_95"] <= out.iloc[0]["lower_80"] <= total <= out.iloc[0]["upper_80"]
    pd.testing.assert_frame_equal(out.iloc[1:], fc.iloc[1:])  # later periods untouched


def test_period_in_progress_is_detected_and_forecast_as_its_remainder(shop):
    as_of = "2024-06-19"  # a Wednesday: 3 of 7 days of the week booked
    res = F.forecast_sales(shop, "revenue", "W", as_of=as_of, quick=True, bottom_up=False)
    info = res.to_dict()["partial_period"]
    nlv = revenue.nlv_table(shop, "W-SUN", pd.Timestamp(as_of))
    assert info["period"] == "2024-06-17/2024-06-23"
    assert (info["days_booked"], info["days_in_period"]) == (3, 7)
    assert info["treatment"] == "remainder"
    assert info["booked"] == pytest.approx(float(nlv["revenue"].iloc[-1]))
    assert info["total"] == pytest.approx(info["booked"] + info["remainder"])
    assert info["remainder"] >= 0 and info["total"] >= info["whole_period_forecast"]
    assert res.to_dict()["forecast"][0]["mean"] == pytest.approx(info["total"])
    assert str(res.result.history.index[-1]) == "2024-06-10/2024-06-16"  # left out of fitting
    assert any("in progress (3 of 7 days" in n for n in res.notes)
    # the as-of day ends its month: nothing in progress
    full = F.forecast_sales(shop, "revenue", "M", as_of="2024-05-31", quick=True, bottom_up=False)
    assert full.to_dict()["partial_period"] is None
    assert not any("in progress" in n for n in full.notes)


# ------------------------------------------------------------------------------ calibration
def _rows(rng, windows: int, horizon: int, true_sd: float, model_sd: float) -> pd.DataFrame:
    """Backtest rows of a model whose intervals assume ``model_sd`` while errors have
    ``true_sd``."""
    n = windows * horizon
    mean = np.full(n, 1000.0)
    z80, z95 = 1.2815515655446004, 1.959963984540054
    return pd.DataFrame(
        {
            "model": "m",
            "origin": np.repeat(np.arange(windows), horizon),
            "horizon": np.tile(np.arange(1, horizon + 1), windows),
            "period": np.arange(n),
            "actual": mean + rng.normal(0, true_sd, n),
            "mean": mean,
            "lower_80": mean - z80 * model_sd,
            "upper_80": mean + z80 * model_sd,
            "lower_95": mean - z95 * model_sd,
            "upper_95": mean + z95 * model_sd,
            "scale": 1.0,
        }
    )


def _coverage(rows: pd.DataFrame, level: int) -> float:
    inside = (rows["actual"] >= rows[f"lower_{level}"]) & (rows["actual"] <= rows[f"upper_{level}"])
    return float(inside.mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibrated_coverage_on_simulated_series_is_near_nominal(seed):
    rng = np.random.default_rng(seed)
    rows = _rows(rng, windows=10, horizon=13, true_sd=30.0, model_sd=10.0)  # 3x too narrow
    assert _coverage(rows, 80) < 0.45 and _coverage(rows, 95) < 0.6
    calibrated, factors = calibrate_backtest(rows)
    assert abs(_coverage(calibrated, 80) - 0.80) < 0.07
    assert abs(_coverage(calibrated, 95) - 0.95) < 0.05
    assert factors["factor_80"].iloc[0] == pytest.approx(3.0, rel=0.25)
    assert factors["horizon"].tolist() == [0]  # 10 points a step: pooled
    # fresh outcomes of the same process land inside the calibrated future intervals
    fresh = apply_factors(_rows(rng, 40, 13, 30.0, 10.0), factors)
    assert abs(_coverage(fresh, 80) - 0.80) < 0.08 and abs(_coverage(fresh, 95) - 0.95) < 0.04
    # the models' own bounds are kept, and calibrating again changes nothing
    own = calibrated[["actual", "raw_lower_80", "raw_upper_80"]]
    assert _coverage(own.set_axis(["actual", "lower_80", "upper_80"], axis=1), 80) < 0.45
    again, _ = calibrate_backtest(calibrated)
    pd.testing.assert_frame_equal(again, calibrated)


def test_factors_per_step_when_every_step_has_enough_points():
    rng = np.random.default_rng(5)
    rows = _rows(rng, windows=25, horizon=3, true_sd=10.0, model_sd=10.0)
    rows["actual"] = rows["mean"] + (rows["actual"] - rows["mean"]) * rows["horizon"]
    _, factors = calibrate_backtest(rows)
    assert factors["horizon"].tolist() == [1, 2, 3]
    assert factors["factor_80"].is_monotonic_increasing  # errors grow with the step


def test_backtest_coverage_of_a_too_narrow_model_is_repaired():
    rng = np.random.default_rng(8)
    y = series(500 + rng.standard_t(3, 60) * 40)  # heavy tails: normal intervals too narrow
    bt = F.backtest(y, ("mean", "naive"), horizon=3, windows=12, step=2)
    row = bt.metrics.loc["mean"]
    assert abs(row["coverage_80"] - 0.80) <= abs(row["coverage_80_raw"] - 0.80) + 0.07
    fc = F.forecast_series(y, 3, 12, 2, ("mean", "naive"))
    assert fc.raw_forecast is not None
    width = fc.forecast["upper_80"] - fc.forecast["lower_80"]
    raw = fc.raw_forecast["upper_80"] - fc.raw_forecast["lower_80"]
    factor = bt.factors.set_index("model").loc[fc.model, "factor_80"]
    np.testing.assert_allclose(width, raw * factor, rtol=1e-9)


# ------------------------------------------------------------------------------ choice score
def test_weighted_interval_score_by_hand():
    frame = pd.DataFrame(
        {
            "actual": [10.0, 20.0],
            "mean": [12.0, 12.0],
            "lower_80": [11.0, 11.0],
            "upper_80": [13.0, 13.0],
            "lower_95": [9.0, 9.0],
            "upper_95": [15.0, 15.0],
        }
    )
    np.testing.assert_allclose(interval_score([10, 20], [11, 11], [13, 13], 0.2), [12, 72])
    # 10: (0.5*2 + 0.1*12 + 0.025*6) / 2.5; 20: (0.5*8 + 0.1*72 + 0.025*(6 + 40*5)) / 2.5
    np.testing.assert_allclose(
        weighted_interval_score(frame), [(1 + 1.2 + 0.15) / 2.5, (4 + 7.2 + 5.15) / 2.5]
    )


def test_choice_prefers_intervals_that_cover_over_equal_means():
    rng = np.random.default_rng(3)
    narrow = _rows(rng, 8, 6, true_sd=30.0, model_sd=3.0)
    wide = narrow.assign(
        model="wide",
        **{
            c: narrow["mean"] + (narrow[c] - narrow["mean"]) * 10
            for c in ("lower_80", "upper_80", "lower_95", "upper_95")
        },
    )
    rows = pd.concat([narrow.assign(model="narrow"), wide], ignore_index=True)
    raw_narrow = weighted_interval_score(narrow).mean()
    raw_wide = weighted_interval_score(wide).mean()
    assert raw_wide < raw_narrow  # same means: the covering intervals score better
    _, metrics, _, _ = summarise_backtest(rows, ["narrow", "wide"])
    assert set(metrics.index) == {"narrow", "wide"}
    assert metrics["mase"].nunique() == 1  # MASE alone cannot tell them apart
    assert {"choice_score", "coverage_80_raw", "coverage_95_raw"} <= set(metrics.columns)


# ------------------------------------------------------------------------------ the JSON contract
def test_forecast_json_keeps_its_keys_and_adds_the_honesty_ones(capsys):
    assert main(["forecast", "cdnow_sample", "--quick", "--freq", "W", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kept = {"dataset", "measure", "freq", "horizon", "as_of", "model", "series_model"}
    kept |= {"series_model_config", "forecast", "backtest", "backtest_windows", "notes"}
    assert kept <= set(out)
    assert out["scale"]["naive"] in ("naive", "seasonal_naive") and out["scale"]["value"] > 0
    assert {"80", "95", "80_before_calibration", "95_before_calibration"} == set(out["coverage"])
    assert out["choice_score"] == pytest.approx(out["backtest"][out["model"]]["choice_score"])
    assert out["calibration"]["factors"] and "conformal" in out["calibration"]["method"]
    info = out["partial_period"]  # the sample ends on 1998-06-30, a Tuesday
    assert info["period"] == "1998-06-29/1998-07-05" and info["days_booked"] == 2
    assert out["forecast"][0]["mean"] == pytest.approx(info["booked"] + info["remainder"])
    for row in out["forecast"]:
        assert row["lower_95"] <= row["lower_80"] <= row["mean"] <= row["upper_80"]
        assert row["upper_80"] <= row["upper_95"]

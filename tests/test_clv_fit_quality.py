"""Goodness of fit of the purchase models: histogram chi-square, decile calibration, JSON keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, stats

from crm_models import value as clv
from crm_models.data.loading import load_dataset


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW sample, 39 + 39 weeks, with both models fitted on the calibration period."""
    ds = load_dataset("cdnow_sample")
    cal = clv.calibration_holdout(ds)
    return ds, cal, clv.BetaGeoModel().fit(cal), clv.ParetoNBDModel().fit(cal)


def test_bgnbd_count_probabilities_equal_a_simulation(cdnow):
    # (lifetimes' probability_of_n_purchases_up_to_time is not a reference: it returns
    # negative probabilities for n >= 1)
    _, _, bg, _ = cdnow
    r, alpha, a, b = bg._theta()
    probs = clv.count_probabilities(bg, np.array([0.0, 30.0]))
    assert probs[0, 0] == 1.0  # no time, no repeat purchase
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    rng = np.random.default_rng(7)  # 400,000 customers simulated from the fitted model
    n = 400_000
    buys = rng.poisson(rng.gamma(r, 1 / alpha, n) * 30.0)
    before_leaving = rng.geometric(rng.beta(a, b, n))  # purchases until the one after which
    counts = np.minimum(np.minimum(buys, before_leaving), 7)  # the customer leaves
    np.testing.assert_allclose(probs[1], np.bincount(counts, minlength=8) / n, atol=0.003)


def test_pareto_count_probabilities_equal_a_simulation(cdnow):
    _, _, _, pnbd = cdnow
    r, alpha, s, beta = pnbd._theta()
    t = 30.0
    probs = clv.count_probabilities(pnbd, np.array([t]))[0]
    rng = np.random.default_rng(7)  # 400,000 customers simulated from the fitted model
    n = 400_000
    lam = rng.gamma(r, 1 / alpha, n)
    life = rng.exponential(1 / rng.gamma(s, 1 / beta, n))
    counts = np.minimum(rng.poisson(lam * np.minimum(life, t)), 7)
    share = np.bincount(counts, minlength=8) / n
    np.testing.assert_allclose(probs, share, atol=0.003)


def test_chi_square_of_the_cdnow_histogram(cdnow):
    # Fader, Hardie & Lee (2005), Figure 1: the calibration histogram of the 2,357 customers
    # (0, 1, ..., 7+ repeat purchases).  The statistic is checked against scipy's chisquare on
    # the same counts, df = 8 - 1 - 4, and the expected counts against the fitted total.
    _, cal, bg, _ = cdnow
    gof = clv.frequency_histogram(bg, cal)
    observed = [b["observed"] for b in gof["histogram"]]
    expected = [b["expected"] for b in gof["histogram"]]
    assert observed == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert sum(expected) == pytest.approx(len(cal))
    want = stats.chisquare(observed, expected, ddof=4)
    assert gof["chi_square"] == pytest.approx(want.statistic, rel=1e-9)
    assert gof["p_value"] == pytest.approx(want.pvalue, rel=1e-9)
    assert gof["df"] == 3 and gof["bins_after_pooling"] == 8
    assert gof["chi_square"] == pytest.approx(4.82, abs=0.01)  # BG/NBD fits (p = 0.19)
    # Pareto/NBD on the same histogram
    assert clv.frequency_histogram(cdnow[3], cal)["chi_square"] == pytest.approx(11.99, abs=0.01)


def test_small_bins_are_pooled(cdnow):
    _, cal, bg, _ = cdnow
    few = cal.iloc[:60]  # 60 customers: most bins expect fewer than 5
    gof = clv.frequency_histogram(bg, few)
    assert gof["bins_after_pooling"] < 8
    assert gof["df"] == gof["bins_after_pooling"] - 5
    assert sum(b["observed"] for b in gof["histogram"]) == 60


def test_p_any_purchase_equals_independent_formulas(cdnow):
    from lifetimes import ParetoNBDFitter

    _, cal, bg, pnbd = cdnow
    rows = cal.iloc[[0, 5, 17, 300, 1000]]
    t = 39.0
    got = clv.p_any_purchase(bg, rows, t).to_numpy()
    r, alpha, _, _ = bg._theta()
    pa = bg.p_alive(rows).to_numpy()
    for i, (_, row) in enumerate(rows.iterrows()):  # a few customers, integral by quadrature
        shape, rate = r + row["frequency"], alpha + row["T"]
        none = integrate.quad(
            lambda lam, shape=shape, rate=rate: (
                stats.gamma.pdf(lam, shape, scale=1 / rate) * np.exp(-lam * t)
            ),
            0,
            np.inf,
        )[0]
        assert got[i] == pytest.approx(pa[i] * (1 - none), rel=1e-6)
    ref = ParetoNBDFitter()
    ref.params_ = __import__("pandas").Series(pnbd.params_)
    want = 1 - ref.conditional_probability_of_n_purchases_up_to_time(
        0, t, rows["frequency"], rows["recency"], rows["T"]
    )
    np.testing.assert_allclose(clv.p_any_purchase(pnbd, rows, t), want, rtol=2e-4)


def test_decile_calibration_shows_the_least_active_under_predicted(cdnow):
    _, cal, bg, _ = cdnow
    table = clv.decile_calibration(bg, cal)
    assert list(table.index) == list(range(1, 11))
    assert table["customers"].sum() == len(cal) and table["customers"].max() <= 236
    assert table["predicted"].is_monotonic_increasing
    low = table.loc[1]
    assert low["predicted"] == pytest.approx(0.12, abs=0.01)
    assert low["observed"] == pytest.approx(0.20, abs=0.01)  # under-predicted
    # on average the model is calibrated
    share = (cal["frequency_holdout"] > 0).mean()
    assert (table["predicted"] * table["customers"]).sum() / len(cal) == pytest.approx(
        share, abs=0.03
    )


def test_clv_fit_json_keeps_its_keys_and_adds_goodness_of_fit(cdnow):
    ds = cdnow[0]
    f = clv.fit_and_validate(ds).to_dict()
    old = {
        "dataset", "model", "time_unit", "calibration_end", "holdout_end", "customers",
        "params", "standard_errors", "log_likelihood", "holdout_periods",
        "holdout_predicted_total", "holdout_actual_total", "holdout_naive_total",
        "mae", "rmse", "baseline_mae", "baseline_rmse",
    }  # fmt: skip
    assert old <= set(f)
    assert {"diagnostics", "warnings", "fallback", "goodness_of_fit"} <= set(f)
    assert f["warnings"] == [] and not f["fallback"]["used"]
    gof = f["goodness_of_fit"]
    assert {"chi_square", "df", "p_value", "histogram"} <= set(gof)
    assert {"decile_calibration", "conditional_expectations"} <= set(gof)
    assert set(gof["histogram"][0]) == {"repeat", "observed", "expected"}
    assert {"predicted", "observed", "naive"} <= set(gof["decile_calibration"][0])
    assert {"actual", "predicted", "naive"} <= set(gof["conditional_expectations"][0])
    json.dumps(f, allow_nan=False, default=str)  # strict JSON: no NaN

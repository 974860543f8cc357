"""The value report at scale: scoring on distinct rows equals scoring every customer, the
faster pieces give the numbers of the slow ones, and the steps that only kick in on large bases
(a played-out sample for the totals' chance part, linearised purchases given alive for the
per-customer ranges) agree with the exact computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view
from crm_models.value import uncertainty
from crm_models.value.scoring import month_ends


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW sample as of the end of its 39-week calibration period, in weeks."""
    base = clv.buyers(customer_view(load_dataset("cdnow_sample"), as_of="1997-09-30"))
    return base, clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)


@pytest.fixture(scope="module")
def pareto(cdnow):
    return clv.ParetoNBDModel().fit(cdnow[0])


def random_base(seed: int, n: int) -> pd.DataFrame:
    """``n`` customers with few distinct histories (small integer ranges), so that many share
    one and compression matters."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 40, n).astype(float)
    x = rng.integers(0, 6, n).astype(float)
    tx = np.where(x > 0, np.minimum(T, rng.integers(1, 40, n)), 0.0)
    m = np.where(x > 0, rng.choice([10.0, 25.0, 40.0], n), 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": m})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400))
def test_scoring_on_distinct_rows_equals_scoring_every_customer(cdnow, pareto, seed, n):
    """customer_value, p_alive and p_alive_change computed once per distinct history give each
    customer the numbers of that customer's own row-by-row computation."""
    _, bg, gg = cdnow
    data = random_base(seed, n)
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    for model in (bg, pareto):
        theta = model._theta()
        values = clv.customer_value(model, gg, data, horizon=26.0)
        pa = np.exp(model._loglik_rows(theta, x, tx, T)[1])  # every row, no compression
        ends, _ = month_ends(model.time_unit, 26.0, 0.1)
        expected = np.array([model._expected_alive(theta, x[i], T[i], ends[-1]) for i in range(n)])
        np.testing.assert_allclose(values["p_alive"], pa, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(values["expected_purchases"], expected * pa, rtol=1e-12)
        np.testing.assert_allclose(model.p_alive(data), pa, rtol=1e-12, atol=1e-15)
        earlier = T - 4
        ok = earlier >= tx
        before = np.exp(model._loglik_rows(theta, x, tx, np.where(ok, earlier, T))[1])
        change = clv.p_alive_change(model, data, periods=4)
        np.testing.assert_allclose(change, np.where(ok, pa - before, np.nan), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    draws=st.integers(1, 60),
    rows=st.integers(1, 50),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]),
    seed=st.integers(0, 1000),
)
def test_interval_gives_the_numbers_of_np_quantile(draws, rows, level, seed):
    samples = np.random.default_rng(seed).gamma(2.0, size=(draws, rows))
    samples[:, ::3] = np.round(samples[:, ::3])  # ties
    q = (1 - level) / 2
    np.testing.assert_array_equal(
        uncertainty._interval(samples, level), np.quantile(samples, [q, 1 - q], axis=0)
    )
    np.testing.assert_array_equal(
        uncertainty._interval(samples[:, 0], level), np.quantile(samples[:, 0], [q, 1 - q])
    )


def test_pareto_terms_once_per_distinct_pair_are_the_row_terms(cdnow, pareto):
    base, _, _ = cdnow
    x, tx, T = (base[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    theta = pareto._theta()
    for alpha_first in (True, False):  # both branches of the hyp2f1 term
        th = theta if alpha_first == (theta[1] >= theta[3]) else theta[[0, 3, 2, 1]]
        rows = pareto._parts(th, x, tx, T)
        pairs = pareto._parts(th, x, tx, T, pareto._time_pairs(x, tx, T))
        np.testing.assert_array_equal(rows[0], pairs[0])
        np.testing.assert_array_equal(rows[1], pairs[1])


def test_played_out_sample_is_a_sample_of_the_customers(monkeypatch):
    counts = np.array([5, 1, 300, 7, 0, 2_000], dtype=np.int64)
    same, scale = uncertainty._played_out(counts, seed=0)
    assert scale == 1.0 and same is counts  # small bases: everybody, as before
    monkeypatch.setattr(uncertainty, "MAX_SIMULATED", 500)
    sample, scale = uncertainty._played_out(counts, seed=0)
    assert sample.sum() == 500 and (sample <= counts).all()
    assert scale == pytest.approx(np.sqrt(counts.sum() / 500))
    again, _ = uncertainty._played_out(counts, seed=0)
    np.testing.assert_array_equal(sample, again)  # fixed seed


def test_large_base_steps_agree_with_the_exact_intervals(cdnow, monkeypatch):
    """With the thresholds lowered so CDNOW counts as large, the per-customer ranges of the
    delta method (200 draws for the spread) stay within 10 % of their width of the quantiles of
    1,000 exact draws - as close as 200 exact draws get, on parameters known far less well than
    on a large base - and the totals' ranges from a played-out sample of 800 customers (linear
    expected totals of everybody plus the sample's scaled deviations) are close to those of
    simulating every customer."""
    base, bg, gg = cdnow
    exact_ranges, exact = clv.value_intervals(bg, gg, base, n_draws=1000, seed=1)
    assert uncertainty._linearised(bg, uncertainty.parameter_draws(bg, base)[0], 10**6) is None
    monkeypatch.setattr(uncertainty, "LINEAR_PAIRS", 0)
    monkeypatch.setattr(uncertainty, "LINEAR_SPREAD", 10.0)
    monkeypatch.setattr(uncertainty, "MAX_SIMULATED", 800)
    ranges, totals = clv.value_intervals(bg, gg, base, n_draws=200, seed=1)
    for col in ("clv", "expected_purchases"):
        width = exact_ranges[f"{col}_high"] - exact_ranges[f"{col}_low"]
        for side in ("low", "high"):
            gap = (ranges[f"{col}_{side}"] - exact_ranges[f"{col}_{side}"]).abs()
            assert (gap <= 0.10 * width + 1e-9).all()
    assert totals["clv"] == exact["clv"]
    for key in ("purchases_interval_80", "clv_interval_80"):
        (lo, hi), (elo, ehi) = totals[key], exact[key]
        assert abs(lo - elo) < 0.15 * (ehi - elo) and abs(hi - ehi) < 0.15 * (ehi - elo)
    point = clv.customer_value(bg, gg, base)
    assert (ranges["clv_low"] <= point["clv"]).all() and (point["clv"] <= ranges["clv_high"]).all()


@pytest.mark.parametrize("linear", [False, True])
def test_holdout_interval_from_a_sample_is_close_to_the_full_simulation(monkeypatch, linear):
    """A played-out sample of 800 customers plus everybody's expected purchases (exact per
    draw, or linear in the draws' offsets) gives nearly the range of simulating everybody."""
    cal = clv.calibration_holdout(load_dataset("cdnow_sample"))
    model = clv.BetaGeoModel().fit(cal)
    full = clv.holdout_interval(model, cal, seed=2)
    monkeypatch.setattr(uncertainty, "MAX_SIMULATED", 800)
    if linear:
        monkeypatch.setattr(uncertainty, "LINEAR_PAIRS", 0)
        monkeypatch.setattr(uncertainty, "LINEAR_SPREAD", 10.0)
    sampled = clv.holdout_interval(model, cal, seed=2)
    (lo, hi), (flo, fhi) = (
        sampled["holdout_predicted_interval_80"],
        full["holdout_predicted_interval_80"],
    )
    assert abs(lo - flo) < 0.15 * (fhi - flo) and abs(hi - fhi) < 0.15 * (fhi - flo)


def test_p_alive_prepared_once_gives_the_numbers_of_each_call(cdnow, pareto):
    base, bg, _ = cdnow
    x, tx, T = (base[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    for model in (bg, pareto):
        prepared = model._p_alive_prepared(x, tx, T)
        for scale in (1.0, 1.05):
            theta = model._theta() * scale
            lpa = model._loglik_rows(theta, x, tx, T)[1]
            np.testing.assert_allclose(prepared(theta), np.exp(lpa), rtol=1e-12, atol=1e-15)

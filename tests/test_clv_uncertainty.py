"""Uncertainty of the value numbers: intervals of holdout totals cover the truth at their stated
rate on simulated BG/NBD customers; intervals contain the point estimate, widen with fewer
customers, repeat with the same seed; the CLI and the customer lists carry them."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.data.simulate import BGNBD
from crm_models.features import customer_view
from crm_models.value import uncertainty


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW sample: 39-week calibration (to 1997-09-30) and 39-week holdout."""
    ds = load_dataset("cdnow_sample")
    cal = clv.calibration_holdout(ds)
    return ds, cal, clv.BetaGeoModel().fit(cal), clv.GammaGammaModel().fit(cal)


def bgnbd_world(n: int, seed: int, cal: float = 52.0, hold: float = 52.0) -> pd.DataFrame:
    """``n`` customers of the simulator's BG/NBD process (its parameters
    :data:`crm_models.data.simulate.BGNBD`, without the seasonality, channel effects and
    campaign orders the full simulator adds): first purchase uniform over the ``cal`` weeks of
    calibration, then Poisson purchases until they quit after a repeat purchase.  Calibration
    summary plus ``frequency_holdout`` over the next ``hold`` weeks (the truth)."""
    rng = np.random.default_rng(seed)
    birth = rng.uniform(0, cal, n)
    lam = rng.gamma(BGNBD["r"], 1 / BGNBD["alpha"], n)
    quit_after = rng.geometric(rng.beta(BGNBD["a"], BGNBD["b"], n))  # repeat purchases made
    cap = 400
    times = birth[:, None] + np.cumsum(rng.exponential(1 / lam[:, None], (n, cap)), axis=1)
    assert (times[:, -1] > cal + hold).all(), "raise the cap of simulated purchases"
    made = np.arange(1, cap + 1)[None, :] <= quit_after[:, None]
    in_cal = made & (times <= cal)
    x = in_cal.sum(axis=1)
    last = np.where(in_cal, times, birth[:, None]).max(axis=1)
    return pd.DataFrame(
        {
            "frequency": x.astype(float),
            "recency": last - birth,
            "T": cal - birth,
            "frequency_holdout": (made & (times > cal) & (times <= cal + hold)).sum(axis=1),
            "duration_holdout": hold,
        }
    )


# --------------------------------------------------------------------------- coverage
@pytest.mark.slow
def test_holdout_intervals_cover_the_truth_at_their_rate():
    """80 % and 95 % intervals of the holdout total against the simulated truth, 40 worlds of
    2,000 customers (these 40 cover 30 and 39 times; before purchases were drawn by inverse CDF,
    60 worlds covered 49 and 59 times, and with 1,000 customers 43 and 56, the asymptotic normal
    of the parameters getting a little narrow).  On the full demo simulator
    coverage is lower, 13 of 20: its seasonality makes BG/NBD under-predict the holdout by about
    5 %, a misspecification the intervals (parameter uncertainty plus chance) do not cover."""
    seeds = range(40)
    hits = np.zeros((len(seeds), 2), dtype=bool)
    for i, seed in enumerate(seeds):
        cal = bgnbd_world(2_000, seed)
        model = clv.BetaGeoModel().fit(cal)
        out = clv.holdout_interval(model, cal, n_draws=200, seed=seed)
        actual = cal["frequency_holdout"].sum()
        for j, level in enumerate(("80", "95")):
            low, high = out[f"holdout_predicted_interval_{level}"]
            hits[i, j] = low <= actual <= high
    coverage = hits.mean(axis=0)
    print(f"80 % covered {hits[:, 0].sum()}/{len(seeds)}, 95 % {hits[:, 1].sum()}/{len(seeds)}")
    assert 0.70 <= coverage[0] <= 0.90
    assert coverage[1] >= 0.85


# --------------------------------------------------------------------------- properties
def test_holdout_interval_contains_the_point_estimate(cdnow):
    _, cal, model, _ = cdnow
    out = clv.holdout_interval(model, cal)
    point = clv.evaluate_holdout(model, cal)["holdout_predicted_total"]
    lo80, hi80 = out["holdout_predicted_interval_80"]
    lo95, hi95 = out["holdout_predicted_interval_95"]
    assert lo95 < lo80 < point < hi80 < hi95
    assert out["holdout_interval_method"].startswith("asymptotic normal")


def test_same_seed_same_numbers_other_seed_other_numbers(cdnow):
    _, cal, model, spend = cdnow
    a = clv.holdout_interval(model, cal, n_draws=100, seed=3)
    assert a == clv.holdout_interval(model, cal, n_draws=100, seed=3)
    assert a != clv.holdout_interval(model, cal, n_draws=100, seed=4)
    sub = cal.iloc[:300]
    c1, t1 = clv.value_intervals(model, spend, sub, n_draws=50, seed=1)
    c2, t2 = clv.value_intervals(model, spend, sub, n_draws=50, seed=1)
    pd.testing.assert_frame_equal(c1, c2)
    assert t1 == t2


def test_intervals_widen_with_fewer_customers(cdnow):
    """A model fitted on a quarter of the customers knows its parameters less well: relative to
    the total, its holdout interval is wider."""
    _, cal, model, _ = cdnow

    def relative_width(frame, fitted):
        low, high = clv.holdout_interval(fitted, frame)["holdout_predicted_interval_80"]
        return (high - low) / clv.evaluate_holdout(fitted, frame)["holdout_predicted_total"]

    quarter = cal.iloc[::4]
    assert relative_width(quarter, clv.BetaGeoModel().fit(quarter)) > 1.5 * relative_width(
        cal, model
    )


def test_customer_intervals_contain_the_point_and_totals_add_chance(cdnow):
    _, cal, model, spend = cdnow
    ranges, totals = clv.value_intervals(model, spend, cal, horizon=39.0, n_draws=200)
    point = clv.customer_value(model, spend, cal, horizon=39.0)
    assert ranges.index.equals(point.index)
    assert (ranges["clv_low"] <= point["clv"]).all() and (point["clv"] <= ranges["clv_high"]).all()
    assert (ranges["expected_purchases_low"] <= point["expected_purchases"]).all()
    assert (point["expected_purchases"] <= ranges["expected_purchases_high"]).all()
    assert (ranges["clv_high"] > ranges["clv_low"]).mean() > 0.99
    assert totals["clv"] == pytest.approx(point["clv"].sum())
    lo80, hi80 = totals["clv_interval_80"]
    lo95, hi95 = totals["clv_interval_95"]
    assert lo95 < lo80 < totals["clv"] < hi80 < hi95
    plo, phi = totals["purchases_interval_80"]
    assert plo < totals["expected_purchases"] < phi


def test_draws_match_the_standard_errors(cdnow):
    _, cal, model, spend = cdnow
    for fitted in (model, spend):
        draws, method = clv.parameter_draws(fitted, cal, n_draws=4000, seed=0)
        assert method == "asymptotic normal"
        se = np.array([fitted.standard_errors_[n] for n in fitted._names])
        # delta method: sd of exp(u) is about theta × sd(u) = the standard error
        np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.15)


def test_without_a_usable_hessian_the_customer_bootstrap_is_used(cdnow, monkeypatch):
    """A model restored from disk has no likelihood to take the Hessian of: the parameters are
    then refitted on customer resamples; its spread agrees with the standard errors."""
    _, cal, model, _ = cdnow
    restored = pickle.loads(pickle.dumps(model))
    monkeypatch.setattr(uncertainty, "BOOTSTRAP_FITS", 40)
    draws, method = clv.parameter_draws(restored, cal, seed=0)
    assert method == "customer bootstrap" and draws.shape == (40, 4)
    se = np.array([model.standard_errors_[n] for n in model._names])
    np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.5)
    out = clv.holdout_interval(restored, cal, n_draws=40)
    assert out["holdout_interval_method"].startswith("customer bootstrap, 40 parameter draws")


def test_batches_bound_memory():
    sizes = [s.stop - s.start for s in uncertainty._batches(1_000_000, 400)]
    assert max(sizes) * 400 <= uncertainty.MAX_CELLS and sum(sizes) == 1_000_000
    counts = np.r_[np.full(3_000_000, 3), 1, 9_000_000]  # one row of 9 million customers
    parts = list(uncertainty._batches(len(counts), 1, counts))
    rows = [p.stop - p.start for p in parts]
    held = [counts[p].sum() for p in parts]
    assert sum(rows) == len(counts) and sum(held) == counts.sum()
    assert max(held[:-1]) < 2 * uncertainty.MAX_CELLS and rows[-1] == 1  # the big row alone
    sizes = [p.stop - p.start for p in uncertainty._batches(len(counts), 400, counts)]
    assert max(sizes) * 400 <= uncertainty.MAX_CELLS and sum(sizes) == len(counts)


@pytest.mark.parametrize("kind", ["bgnbd", "pareto"])
def test_simulated_purchases_follow_the_model(cdnow, kind):
    """Purchases simulated for 200,000 customers on each of four histories: their mean is the
    model's conditional expectation and, for BG/NBD (drawn by inverse CDF), the share buying
    nothing is 1 - P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x))."""
    _, cal, bg, _ = cdnow
    model = bg if kind == "bgnbd" else clv.ParetoNBDModel().fit(cal)
    theta, t, n = model._theta(), 39.0, 200_000
    x, tx, T = np.array([0.0, 2, 6, 20]), np.array([0.0, 10, 30, 37]), np.array([5.0, 30, 36, 38])
    pa = model._p_alive_rows(x, tx, T)
    rows = np.repeat(np.arange(4), n)
    at, k = uncertainty.simulate_purchases(
        model, theta, x, T, pa, rows, t, np.random.default_rng(0)
    )
    row = rows[at]
    mean = np.bincount(row, weights=k, minlength=4) / n
    np.testing.assert_allclose(mean, pa * model._expected_alive(theta, x, T, t), rtol=0.03)
    if kind == "bgnbd":
        r, alpha = theta[:2]
        none = 1 - np.bincount(row, minlength=4) / n
        expected = 1 - pa * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))
        np.testing.assert_allclose(none, expected, atol=0.005)


def test_customer_intervals_come_from_distinct_rows_in_any_batches(cdnow, monkeypatch):
    """Customers who share a history and spend share their intervals: doubling the base
    doubles the rows, and cutting it into many small batches changes nothing."""
    _, cal, model, spend = cdnow
    sub = cal.iloc[:400]
    ranges, _ = clv.value_intervals(model, spend, sub, n_draws=40, seed=2)
    twice = pd.concat([sub, sub.set_axis(sub.index.astype(str) + "b")])
    doubled, _ = clv.value_intervals(model, spend, twice, n_draws=40, seed=2)
    np.testing.assert_array_equal(doubled.to_numpy(), np.vstack([ranges, ranges]))
    monkeypatch.setattr(uncertainty, "MAX_CELLS", 40 * 7)
    small, _ = clv.value_intervals(model, spend, sub, n_draws=40, seed=2)
    pd.testing.assert_frame_equal(small, ranges)


# --------------------------------------------------------------------------- outputs
def test_clv_fit_json_has_the_holdout_intervals(capsys):
    from crm_models.cli import main

    assert main(["clv", "fit", "cdnow_sample", "--calibration-end", "1997-09-30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("holdout_predicted_interval_80", "holdout_predicted_interval_95"):
        low, high = out[key]
        assert low < out["holdout_predicted_total"] < high
    assert out["holdout_predicted_interval_95"][0] < out["holdout_predicted_interval_80"][0]


def test_customer_lists_carry_clv_low_and_high(cdnow):
    ds, _, _, _ = cdnow
    view = customer_view(ds, as_of="1997-09-30")
    base = clv.buyers(view)
    model, spend = clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)
    values = clv.customer_value(model, spend, base)
    ranges, _ = clv.value_intervals(model, spend, base, n_draws=100)
    top = clv.top_customers(values.join(ranges), view, n=50)
    columns = list(top.columns)
    assert columns.index("clv") + 1 == columns.index("clv_low")
    assert columns.index("clv_low") + 1 == columns.index("clv_high")
    assert (top["clv_low"] <= top["clv"]).all() and (top["clv"] <= top["clv_high"]).all()

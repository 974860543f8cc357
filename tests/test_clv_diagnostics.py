"""Fit diagnostics of the value models and the fallback rule for degenerate fits."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from crm_models import value as clv
from crm_models.data.dataset import UnsupportedData
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view


@pytest.fixture(scope="module")
def cdnow_cal() -> pd.DataFrame:
    return clv.buyers(customer_view(load_dataset("cdnow_sample"), as_of="1997-09-30"))


@pytest.fixture(scope="module")
def no_dropout() -> pd.DataFrame:
    """3,000 simulated customers buying as Poisson processes (gamma rates) who never leave: the
    drop-out process cannot be estimated (its parameters collapse)."""
    rng = np.random.default_rng(1)
    n = 3000
    lam = rng.gamma(0.8, 1 / 8.0, n)
    T = rng.integers(35, 183, n) / 7.0  # whole days, in weeks
    x = rng.poisson(lam * T)
    tx = np.where(x > 0, np.ceil(T * 7 * rng.beta(np.maximum(x, 1), 1)) / 7, 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": T})


def test_good_fits_have_clean_diagnostics(cdnow_cal):
    for model in (clv.BetaGeoModel(), clv.ParetoNBDModel(), clv.GammaGammaModel()):
        d = model.fit(cdnow_cal).diagnostics_
        assert d == {
            "converged": True,
            "at_bound": [],
            "hessian_positive_definite": True,
            "degenerate": False,
            "warnings": [],
        }
        assert all(se is not None and se > 0 for se in model.standard_errors_.values())


def test_degenerate_fit_is_flagged_with_null_standard_errors(no_dropout):
    # BG/NBD: b runs off to infinity (before: silently accepted).  Where the optimiser stops
    # depends on the CPU's last bits: at the bound (the fit completes and is flagged) or past
    # it (the fit is refused as degenerate); either way it is never used as a healthy fit
    try:
        bg = clv.BetaGeoModel().fit(no_dropout)
    except UnsupportedData as err:
        assert "degenerate" in str(err)
    else:
        assert bg.diagnostics_["degenerate"] and bg.diagnostics_["at_bound"] == ["b"]
        assert bg.standard_errors_["a"] is None and bg.standard_errors_["b"] is None  # never 0
        assert any("collapsed" in w for w in bg.diagnostics_["warnings"])
    # Pareto/NBD: s and beta stay in range but the likelihood is flat along them: flagged, or,
    # where the Hessian comes out barely positive (AMD EPYC), a drop-out rate of about zero,
    # which is what these customers do (they never leave)
    model = clv.ParetoNBDModel().fit(no_dropout)
    d = model.diagnostics_
    if not d["degenerate"]:
        assert model.params_["s"] / model.params_["beta"] < 1e-4
        return
    assert not d["hessian_positive_definite"]
    se = model.standard_errors_
    assert se["s"] is None and se["beta"] is None
    assert se["r"] > 0 and se["alpha"] > 0  # the purchase rate is still identified
    assert any("no standard error for s, beta" in w for w in d["warnings"])
    table = model.summary()
    assert table.loc[["s", "beta"], ["std_error", "lower_95", "upper_95"]].isna().all().all()
    assert (table["std_error"].dropna() > 0).all()


def test_weak_prior_makes_the_fit_identified(no_dropout):
    model = clv.BetaGeoModel(prior_sd=clv.PRIOR_SD).fit(no_dropout)
    assert not model.diagnostics_["degenerate"]
    assert all(v is not None and v > 0 for v in model.standard_errors_.values())


def test_fallback_plan_is_fixed_in_advance():
    assert clv.fallback_plan("bgnbd", "W") == [
        ("bgnbd", "W", None),
        ("pareto_nbd", "W", None),
        ("bgnbd", "D", None),
        ("bgnbd", "W", clv.PRIOR_SD),
        ("pareto_nbd", "W", clv.PRIOR_SD),
    ]
    assert [p[:2] for p in clv.fallback_plan("pareto_nbd", "D")] == [
        ("pareto_nbd", "D"),
        ("bgnbd", "D"),
        ("pareto_nbd", "D"),
        ("bgnbd", "D"),
    ]


def test_fallback_skips_degenerate_fits(no_dropout, cdnow_cal):
    model, _, fb = clv.fit_with_fallback(lambda unit: no_dropout)
    used = [a["result"] == "used" for a in fb["attempts"]]
    assert fb["used"] and used[0] is False and used[-1] is True and sum(used) == 1
    assert "P(alive)" in fb["text"] and not model.diagnostics_["degenerate"]
    if fb["prior_sd"] is None:  # Pareto/NBD came out identified (see the test above)
        assert fb["model"] == "pareto_nbd" and model.params_["s"] / model.params_["beta"] < 1e-4
    else:
        assert fb["prior_sd"] == clv.PRIOR_SD and fb["model"] == "bgnbd"
        assert used == [False, False, False, True] and "cannot be trusted" in fb["text"]
    # a healthy fit is used as it is
    model, _, fb = clv.fit_with_fallback(lambda unit: cdnow_cal)
    assert not fb["used"] and fb["text"] == "" and model.prior_sd is None


def test_no_usable_fit_suggests_a_later_calibration_end(monkeypatch):
    n = 200  # everybody buys every week and nobody stops: every attempt collapses
    data = pd.DataFrame(
        {"frequency": np.full(n, 20.0), "recency": np.full(n, 20.0), "T": np.full(n, 20.0)}
    )
    plan = clv.fit_quality.fallback_plan
    # without the prior steps (a prior makes even this fit finite)
    monkeypatch.setattr(clv.fit_quality, "fallback_plan", lambda m, u: plan(m, u)[:3])
    with pytest.raises(UnsupportedData, match="calibration_end") as err:
        clv.fit_with_fallback(lambda unit: data)
    assert "BG/NBD in weeks; Pareto/NBD in weeks; BG/NBD in days" in str(err.value)


def test_online_retail_clv_fit_falls_back_and_says_so(shared_data):
    # before: BG/NBD weekly gave a = 7e-7, b = 17,494, standard error of b printed as 0.0 and
    # P(alive) = 1 for every customer, without a warning
    path = shared_data / "online_retail" / "online_retail.csv"
    out = subprocess.run(
        [sys.executable, "-m", "crm_models.cli", "clv", "fit", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr

    def no_nan(name):
        raise AssertionError(f"{name} in the JSON output")

    f = json.loads(out.stdout, parse_constant=no_nan)
    assert f["fallback"]["used"] and f["fallback"]["text"]
    assert f["fallback"]["attempts"][0]["attempt"] == "BG/NBD in weeks"
    first = f["fallback"]["attempts"][0]["result"]  # flagged, or refused (see above)
    assert "collapsed" in first or "degenerate" in first
    assert f["warnings"] and not f["diagnostics"]["degenerate"]
    assert all(se is None or se > 0 for se in f["standard_errors"].values())
    gof = f["goodness_of_fit"]
    assert gof["df"] == 3 and math.isfinite(gof["chi_square"])
    assert sum(b["observed"] for b in gof["histogram"]) == f["customers"]
    # the model no longer says every customer is alive, and the decile table shows where it
    # under-predicts (the least likely decile buys more often than predicted)
    deciles = gof["decile_calibration"]
    assert min(d["mean_p_alive"] for d in deciles) < 1
    assert deciles[0]["observed"] > deciles[0]["predicted"]

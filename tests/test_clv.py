"""Customer-value models: published parameters, lifetimes as a reference, compression, holdout."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import gammaln

from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view


@pytest.fixture(scope="module")
def cdnow_cal() -> pd.DataFrame:
    """The 2,357-customer CDNOW sample, 39-week calibration period (to 1997-09-30), in weeks."""
    return clv.buyers(customer_view(load_dataset("cdnow_sample"), as_of="1997-09-30"))


@pytest.fixture(scope="module")
def bgnbd(cdnow_cal) -> clv.BetaGeoModel:
    return clv.BetaGeoModel().fit(cdnow_cal)


@pytest.fixture(scope="module")
def pareto(cdnow_cal) -> clv.ParetoNBDModel:
    return clv.ParetoNBDModel().fit(cdnow_cal)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_cal) -> clv.GammaGammaModel:
    return clv.GammaGammaModel().fit(cdnow_cal)


# --------------------------------------------------------------------------- published results
def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd):
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
    # Pareto/NBD model", Marketing Science 24(2), 275-284, section 4 (CDNOW sample, 39 weeks):
    # r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    p = bgnbd.params_
    assert p["r"] == pytest.approx(0.243, abs=6e-4)
    assert p["alpha"] == pytest.approx(4.414, abs=6e-4)
    assert p["a"] == pytest.approx(0.793, abs=6e-4)
    assert p["b"] == pytest.approx(2.426, abs=6e-4)
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.06)


def test_pareto_nbd_reproduces_published_parameters(pareto):
    # Fader, Hardie & Lee (2005), Marketing Science 24(2), section 4, and Fader & Hardie (2005),
    # "A note on deriving the Pareto/NBD model and related expressions": on the same data
    # r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67, LL = -9595.0.
    p = pareto.params_
    assert p["r"] == pytest.approx(0.553, abs=6e-4)
    assert p["alpha"] == pytest.approx(10.58, abs=6e-3)
    assert p["s"] == pytest.approx(0.606, abs=6e-4)
    assert p["beta"] == pytest.approx(11.67, abs=6e-3)
    assert pareto.log_likelihood_ == pytest.approx(-9595.0, abs=0.06)


def test_gamma_gamma_reproduces_fader_hardie(gamma_gamma, cdnow_cal):
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" (note, brucehardie.com):
    # on the repeat buyers' average spend in the CDNOW sample calibration period
    # p = 6.25, q = 3.74, gamma = 15.44.
    p = gamma_gamma.params_
    assert p["p"] == pytest.approx(6.25, abs=6e-3)
    assert p["q"] == pytest.approx(3.74, abs=6e-3)
    assert p["gamma"] == pytest.approx(15.44, abs=6e-3)
    assert abs(gamma_gamma.correlation_) < 0.3  # the independence check the model assumes
    assert gamma_gamma.correlation_ == clv.frequency_monetary_correlation(cdnow_cal)
    # the population mean spend per purchase p * gamma / (q - 1)
    assert gamma_gamma.population_mean() == pytest.approx(6.25 * 15.44 / 2.74, rel=2e-3)


def test_standard_errors_are_finite_and_positive(bgnbd, pareto, gamma_gamma):
    for model in (bgnbd, pareto, gamma_gamma):
        table = model.summary()
        assert (table["std_error"] > 0).all() and np.isfinite(table["std_error"]).all()
        assert (table["lower_95"] < table["estimate"]).all()
        assert (table["estimate"] < table["upper_95"]).all()


# --------------------------------------------------------------------------- lifetimes as reference
def test_predictions_equal_lifetimes(cdnow_cal, bgnbd, pareto):
    from lifetimes import BetaGeoFitter, ParetoNBDFitter

    f, r, T = cdnow_cal["frequency"], cdnow_cal["recency"], cdnow_cal["T"]
    ref = BetaGeoFitter().fit(f, r, T)
    for k in ("r", "alpha", "a", "b"):
        assert bgnbd.params_[k] == pytest.approx(ref.params_[k], rel=1e-4)
    # evaluate lifetimes' formulas at our parameters so only the formulas are compared
    ref.params_ = pd.Series(bgnbd.params_)
    np.testing.assert_allclose(
        bgnbd.p_alive(cdnow_cal), ref.conditional_probability_alive(f, r, T), rtol=1e-9
    )
    np.testing.assert_allclose(
        bgnbd.conditional_expected_purchases(cdnow_cal, 39.0),
        ref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, T),
        rtol=1e-8,
    )
    t = np.array([1.0, 10.0, 39.0, 78.0])
    np.testing.assert_allclose(
        bgnbd.expected_purchases(t), ref.expected_number_of_purchases_up_to_time(t), rtol=1e-9
    )
    pref = ParetoNBDFitter().fit(f, r, T)
    pref.params_ = pd.Series(pareto.params_)
    np.testing.assert_allclose(
        pareto.p_alive(cdnow_cal), pref.conditional_probability_alive(f, r, T), rtol=1e-7
    )
    np.testing.assert_allclose(
        pareto.conditional_expected_purchases(cdnow_cal, 39.0),
        pref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, T),
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        pareto.expected_purchases(t), pref.expected_number_of_purchases_up_to_time(t), rtol=1e-8
    )


def test_pareto_likelihood_equals_its_integral_form():
    """The hyp2f1 likelihood equals the definition integrated numerically:
    L = C [(a+T)^-(r+x) (b+T)^-s + s * int_tx^T (a+u)^-(r+x) (b+u)^-(s+1) du]."""
    rng = np.random.default_rng(3)
    for theta in ([0.55, 10.6, 0.61, 11.7], [1.2, 8.8, 1.25, 45.7], [0.3, 20.0, 2.0, 5.0]):
        r, alpha, s, beta = theta
        x = rng.integers(0, 30, 20).astype(float)
        T = rng.uniform(1, 100, 20)
        tx = np.where(x > 0, T * rng.uniform(0.01, 1, 20), 0.0)
        ll, _ = clv.ParetoNBDModel()._loglik_rows(np.array(theta), x, tx, T)
        for i in range(20):
            xi, ti, Ti = x[i], tx[i], T[i]
            integral = integrate.quad(
                lambda u, xi=xi, r=r, al=alpha, s=s, be=beta: (
                    (al + u) ** -(r + xi) * (be + u) ** -(s + 1)
                ),
                ti,
                Ti,
                epsabs=0,
                epsrel=1e-12,
            )[0]
            logc = gammaln(r + xi) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            direct = logc + np.log((alpha + Ti) ** -(r + xi) * (beta + Ti) ** -s + s * integral)
            assert ll[i] == pytest.approx(direct, rel=1e-8, abs=1e-8)


# --------------------------------------------------------------------------- compression
def test_compressed_fit_equals_uncompressed(cdnow_cal, bgnbd, pareto):
    grouped = cdnow_cal.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    assert len(grouped) < len(cdnow_cal)
    weighted = clv.BetaGeoModel().fit(grouped, weights=grouped["n"])
    for k, v in bgnbd.params_.items():
        assert weighted.params_[k] == pytest.approx(v, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(bgnbd.log_likelihood_, rel=1e-10)
    # the fitted log-likelihood is the plain sum over every customer
    assert bgnbd.log_likelihood(cdnow_cal).sum() == pytest.approx(bgnbd.log_likelihood_, 1e-10)
    assert pareto.log_likelihood(cdnow_cal).sum() == pytest.approx(pareto.log_likelihood_, 1e-10)
    pw = clv.ParetoNBDModel().fit(grouped, weights=grouped["n"])
    for k, v in pareto.params_.items():
        assert pw.params_[k] == pytest.approx(v, rel=1e-4)


@pytest.mark.parametrize("model", [clv.BetaGeoModel, clv.ParetoNBDModel])
def test_a_repeated_fit_is_the_first_fit(cdnow_cal, model, monkeypatch):
    """The same model on the same histories is fitted once per process; other settings, other
    data, or the first object refitted elsewhere give (or keep) their own fit."""
    first = model().fit(cdnow_cal)
    calls = []
    monkeypatch.setattr(model, "_fit_compressed", lambda self, *a: calls.append(a))
    again = model().fit(cdnow_cal)
    assert not calls and again.params_ == first.params_
    assert again.log_likelihood_ == first.log_likelihood_
    assert again.standard_errors_ == first.standard_errors_
    monkeypatch.undo()
    other = model(penalizer=0.01).fit(cdnow_cal)
    assert other.params_ != first.params_
    first.fit(cdnow_cal.head(1000))  # refitting the first object changes not what was recorded
    assert model().fit(cdnow_cal).params_ == again.params_ != first.params_


# --------------------------------------------------------------------------- bad data, degenerate fits
def test_bad_summaries_raise_clear_errors():
    good = pd.DataFrame({"frequency": [1.0, 0.0], "recency": [3.0, 0.0], "T": [10.0, 5.0]})
    with pytest.raises(ValueError, match="recency greater than T"):
        clv.BetaGeoModel().fit(good.assign(recency=[12.0, 0.0]))
    with pytest.raises(ValueError, match="missing frequency"):
        clv.BetaGeoModel().fit(good.assign(T=[np.nan, 5.0]))
    with pytest.raises(ValueError, match="negative frequency"):
        clv.BetaGeoModel().fit(good.assign(frequency=[-1.0, 0.0], recency=[0.0, 0.0]))
    with pytest.raises(ValueError, match="needs columns"):
        clv.BetaGeoModel().fit(good.drop(columns="T"))


def test_no_repeat_purchases_is_a_fit_error_not_nan():
    data = pd.DataFrame({"frequency": [0.0] * 50, "recency": [0.0] * 50, "T": np.arange(1, 51.0)})
    for model in (clv.BetaGeoModel(), clv.ParetoNBDModel()):
        with pytest.raises(clv.FitError, match="repeat purchase"):
            model.fit(data)
    with pytest.raises(clv.FitError, match="fewer than 3"):
        clv.GammaGammaModel().fit(data.assign(monetary_value=0.0))


def test_degenerate_data_raises_fit_error():
    # every customer buys every week and nobody ever stops: drop-out goes to zero (a -> 0)
    n = 200
    data = pd.DataFrame(
        {"frequency": np.full(n, 20.0), "recency": np.full(n, 20.0), "T": np.full(n, 20.0)}
    )
    with pytest.raises(clv.FitError, match="degenerate|not finite|converge"):
        clv.BetaGeoModel().fit(data)


def test_unfitted_model_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        clv.BetaGeoModel().p_alive(pd.DataFrame({"frequency": [1], "recency": [1], "T": [2]}))


def test_fitted_model_pickles(bgnbd, cdnow_cal):
    again = pickle.loads(pickle.dumps(bgnbd))
    assert again.params_ == bgnbd.params_
    assert again.standard_errors_ == bgnbd.standard_errors_
    pd.testing.assert_series_equal(again.p_alive(cdnow_cal), bgnbd.p_alive(cdnow_cal))


# --------------------------------------------------------------------------- value
def test_customer_value_columns_and_identities(bgnbd, gamma_gamma, cdnow_cal):
    v = clv.customer_value(bgnbd, gamma_gamma, cdnow_cal, horizon=52, annual_discount_rate=0.1)
    assert v.index.equals(cdnow_cal.index) and v.index.name == "customer_id"
    assert set(v["value_decile"]) == set(range(1, 11))
    assert v.loc[v["value_rank"] == 1, "value_decile"].item() == 1
    assert (v["potential_value"] >= v["clv"] - 1e-9).all()
    assert ((v["p_alive"] > 0) & (v["p_alive"] <= 1)).all()
    np.testing.assert_allclose(v["clv"], v["potential_value"] * v["p_alive"], rtol=1e-12)
    # expected purchases over the horizon are the model's conditional expectation
    np.testing.assert_allclose(
        v["expected_purchases"], bgnbd.conditional_expected_purchases(cdnow_cal, 52), rtol=1e-10
    )
    # without discounting the CLV is expected purchases x expected spend
    flat = clv.customer_value(bgnbd, gamma_gamma, cdnow_cal, annual_discount_rate=0.0)
    np.testing.assert_allclose(flat["clv"], flat["expected_spend"], rtol=1e-10)
    assert (v["clv"] < flat["clv"]).all()
    # the top decile holds the largest share
    shares = v.groupby("value_decile")["clv"].sum()
    assert shares.idxmax() == 1


@settings(max_examples=60, deadline=None)
@given(
    T=st.floats(1.0, 150.0),
    x1=st.integers(1, 60),
    dx=st.integers(1, 30),
)
def test_clv_increases_with_frequency_for_customers_who_just_bought(bgnbd, gamma_gamma, T, x1, dx):
    """Theory: with recency = T (bought on the as-of day) P(alive) = 1 / (1 + a / (b + x - 1))
    and E[purchases | alive] both rise with x, so CLV rises with frequency when spend per
    purchase is held fixed (monetary value at the population mean keeps Gamma-Gamma's
    estimate fixed). With recency << T it need not: many purchases followed by silence make a
    customer look gone (see the next test)."""
    m = gamma_gamma.population_mean()
    data = pd.DataFrame(
        {
            "frequency": [float(x1), float(x1 + dx)],
            "recency": [T, T],
            "T": [T, T],
            "monetary_value": [m, m],
        },
        index=pd.Index([1, 2], name="customer_id"),
    )
    v = clv.customer_value(bgnbd, gamma_gamma, data)
    assert v.loc[2, "clv"] > v.loc[1, "clv"]
    assert v.loc[2, "expected_purchases"] > v.loc[1, "expected_purchases"]


def test_frequent_buyers_who_went_silent_are_worth_less(bgnbd):
    data = pd.DataFrame({"frequency": [2.0, 20.0], "recency": [5.0, 5.0], "T": [39.0, 39.0]})
    e = bgnbd.conditional_expected_purchases(data, 52).to_numpy()
    assert e[1] < e[0]


def test_p_alive_change_is_negative_for_silent_customers(bgnbd):
    data = pd.DataFrame({"frequency": [5.0, 5.0], "recency": [20.0, 38.0], "T": [39.0, 39.0]})
    change = clv.p_alive_change(bgnbd, data, periods=4)
    assert change.iloc[0] < 0 and np.isnan(change.iloc[1])


# --------------------------------------------------------------------------- holdout
@pytest.fixture(scope="module")
def cdnow_holdout():
    ds = load_dataset("cdnow_sample")
    return ds, clv.calibration_holdout(ds)


def test_calibration_holdout_split(cdnow_holdout, cdnow_cal):
    ds, cal = cdnow_holdout
    assert cal.attrs["calibration_end"] == "1997-09-30"  # the classic 39 + 39 weeks
    assert cal.attrs["holdout_end"] == "1998-06-30"
    assert len(cal) == 2357
    pd.testing.assert_frame_equal(
        cal[["frequency", "recency", "T", "monetary_value"]],
        cdnow_cal[["frequency", "recency", "T", "monetary_value"]],
        check_dtype=False,
    )
    assert cal["duration_holdout"].iloc[0] == pytest.approx(39.0)
    tx = ds.transactions
    hold = tx.loc[(tx["order_date"] > "1997-09-30") & (tx["amount"] >= 0)]
    expected = hold.groupby("customer_id")["order_date"].apply(lambda d: d.dt.normalize().nunique())
    assert cal["frequency_holdout"].sum() == expected.sum()


def test_holdout_figures_on_cdnow_beat_the_naive_forecast(cdnow_holdout):
    ds, cal = cdnow_holdout
    result = clv.fit_and_validate(ds)
    f = result.figures
    assert f["holdout_actual_total"] == cal["frequency_holdout"].sum()
    assert f["mae"] < f["baseline_mae"] and f["rmse"] < f["baseline_rmse"]
    assert abs(f["holdout_predicted_total"] / f["holdout_actual_total"] - 1) < 0.2
    comparison = clv.compare_models(cal)
    assert list(comparison.index) == ["BG/NBD", "Pareto/NBD"]
    assert (comparison["mae"] < comparison["baseline_mae"]).all()


def test_tracking_counts_every_repeat_purchase(cdnow_holdout):
    ds, cal = cdnow_holdout
    model = clv.BetaGeoModel().fit(cal)
    track = clv.tracking(ds, model, cal)
    total = cal["frequency"].sum() + cal["frequency_holdout"].sum()
    assert track["actual"].sum() == total
    assert len(track) == 78  # 1997-01-01 .. 1998-06-30 in weeks
    # the calibration part of the predicted curve matches the fitted totals roughly
    in_cal = track.loc[~track["holdout"]]
    assert in_cal["predicted"].sum() == pytest.approx(in_cal["actual"].sum(), rel=0.05)
    ce = clv.conditional_expectations(cal, clv.evaluate_holdout(model, cal)["predicted"])
    assert list(ce.index)[-1] == "7+" and ce["customers"].sum() == len(cal)


def test_spend_holdout(cdnow_holdout, gamma_gamma):
    _, cal = cdnow_holdout
    figures = clv.evaluate_spend_holdout(gamma_gamma, cal)
    assert figures["customers"] == (cal["frequency_holdout"] > 0).sum()
    assert figures["spend_mae"] < figures["spend_baseline_mae"]


def test_holdout_accuracy_table_and_total_error():
    ev = {
        "holdout_actual_total": 100.0,
        "holdout_predicted_total": 90.0,
        "holdout_naive_total": 120.0,
        "mae": 1.0,
        "rmse": 2.0,
        "baseline_mae": 1.5,
        "baseline_rmse": 2.5,
    }
    table = clv.holdout_accuracy(ev)
    assert list(table.index) == ["actual", "BG/NBD", "naive (calibration rate)"]
    assert table["total holdout purchases"].tolist() == [100.0, 90.0, 120.0]
    assert np.isnan(table.loc["actual", "MAE per customer"])
    assert table.loc["naive (calibration rate)", "RMSE per customer"] == 2.5
    assert clv.holdout_total_error(ev) == pytest.approx(-0.1)


def test_comparison_metrics_keys():
    comparison = pd.DataFrame(
        {"log_likelihood": [-10.0, -11.0], "mae": [0.5, 0.6]}, index=["BG/NBD", "Pareto/NBD"]
    )
    assert clv.comparison_metrics(comparison) == {
        "bgnbd_calibration_log_likelihood": -10.0,
        "bgnbd_holdout_mae": 0.5,
        "paretonbd_calibration_log_likelihood": -11.0,
        "paretonbd_holdout_mae": 0.6,
    }


def test_value_deciles_base_figures_and_parameters(bgnbd, gamma_gamma, cdnow_cal):
    values = clv.customer_value(bgnbd, gamma_gamma, cdnow_cal)
    deciles = clv.value_deciles(values)
    assert list(deciles.index) == list(range(1, 11))
    assert deciles["customers"].sum() == len(values)
    assert deciles["expected_value"].sum() == pytest.approx(values["clv"].sum())
    assert deciles["share_of_value"].sum() == pytest.approx(1.0)
    assert deciles["expected_value"].is_monotonic_decreasing
    totals = clv.base_figures(values)
    assert totals["customers"] == len(values)
    assert totals["one_timers"] == (cdnow_cal["frequency"] == 0).sum()
    assert totals["expected_purchases"] == pytest.approx(values["expected_purchases"].sum())
    repeat = values.loc[values["frequency"] > 0, "p_alive"]
    assert totals["expected_active_repeat_buyers"] == pytest.approx(repeat.sum())
    params = clv.parameter_table(bgnbd, gamma_gamma, truth={"r": 0.25})
    assert params.index.names == ["model", None] or params.index.nlevels == 2
    assert params.loc[("BG/NBD", "r"), "simulated truth"] == 0.25
    assert np.isnan(params.loc[("Gamma-Gamma", "p"), "simulated truth"])
    assert "simulated truth" not in clv.parameter_table(bgnbd, gamma_gamma).columns
    avg = clv.average_customer(bgnbd, gamma_gamma)
    p = bgnbd.params_
    assert avg["purchases_per_year"] == pytest.approx(p["r"] / p["alpha"] * 52)
    assert avg["leave_probability"] == pytest.approx(p["a"] / (p["a"] + p["b"]))
    assert avg["spend_per_purchase"] == pytest.approx(gamma_gamma.population_mean())


def test_p_alive_vs_truth_bands():
    p_alive = pd.Series([0.05, 0.08, 0.95, 1.0, 0.6], index=[1, 2, 3, 4, 5])
    alive = pd.Series([False, True, True, True, False], index=[5, 4, 3, 2, 1])
    check = clv.p_alive_vs_truth(p_alive, alive)
    assert check["customers"].sum() == 5
    low = check.iloc[0]  # (-0.001, 0.1]: customers 1 and 2, alive False and True
    assert low["customers"] == 2 and low["truly_active"] == pytest.approx(0.5)
    assert low["mean_p_alive"] == pytest.approx(0.065)
    high = check.loc[check["mean_p_alive"] > 0.9].iloc[0]
    assert high["customers"] == 2 and high["truly_active"] == 1.0


# --------------------------------------------------------------------------- simulated truth
def test_demo_recovers_the_generating_parameters():
    """The demo retailer is BG/NBD with r=0.75, alpha=4, a=0.8, b=2.5, plus what real shops have
    and the model does not: seasonality, acquisition-channel multipliers on the rate (a mixture
    of gammas) and campaign response orders. With 20,000 customers the standard errors are
    1.3-4%; we allow 15% on each parameter (the campaign response orders, about 2,600, push r
    and alpha up together) and 6% and 5% on the two quantities the data pin down best: the mean
    purchase rate r/alpha and the mean drop-out probability a/(a+b)."""
    ds = load_dataset("demo")
    truth = json.loads((Path(ds.info["truth_dir"]) / "params.json").read_text())
    model = clv.BetaGeoModel().fit(clv.buyers(customer_view(ds)))
    for k in ("r", "alpha", "a", "b"):
        assert model.params_[k] == pytest.approx(truth[k], rel=0.15), k
    p = model.params_
    assert p["r"] / p["alpha"] == pytest.approx(truth["r"] / truth["alpha"], rel=0.06)
    assert p["a"] / (p["a"] + p["b"]) == pytest.approx(
        truth["a"] / (truth["a"] + truth["b"]), rel=0.05
    )


def test_cli_clv_fit_json(capsys):
    from crm_models.cli import main

    assert main(["clv", "fit", "cdnow_sample", "--calibration-end", "1997-09-30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["params"]) == {"r", "alpha", "a", "b"}
    assert out["params"]["r"] == pytest.approx(0.243, abs=6e-4)
    assert out["customers"] == 2357
    for key in ("log_likelihood", "holdout_predicted_total", "holdout_actual_total"):
        assert isinstance(out[key], float)
    assert main(["clv", "fit", "cdnow_sample", "--model", "pareto_nbd", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["params"]) == {"r", "alpha", "s", "beta"}


def test_buyers_summary_columns_value_customers_as_the_whole_view(cdnow_cal):
    """``buyers(view, SUMMARY_COLUMNS)`` keeps the buyers' rows and attrs with only the summary
    (the notebook no longer copies every view column): the same fits and the same values."""
    view = customer_view(load_dataset("cdnow_sample"), as_of="1997-09-30")
    summary = clv.buyers(view, clv.SUMMARY_COLUMNS)
    assert list(summary.columns) == list(clv.SUMMARY_COLUMNS)
    assert summary.index.equals(cdnow_cal.index) and summary.attrs == cdnow_cal.attrs
    pd.testing.assert_frame_equal(summary, cdnow_cal[list(clv.SUMMARY_COLUMNS)])
    bg, gg = clv.BetaGeoModel().fit(summary), clv.GammaGammaModel().fit(summary)
    assert bg.params_ == clv.BetaGeoModel().fit(cdnow_cal).params_
    whole = clv.customer_value(bg, gg, cdnow_cal)
    pd.testing.assert_frame_equal(clv.customer_value(bg, gg, summary), whole)
    ranges, totals = clv.value_intervals(bg, gg, summary, n_draws=50)
    assert ranges.index.equals(whole.index)
    assert totals["clv"] == pytest.approx(whole["clv"].sum(), rel=1e-12)

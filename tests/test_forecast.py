"""Tests of crm_models.forecast: series, models and intervals, the rolling-origin backtest (no
peeking), short/zero series, the bottom-up forecast and the CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_models import forecast as F
from crm_models import revenue
from crm_models.data.dataset import Dataset
from crm_models.data.simulate import simulate_retailer
from crm_models.features import significant
from crm_models.forecast.models import MODEL_CLASSES


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def small_shop() -> Dataset:
    """A small simulated retailer (1,500 customers, 2023-01 .. 2024-06: 18 months)."""
    sim = simulate_retailer(n_customers=1500, start="2023-01-01", end="2024-06-30", seed=7)
    return Dataset(
        "small",
        transactions=sim.transactions,
        customers=sim.customers.drop(columns=["name", "email", "phone"], errors="ignore"),
        campaigns=sim.campaigns,
    )


def monthly(values, start="2020-01") -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float),
        index=pd.period_range(start, periods=len(values), freq="M", name="period"),
    )


def seasonal_series(rng, n=48, trend=2.0, amp=25.0, noise=6.0, level=200.0) -> pd.Series:
    """Level + linear trend + a fixed yearly pattern + noise (known seasonality)."""
    pattern = amp * np.sin(2 * np.pi * np.arange(12) / 12) + amp / 2 * (np.arange(12) == 11)
    t = np.arange(n)
    return monthly(level + trend * t + pattern[t % 12] + rng.normal(0, noise, n))


# ------------------------------------------------------------------------------ series
def test_series_match_the_nlv_table_and_flag_partial_periods(small_shop):
    nlv = revenue.nlv_table(small_shop, "W-SUN")
    s = F.sales_series(small_shop, "revenue", "W")
    # rounded to 10 significant digits, so every engine fits the same series
    assert (s.values["total"].to_numpy() == significant(nlv["revenue"].to_numpy())).all()
    np.testing.assert_allclose(s.values["total"], nlv["revenue"], rtol=1e-9)
    assert s.partial.tolist() == nlv["partial"].tolist()
    assert s.partial.iloc[0]  # 2023-01-01 is a Sunday: the first week is partial
    fitting = s.fitting("total")
    assert fitting.index[0] == s.values.index[1] and len(fitting) == (~s.partial).sum()
    orders = F.sales_series(small_shop, "orders", "M").values["total"]
    assert orders.equals(revenue.nlv_table(small_shop, "M")["orders"].astype(float))


def test_series_by_category_add_up_to_the_total(small_shop):
    by = F.sales_series(small_shop, "revenue", "M", by="category")
    total = F.sales_series(small_shop, "revenue", "M").values["total"]
    np.testing.assert_allclose(by.values.sum(axis=1), total, rtol=1e-9)
    assert by.by == "category" and by.values.shape[1] >= 5
    cust = F.sales_series(small_shop, "customers", "M", by="region")
    assert (
        cust.values.sum(axis=1) >= F.sales_series(small_shop, "customers", "M").values["total"]
    ).all()
    with pytest.raises(ValueError, match="no 'nope' column"):
        F.sales_series(small_shop, "revenue", "M", by="nope")


# ------------------------------------------------------------------------------ models
def test_baselines_follow_their_textbook_formulas():
    y = monthly(np.arange(1, 31, dtype=float) + 10 * (np.arange(30) % 12 == 11))
    sn = F.make_model("seasonal_naive").fit(y).predict(14)
    np.testing.assert_array_equal(sn["mean"].to_numpy()[:12], y.to_numpy()[-12:])
    np.testing.assert_array_equal(sn["mean"].to_numpy()[12:], y.to_numpy()[-12:-10])
    dr = F.make_model("drift").fit(y).predict(3)["mean"].to_numpy()
    slope = (y.iloc[-1] - y.iloc[0]) / 29
    np.testing.assert_allclose(dr, y.iloc[-1] + slope * np.arange(1, 4))
    assert (F.make_model("naive").fit(y).predict(2)["mean"] == y.iloc[-1]).all()
    assert F.make_model("mean").fit(y).predict(1)["mean"].iloc[0] == pytest.approx(y.mean())
    nv = F.make_model("naive").fit(y).predict(4)
    width = (nv["upper_80"] - nv["lower_80"]).to_numpy()
    np.testing.assert_allclose(width / width[0], np.sqrt([1, 2, 3, 4]))  # sigma sqrt(h)


def _sm_ets(y, trend, m):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    kw = dict(error="add", trend="add" if trend else None, damped_trend=trend == "damped")
    if m > 1:
        kw.update(seasonal="add", seasonal_periods=m)
    return ETSModel(pd.Series(y), **kw).fit(disp=False, maxiter=200)


@pytest.mark.parametrize(
    ("trend", "m", "n"),
    [(None, 1, 60), ("damped", 1, 60), ("add", 1, 60), ("damped", 1, 156), (None, 12, 48)],
)
def test_own_ets_fit_equals_statsmodels_ets_model(trend, m, n):
    """fit_ets (the likelihood concentrated on the smoothing parameters) against statsmodels'
    ETSModel (all parameters and initial states optimised jointly): the same maximum, so equal
    sums of squared errors (rtol 1e-4), forecasts (rtol 1e-4) and interval half-widths from
    the state-space variance (Hyndman et al. 2008 §6.1; rtol 1e-3), or a lower sum of squares.
    AICc equal for non-seasonal models (statsmodels counts all m initial seasonal states, we
    count the m - 1 free ones, as R's ets)."""
    from crm_models.forecast.models.ets import fit_ets, forecast_variance

    rng = np.random.default_rng(1)
    y = 100 + np.cumsum(rng.normal(0, 1, n)) + 10 * np.sin(np.arange(n) * 2 * np.pi / 12)
    ours, theirs = fit_ets(y, trend, m), _sm_ets(y, trend, m)
    assert ours["sse"] <= theirs.sse * (1 + 1e-4)
    np.testing.assert_allclose(ours["sse"], theirs.sse, rtol=1e-4)
    if m == 1:
        np.testing.assert_allclose(ours["aicc"], theirs.aicc, rtol=1e-5)
    h = 12
    pred = theirs.get_prediction(start=n, end=n + h - 1).summary_frame(alpha=0.20)
    model = F.ETS(trends=(trend,), seasonal=m > 1).fit(monthly(y))
    assert model.config_.endswith("A)" if m > 1 else "N)")
    fc = model.predict(h)
    np.testing.assert_allclose(fc["mean"], pred["mean"], rtol=1e-4)
    half = F.models.Z[80] * np.sqrt(forecast_variance(ours, h))
    np.testing.assert_allclose(half, pred["pi_upper"] - pred["mean"], rtol=1e-3)
    assert half[-1] > half[0]  # the variance grows with the step
    # the model's own intervals are these, widened by df_factor
    np.testing.assert_allclose(fc["upper_80"] - fc["mean"], half * model.df_factor_, rtol=1e-9)


def test_own_theta_equals_statsmodels_theta_model():
    """Theta against statsmodels' ThetaModel (Hyndman & Billah 2003: SES + half the trend
    slope): equal forecasts (rtol 1e-4, both optimise alpha numerically), and on a series
    without seasonality interval widths within 5 % (statsmodels takes sigma^2 from an
    ARIMA(0,1,1) with drift, we from simple exponential smoothing).  With deseasonalising,
    statsmodels estimates sigma^2 on the seasonal series, we on the deseasonalised one, so
    only the forecasts are compared."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    rng = np.random.default_rng(2)
    for n, amp, freq in [(60, 10.0, "M"), (40, 0.0, "M"), (156, 0.0, "W")]:
        y = 100 + np.cumsum(rng.normal(0, 1, n)) + 0.3 * np.arange(n)
        y += amp * np.sin(np.arange(n) * 2 * np.pi / 12)
        s = pd.Series(y, index=pd.period_range("2020-01", periods=n, freq=freq))
        ours = F.Theta().fit(s)
        assert bool(np.any(ours.seasonal_index_)) == (amp > 0)
        deseason = bool(ours.seasonal_)
        res = ThetaModel(
            y, period=ours.m_ if deseason else 1, deseasonalize=deseason, method="additive"
        ).fit()
        fc = ours.predict(12)
        np.testing.assert_allclose(fc["mean"], res.forecast(12), rtol=1e-4)
        if amp == 0:
            pi = res.prediction_intervals(12, alpha=0.20)
            np.testing.assert_allclose(
                fc["upper_80"] - fc["lower_80"], pi["upper"] - pi["lower"], rtol=0.05
            )


@pytest.mark.parametrize("name", F.MODELS)
def test_every_model_gives_ordered_80_and_95_intervals(name):
    y = seasonal_series(np.random.default_rng(1), n=40)
    fc = F.make_model(name).fit(y).predict(5)
    assert list(fc.columns) == F.INTERVAL_COLUMNS and len(fc) == 5
    assert fc.index[0] == y.index[-1] + 1
    assert np.isfinite(fc.to_numpy()).all()
    assert (fc["lower_95"] <= fc["lower_80"] + 1e-9).all()
    assert (fc["lower_80"] <= fc["mean"] + 1e-9).all() and (
        fc["mean"] <= fc["upper_80"] + 1e-9
    ).all()
    assert (fc["upper_80"] <= fc["upper_95"] + 1e-9).all()
    assert (fc["upper_95"] > fc["lower_95"]).all()


@pytest.mark.parametrize("name", F.MODELS)
@pytest.mark.parametrize(
    "values", [np.zeros(30), np.full(30, 5.0), np.array([3.0]), np.array([2.0, 0.0, 4.0])]
)
def test_zero_constant_and_tiny_series_never_crash(name, values):
    fc = F.make_model(name).fit(monthly(values)).predict(3)
    assert np.isfinite(fc.to_numpy()).all() and (fc >= 0).all().all()
    if not values.any():
        assert (fc.to_numpy() == 0).all()


def test_short_history_gets_no_yearly_seasonality_and_says_so():
    y = seasonal_series(np.random.default_rng(2), n=18)
    assert not F.yearly_seasonality_ok(y) and F.yearly_seasonality_ok(
        seasonal_series(np.random.default_rng(2), n=24)
    )
    for name in ("ets", "sarimax", "theta"):
        model = F.make_model(name).fit(y)
        assert model.seasonal_ is False
    assert F.make_model("ets").fit(y).config_.endswith(",N)")  # no seasonal component
    res = F.forecast_series(y, 3, 2, 1, ("naive", "seasonal_naive", "ets"))
    assert any(
        "yearly seasonality is not estimated" in n and "18 full months" in n for n in res.notes
    )
    tiny = F.forecast_series(monthly([5.0, 6.0]), 3, 4, 1)
    assert tiny.model == "naive" and any("too short for a backtest" in n for n in tiny.notes)
    zeros = F.forecast_series(monthly(np.zeros(20)), 3, 2, 1, ("naive", "seasonal_naive", "ets"))
    assert (zeros.forecast.to_numpy() == 0).all() and any("all zeros" in n for n in zeros.notes)


# ------------------------------------------------------------------------------ metrics
def test_metrics_on_hand_computed_values():
    assert F.smape([100, 0], [50, 0]) == pytest.approx((2 * 50 / 150 + 0) / 2)
    assert F.mase([10, 20], [12, 16], scale=2.0) == pytest.approx(1.5)
    y = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15])
    assert F.mase_scale(y, 12) == pytest.approx(14 / 13)  # under two seasons: lag 1
    two = np.concatenate([y[:12], y[:12] + 2.0])  # two full seasons: lag 12, |+2| each
    assert F.mase_scale(two, 12) == pytest.approx(2.0)
    assert F.mase_scale(np.zeros(30), 12) == 1.0  # flat: finite MASE


# ------------------------------------------------------------------------------ backtest
def test_backtest_never_sees_data_after_its_origin(monkeypatch):
    seen: list[tuple[pd.Period, pd.Period]] = []

    class Spy(F.Naive):
        name = "spy"

        def fit(self, y, exog=None):
            seen.append(y.index[-1])
            return super().fit(y, exog)

    monkeypatch.setitem(MODEL_CLASSES, "spy", Spy)
    y = seasonal_series(np.random.default_rng(3), n=40)
    bt = F.backtest(y, ("spy", "ets"), horizon=3, windows=4, step=2)
    assert [str(o) for o in bt.origins] == ["2022-08", "2022-10", "2022-12", "2023-02"]
    assert seen == [o - 1 for o in bt.origins]  # trained up to the period before each origin
    rows = bt.forecasts
    assert (rows["period"] >= rows["origin"]).all()
    # garbage after the first origin changes nothing that was forecast from it (the models' own
    # forecasts; the calibrated bounds are scored with the other windows' errors by design)
    first = bt.origins[0]
    spoiled = y.copy()
    spoiled[spoiled.index >= first] = 1e9
    bt2 = F.backtest(spoiled, ("spy", "ets"), horizon=3, windows=4, step=2)
    own = ["mean", "raw_lower_80", "raw_upper_80", "raw_lower_95", "raw_upper_95"]
    a = rows.loc[rows["origin"] == first, own].to_numpy()
    b = bt2.forecasts.loc[bt2.forecasts["origin"] == first, own].to_numpy()
    np.testing.assert_array_equal(a, b)


def test_bottom_up_reads_nothing_after_the_cutoff(small_shop):
    y = F.sales_series(small_shop, "revenue", "M").fitting("total")
    train = y.iloc[:-3]
    cutoff = train.index[-1].end_time
    tx = small_shop.transactions
    cut = Dataset("cut", transactions=tx.loc[tx["order_date"] <= cutoff])
    a = F.bottom_up_forecast(small_shop, train, 3)
    b = F.bottom_up_forecast(cut, train, 3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["mean"] > 0).all() and (a["existing"] > 0).all()


@pytest.mark.parametrize("chosen", ["naive", "stacked"])
def test_bottom_up_with_a_chosen_value_model_reads_nothing_after_the_cutoff(small_shop, chosen):
    """The naive rate and the stacked model correct the existing customers' BTYD purchases
    (the stacked model is refitted at the cutoff); still nothing after the cutoff is read."""
    y = F.sales_series(small_shop, "orders", "M").fitting("total")
    train = y.iloc[:-3]
    tx = small_shop.transactions
    cut = Dataset("cut", transactions=tx.loc[tx["order_date"] <= train.index[-1].end_time])
    a = F.bottom_up_forecast(small_shop, train, 3, "orders", chosen)
    pd.testing.assert_frame_equal(a, F.bottom_up_forecast(cut, train, 3, "orders", chosen))
    btyd = F.bottom_up_forecast(small_shop, train, 3, "orders")
    assert a.attrs["value_model"] == chosen and a.attrs["purchase_model"] == "BG/NBD"
    pd.testing.assert_series_equal(a["new"], btyd["new"])  # newcomers: BG/NBD as before
    assert not np.allclose(a["existing"], btyd["existing"])


def test_chosen_model_beats_seasonal_naive_on_series_with_known_seasonality():
    """Trend + yearly pattern + noise: the backtest winner must clearly beat the seasonal naive
    forecast (which carries last year's level into a growing series)."""
    rng = np.random.default_rng(2024)
    for _ in range(2):
        y = seasonal_series(rng, n=42)
        res = F.forecast_series(y, horizon=3, windows=3, step=2)
        mt = res.backtest.metrics
        assert res.model != "seasonal_naive"
        assert mt.loc[res.model, "mase"] < 0.8 * mt.loc["seasonal_naive", "mase"]
        assert res.model == mt.index[0]


def test_interval_coverage_is_close_to_nominal_over_many_series():
    """One-step 80 % / 95 % intervals of ETS (the model the data come from: local level + yearly
    seasonality + noise) over 150 independent simulated series.  Each series gives one
    independent Bernoulli outcome, so coverage ~ Binomial(150, p)/150 with sd 3.3 points at
    p = 0.8; parameter estimation makes real intervals slightly narrow, so the test asks the
    two-sided binomial test not to reject p = 0.80 (0.95) at the 1 % level, i.e. coverage within
    about ±8 (±4.5) points.  Deterministic for the seed."""
    rng = np.random.default_rng(11)
    pattern = 20 * np.sin(2 * np.pi * np.arange(12) / 12)
    n_series, n = 150, 36
    hit80 = hit95 = 0
    for _ in range(n_series):
        level = 300 + np.cumsum(rng.normal(0, 3, n + 1))
        y = level + pattern[np.arange(n + 1) % 12] + rng.normal(0, 6, n + 1)
        model = F.ETS(trends=(None,)).fit(monthly(y[:n]))
        fc = model.predict(1).iloc[0]
        hit80 += fc["lower_80"] <= y[n] <= fc["upper_80"]
        hit95 += fc["lower_95"] <= y[n] <= fc["upper_95"]
    print(
        f"coverage over {n_series} series: 80 % -> {hit80 / n_series:.3f}, 95 % -> {hit95 / n_series:.3f}"
    )
    assert stats.binomtest(int(hit80), n_series, 0.80).pvalue > 0.01, hit80 / n_series
    assert stats.binomtest(int(hit95), n_series, 0.95).pvalue > 0.01, hit95 / n_series


# ------------------------------------------------------------------------------ whole business
def test_forecast_sales_with_bottom_up_and_combination(small_shop):
    res = F.forecast_sales(small_shop, "revenue", "M", quick=True)
    assert res.horizon == 3 and len(res.forecast) == 3
    mt = res.metrics()
    assert {"naive", "seasonal_naive", "bottom_up", "combination"} <= set(mt.index)
    assert res.model == mt.index[0]
    assert any("fewer than two yearly cycles" in n for n in res.notes)
    d = res.to_dict()
    assert d["forecast"][0]["date"] == str(res.forecast.index[0])
    json.dumps(d)  # serialisable
    cust = F.forecast_sales(small_shop, "customers", "M", quick=True)
    assert cust.bottom_up is None and any("no bottom-up" in n for n in cust.notes)


def test_many_series_in_parallel_give_the_same_results_as_sequential(small_shop):
    values = F.sales_series(small_shop, "orders", "M", by="region").fitting()
    models = ("naive", "seasonal_naive", "drift")
    seq = F.forecast_many(values, 2, 2, 1, models, n_jobs=1, progress=None)
    par = F.forecast_many(values, 2, 2, 1, models, n_jobs=2, progress=None)
    assert list(seq) == list(values.columns) == list(par)
    for k in seq:
        pd.testing.assert_frame_equal(seq[k].forecast, par[k].forecast)


def test_cli_json_contract(small_shop, tmp_path, capsys):
    from crm_models.cli import main

    folder = tmp_path / "shop"
    folder.mkdir()
    small_shop.transactions.to_parquet(folder / "transactions.parquet")
    code = main(
        [
            "forecast",
            str(folder),
            "--freq",
            "M",
            "--horizon",
            "2",
            "--backtest-windows",
            "2",
            "--quick",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"measure", "freq", "horizon", "model", "forecast", "backtest"} <= set(out)
    assert out["measure"] == "revenue" and out["freq"] == "M" and out["horizon"] == 2
    assert set(out["forecast"][0]) >= {
        "date",
        "mean",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
    }
    assert {"naive", "seasonal_naive", out["model"]} <= set(out["backtest"])
    assert set(out["backtest"]["naive"]) >= {"mase", "smape", "coverage_80", "coverage_95"}
    # the bottom-up forecast's customer model: by default the rule of clv fit --model auto
    assert out["bottom_up_value_model"]["model_chosen"] in (
        "bgnbd",
        "pareto_nbd",
        "naive",
        "stacked",
    )
    args = ["forecast", str(folder), "--horizon", "2", "--backtest-windows", "2", "--quick"]
    assert main([*args, "--value-model", "naive", "--json"]) == 0
    naive = json.loads(capsys.readouterr().out)
    assert naive["bottom_up_value_model"]["model_chosen"] == "naive"
    assert naive["bottom_up"] != out["bottom_up"]


# ------------------------------------------------------------------------------ report figures
@pytest.fixture(scope="module")
def shop_forecast(small_shop) -> F.SalesForecast:
    return F.forecast_sales(small_shop, "revenue", "M", quick=True)


def test_same_period_last_year():
    y = monthly(range(24))  # 2020-01 .. 2021-12
    assert F.same_period_last_year(y, pd.Period("2022-01", "M")) == (pd.Period("2021-01", "M"), 12)
    assert F.same_period_last_year(y, pd.Period("2021-06", "M"))[1] == 5
    assert F.same_period_last_year(y, pd.Period("2020-06", "M")) is None


def test_report_metrics_of_the_chosen_model_and_every_model(shop_forecast):
    res = shop_forecast
    out = F.report_metrics(res)
    mt = res.metrics()
    assert out["chosen_mase"] == mt.loc[res.model, "mase"]
    assert out["chosen_coverage_95"] == mt.loc[res.model, "coverage_95"]
    assert out["seasonal_naive_mase"] == mt.loc["seasonal_naive", "mase"]
    assert out["forecast_horizon_total"] == pytest.approx(res.forecast["mean"].sum())
    assert out["backtest_windows"] == len(res.backtest.origins)
    for name in mt.index:
        assert out[f"mase_{name}"] == mt.loc[name, "mase"]
        assert out[f"coverage_80_{name}"] == mt.loc[name, "coverage_80"]


def test_compare_bottom_up_with_the_series_model(shop_forecast):
    import dataclasses

    res = shop_forecast
    cmp = F.compare_bottom_up(res)
    mt = res.metrics()
    assert cmp["bottom_up_mase"] == mt.loc["bottom_up", "mase"]
    assert cmp["series_mase"] == mt.loc[res.series_model, "mase"]
    better = "bottom-up" if cmp["bottom_up_mase"] < cmp["series_mase"] else "time-series"
    assert cmp["better"] == better
    first = res.comparison.iloc[0]
    assert cmp["gap"] == pytest.approx(first["bottom_up"] / first["series_model"] - 1)
    assert cmp["period"] == res.forecast.index[0] and cmp["bottom_up_next"] == first["bottom_up"]
    assert cmp["no_new_customers"] == (res.comparison["new_customers"].sum() == 0)
    with pytest.raises(ValueError, match="no bottom-up"):
        F.compare_bottom_up(dataclasses.replace(res, comparison=None))

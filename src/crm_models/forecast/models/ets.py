"""Exponential smoothing (ETS) with additive errors, chosen by AICc, in NumPy/SciPy."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_models.forecast.models.base import (
    Forecaster,
    df_factor,
    interval_values,
    is_flat,
    quiet_fit,
)
from crm_models.forecast.models.baselines import Naive

__all__ = ["ETS", "fit_ets", "forecast_variance"]

# statsmodels' ETSModel bounds (the "usual" region, Hyndman et al. 2008 §10.2): smoothing
# parameters in [1e-4, 1 - 1e-4] with beta = beta* alpha and gamma = gamma* (1 - alpha)
# (so beta <= alpha and gamma <= 1 - alpha), damping phi in [0.8, 0.98]
_SMOOTH, _PHI = (1e-4, 1 - 1e-4), (0.8, 0.98)
_START = {"alpha": 0.5, "beta": 0.1, "gamma": 0.1, "phi": 0.95}  # beta, gamma: the starred


class ETS(Forecaster):
    """ETS with additive errors (Hyndman et al. 2008), chosen by AICc among no trend / damped
    additive trend and, with at least two years of monthly or quarterly data, no / additive
    yearly seasonality; analytic intervals from the state-space variance.  Weekly data get no
    seasonal ETS (52 seasonal states on two or three years of data are not estimable
    honestly); the weekly yearly pattern is the job of ``sarimax``.

    Fitted by :func:`fit_ets` (maximum likelihood, the same models, bounds and likelihood as
    statsmodels' ``ETSModel``, which tests/test_forecast.py checks), about 20x faster than
    ``ETSModel``: issue 15 needs thousands of fits a backtest.  The error variance is the
    maximum-likelihood one widened by :func:`~.base.df_factor` (k = smoothing parameters and
    initial states).

    ``trends``/``seasonals`` restrict the candidates; ``configs_`` lists their AICc,
    ``config_`` the chosen one.  Falls back to the naive forecast on series too short
    (fewer than 6 periods) or flat.
    """

    name = "ets"

    def __init__(self, trends: Sequence[str | None] = (None, "damped"), seasonal: bool = True):
        self.trends = tuple(trends)
        self.seasonal = seasonal

    def _fit(self, y, exog):
        self.fallback_ = None
        if len(y) < 6 or is_flat(y):
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            self.config_ = "naive (series too short or flat)"
            return
        periods = [1]
        if self.seasonal and self.seasonal_ and self.freq_ in ("M", "Q"):
            periods.append(self.m_)
        best, configs = None, {}
        for trend in self.trends:
            for m in periods:
                label = f"ETS(A,{'Ad' if trend == 'damped' else ('A' if trend else 'N')},"
                label += f"{'A' if m > 1 else 'N'})"
                try:
                    res = quiet_fit(lambda t=trend, m=m: fit_ets(y, t, m))
                except (ValueError, np.linalg.LinAlgError):  # a candidate that cannot be fitted
                    continue
                if not np.isfinite(res["aicc"]):
                    continue
                configs[label] = res["aicc"]
                if best is None or res["aicc"] < best[0]:
                    best = (res["aicc"], label, res)
        if best is None:
            self.fallback_ = Naive().fit(pd.Series(y, index=self.index_))
            self.config_ = "naive (no ETS candidate could be fitted)"
            return
        self.configs_ = configs
        _, self.config_, self.result_ = best
        self.n_params_ = self.result_["n_params"]
        self.df_factor_ = df_factor(len(y), self.n_params_)

    def _predict(self, h, exog):
        if self.fallback_ is not None:
            return self.fallback_._predict(h, exog)
        res = self.result_
        F, _, w = _state_space(res)
        mean, state = np.empty(h), res["state"]
        for j in range(h):  # y_(n+j+1) = w' F^j x_n
            mean[j] = w @ state
            state = F @ state
        sd = np.sqrt(forecast_variance(res, h)) * self.df_factor_
        return interval_values(mean, sd)


def fit_ets(y: np.ndarray, trend: str | None = None, m: int = 1) -> dict:
    """Maximum-likelihood ETS with additive errors: level, optional additive trend
    (``"add"``) or damped trend (``"damped"``), additive seasonality when ``m`` > 1.

    The model is linear in its initial states, so for given smoothing parameters the best
    initial states are a least-squares fit and the likelihood is concentrated on the smoothing
    parameters alone (1 to 4 numbers instead of up to 18, as in statsmodels' ``ETSModel``): the
    same maximum, found faster.  One-step predictions are a linear filter of
    the data (``scipy.signal.lfilter``) whose coefficients come from the state-space matrices
    (Hyndman et al. 2008 §3.5).  Returns the parameters, the initial and last states, the sum
    of squared errors, log-likelihood and AICc (statsmodels' definitions)."""
    from scipy.optimize import minimize, minimize_scalar

    y = np.asarray(y, dtype=float)
    n = len(y)
    has_trend, damped = trend is not None, trend == "damped"
    if trend not in (None, "add", "damped"):
        raise ValueError(f"trend must be None, 'add' or 'damped', not {trend!r}")
    names = ["alpha"] + ["beta"] * has_trend + ["gamma"] * (m > 1) + ["phi"] * damped
    bounds = [_PHI if name == "phi" else _SMOOTH for name in names]
    start = np.array([_START[v] for v in names])
    k_states = 1 + has_trend + (m if m > 1 else 0)
    n_params = len(names) + k_states - (m > 1)  # seasonal states: one moves into the level
    if n <= n_params + 1:
        raise ValueError(f"ETS needs more than {n_params + 1} points, got {n}")

    def unpack(p):
        par = dict(zip(names, p, strict=True))
        alpha = par["alpha"]
        beta = par.get("beta", 0.0) * alpha
        gamma = par.get("gamma", 0.0) * (1 - alpha)
        return {"alpha": alpha, "beta": beta, "gamma": gamma, "phi": par.get("phi", 1.0)}

    def sse_of(p):
        return _concentrated(y, {**unpack(p), "has_trend": has_trend, "m": m})[0]

    scale = float(np.mean((y - y.mean()) ** 2)) or 1.0

    def objective(p):
        sse = sse_of(p)
        return np.log(sse / scale) if np.isfinite(sse) and sse > 0 else 1e10

    if len(names) == 1:  # simple exponential smoothing: Brent's method on alpha alone
        x = np.array(
            [minimize_scalar(lambda a: objective([a]), bounds=_SMOOTH, options={"xatol": 1e-7}).x]
        )
    else:
        # an undamped trend has a second optimum at beta* near 1 (e.g. a random walk with
        # drift), which the usual start misses; the damped trend's phi <= 0.98 keeps it away
        starts = [start] + [np.where(np.array(names) == "beta", 0.9, start)] * (trend == "add")
        fits = [minimize(objective, s, method="L-BFGS-B", bounds=bounds) for s in starts]
        x = min(fits, key=lambda f: f.fun).x
    spec = {**unpack(x), "has_trend": has_trend, "m": m}
    sse, x0, resid = _concentrated(y, spec)
    if not np.isfinite(sse):
        raise ValueError("ETS fit diverged")
    F, g, _ = _state_space(spec)
    state = x0
    for e in resid:  # x_t = F x_(t-1) + g e_t (once, for the last state)
        state = F @ state + g * e
    llf = -n / 2 * (np.log(2 * np.pi * sse / n) + 1)
    k = n_params + 1  # statsmodels counts the error variance too
    return {
        **spec,
        "params": dict(zip(names, x, strict=True)),
        "initial_states": x0,
        "state": state,
        "sse": sse,
        "sigma2": sse / n,
        "llf": llf,
        "aicc": -2 * llf + 2 * k + 2 * k * (k + 1) / max(n - k - 1, 1e-9),
        "n_params": n_params,
        "n": n,
    }


def _state_space(spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transition F, gain g and measurement w of additive-error ETS (Hyndman et al. 2008,
    §2.5.1): states level, trend, seasonal s_t .. s_(t-m+1)."""
    m = spec["m"] if spec["m"] > 1 else 0
    k = 1 + spec["has_trend"] + m
    F, g, w = np.zeros((k, k)), np.zeros(k), np.zeros(k)
    F[0, 0], g[0], w[0] = 1.0, spec["alpha"], 1.0
    if spec["has_trend"]:
        F[0, 1] = F[1, 1] = w[1] = spec["phi"]
        g[1] = spec["beta"]
    if m:  # the next seasonal state is the oldest, then it rotates
        s = k - m
        F[s, k - 1] = 1.0
        F[s + 1 :, s : k - 1] = np.eye(m - 1)
        g[s], w[k - 1] = spec["gamma"], 1.0
    return F, g, w


def _concentrated(y: np.ndarray, spec: dict) -> tuple[float, np.ndarray, np.ndarray]:
    """Sum of squared one-step errors at the best initial states, those states, the errors.

    With D = F - g w', the one-step prediction is yhat_t = w' D^(t-1) x_0 + sum_(s<t) w'
    D^(t-1-s) g y_s.  Both sequences w' D^t solve the recurrence of D's characteristic
    polynomial a (Cayley-Hamilton), so each is a rational filter with denominator a whose
    numerator is a times the sequence's first k terms: one ``lfilter`` for the data part, one
    impulse response, shifted k times, for the part linear in x_0.  The seasonal states are
    only determined up to a constant moved into the level, so the last one is fixed at zero
    (as statsmodels does) and the rest solved by least squares."""
    from scipy.signal import lfilter

    F, g, w = _state_space(spec)
    D = F - np.outer(g, w)
    n, k = len(y), len(g)
    a = _char_poly(D)
    powers = np.empty((k, k))  # rows w' D^t, t = 0..k-1
    powers[0] = w
    for t in range(1, k):
        powers[t] = powers[t - 1] @ D
    shift, lower = _shift_indices(n, k)
    a_lower = np.where(lower >= 0, a[np.maximum(lower, 0)], 0.0)  # multiply by a, truncated
    inputs = np.zeros((n + k - 1, 2))  # an impulse and the data, filtered by 1/a at once
    inputs[k - 1, 0] = 1.0
    inputs[k - 1 :, 1] = y
    filtered = lfilter([1.0], a, inputs, axis=0)
    basis = filtered[:, 0][shift] @ (a_lower @ powers)  # column i: w' D^t e_i, t < n
    yhat = np.convolve(filtered[k - 1 :, 1], a_lower @ (powers @ g))[: n - 1]
    target = y.copy()
    target[1:] -= yhat
    free = k - (spec["m"] > 1)
    basis = basis[:, :free]
    if not (np.isfinite(basis).all() and np.isfinite(target).all()):  # an explosive filter
        return np.inf, np.zeros(k), target
    gram, rhs = basis.T @ basis, basis.T @ target
    if free == 1:
        x0 = rhs / gram[0]
    elif free == 2:  # Cramer's rule: np.linalg.solve costs more than the filter here
        det = gram[0, 0] * gram[1, 1] - gram[0, 1] ** 2
        x0 = (
            np.array(
                [
                    gram[1, 1] * rhs[0] - gram[0, 1] * rhs[1],
                    gram[0, 0] * rhs[1] - gram[0, 1] * rhs[0],
                ]
            )
            / det
        )
    else:
        x0 = np.linalg.lstsq(basis, target, rcond=None)[0]
    resid = target - basis @ x0
    return float(resid @ resid), np.concatenate([x0, np.zeros(k - free)]), resid


def _char_poly(A: np.ndarray) -> np.ndarray:
    """Coefficients of det(zI - A), highest power first (as ``np.poly``), by the
    Faddeev-LeVerrier recursion: k small matrix products instead of an eigen-decomposition
    (5x faster for these 1x1 to 14x14 matrices)."""
    k = len(A)
    if k == 1:
        return np.array([1.0, -A[0, 0]])
    if k == 2:  # z^2 - trace z + determinant
        return np.array([1.0, -A[0, 0] - A[1, 1], A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]])
    coef, M, eye = np.empty(k + 1), np.zeros_like(A), np.eye(k)
    coef[0] = 1.0
    for i in range(1, k + 1):
        M = A @ M + coef[i - 1] * eye
        coef[i] = -np.trace(A @ M) / i
    return coef


@functools.lru_cache(maxsize=64)
def _shift_indices(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays: ``[t + k - 1 - i]`` (an impulse response delayed by i = 0..k-1) and the
    lower-triangular Toeplitz ``[j - l]`` that multiplies a sequence by a polynomial."""
    shift = np.arange(n)[:, None] + (k - 1) - np.arange(k)[None, :]
    lower = np.arange(k)[:, None] - np.arange(k)[None, :]
    shift.flags.writeable = lower.flags.writeable = False
    return shift, lower


def forecast_variance(result: dict, h: int) -> np.ndarray:
    """Forecast variance for steps 1..h of a fitted linear ETS with additive errors
    (:func:`fit_ets`): sigma^2 (1 + sum_{j<h} c_j^2), c_j = w' F^(j-1) g, from the state-space
    form (Hyndman et al. 2008, *Forecasting with Exponential Smoothing*, §6.1, class 1); each
    step has its own seasonal term."""
    F, g, w = _state_space(result)
    c, state = np.empty(max(h - 1, 0)), g
    for j in range(h - 1):  # c_j = w' F^(j-1) g, one matrix-vector product a step
        c[j] = w @ state
        state = F @ state
    return float(result["sigma2"]) * (1 + np.concatenate([[0.0], np.cumsum(c**2)]))

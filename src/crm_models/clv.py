"""Customer lifetime value: BG/NBD and Pareto/NBD purchase models, the Gamma-Gamma spend model,
honest calibration/holdout validation and per-customer value scores.

Models follow scikit-learn's shape: hyper-parameters in ``__init__``, ``fit`` returns ``self``,
fitted attributes end in ``_`` (``params_``, ``log_likelihood_``, ``n_customers_``, ...), and
predictions are pandas objects indexed by ``customer_id``.  They take the BTYD columns of the
customer view (``frequency``, ``recency``, ``T``; ``monetary_value`` for Gamma-Gamma), so the
summaries always come from :func:`crm_models.features.customer_view` (purchases of one customer
on one day are one purchase, times in weeks by default).

The likelihoods are our own vectorised NumPy/SciPy code, written in log space:

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"), fitted with an
  analytic gradient.  Terms that depend only on ``x`` (gamma/beta functions) are computed once
  per distinct frequency, terms in ``log(alpha + T)`` once per distinct ``T``; only the
  "dropped out after the last purchase" term is evaluated per distinct (x, t_x, T) row.
* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987; the likelihood as in Fader & Hardie
  2005, "A note on deriving the Pareto/NBD model and related expressions"), with the Gauss
  hypergeometric function ``hyp2f1``.
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013, "The
  Gamma-Gamma model of monetary value") with an analytic gradient.

All fits run on the distinct rows with weights (counts), which gives exactly the likelihood of
the uncompressed data.  A fit that fails or runs off to a degenerate corner (parameters going to
0 or infinity, a likelihood that is not finite) raises :class:`FitError` with the reason: never
silent NaNs.

Validation (:func:`calibration_holdout`, :func:`evaluate_holdout`, :func:`tracking`,
:func:`conditional_expectations`) splits the log by date; the naive baseline predicts
``frequency / T × holdout length`` (the calibration repeat-purchase rate).  Value:
:func:`customer_value` gives expected purchases, P(alive), expected spend, discounted CLV,
"potential value" (CLV if the customer is still active) and value at risk, ranks and deciles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from crm_models.conditions import few, no_sales, plural
from crm_models.dataset import Dataset, UnsupportedData
from crm_models.features import btyd_summary, resolve_as_of, transactions_as_of
from crm_models.units import unit_days

__all__ = [
    "BetaGeoModel",
    "FitError",
    "NotEnoughData",
    "GammaGammaModel",
    "ParetoNBDModel",
    "buyers",
    "calibration_holdout",
    "compare_models",
    "conditional_expectations",
    "customer_value",
    "default_calibration_end",
    "evaluate_holdout",
    "evaluate_spend_holdout",
    "fit_and_validate",
    "frequency_monetary_correlation",
    "mae",
    "p_alive_change",
    "make_purchase_model",
    "rmse",
    "tracking",
]

MODELS = ("bgnbd", "pareto_nbd")
MIN_REPEAT_BUYERS = 20  # purchase models need this many customers with a repeat purchase
MIN_HOLDOUT_DAYS = 28  # the automatic holdout period is at least four weeks
_LOG_BOUND = 15.0  # |log parameter| beyond this (3e-7, 3e6) is a degenerate fit (0 or infinity)


class FitError(ValueError):
    """A model could not be fitted, or the fit is degenerate (the message says why)."""


class NotEnoughData(FitError, UnsupportedData):
    """The data cannot support the model: no buyers, too few repeat buyers, or a history that
    does not pin the parameters down (a degenerate fit).  The message is one plain sentence;
    ``detail`` keeps the technical reason where there is one.

    A :class:`FitError` (callers that fall back to another model on a failed fit still do) and
    an :class:`~crm_models.dataset.UnsupportedData`.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


_DEGENERATE_MEANING = {
    "Gamma-Gamma": "how much each customer spends per purchase",
}


# --------------------------------------------------------------------------- metrics
def mae(actual, predicted) -> float:
    """Mean absolute error."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(a - p)))


def rmse(actual, predicted) -> float:
    """Root mean squared error."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean((a - p) ** 2)))


# --------------------------------------------------------------------------- input handling
def buyers(view: pd.DataFrame) -> pd.DataFrame:
    """The rows of a customer view with a BTYD summary (customers who have bought).

    Raises :class:`~crm_models.dataset.UnsupportedData` when nobody has bought anything for a
    positive amount (the transactions hold only returns or zero amounts): there is no customer
    value to model.
    """
    out = view.loc[view["frequency"].notna() & view["T"].notna()]
    if out.empty or ("gross_sales" in out.columns and not (out["gross_sales"] > 0).any()):
        raise no_sales("customer value cannot be estimated", view.attrs.get("as_of"))
    return out


def _too_few_repeat_buyers(n: float, when: str = "") -> NotEnoughData:
    return few(
        int(n),
        f"customer made a repeat purchase{when}",
        f"customers made a repeat purchase{when}",
        "estimate how often customers buy and when they stop",
        MIN_REPEAT_BUYERS,
        cls=NotEnoughData,
    )


def _summary(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (x, t_x, T) float arrays from a frame with frequency/recency/T columns."""
    missing = [c for c in ("frequency", "recency", "T") if c not in data.columns]
    if missing:
        raise ValueError(f"the data needs columns {', '.join(missing)} (use the customer view)")
    x = data["frequency"].to_numpy(dtype=float)
    tx = data["recency"].to_numpy(dtype=float)
    T = data["T"].to_numpy(dtype=float)
    problems = []
    bad = ~(np.isfinite(x) & np.isfinite(tx) & np.isfinite(T))
    if bad.any():
        problems.append(
            f"{bad.sum():,} rows with missing frequency/recency/T "
            "(prospects who never bought? select them out with clv.buyers(view))"
        )
    ok = ~bad
    checks = [
        (x < 0, "negative frequency"),
        (x != np.round(x), "non-integer frequency"),
        (tx < 0, "negative recency"),
        (tx > T + 1e-9, "recency greater than T"),
        ((x == 0) & (tx != 0), "recency without repeat purchases"),
        ((x > 0) & (tx <= 0), "repeat purchases with zero recency"),
    ]
    for mask, text in checks:
        n = int((mask & ok).sum())
        if n:
            problems.append(f"{n:,} rows with {text}")
    if problems:
        raise ValueError("bad BTYD summary: " + "; ".join(problems))
    return x, tx, T


def _index(data: pd.DataFrame) -> pd.Index:
    return data.index if data.index.name else data.index.rename("customer_id")


def _compress(*columns: np.ndarray, weights: np.ndarray | None = None):
    """Distinct rows of the given columns, their summed weights and the inverse index."""
    n = len(columns[0])
    key = np.zeros(n, dtype=np.int64)
    mult = 1
    for col in columns:
        codes, uniques = pd.factorize(col)
        key = key + codes.astype(np.int64) * mult
        mult *= max(len(uniques), 1)
        if mult > 2**62:  # pragma: no cover - absurdly many combinations: fall back to rows
            return columns, np.ones(n) if weights is None else weights, np.arange(n)
    inverse, first = pd.factorize(key)
    rows = np.empty(len(first), dtype=np.int64)
    rows[inverse] = np.arange(n)  # any row of each group will do
    w = np.bincount(inverse, weights=weights, minlength=len(first)).astype(float)
    return tuple(c[rows] for c in columns), w, inverse


def _weights(weights, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be one finite, non-negative number per row")
    return w


# --------------------------------------------------------------------------- optimisation
def _minimise(fun, x0: np.ndarray, names: tuple[str, ...], jac: bool, label: str):
    """Minimise ``fun`` over log-parameters with L-BFGS-B; FitError on failure/degeneracy."""
    bounds = [(-_LOG_BOUND - 5, _LOG_BOUND + 5)] * len(x0)
    # one BLAS thread: the dot products are short, and threads fighting over busy cores made
    # fits 10-30x slower on a loaded machine
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        res = optimize.minimize(
            fun,
            x0,
            jac=jac,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20},
        )
    if not np.isfinite(res.fun) or not np.all(np.isfinite(res.x)):
        raise FitError(f"{label} fit failed: the likelihood is not finite ({res.message})")
    off = [n for n, v in zip(names, res.x, strict=True) if abs(v) > _LOG_BOUND]
    if off:
        values = ", ".join(f"{n}={math.exp(v):.3g}" for n, v in zip(names, res.x, strict=True))
        meaning = _DEGENERATE_MEANING.get(label, "how often customers buy from how soon they stop")
        raise NotEnoughData(
            "The purchase history is too short or holds too few repeat purchases for the "
            f"{label} model to tell {meaning} (the fit is degenerate).",
            detail=f"{', '.join(off)} ran off to 0 or infinity ({values})",
        )
    if not res.success:
        grad = res.jac if jac else optimize.approx_fprime(res.x, lambda u: fun(u), 1e-7)
        if np.max(np.abs(grad)) > 1e-4:
            raise FitError(f"{label} fit did not converge: {res.message}")
    return res


def _softplus_sigmoid(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + e^D) and 1 / (1 + e^-D), stable, sharing one exp (2x faster than logaddexp +
    expit on a million rows)."""
    e = np.abs(D)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|D|) in (0, 1]
    soft = np.log1p(e)
    soft += np.maximum(D, 0.0)
    one_e = e + 1.0
    sig = np.where(D >= 0, 1.0, e)
    sig /= one_e
    return soft, sig


def _hessian(grad_fn, u: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference Hessian of a function given its gradient."""
    k = len(u)
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad_fn(u + e) - grad_fn(u - e)) / (2 * h)
    return (H + H.T) / 2


def _num_grad(fn, u: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty(len(u))
    for j in range(len(u)):
        e = np.zeros(len(u))
        e[j] = h
        g[j] = (fn(u + e) - fn(u - e)) / (2 * h)
    return g


class _Model:
    """Shared plumbing: parameter table with standard errors, repr."""

    _names: tuple[str, ...] = ()
    label = "model"

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit() first")

    def _theta(self) -> np.ndarray:
        self._check_fitted()
        return np.array([self.params_[n] for n in self._names])

    def _set_standard_errors(self, neg_ll_grad) -> None:
        """Remember how to get standard errors; computed on first use of ``standard_errors_``."""
        self._se_grad = neg_ll_grad
        self.__dict__.pop("_standard_errors", None)

    @property
    def standard_errors_(self) -> dict[str, float]:
        """Standard errors from the observed information (Hessian in log space, delta method)."""
        if "_standard_errors" not in self.__dict__:
            self._compute_standard_errors(self._se_grad)
        return self._standard_errors

    def __getstate__(self):
        state = dict(self.__dict__)
        if "_se_grad" in state:  # closures do not pickle: keep the numbers instead
            _ = self.standard_errors_
            state = dict(self.__dict__)
        for key in [k for k in state if k in ("_se_grad", "_nll")]:
            del state[key]
        return state

    def _compute_standard_errors(self, neg_ll_grad) -> None:
        u = np.log(self._theta())
        try:
            with threadpool_limits(1, user_api="blas"):
                H = _hessian(neg_ll_grad, u)
            cov_u = np.linalg.inv(H)
            se = np.sqrt(np.clip(np.diag(cov_u), 0, None)) * np.exp(u)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            se = np.full(len(u), np.nan)
        self._standard_errors = dict(zip(self._names, se.tolist(), strict=True))

    def summary(self) -> pd.DataFrame:
        """Parameters with standard errors and 95% intervals (log-normal, so always > 0)."""
        theta = self._theta()
        se = np.array([self.standard_errors_[n] for n in self._names])
        sd_log = se / theta
        return pd.DataFrame(
            {
                "estimate": theta,
                "std_error": se,
                "lower_95": theta * np.exp(-1.96 * sd_log),
                "upper_95": theta * np.exp(1.96 * sd_log),
            },
            index=pd.Index(self._names, name="parameter"),
        )

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({inner})"
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- purchase models
class _PurchaseModel(_Model):
    """Shared API of the BG/NBD and Pareto/NBD models."""

    def __init__(self, penalizer: float = 0.0, time_unit: str = "W"):
        self.penalizer = penalizer
        self.time_unit = time_unit

    def fit(self, data: pd.DataFrame, weights=None) -> _PurchaseModel:
        """Fit on a frame with ``frequency``, ``recency``, ``T`` (one row per customer, or
        distinct rows with ``weights`` = how many customers share them)."""
        x, tx, T = _summary(data)
        w = _weights(weights, len(x))
        if len(x) == 0:
            raise NotEnoughData(
                "No customer has bought anything yet, so future purchases cannot be predicted."
            )
        (ux, utx, uT), uw, _ = _compress(x, tx, T, weights=w)
        keep = uw > 0
        ux, utx, uT, uw = ux[keep], utx[keep], uT[keep], uw[keep]
        total = uw.sum()
        if total <= 0:
            raise FitError(f"{self.label}: the weights add up to zero")
        if not (ux > 0).any():
            raise NotEnoughData(
                "No customer has made a repeat purchase yet, so how often customers buy cannot "
                "be told apart from how soon they stop buying."
            )
        repeat = float(uw[ux > 0].sum())
        if repeat < MIN_REPEAT_BUYERS:
            raise _too_few_repeat_buyers(repeat)
        self._fit_compressed(ux, utx, uT, uw)
        self.n_customers_ = float(total)
        self.n_unique_ = int(len(ux))
        return self

    # per-model pieces -------------------------------------------------------------------
    def _fit_compressed(self, x, tx, T, w) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loglik_rows(self, theta, x, tx, T) -> tuple[np.ndarray, np.ndarray]:
        """Per-row log-likelihood and log P(alive)."""
        raise NotImplementedError  # pragma: no cover

    def _expected_alive(self, theta, x, T, t) -> np.ndarray:
        """E[purchases in (T, T+t] | alive at T, x, T] (does not depend on t_x)."""
        raise NotImplementedError  # pragma: no cover

    def expected_purchases(self, t) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a new customer in the first ``t`` periods."""
        raise NotImplementedError  # pragma: no cover

    # predictions --------------------------------------------------------------------------
    def log_likelihood(self, data: pd.DataFrame) -> pd.Series:
        """Log-likelihood of each customer's summary under the fitted parameters."""
        x, tx, T = _summary(data)
        ll, _ = self._loglik_rows(self._theta(), x, tx, T)
        return pd.Series(ll, index=_index(data), name="log_likelihood")

    def p_alive(self, data: pd.DataFrame) -> pd.Series:
        """P(the customer is still active at T | frequency, recency, T)."""
        x, tx, T = _summary(data)
        (ux, utx, uT), _, inv = _compress(x, tx, T)
        return pd.Series(self._p_alive_rows(ux, utx, uT)[inv], index=_index(data), name="p_alive")

    def _p_alive_rows(self, x, tx, T) -> np.ndarray:
        _, lpa = self._loglik_rows(self._theta(), x, tx, T)
        return np.exp(lpa)

    def _alive_grid(self, x, T, horizons) -> tuple[np.ndarray, np.ndarray]:
        """E[purchases in (T, T+h] | alive] for every horizon h (rows × horizons), computed
        once per distinct (x, T)."""
        (ux, uT), _, inv = _compress(x, T)
        theta = self._theta()
        cols = [self._expected_alive(theta, ux, uT, float(h)) for h in np.atleast_1d(horizons)]
        return np.column_stack(cols), inv

    def conditional_expected_purchases(self, data: pd.DataFrame, t: float) -> pd.Series:
        """E[repeat purchases in the next ``t`` periods | frequency, recency, T]."""
        x, tx, T = _summary(data)
        grid, inv = self._alive_grid(x, T, [t])
        pa = self.p_alive(data).to_numpy()
        return pd.Series(grid[inv, 0] * pa, index=_index(data), name=f"expected_purchases_{t:g}")

    def _fit_result(self, theta: np.ndarray, res, neg_ll_grad) -> None:
        self.params_ = dict(zip(self._names, theta.tolist(), strict=True))
        self.log_likelihood_ = float(-res.fun * self._total_weight)
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self._set_standard_errors(neg_ll_grad)


class BetaGeoModel(_PurchaseModel):
    """BG/NBD purchase model (Fader, Hardie & Lee 2005).

    While active, a customer buys as a Poisson process with rate ``lambda`` ~ Gamma(r, alpha);
    after each repeat purchase they drop out with probability ``p`` ~ Beta(a, b).  Fitted
    attributes: ``params_`` (``r``, ``alpha``, ``a``, ``b``), ``log_likelihood_``,
    ``standard_errors_``, ``n_customers_``, ``n_unique_``, ``n_iter_``, ``converged_``.
    """

    _names = ("r", "alpha", "a", "b")
    label = "BG/NBD"

    def _fit_compressed(self, x, tx, T, w) -> None:
        total = w.sum()
        self._total_weight = total
        nll = self._objective(x, tx, T, w)
        mean_T = float(np.average(T, weights=w))
        u0 = np.log([1.0, max(mean_T, 1e-3), 1.0, 1.0])
        res = _minimise(nll, u0, self._names, True, self.label)
        self._fit_result(np.exp(res.x), res, lambda u: nll(u)[1] * total)

    def _objective(self, x, tx, T, w):
        """Mean negative log-likelihood and its gradient in log-parameters, for distinct rows
        (x, t_x, T) with weights w.  Everything that depends on x alone or T alone is computed
        once per distinct value and gathered."""
        ix_vals, ix = np.unique(x, return_inverse=True)
        iT_vals, iT = np.unique(T, return_inverse=True)
        Wx = np.bincount(ix, weights=w)  # total weight by distinct x
        WT = np.bincount(iT, weights=w)
        XWT = np.bincount(iT, weights=w * x)
        rep = x > 0
        xr, wr, iTr = x[rep], w[rep], iT[rep]
        it_vals, itr = np.unique(tx[rep], return_inverse=True)
        ixr = ix[rep]
        wxr = wr * xr
        total = w.sum()
        pen = self.penalizer

        def nll(u: np.ndarray) -> tuple[float, np.ndarray]:
            r, alpha, a, b = np.exp(u)
            lalpha = math.log(alpha)
            LT = np.log(alpha + iT_vals)
            Lt = np.log(alpha + it_vals)
            # per distinct x
            A = (
                gammaln(r + ix_vals)
                - gammaln(r)
                + r * lalpha
                + gammaln(a + b)
                + gammaln(b + ix_vals)
                - gammaln(b)
                - gammaln(a + b + ix_vals)
            )
            ll = Wx @ A - (r * WT + XWT) @ LT
            g_r = Wx @ (digamma(r + ix_vals) - digamma(r) + lalpha) - WT @ LT
            g_alpha = r * total / alpha - (r * WT + XWT) @ (1.0 / (alpha + iT_vals))
            dab = digamma(a + b) - digamma(a + b + ix_vals)
            g_a = Wx @ dab
            g_b = Wx @ (dab + digamma(b + ix_vals) - digamma(b))
            # per repeat-buyer row: log(1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
            if len(xr):
                with np.errstate(divide="ignore"):
                    bx1 = np.maximum(b + ix_vals - 1.0, 1e-300)
                gap = LT[iTr] - Lt[itr]
                D = (math.log(a) - np.log(bx1))[ixr] + (r + xr) * gap
                soft, sig = _softplus_sigmoid(D)
                ll += wr @ soft
                s = wr * sig  # weight × sigmoid(D)
                sx = wxr * sig
                g_r += s @ gap
                inv_gap = (1.0 / (alpha + iT_vals))[iTr] - (1.0 / (alpha + it_vals))[itr]
                g_alpha += r * (s @ inv_gap) + sx @ inv_gap
                g_a += s.sum() / a
                g_b -= s @ (1.0 / bx1)[ixr]
            grad = np.array([g_r, g_alpha, g_a, g_b]) * np.array([r, alpha, a, b])
            f = -ll / total
            g = -grad / total
            if pen:
                theta = np.array([r, alpha, a, b])
                f += pen * (theta**2).sum()
                g += pen * 2 * theta**2
            return f, g

        return nll

    def _loglik_rows(self, theta, x, tx, T):
        r, alpha, a, b = theta
        base = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + betaln(a, b + x)
            - betaln(a, b)
            - (r + x) * np.log(alpha + T)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            D = np.where(
                x > 0,
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )
        soft = np.logaddexp(0.0, D)
        return base + soft, -soft

    def _p_alive_rows(self, x, tx, T) -> np.ndarray:
        r, alpha, a, b = self._theta()
        with np.errstate(divide="ignore", invalid="ignore"):
            D = np.where(
                x > 0,
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )
        return _softplus_sigmoid(-D)[1]

    def _expected_alive(self, theta, x, T, t):
        r, alpha, a, b = theta
        if abs(a - 1) < 1e-8:
            a = 1 + 1e-8
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):
            term = np.exp((r + x) * np.log((alpha + T) / (alpha + T + t))) * hyp2f1(
                r + x, b + x, a + b + x - 1, z
            )
            out = (a + b + x - 1) / (a - 1) * (1 - term)
        return self._finite(out, "conditional expectation")

    def expected_purchases(self, t) -> np.ndarray:
        r, alpha, a, b = self._theta()
        if abs(a - 1) < 1e-8:
            a = 1 + 1e-8
        t = np.asarray(t, dtype=float)
        with np.errstate(all="ignore"):
            out = (
                (a + b - 1)
                / (a - 1)
                * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
            )
        return self._finite(out, "expected purchases")

    def _finite(self, out, what):
        if not np.all(np.isfinite(out)):
            raise FitError(f"{self.label}: {what} is not finite for some customers")
        return out


class ParetoNBDModel(_PurchaseModel):
    """Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

    While active, a customer buys with rate ``lambda`` ~ Gamma(r, alpha); lifetimes are
    exponential with rate ``mu`` ~ Gamma(s, beta).  ``params_``: ``r``, ``alpha``, ``s``,
    ``beta``.  The likelihood uses ``hyp2f1`` (Fader & Hardie 2005 note, eq. 22-24); the gradient
    is numerical (the fit runs on distinct rows, so it stays fast).
    """

    _names = ("r", "alpha", "s", "beta")
    label = "Pareto/NBD"

    @staticmethod
    def _parts(theta, x, tx, T):
        r, alpha, s, beta = theta
        logC = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta)
        B1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        rsx = r + s + x
        if alpha >= beta:
            big, b1 = alpha, s + 1.0
            diff = alpha - beta
        else:
            big, b1 = beta, r + x
            diff = beta - alpha

        def logterm(t):
            return np.log(hyp2f1(rsx, b1, rsx + 1.0, diff / (big + t))) - rsx * np.log(big + t)

        Bt, BT = logterm(tx), logterm(T)
        m = np.maximum(B1, Bt)
        inner = np.exp(B1 - m) + s / rsx * (np.exp(Bt - m) - np.exp(BT - m))
        ll = logC + m + np.log(inner)
        return ll, logC + B1 - ll

    def _loglik_rows(self, theta, x, tx, T):
        with np.errstate(all="ignore"):
            ll, lpa = self._parts(theta, x, tx, T)
        return ll, np.minimum(lpa, 0.0)

    def _fit_compressed(self, x, tx, T, w) -> None:
        total = w.sum()
        self._total_weight = total
        pen = self.penalizer

        def f(u: np.ndarray) -> float:
            theta = np.exp(u)
            with np.errstate(all="ignore"):
                ll, _ = self._parts(theta, x, tx, T)
            val = -(w @ ll) / total + pen * (theta**2).sum()
            return float(val) if np.isfinite(val) else 1e300

        # start from the BG/NBD purchase-rate parameters (same meaning, fast analytic fit)
        try:
            bg = BetaGeoModel()
            bg._fit_compressed(x, tx, T, w)
            r0, a0 = bg.params_["r"], bg.params_["alpha"]
        except FitError:
            r0, a0 = 1.0, max(float(np.average(T, weights=w)), 1e-3)
        self._total_weight = total
        u0 = np.log([r0, a0, 1.0, a0])
        res = _minimise(f, u0, self._names, False, self.label)
        self._fit_result(np.exp(res.x), res, lambda u: _num_grad(f, u, 1e-5) * total)

    def _expected_alive(self, theta, x, T, t):
        r, alpha, s, beta = theta
        L = np.log1p(t / (beta + T))
        k = s - 1.0
        g = L if abs(k) < 1e-10 else -np.expm1(-k * L) / k
        out = (r + x) * (beta + T) / (alpha + T) * g
        if not np.all(np.isfinite(out)):
            raise FitError(f"{self.label}: conditional expectation is not finite")
        return out

    def expected_purchases(self, t) -> np.ndarray:
        r, alpha, s, beta = self._theta()
        t = np.asarray(t, dtype=float)
        L = np.log1p(t / beta)
        k = s - 1.0
        g = L if abs(k) < 1e-10 else -np.expm1(-k * L) / k
        return r * beta / alpha * g


def make_purchase_model(name: str, **kwargs) -> _PurchaseModel:
    """``"bgnbd"`` → :class:`BetaGeoModel`, ``"pareto_nbd"`` → :class:`ParetoNBDModel`."""
    key = name.lower().replace("/", "").replace("-", "_")
    if key in ("bgnbd", "bg_nbd", "betageo"):
        return BetaGeoModel(**kwargs)
    if key in ("pareto_nbd", "paretonbd", "pnbd"):
        return ParetoNBDModel(**kwargs)
    raise ValueError(f"unknown purchase model {name!r}; use one of {', '.join(MODELS)}")


# --------------------------------------------------------------------------- spend model
def frequency_monetary_correlation(data: pd.DataFrame) -> float:
    """Pearson correlation of frequency and average spend among repeat buyers.

    Gamma-Gamma assumes spend per purchase does not depend on how often a customer buys; a
    correlation near 0 (say |r| < 0.3) supports using it.
    """
    rep = data.loc[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    if len(rep) < 3:
        return float("nan")
    return float(np.corrcoef(rep["frequency"], rep["monetary_value"])[0, 1])


class GammaGammaModel(_Model):
    """Gamma-Gamma model of average spend per purchase (Fader, Hardie & Lee 2005; Fader &
    Hardie 2013).

    A purchase of customer *i* is Gamma(p, nu_i); nu_i ~ Gamma(q, gamma).  Fitted on repeat
    buyers (``frequency > 0``, ``monetary_value > 0``).  ``params_``: ``p``, ``q``, ``gamma``;
    ``correlation_`` holds the frequency/monetary correlation check.  ``q`` must exceed 1 for a
    finite expected spend.
    """

    _names = ("p", "q", "gamma")
    label = "Gamma-Gamma"

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, data: pd.DataFrame, weights=None) -> GammaGammaModel:
        for col in ("frequency", "monetary_value"):
            if col not in data.columns:
                raise ValueError(f"the data needs a {col} column (use the customer view)")
        x = data["frequency"].to_numpy(dtype=float)
        m = data["monetary_value"].to_numpy(dtype=float)
        w = _weights(weights, len(x))
        use = np.isfinite(x) & np.isfinite(m) & (x > 0) & (m > 0)
        if use.sum() < 3:
            raise NotEnoughData(
                "Spend per purchase cannot be estimated because fewer than 3 customers have made "
                "a repeat purchase for a positive amount."
            )
        (ux, um), uw, _ = _compress(x[use], m[use], weights=None if w is None else w[use])
        total = uw.sum()
        # terms in x alone are computed once per distinct frequency; per row only log(gamma+mx)
        xv, ix = np.unique(ux, return_inverse=True)
        Wx = np.bincount(ix, weights=uw)
        lxv = np.log(xv)
        lm = np.log(um)
        mx = um * ux
        wx_lm = uw * ux * lm  # sum of w x log m, for the p terms
        sum_wx_lm = wx_lm.sum()
        sum_w_lm = (uw * lm).sum()
        pen = self.penalizer

        def nll(u: np.ndarray) -> tuple[float, np.ndarray]:
            p, q, g = np.exp(u)
            px = p * xv
            lg = math.log(g)
            lgm = np.log(g + mx)
            wlgm = uw * lgm
            ll = (
                Wx @ (gammaln(px + q) - gammaln(px) + px * lxv)
                + total * (q * lg - gammaln(q))
                + p * sum_wx_lm
                - sum_w_lm
                - p * (ux * wlgm).sum()
                - q * wlgm.sum()
            )
            dpq = digamma(px + q)
            inv = uw / (g + mx)
            g_p = Wx @ (xv * (dpq - digamma(px) + lxv)) + sum_wx_lm - (ux * wlgm).sum()
            g_q = Wx @ dpq - total * digamma(q) + total * lg - wlgm.sum()
            g_g = total * q / g - p * (ux * inv).sum() - q * inv.sum()
            theta = np.array([p, q, g])
            f = -ll / total + pen * (theta**2).sum()
            grad = -np.array([g_p, g_q, g_g]) * theta / total + pen * 2 * theta**2
            return f, grad

        u0 = np.log([1.0, 1.0, float(np.average(um, weights=uw))])
        res = _minimise(nll, u0, self._names, True, self.label)
        theta = np.exp(res.x)
        self.params_ = dict(zip(self._names, theta.tolist(), strict=True))
        self.log_likelihood_ = float(-res.fun * total)
        self.n_customers_ = float(total)
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self.correlation_ = frequency_monetary_correlation(data.loc[use])
        self._set_standard_errors(lambda u: nll(u)[1] * total)
        if theta[1] <= 1:
            raise FitError(
                f"{self.label}: q = {theta[1]:.3g} <= 1, so expected spend is infinite "
                "(spend is too heavy-tailed for this model)"
            )
        return self

    def population_mean(self) -> float:
        """Mean spend per purchase across customers: p gamma / (q - 1)."""
        p, q, g = self._theta()
        return float(p * g / (q - 1))

    def conditional_expected_spend(self, data: pd.DataFrame) -> pd.Series:
        """E[spend per purchase | frequency, monetary_value]; the population mean for customers
        without repeat purchases."""
        p, q, g = self._theta()
        x = data["frequency"].to_numpy(dtype=float)
        m = data["monetary_value"].to_numpy(dtype=float)
        rep = (x > 0) & (m > 0) & np.isfinite(m)
        xx, mm = np.where(rep, x, 0.0), np.where(rep, m, 0.0)
        out = np.where(rep, p * (g + xx * mm) / (p * xx + q - 1), self.population_mean())
        return pd.Series(out, index=_index(data), name="expected_spend_per_purchase")


# --------------------------------------------------------------------------- value
def customer_value(
    purchase_model: _PurchaseModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    horizon: float = 52.0,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Per-customer value over ``horizon`` periods (the model's time unit), indexed like data.

    Columns: ``p_alive``, ``expected_purchases`` (in the horizon), ``expected_spend_per_purchase``,
    ``expected_spend`` (undiscounted), ``clv`` (discounted: purchases expected in month *k* are
    valued at the end of month *k* at ``(1 + annual_discount_rate) ** -(k / 12)``, times
    ``margin``), ``potential_value`` (the CLV if the customer is still active = ``clv /
    p_alive``), ``value_at_risk`` (``potential_value - clv``), ``value_rank`` (1 = most
    valuable) and ``value_decile`` (1 = top 10%).
    """
    purchase_model._check_fitted()
    spend_model._check_fitted()
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    if annual_discount_rate < 0:
        raise ValueError("annual_discount_rate must be >= 0")
    x, tx, T = _summary(data)
    month = 365.25 / 12 / unit_days(purchase_model.time_unit)
    n_steps = max(1, int(math.ceil(horizon / month - 1e-9)))
    ends = np.minimum(np.arange(1, n_steps + 1) * month, horizon)
    (ux, utx, uT), _, inv = _compress(x, tx, T)  # everything once per distinct (x, t_x, T)
    grid, inv2 = purchase_model._alive_grid(ux, uT, ends)  # cumulative, given alive
    years = ends * unit_days(purchase_model.time_unit) / 365.25
    disc = (1 + annual_discount_rate) ** -years
    steps = np.diff(np.column_stack([np.zeros(len(grid)), grid]), axis=1)
    alive_value = (steps * disc).sum(axis=1)[inv2][inv]  # discounted purchases given alive
    pa = purchase_model._p_alive_rows(ux, utx, uT)[inv]
    spend = spend_model.conditional_expected_spend(data).to_numpy()
    expected = grid[:, -1][inv2][inv] * pa
    potential = alive_value * spend * margin
    clv = potential * pa
    out = pd.DataFrame(
        {
            "frequency": x,
            "recency": tx,
            "T": T,
            "p_alive": pa,
            "expected_purchases": expected,
            "expected_spend_per_purchase": spend,
            "expected_spend": expected * spend,
            "clv": clv,
            "potential_value": potential,
            "value_at_risk": potential - clv,
        },
        index=_index(data),
    )
    order = np.argsort(-clv)
    rank = np.empty(len(clv), dtype=np.int64)
    rank[order] = np.arange(1, len(clv) + 1)
    out["value_rank"] = rank
    out["value_decile"] = np.minimum((rank - 1) * 10 // max(len(clv), 1) + 1, 10)
    out.attrs.update(horizon=horizon, annual_discount_rate=annual_discount_rate, margin=margin)
    return out


def p_alive_change(model: _PurchaseModel, data: pd.DataFrame, periods: float = 4.0) -> pd.Series:
    """How P(alive) moved over the last ``periods`` (time units) for customers who did not buy
    in that window: P(alive | x, t_x, T) - P(alive | x, t_x, T - periods).  NaN for customers
    who bought in the window or are younger than it (their P(alive) went up or is undefined)."""
    x, tx, T = _summary(data)
    earlier = T - periods
    ok = earlier >= tx
    past = pd.DataFrame(
        {"frequency": x, "recency": tx, "T": np.where(ok, earlier, T)}, index=_index(data)
    )
    now = model.p_alive(data).to_numpy()
    before = model.p_alive(past).to_numpy()
    return pd.Series(np.where(ok, now - before, np.nan), index=_index(data), name="p_alive_change")


# --------------------------------------------------------------------------- holdout
def default_calibration_end(ds: Dataset, as_of=None) -> pd.Timestamp:
    """Half-way between the first purchase date and the as-of date, with the holdout capped at
    52 weeks (gives the classic 39 + 39 weeks on CDNOW)."""
    end = resolve_as_of(ds, as_of)
    tx = ds.customer_transactions()
    start = pd.Timestamp(tx["order_date"].min()).normalize()
    days = (end - start).days
    hold = min((days + 1) // 2, 364)
    return end - pd.Timedelta(days=hold)


def calibration_holdout(
    ds: Dataset,
    calibration_end=None,
    holdout_end=None,
    time_unit: str = "W",
) -> pd.DataFrame:
    """BTYD summary in the calibration period and what happened in the holdout period.

    Customers are those who bought on or before ``calibration_end`` (inclusive).  Columns:
    ``frequency``, ``recency``, ``T``, ``monetary_value`` (calibration, as in the customer view),
    ``first_purchase``, ``frequency_holdout`` (purchase days in the holdout),
    ``monetary_value_holdout`` (mean value of those days, NaN without any), ``duration_holdout``
    (holdout length in ``time_unit``).  ``attrs`` records both dates.

    Raises :class:`~crm_models.dataset.UnsupportedData` when the data cannot support the check:
    no sales, a history too short for the automatic holdout (under twice
    :data:`MIN_HOLDOUT_DAYS`), fewer than :data:`MIN_REPEAT_BUYERS` customers with a repeat
    purchase in the calibration period, or nobody of them buying in the holdout.
    """
    holdout_end = resolve_as_of(ds, holdout_end)
    tx = transactions_as_of(ds, holdout_end)
    if not (tx["amount"].to_numpy() > 0).any():
        raise no_sales("customer value cannot be estimated", holdout_end)
    if calibration_end is None:
        days = (holdout_end - pd.Timestamp(tx["order_date"].min()).normalize()).days
        if days < 2 * MIN_HOLDOUT_DAYS:
            raise UnsupportedData(
                f"The sales history covers only {plural(days + 1, 'day')}, too short to fit the "
                "value model on its first part and check it on the rest; at least "
                f"{2 * MIN_HOLDOUT_DAYS} days are needed."
            )
    calibration_end = (
        default_calibration_end(ds, holdout_end)
        if calibration_end is None
        else pd.Timestamp(calibration_end).normalize()
    )
    if calibration_end >= holdout_end:
        raise ValueError(
            f"calibration end {calibration_end.date()} must be before holdout end "
            f"{holdout_end.date()}"
        )
    tx = tx.loc[tx["amount"].to_numpy() >= 0]
    in_cal = (tx["order_date"] < calibration_end + pd.Timedelta(days=1)).to_numpy()
    cal = tx.loc[in_cal]
    if cal.empty:
        raise ValueError(f"no purchases on or before the calibration end {calibration_end.date()}")
    summary = btyd_summary(
        cal["customer_id"], cal["order_date"], cal["amount"], calibration_end, time_unit
    )
    repeat = int((summary["frequency"] > 0).sum())
    if repeat < MIN_REPEAT_BUYERS:
        raise _too_few_repeat_buyers(repeat, f" by {calibration_end.date()}")
    first = tx.loc[in_cal].groupby("customer_id")["order_date"].min().dt.normalize()
    summary["first_purchase"] = first.reindex(summary.index)
    hold = tx.loc[~in_cal]
    day = hold["order_date"].dt.normalize()
    per_day = (
        pd.DataFrame(
            {
                "customer_id": hold["customer_id"].to_numpy(),
                "day": day.to_numpy(),
                "amount": hold["amount"].to_numpy(),
            }
        )
        .groupby(["customer_id", "day"], sort=False)["amount"]
        .sum()
        .groupby(level=0)
        .agg(["size", "mean"])
    )
    per_day = per_day.reindex(summary.index)
    summary["frequency_holdout"] = per_day["size"].fillna(0).astype(np.int64)
    summary["monetary_value_holdout"] = per_day["mean"]
    if not summary["frequency_holdout"].any():
        raise UnsupportedData(
            f"None of the {len(summary):,} customers who bought by {calibration_end.date()} bought "
            f"again up to {holdout_end.date()}, so the value model cannot be checked against "
            "what they did."
        )
    summary["duration_holdout"] = (holdout_end - calibration_end).days / unit_days(time_unit)
    summary.attrs.update(
        calibration_end=str(calibration_end.date()),
        holdout_end=str(holdout_end.date()),
        time_unit=time_unit,
    )
    return summary


def evaluate_holdout(model: _PurchaseModel, cal: pd.DataFrame) -> dict[str, Any]:
    """Holdout figures of a model fitted on the calibration summary ``cal``.

    Total predicted vs. actual holdout repeat purchases, customer-level MAE/RMSE of the model
    and of the naive baseline (calibration repeat rate ``frequency / T`` × holdout length).
    """
    duration = float(cal["duration_holdout"].iloc[0])
    predicted = model.conditional_expected_purchases(cal, duration).to_numpy()
    actual = cal["frequency_holdout"].to_numpy(dtype=float)
    naive = (cal["frequency"] / cal["T"].where(cal["T"] > 0)).fillna(0).to_numpy() * duration
    return {
        "customers": int(len(cal)),
        "holdout_periods": duration,
        "holdout_predicted_total": float(predicted.sum()),
        "holdout_actual_total": float(actual.sum()),
        "holdout_naive_total": float(naive.sum()),
        "mae": mae(actual, predicted),
        "rmse": rmse(actual, predicted),
        "baseline_mae": mae(actual, naive),
        "baseline_rmse": rmse(actual, naive),
        "predicted": pd.Series(predicted, index=cal.index, name="predicted"),
        "naive": pd.Series(naive, index=cal.index, name="naive"),
    }


def conditional_expectations(
    cal: pd.DataFrame, predicted: pd.Series, naive: pd.Series | None = None, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency (``max_frequency`` and more pooled):
    actual vs. predicted (FHL 2005, Figure 4)."""
    freq = cal["frequency"].clip(upper=max_frequency).astype(int)
    frame = pd.DataFrame(
        {
            "calibration_purchases": freq,
            "actual": cal["frequency_holdout"].astype(float),
            "predicted": predicted.reindex(cal.index),
        }
    )
    if naive is not None:
        frame["naive"] = naive.reindex(cal.index)
    out = frame.groupby("calibration_purchases").agg(
        customers=("actual", "size"), **{c: (c, "mean") for c in frame.columns[1:]}
    )
    labels = [f"{i}+" if i == max_frequency else str(i) for i in out.index]
    out.index = pd.Index(labels, name="calibration repeat purchases")
    return out


def tracking(
    ds: Dataset,
    model: _PurchaseModel,
    cal: pd.DataFrame,
) -> pd.DataFrame:
    """Weekly (time-unit) repeat purchases of the calibration customers, actual vs. predicted,
    from the first purchase in the data to the holdout end (FHL 2005, Figures 2-3).

    Predicted counts are the sum over customers of E[X(t)] since each customer's first
    purchase (computed once per distinct first-purchase day).
    """
    unit = cal.attrs.get("time_unit", "W")
    per = unit_days(unit)
    cal_end = pd.Timestamp(cal.attrs["calibration_end"])
    hold_end = pd.Timestamp(cal.attrs["holdout_end"])
    tx = transactions_as_of(ds, hold_end)
    tx = tx.loc[(tx["amount"].to_numpy() >= 0) & tx["customer_id"].isin(cal.index).to_numpy()]
    days = pd.DataFrame(
        {"c": tx["customer_id"].to_numpy(), "d": tx["order_date"].dt.normalize().to_numpy()}
    ).drop_duplicates()
    first = cal["first_purchase"]
    start = first.min()
    first_d = days["c"].map(first)
    repeat = days.loc[days["d"].to_numpy() > first_d.to_numpy()]
    offset = ((repeat["d"] - start).dt.days / per).astype(int)
    n_bins = int(math.ceil(((hold_end - start).days + 1) / per))
    actual = np.bincount(offset, minlength=n_bins)[:n_bins].astype(float)
    # predicted: E[X(end of bin - first purchase day)] per distinct first day
    fd = first.value_counts()
    fd_days = ((fd.index - start).days).to_numpy(dtype=float)
    ends = np.minimum(np.arange(1, n_bins + 1) * per, (hold_end - start).days + 1)
    # time since first purchase at the end of each bin (purchases counted through end-of-day)
    elapsed = (ends[:, None] - 1 - fd_days[None, :]) / per
    cum = np.where(
        elapsed > 0,
        model.expected_purchases(np.clip(elapsed, 0, None).ravel()).reshape(elapsed.shape),
        0.0,
    )
    cum_pred = (cum * fd.to_numpy(dtype=float)).sum(axis=1)
    out = pd.DataFrame(
        {
            "period_start": start + pd.to_timedelta(np.arange(n_bins) * per, unit="D"),
            "actual": actual,
            "predicted": np.diff(np.concatenate([[0.0], cum_pred])),
        }
    )
    out["actual_cumulative"] = out["actual"].cumsum()
    out["predicted_cumulative"] = cum_pred
    out["holdout"] = out["period_start"] > cal_end
    out.attrs.update(calibration_end=str(cal_end.date()), time_unit=unit)
    return out


def evaluate_spend_holdout(spend_model: GammaGammaModel, cal: pd.DataFrame) -> dict[str, Any]:
    """Gamma-Gamma's expected spend per purchase vs. the actual mean holdout spend, for
    customers who bought in the holdout; baseline: their calibration average (all purchases
    of one-time buyers count as their first-day value is not in the summary, so the baseline
    falls back to the population mean for them)."""
    got = cal.loc[cal["frequency_holdout"] > 0]
    if got.empty:
        return {"customers": 0}
    predicted = spend_model.conditional_expected_spend(got).to_numpy()
    actual = got["monetary_value_holdout"].to_numpy(dtype=float)
    naive = np.where(
        got["frequency"] > 0, got["monetary_value"].to_numpy(), spend_model.population_mean()
    )
    return {
        "customers": int(len(got)),
        "spend_mae": mae(actual, predicted),
        "spend_baseline_mae": mae(actual, naive),
        "spend_predicted_mean": float(predicted.mean()),
        "spend_actual_mean": float(actual.mean()),
    }


def compare_models(cal: pd.DataFrame, models=MODELS, time_unit: str = "W") -> pd.DataFrame:
    """Fit each purchase model on ``cal`` and compare log-likelihood and holdout error."""
    rows = {}
    for name in models:
        model = make_purchase_model(name, time_unit=time_unit).fit(cal)
        ev = evaluate_holdout(model, cal)
        rows[model.label] = {
            "log_likelihood": model.log_likelihood_,
            "parameters": len(model.params_),
            "holdout_predicted_total": ev["holdout_predicted_total"],
            "holdout_actual_total": ev["holdout_actual_total"],
            "total_error": ev["holdout_predicted_total"] / ev["holdout_actual_total"] - 1
            if ev["holdout_actual_total"]
            else float("nan"),
            "mae": ev["mae"],
            "rmse": ev["rmse"],
            "baseline_mae": ev["baseline_mae"],
            "baseline_rmse": ev["baseline_rmse"],
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out


@dataclass
class ValidationResult:
    """What :func:`fit_and_validate` returns: the fitted model, the summary and the figures."""

    model: _PurchaseModel
    calibration: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.figures)


def fit_and_validate(
    ds: Dataset,
    calibration_end=None,
    holdout_end=None,
    model: str = "bgnbd",
    time_unit: str = "W",
) -> ValidationResult:
    """Fit a purchase model on the calibration period and score it on the holdout (the CLI's
    ``clv fit``)."""
    cal = calibration_holdout(ds, calibration_end, holdout_end, time_unit)
    fitted = make_purchase_model(model, time_unit=time_unit).fit(cal)
    ev = evaluate_holdout(fitted, cal)
    figures = {
        "dataset": ds.name,
        "model": model,
        "time_unit": time_unit,
        "calibration_end": cal.attrs["calibration_end"],
        "holdout_end": cal.attrs["holdout_end"],
        "customers": int(len(cal)),
        "params": fitted.params_,
        "standard_errors": fitted.standard_errors_,
        "log_likelihood": fitted.log_likelihood_,
        **{k: v for k, v in ev.items() if k not in ("predicted", "naive", "customers")},
    }
    return ValidationResult(fitted, cal, figures)

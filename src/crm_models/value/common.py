"""Shared parts of the value models: errors, BTYD input checks, compression, optimiser, base."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from crm_models.data.conditions import few, no_sales
from crm_models.data.dataset import UnsupportedData

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")  # a BTYD summary
MIN_REPEAT_BUYERS = 20  # purchase models need this many customers with a repeat purchase
_LOG_BOUND = 15.0  # |log parameter| beyond this (3e-7, 3e6) is a degenerate fit (0 or infinity)
# a fitted parameter (scale parameters relative to the data's scale) outside this range has
# collapsed or exploded: the fit is kept but flagged, and the parameter gets no standard error
_BOUND_LOW, _BOUND_HIGH = 1e-4, 1e4
_EIG_TOL = 1e-9  # Hessian eigenvalues below this share of the largest count as flat


class FitError(ValueError):
    """A model could not be fitted, or the fit is degenerate (the message says why)."""


class NotEnoughData(FitError, UnsupportedData):
    """The data cannot support the model: no buyers, too few repeat buyers, or a history that
    does not pin the parameters down (a degenerate fit).  The message is one plain sentence;
    ``detail`` keeps the technical reason where there is one.

    A :class:`FitError` (callers that fall back to another model on a failed fit still do) and
    an :class:`~crm_models.data.dataset.UnsupportedData`.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


_DEGENERATE_MEANING = {
    "Gamma-Gamma": "how much each customer spends per purchase",
}


# --------------------------------------------------------------------------- input handling
def buyers(view: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The rows of a customer view with a BTYD summary (customers who have bought).

    ``columns`` keeps only those columns (the value models need :data:`SUMMARY_COLUMNS`): the
    rows are copied, and a view of 10M customers copied whole held 3 GB more than its summary.

    Raises :class:`~crm_models.data.dataset.UnsupportedData` when nobody has bought anything for a
    positive amount (the transactions hold only returns or zero amounts): there is no customer
    value to model.
    """
    bought = view["frequency"].notna() & view["T"].notna()
    if not bought.any() or (
        "gross_sales" in view.columns and not (view["gross_sales"].where(bought) > 0).any()
    ):
        raise no_sales("customer value cannot be estimated", view.attrs.get("as_of"))
    out = view.loc[bought] if columns is None else view.loc[bought, list(columns)]
    out.attrs = dict(view.attrs)
    return out


def too_few_repeat_buyers(n: float, when: str = "") -> NotEnoughData:
    """The error for fewer than :data:`MIN_REPEAT_BUYERS` repeat buyers (``n`` of them)."""
    return few(
        int(n),
        f"customer made a repeat purchase{when}",
        f"customers made a repeat purchase{when}",
        "estimate how often customers buy and when they stop",
        MIN_REPEAT_BUYERS,
        cls=NotEnoughData,
    )


def btyd_arrays(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def customer_index(data: pd.DataFrame) -> pd.Index:
    """The index of ``data``, named ``customer_id`` when it has no name."""
    return data.index if data.index.name else data.index.rename("customer_id")


def compress(*columns: np.ndarray, weights: np.ndarray | None = None):
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


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an array (``np.unique`` without an inverse), from one sort:
    NumPy 2.4's ``np.unique`` takes a hash path there that is about 100 times slower on
    millions of integers (17 s against 0.15 s for 9 million int64)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def check_weights(weights, n: int) -> np.ndarray | None:
    """Row weights as floats (None stays None); ValueError unless finite and non-negative."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be one finite, non-negative number per row")
    return w


# --------------------------------------------------------------------------- optimisation
# The likelihoods' array work (hyp2f1, logs) releases the GIL: a numerical gradient's points
# are evaluated this many at a time, for the same numbers (Pareto/NBD fits about 1.5x faster)
_GRADIENT_THREADS = 2


def _context_map(pool: ThreadPoolExecutor) -> Callable[[Callable, Iterable], list]:
    """``pool.map`` whose calls run in a copy of the caller's context, so the caller's
    ``np.errstate`` holds in the threads too; results in order."""

    def run_all(fn: Callable, items: Iterable) -> list:
        futures = [pool.submit(contextvars.copy_context().run, fn, x) for x in items]
        return [f.result() for f in futures]

    return run_all


def minimise(fun, x0: np.ndarray, names: tuple[str, ...], jac: bool, label: str):
    """Minimise ``fun`` over log-parameters with L-BFGS-B; FitError on failure/degeneracy."""
    bounds = [(-_LOG_BOUND - 5, _LOG_BOUND + 5)] * len(x0)
    options: dict[str, Any] = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20}
    # one BLAS thread: the dot products are short, and threads fighting over busy cores made
    # fits 10-30x slower on a loaded machine
    with (
        np.errstate(all="ignore"),
        threadpool_limits(1, user_api="blas"),
        ThreadPoolExecutor(_GRADIENT_THREADS) as pool,
    ):
        if not jac:  # the numerical gradient's points two at a time (the same points)
            options["workers"] = _context_map(pool)
        res = optimize.minimize(fun, x0, jac=jac, method="L-BFGS-B", bounds=bounds, options=options)
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


def softplus_sigmoid(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def sigmoid(D: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-D), stable: the second half of :func:`softplus_sigmoid` (same numbers), for
    P(alive) without the log."""
    e = np.abs(D)
    np.negative(e, out=e)
    np.exp(e, out=e)
    sig = np.where(D >= 0, 1.0, e)
    sig /= e + 1.0
    return sig


def _hessian(grad_fn, u: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference Hessian of a function given its gradient."""
    k = len(u)
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad_fn(u + e) - grad_fn(u - e)) / (2 * h)
    return (H + H.T) / 2


def num_grad(fn, u: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function (``fn`` evaluated two points at a time:
    it must not change shared state)."""
    steps = np.eye(len(u)) * h
    points = [p for e in steps for p in (u + e, u - e)]
    with ThreadPoolExecutor(_GRADIENT_THREADS) as pool:
        values = np.array(_context_map(pool)(fn, points), dtype=float)
    return (values[0::2] - values[1::2]) / (2 * h)


class Model(BaseEstimator):
    """Shared plumbing: parameter table with standard errors, repr.

    A scikit-learn estimator, so ``clone``, ``get_params`` and ``set_params`` work; it takes
    customer-view frames, not feature matrices, so scikit-learn's ``check_estimator`` does not
    apply.  Once fitted, ``repr`` shows the fitted parameters (what a notebook reader needs);
    before, the hyper-parameters that differ from the defaults.
    """

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
        self.__dict__.pop("_diagnostics", None)

    @property
    def standard_errors_(self) -> dict[str, float | None]:
        """Standard errors from the observed information (Hessian in log space, delta method);
        ``None`` where the data do not identify the parameter (see :attr:`diagnostics_`)."""
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
        """Standard errors and the fit diagnostics from the Hessian of the negative
        log-likelihood in log space.  A quantity the data do not pin down gets ``None``, never 0:
        a parameter at a bound, one loading on a non-positive (or near-zero) curvature direction
        of a Hessian that is not positive definite, or one with a non-positive variance."""
        u = np.log(self._theta())
        at_bound = self._at_bound()
        with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
            H = _hessian(neg_ll_grad, u)
            finite = bool(np.all(np.isfinite(H)))
            if finite:
                eig, vec = np.linalg.eigh(H)
                weak = eig <= _EIG_TOL * max(float(np.max(np.abs(eig))), 1e-300)
                shaky = (np.abs(vec[:, weak]) > 0.1).any(axis=1)
                var = np.diag(np.linalg.pinv(H))
            else:
                weak = np.ones(len(u), dtype=bool)
                shaky = weak
                var = np.full(len(u), np.nan)
        pd_hessian = finite and not weak.any()
        se = np.sqrt(np.where(var > 0, var, np.nan)) * np.exp(u)
        unknown = ~np.isfinite(se) | shaky | np.isin(self._names, at_bound)
        self._standard_errors = {
            n: None if bad else float(v) for n, v, bad in zip(self._names, se, unknown, strict=True)
        }
        self._diagnostics = self._describe_fit(at_bound, pd_hessian, unknown)

    def _at_bound(self) -> list[str]:
        """Parameters that collapsed to 0 or ran off to infinity: shape parameters outside
        [1e-4, 1e4], scale parameters outside 1e-4..1e4 times the data's own scale."""
        out = []
        for name, value in zip(self._names, self._theta(), strict=True):
            ref = getattr(self, "_scale_ref", {}).get(name, 1.0)
            if not _BOUND_LOW <= value / ref <= _BOUND_HIGH:
                out.append(name)
        return out

    def _describe_fit(self, at_bound: list[str], pd_hessian: bool, unknown) -> dict[str, Any]:
        """The fit diagnostics as a dict, with the warnings as plain sentences."""
        warnings = []
        if not getattr(self, "converged_", True):
            warnings.append(
                f"The {self.label} optimiser stopped before it converged "
                f"({getattr(self, '_message', 'no message')}); the estimates may be off."
            )
        if at_bound:
            values = ", ".join(f"{n} = {self.params_[n]:.3g}" for n in at_bound)
            warnings.append(
                f"{self.label}: {values} collapsed to 0 or ran off to infinity, so the data do "
                f"not pin {'it' if len(at_bound) == 1 else 'them'} down"
                + (
                    " (the drop-out process has collapsed: the model sees almost no customers "
                    "leaving, so P(alive) is close to 1 for everybody)."
                    if set(at_bound) & {"a", "b", "s", "beta"}
                    else "."
                )
            )
        if not pd_hessian:
            warnings.append(
                f"{self.label}: the likelihood is flat or curved the wrong way in some direction "
                "(Hessian not positive definite), so some parameters are not identified."
            )
        names = [n for n, bad in zip(self._names, unknown, strict=True) if bad]
        if names:
            warnings.append(
                f"{self.label}: no standard error for {', '.join(names)} (not identified by the "
                "data); treat the value as unreliable."
            )
        return {
            "converged": bool(getattr(self, "converged_", True)),
            "at_bound": at_bound,
            "hessian_positive_definite": bool(pd_hessian),
            "degenerate": bool(at_bound or not pd_hessian or names),
            "warnings": warnings,
        }

    @property
    def diagnostics_(self) -> dict[str, Any]:
        """Fit diagnostics: ``converged``, ``at_bound`` (parameter names), ``hessian_positive_
        definite``, ``degenerate`` (any of the problems) and ``warnings`` (plain sentences)."""
        if "_diagnostics" not in self.__dict__:
            self._compute_standard_errors(self._se_grad)
        return self._diagnostics

    def summary(self) -> pd.DataFrame:
        """Parameters with standard errors and 95% intervals (log-normal, so always > 0)."""
        theta = self._theta()
        se = np.array([self.standard_errors_[n] for n in self._names], dtype=float)
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
        return super().__repr__()

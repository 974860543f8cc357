"""The shared API of the purchase models (BG/NBD, Pareto/NBD): fit, P(alive), expected purchases."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_models.value.common import (
    MIN_REPEAT_BUYERS,
    FitError,
    Model,
    NotEnoughData,
    btyd_arrays,
    check_weights,
    compress,
    customer_index,
    too_few_repeat_buyers,
)

_FITTED: OrderedDict[tuple, PurchaseModel] = OrderedDict()  # recent fits, by model and data
_FITTED_KEEP = 8


class PurchaseModel(Model):
    """Shared API of the BG/NBD and Pareto/NBD models."""

    def __init__(self, penalizer: float = 0.0, time_unit: str = "W", prior_sd: float | None = None):
        self.penalizer = penalizer
        self.time_unit = time_unit
        self.prior_sd = prior_sd

    def _log_prior_weight(self, total: float) -> float:
        """Weight of the weak normal prior on the log-parameters (mean 0, sd ``prior_sd``) in the
        mean negative log-likelihood: 1 / (2 sd^2 n); 0 without a prior."""
        return 0.0 if not self.prior_sd else 1.0 / (2.0 * self.prior_sd**2 * total)

    def fit(self, data: pd.DataFrame, weights=None) -> PurchaseModel:
        """Fit on a frame with ``frequency``, ``recency``, ``T`` (one row per customer, or
        distinct rows with ``weights`` = how many customers share them)."""
        x, tx, T = btyd_arrays(data)
        w = check_weights(weights, len(x))
        if len(x) == 0:
            raise NotEnoughData(
                "No customer has bought anything yet, so future purchases cannot be predicted."
            )
        (ux, utx, uT), uw, _ = compress(x, tx, T, weights=w)
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
            raise too_few_repeat_buyers(repeat)
        key = self._fit_key(ux, utx, uT, uw)
        if key in _FITTED:  # the same model on the same histories: the same fit, done already
            settings = self.get_params()
            done = _FITTED[key].__dict__
            self.__dict__.update({k: v for k, v in done.items() if k not in settings})
            return self
        mean_T = float(np.average(uT, weights=uw))
        self._scale_ref = {"alpha": mean_T, "beta": mean_T}  # rate scales, in units of T
        self._fit_compressed(ux, utx, uT, uw)
        self.n_customers_ = float(total)
        self.n_unique_ = int(len(ux))
        record = object.__new__(type(self))  # not copy.copy: that computes standard errors
        record.__dict__.update(self.__dict__)  # refitting this object changes not the record
        _FITTED[key] = record
        while len(_FITTED) > _FITTED_KEEP:
            _FITTED.popitem(last=False)
        return self

    def _fit_key(self, *arrays: np.ndarray) -> tuple:
        """What decides a fit: the model, its settings and the distinct histories with their
        weights.  A report fits the same model on the same calibration period several times
        (the model choice, the holdout check, the comparison); the fit is deterministic, so
        it runs once per process (at 1M customers a Pareto/NBD fit takes several seconds)."""
        digest = hashlib.blake2b(digest_size=20)
        for values in arrays:
            digest.update(np.ascontiguousarray(values, dtype=np.float64).view(np.uint8))
            digest.update(b"|")
        return type(self), repr(sorted(self.get_params().items())), digest.hexdigest()

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
        x, tx, T = btyd_arrays(data)
        ll, _ = self._loglik_rows(self._theta(), x, tx, T)
        return pd.Series(ll, index=customer_index(data), name="log_likelihood")

    def p_alive(self, data: pd.DataFrame) -> pd.Series:
        """P(the customer is still active at T | frequency, recency, T)."""
        x, tx, T = btyd_arrays(data)
        (ux, utx, uT), _, inv = compress(x, tx, T)
        return pd.Series(
            self._p_alive_rows(ux, utx, uT)[inv], index=customer_index(data), name="p_alive"
        )

    def _p_alive_rows(self, x, tx, T) -> np.ndarray:
        _, lpa = self._loglik_rows(self._theta(), x, tx, T)
        return np.exp(lpa)

    def _p_alive_prepared(self, x, tx, T):
        """P(alive) of the rows (x, t_x, T) as a function of the parameters ``theta`` (models
        may prepare what depends on the data alone once; the intervals call it per draw)."""
        return lambda theta: np.exp(self._loglik_rows(theta, x, tx, T)[1])

    def _alive_grid(self, x, T, horizons) -> tuple[np.ndarray, np.ndarray]:
        """E[purchases in (T, T+h] | alive] for every horizon h (rows × horizons), computed
        once per distinct (x, T)."""
        (ux, uT), _, inv = compress(x, T)
        theta = self._theta()
        cols = [self._expected_alive(theta, ux, uT, float(h)) for h in np.atleast_1d(horizons)]
        return np.column_stack(cols), inv

    def conditional_expected_purchases(self, data: pd.DataFrame, t: float) -> pd.Series:
        """E[repeat purchases in the next ``t`` periods | frequency, recency, T]."""
        out = self.expected_purchases_by_horizon(data, [t]).iloc[:, 0]
        return out.rename(f"expected_purchases_{t:g}")

    def expected_purchases_by_horizon(self, data: pd.DataFrame, horizons) -> pd.DataFrame:
        """:meth:`conditional_expected_purchases` for each of ``horizons`` (one column per
        horizon): the distinct histories and P(alive) are found once for all of them (a
        forecast asks for every period's end)."""
        x, tx, T = btyd_arrays(data)
        grid, inv = self._alive_grid(x, T, horizons)
        pa = self.p_alive(data).to_numpy()
        return pd.DataFrame(
            grid[inv] * pa[:, None], index=customer_index(data), columns=list(horizons)
        )

    def total_expected_purchases(
        self, data: pd.DataFrame, horizons, weights: Sequence[np.ndarray | None] = (None,)
    ) -> np.ndarray:
        """:meth:`expected_purchases_by_horizon` summed over the customers, each customer's
        times each of ``weights`` (None: one): one row per weight, one column per horizon.  A
        business total (expected purchases, their value with the expected spend as weight)
        without a customers x horizons matrix: the distinct histories' grid times their
        customers' summed P(alive) and weights (10M customers x 13 weeks: 1 GB per matrix)."""
        x, tx, T = btyd_arrays(data)
        grid, inv = self._alive_grid(x, T, horizons)
        pa = self.p_alive(data).to_numpy()
        sums = [
            np.bincount(inv, weights=pa if w is None else pa * w, minlength=len(grid))
            for w in weights
        ]
        return np.vstack(sums) @ grid

    def _fit_result(self, theta: np.ndarray, res, neg_ll_grad) -> None:
        self.params_ = dict(zip(self._names, theta.tolist(), strict=True))
        self.log_likelihood_ = float(-res.fun * self._total_weight)
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self._message = str(res.message)
        self._set_standard_errors(neg_ll_grad)

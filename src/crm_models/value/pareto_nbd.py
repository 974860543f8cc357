"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987) with its own likelihood."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, hyp2f1

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, compress, minimise, num_grad
from crm_models.value.purchase import PurchaseModel


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

    While active, a customer buys with rate ``lambda`` ~ Gamma(r, alpha); lifetimes are
    exponential with rate ``mu`` ~ Gamma(s, beta).  ``params_``: ``r``, ``alpha``, ``s``,
    ``beta``.  The likelihood uses ``hyp2f1`` (Fader & Hardie 2005 note, eq. 22-24); the gradient
    is numerical (the fit runs on distinct rows, so it stays fast).
    """

    _names = ("r", "alpha", "s", "beta")
    label = "Pareto/NBD"

    @staticmethod
    def _parts(theta, x, tx, T, pairs=None):
        """Per-row log-likelihood and log P(alive).  ``pairs`` (from :meth:`_time_pairs`): the
        distinct (x, t) over t_x and T with the inverses of both, so the ``hyp2f1`` terms, which
        depend on x and one time only, are evaluated once per distinct pair (same numbers)."""
        r, alpha, s, beta = theta
        logC = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta)
        B1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        rsx = r + s + x
        if alpha >= beta:
            big, diff = alpha, alpha - beta
        else:
            big, diff = beta, beta - alpha

        def logterm(x, t):
            rsx = r + s + x
            b1 = s + 1.0 if alpha >= beta else r + x
            return np.log(hyp2f1(rsx, b1, rsx + 1.0, diff / (big + t))) - rsx * np.log(big + t)

        if pairs is None:
            Bt, BT = logterm(x, tx), logterm(x, T)
        else:
            (px, pt), at_tx, at_T = pairs
            terms = logterm(px, pt)
            Bt, BT = terms[at_tx], terms[at_T]
        m = np.maximum(B1, Bt)
        inner = np.exp(B1 - m) + s / rsx * (np.exp(Bt - m) - np.exp(BT - m))
        ll = logC + m + np.log(inner)
        return ll, logC + B1 - ll

    @staticmethod
    def _time_pairs(x, tx, T):
        """The distinct (x, t) among the rows' (x, t_x) and (x, T), and where each row's two
        pairs are (the ``pairs`` argument of :meth:`_parts`)."""
        n = len(x)
        uniq, _, inverse = compress(np.concatenate([x, x]), np.concatenate([tx, T]))
        return uniq, inverse[:n], inverse[n:]

    def _loglik_rows(self, theta, x, tx, T, pairs=None):
        with np.errstate(all="ignore"):
            ll, lpa = self._parts(theta, x, tx, T, pairs or self._time_pairs(x, tx, T))
        return ll, np.minimum(lpa, 0.0)

    def _p_alive_prepared(self, x, tx, T):
        pairs = self._time_pairs(x, tx, T)
        return lambda theta: np.exp(self._loglik_rows(theta, x, tx, T, pairs)[1])

    def _fit_compressed(self, x, tx, T, w) -> None:
        total = w.sum()
        self._total_weight = total
        pen = self.penalizer
        prior = self._log_prior_weight(total)
        pairs = self._time_pairs(x, tx, T)

        def f(u: np.ndarray) -> float:
            theta = np.exp(u)
            with np.errstate(all="ignore"):
                ll, _ = self._parts(theta, x, tx, T, pairs)
            val = -(w @ ll) / total + pen * (theta**2).sum() + prior * (u**2).sum()
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
        res = minimise(f, u0, self._names, False, self.label)
        self._fit_result(np.exp(res.x), res, lambda u: num_grad(f, u, 1e-5) * total)

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

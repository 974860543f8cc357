"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from crm_models.value.common import (
    FitError,
    Model,
    NotEnoughData,
    check_weights,
    compress,
    customer_index,
    minimise,
)


def frequency_monetary_correlation(data: pd.DataFrame) -> float:
    """Pearson correlation of frequency and average spend among repeat buyers.

    Gamma-Gamma assumes spend per purchase does not depend on how often a customer buys; a
    correlation near 0 (say |r| < 0.3) supports using it.
    """
    x = data["frequency"].to_numpy(dtype=float)
    m = data["monetary_value"].to_numpy(dtype=float)
    rep = (x > 0) & (m > 0)
    return _correlation(x[rep], m[rep])


def _correlation(x: np.ndarray, m: np.ndarray) -> float:
    """Pearson correlation of two arrays; NaN below 3 points."""
    if len(x) < 3:
        return float("nan")
    return float(np.corrcoef(x, m)[0, 1])


class GammaGammaModel(Model):
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
        w = check_weights(weights, len(x))
        use = np.isfinite(x) & np.isfinite(m) & (x > 0) & (m > 0)
        if use.sum() < 3:
            raise NotEnoughData(
                "Spend per purchase cannot be estimated because fewer than 3 customers have made "
                "a repeat purchase for a positive amount."
            )
        (ux, um), uw, _ = compress(x[use], m[use], weights=None if w is None else w[use])
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
        res = minimise(nll, u0, self._names, True, self.label)
        theta = np.exp(res.x)
        self.params_ = dict(zip(self._names, theta.tolist(), strict=True))
        self.log_likelihood_ = float(-res.fun * total)
        self.n_customers_ = float(total)
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self._message = str(res.message)
        self._scale_ref = {"gamma": float(np.average(um, weights=uw))}
        # on the arrays: data.loc[use] would copy every column of a 10M-customer view
        self.correlation_ = _correlation(x[use], m[use])
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
        x = data["frequency"].to_numpy(dtype=float)
        m = data["monetary_value"].to_numpy(dtype=float)
        out = self._expected_spend_rows(x, m)
        return pd.Series(out, index=customer_index(data), name="expected_spend_per_purchase")

    def _expected_spend_rows(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """:meth:`conditional_expected_spend` on arrays (no frame per call: the intervals ask
        for it once per parameter draw)."""
        p, q, g = self._theta()
        rep = (x > 0) & (m > 0) & np.isfinite(m)
        xx, mm = np.where(rep, x, 0.0), np.where(rep, m, 0.0)
        return np.where(rep, p * (g + xx * mm) / (p * xx + q - 1), self.population_mean())

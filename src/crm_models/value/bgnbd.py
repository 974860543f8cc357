"""The BG/NBD purchase model (Fader, Hardie & Lee 2005): own likelihood, analytic gradient."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from crm_models.value.common import FitError, minimise, sigmoid, softplus_sigmoid
from crm_models.value.purchase import PurchaseModel


class BetaGeoModel(PurchaseModel):
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
        res = minimise(nll, u0, self._names, True, self.label)
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
        prior = self._log_prior_weight(total)

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
                soft, sig = softplus_sigmoid(D)
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
            if prior:
                f += prior * (u**2).sum()
                g += prior * 2 * u
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
        return self._p_alive_prepared(x, tx, T)(self._theta())

    def _p_alive_prepared(self, x, tx, T):
        """P(alive) of the rows as a function of the parameters, with the logs taken once per
        distinct x, t_x and T and gathered (the same numbers as one log per row, a fraction of
        the time when it is called once per parameter draw)."""
        xs, ix = np.unique(x, return_inverse=True)
        ts, it = np.unique(tx, return_inverse=True)
        Ts, iT = np.unique(T, return_inverse=True)
        repeat = x > 0

        def p_alive(theta) -> np.ndarray:
            r, alpha, a, b = theta
            with np.errstate(divide="ignore", invalid="ignore"):
                head = np.log(a) - np.log(np.maximum(b + xs - 1, 1e-300))
                gap = np.log(alpha + Ts)[iT] - np.log(alpha + ts)[it]
                D = np.where(repeat, head[ix] + (r + x) * gap, -np.inf)
            return sigmoid(-D)

        return p_alive

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

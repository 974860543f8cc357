"""Goodness of fit of the purchase models on real data, and the fallback rule for degenerate fits.

Goodness of fit (all on the calibration/holdout split of :func:`calibration_holdout`):

* :func:`frequency_histogram` - the chi-square test of the calibration frequency histogram
  (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2),
  Figure 1 and the accompanying test): expected vs observed number of customers with 0, 1, ...,
  7+ repeat purchases, bins with an expected count under 5 pooled with their neighbour,
  df = bins - 1 - parameters;
* :func:`decile_calibration` - customers in ten equal groups by predicted P(any purchase in the
  holdout); observed share who bought, against the model and the naive forecast (each customer
  keeps buying at the calibration rate x / T, Poisson: 1 - exp(-x / T × holdout)).  It shows
  where the model under- or over-predicts (on CDNOW the least active decile: 0.13 predicted vs
  0.20 observed).

Fallback (:func:`fit_with_fallback`), a rule fixed in advance.  A fit is *degenerate* when it
raises (a parameter beyond 3e-7..3e6, a non-finite likelihood) or its diagnostics flag a
parameter at a bound (outside 1e-4..1e4; scales relative to the mean customer age T), a Hessian
that is not positive definite or a parameter without a standard error.  The attempts, in order:

1. the requested model in the requested time unit;
2. the other purchase model (BG/NBD <-> Pareto/NBD), same unit;
3. the requested model in days (when the unit is weeks);
4. the requested model, requested unit, with a weak normal prior on the log-parameters
   (mean 0, sd :data:`PRIOR_SD`; a maximum a-posteriori fit);
5. the other model with the same prior.

The first attempt that is not degenerate is used, and ``fallback`` says in words which one and
what its numbers can and cannot be used for.  When none works,
:class:`~crm_models.data.dataset.UnsupportedData` suggests a later calibration end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import betaln, gammainc, gammaln, roots_genlaguerre

from crm_models.data.dataset import UnsupportedData
from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, btyd_arrays, compress
from crm_models.value.pareto_nbd import ParetoNBDModel
from crm_models.value.purchase import PurchaseModel

PRIOR_SD = 2.0  # sd of the weak prior on log-parameters in the last fallback steps
MAX_REPEAT = 7  # the histogram's last bin is "7 or more" (FHL 2005)
_NODES = 48  # Gauss-Laguerre nodes per gamma mixing distribution (Pareto/NBD)


# --------------------------------------------------------------------------- count probabilities
def _gamma_nodes(shape: float, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (divided by ``rate``: shape nodes × len(rate)) and weights of Gauss-generalised-
    Laguerre quadrature for E[f(G)], G ~ Gamma(shape, rate)."""
    z, w = roots_genlaguerre(_NODES, shape - 1.0)
    return z[:, None] / np.asarray(rate)[None, :], w / np.exp(gammaln(shape))


def count_probabilities(model: PurchaseModel, T: np.ndarray, k: int = MAX_REPEAT) -> np.ndarray:
    """P(X(T) = x) for x = 0..k-1 and P(X(T) >= k) (last column): repeat purchases of a new
    customer over their own calibration age ``T`` (rows).

    BG/NBD: FHL 2005 equation (8).  Pareto/NBD: the count given (lambda, mu) (Fader & Hardie
    2005 note, eq. 14 before mixing) averaged over the two gamma distributions by quadrature.
    """
    T = np.asarray(T, dtype=float)
    x = np.arange(k, dtype=float)
    if isinstance(model, BetaGeoModel):
        r, alpha, a, b = model._theta()
        t, xx = T[:, None], x[None, :]
        lp = np.log(alpha / (alpha + t))
        with np.errstate(divide="ignore", invalid="ignore"):  # T = 0: only x = 0 possible
            lq = np.where(xx > 0, xx * np.log(t / (alpha + t)), 0.0)
        log_nb = gammaln(r + xx) - gammaln(r) - gammaln(xx + 1) + r * lp + lq
        first = np.exp(betaln(a, b + xx) - betaln(a, b) + log_nb)
        # sum_{j<x} of the negative binomial terms: cumulative sum shifted by one
        cum = np.cumsum(np.exp(log_nb), axis=1) - np.exp(log_nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            second = np.exp(betaln(a + 1, b + xx - 1) - betaln(a, b)) * (1 - cum)
        probs = first + np.where(xx > 0, np.nan_to_num(second), 0.0)
    elif isinstance(model, ParetoNBDModel):
        r, alpha, s, beta = model._theta()
        lam, wl = _gamma_nodes(r, np.array([alpha]))
        mu, wm = _gamma_nodes(s, np.array([beta]))
        lam, mu = lam[:, 0][:, None, None, None], mu[:, 0][None, :, None, None]
        t, xx = T[None, None, :, None], x[None, None, None, :]
        tot = lam + mu
        with np.errstate(all="ignore"):
            lx = np.where(xx > 0, xx * np.log(lam * t), 0.0)  # 0^0 = 1 when T = 0
            alive = np.exp(lx - lam * t - gammaln(xx + 1) - mu * t)
            dead = mu / tot * np.exp(xx * (np.log(lam) - np.log(tot))) * gammainc(xx + 1, tot * t)
        joint = np.nan_to_num(alive + dead)
        probs = np.einsum("i,j,ijtx->tx", wl, wm, joint)
    else:  # pragma: no cover - only the two purchase models exist
        raise TypeError(f"no count probabilities for {type(model).__name__}")
    rest = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 0.0, None)
    return np.hstack([probs, rest])


def p_any_purchase(model: PurchaseModel, data: pd.DataFrame, t: float) -> pd.Series:
    """P(at least one repeat purchase in the next ``t`` periods | frequency, recency, T):
    P(alive) × (1 - P(no purchase in t | alive)).

    BG/NBD: given alive, lambda ~ Gamma(r + x, alpha + T) and drop-out happens only after a
    purchase, so P(none | alive) = ((alpha + T) / (alpha + T + t))^(r + x).  Pareto/NBD: with
    mu ~ Gamma(s, beta + T) too, P(none | alive, lambda, mu) = (mu + lambda e^{-(lambda+mu) t})
    / (lambda + mu), averaged by quadrature.
    """
    x, tx, T = btyd_arrays(data)
    (ux, uT), _, inv = compress(x, T)
    if isinstance(model, BetaGeoModel):
        r, alpha, _, _ = model._theta()
        none = np.exp((r + ux) * (np.log(alpha + uT) - np.log(alpha + uT + t)))
    else:
        r, alpha, s, beta = model._theta()
        none = np.empty(len(ux))
        mu, wm = _gamma_nodes(s, beta + uT)  # nodes × rows
        for xv in np.unique(ux):  # one quadrature rule per distinct frequency (few)
            rows = ux == xv
            lam, wl = _gamma_nodes(r + xv, alpha + uT[rows])
            L, M = lam[:, None, :], mu[None, :, rows]
            f = (M + L * np.exp(-(L + M) * t)) / (L + M)
            none[rows] = np.einsum("i,j,ijn->n", wl, wm, f)
    pa = model.p_alive(data).to_numpy()
    return pd.Series(pa * (1 - np.clip(none[inv], 0, 1)), index=data.index, name="p_any_purchase")


# --------------------------------------------------------------------------- tests of fit
def frequency_histogram(model: PurchaseModel, cal: pd.DataFrame) -> dict[str, Any]:
    """Chi-square test of the calibration frequency histogram (FHL 2005): observed and expected
    numbers of customers with 0..6 and 7+ repeat purchases; adjacent bins pooled from the top
    until every expected count is at least 5; df = bins - 1 - parameters.

    Returns ``chi_square``, ``df``, ``p_value`` (None when df < 1) and ``histogram``
    (list of {repeat, observed, expected}, before pooling).
    """
    x, _, T = btyd_arrays(cal)
    uT, inv = np.unique(T, return_inverse=True)
    probs = count_probabilities(model, uT)
    expected = (np.bincount(inv, minlength=len(uT))[:, None] * probs).sum(axis=0)
    observed = np.bincount(np.minimum(x, MAX_REPEAT).astype(int), minlength=MAX_REPEAT + 1)
    labels = [str(i) for i in range(MAX_REPEAT)] + [f"{MAX_REPEAT}+"]
    # pool from the top (the sparse tail) into the previous bin until expected >= 5
    obs_p, exp_p = list(observed.astype(float)), list(expected)
    i = len(exp_p) - 1
    while i > 0:
        if exp_p[i] < 5:
            obs_p[i - 1] += obs_p.pop(i)
            exp_p[i - 1] += exp_p.pop(i)
        i -= 1
    obs_a, exp_a = np.array(obs_p), np.array(exp_p)
    chi2 = float(((obs_a - exp_a) ** 2 / exp_a).sum())
    df = len(exp_a) - 1 - len(model.params_)
    return {
        "chi_square": chi2,
        "df": int(df),
        "p_value": float(stats.chi2.sf(chi2, df)) if df >= 1 else None,
        "bins_after_pooling": len(exp_a),
        "histogram": [
            {"repeat": lab, "observed": int(o), "expected": float(e)}
            for lab, o, e in zip(labels, observed, expected, strict=True)
        ],
    }


def decile_calibration(model: PurchaseModel, cal: pd.DataFrame, groups: int = 10) -> pd.DataFrame:
    """Observed share of customers with a holdout purchase, by decile of predicted P(any
    purchase in the holdout) (1 = least likely), against the model and the naive forecast
    (calibration rate x / T, Poisson: 1 - exp(-x / T × holdout length))."""
    t = float(cal["duration_holdout"].iloc[0])
    pred = p_any_purchase(model, cal, t)
    rate = (cal["frequency"] / cal["T"].where(cal["T"] > 0)).fillna(0.0)
    frame = pd.DataFrame(
        {
            "predicted": pred,
            "naive": -np.expm1(-rate * t),
            "observed": (cal["frequency_holdout"] > 0).astype(float),
            "p_alive": model.p_alive(cal),
        }
    )
    # ranks split ties by row order so every decile has the same number of customers
    frame["decile"] = (pred.rank(method="first") - 1).mul(groups).floordiv(len(pred)).astype(
        int
    ) + 1
    out = frame.groupby("decile").agg(
        customers=("observed", "size"),
        predicted=("predicted", "mean"),
        observed=("observed", "mean"),
        naive=("naive", "mean"),
        mean_p_alive=("p_alive", "mean"),
    )
    out.index.name = "decile of predicted P(any purchase)"
    return out


# --------------------------------------------------------------------------- fallback
def _other(name: str) -> str:
    return "pareto_nbd" if name == "bgnbd" else "bgnbd"


_LABEL = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD"}
_UNIT = {"W": "weeks", "D": "days"}


def fallback_plan(model: str, time_unit: str) -> list[tuple[str, str, float | None]]:
    """The attempts of the fallback rule, in order: (model, time unit, prior sd or None)."""
    plan = [(model, time_unit, None), (_other(model), time_unit, None)]
    if time_unit != "D":
        plan.append((model, "D", None))
    plan += [(model, time_unit, PRIOR_SD), (_other(model), time_unit, PRIOR_SD)]
    return plan


def fit_with_fallback(
    summary_for: Callable[[str], pd.DataFrame], model: str = "bgnbd", time_unit: str = "W"
) -> tuple[PurchaseModel, pd.DataFrame, dict[str, Any]]:
    """Fit by the fallback rule of this module: the first non-degenerate attempt of
    :func:`fallback_plan`.  ``summary_for(unit)`` gives the calibration summary in that unit.

    Returns the model, its summary and ``fallback`` (``used``: bool, ``attempts``: what each try
    gave, ``text``: what happened and what the numbers can and cannot be used for).
    """
    summaries: dict[str, pd.DataFrame] = {}
    attempts = []
    for name, unit, prior in fallback_plan(model, time_unit):
        if unit not in summaries:
            summaries[unit] = summary_for(unit)
        desc = f"{_LABEL[name]} in {_UNIT.get(unit, unit)}" + (
            f" with a weak prior (sd {prior:g} on log-parameters)" if prior else ""
        )
        try:
            fitted = _model_for(name, unit, prior).fit(summaries[unit])
            diag = fitted.diagnostics_
        except FitError as err:
            attempts.append({"attempt": desc, "result": str(err)})
            continue
        if diag["degenerate"]:
            attempts.append({"attempt": desc, "result": " ".join(diag["warnings"])})
            continue
        attempts.append({"attempt": desc, "result": "used"})
        used = len(attempts) > 1
        return (
            fitted,
            summaries[unit],
            {
                "used": used,
                "model": name,
                "time_unit": unit,
                "prior_sd": prior,
                "attempts": attempts,
                "text": _fallback_text(desc, attempts, prior) if used else "",
            },
        )
    raise UnsupportedData(
        "No purchase model could be fitted without collapsing (tried: "
        + "; ".join(a["attempt"] for a in attempts)
        + "). The calibration period probably shows too few customers who stopped buying: "
        "set a later calibration end (e.g. -p calibration_end=YYYY-MM-DD in the report, "
        "--calibration-end in clv fit) so more of the history is used for fitting."
    )


def fit_warnings(fallback: dict[str, Any], model: PurchaseModel) -> list[str]:
    """Every warning of a fit by :func:`fit_with_fallback`, as sentences: the attempts that
    were not usable and why, the used fit's own diagnostics, and what the fallback means."""
    failed = [
        f"{a['attempt']} was not usable: {a['result']}"
        for a in fallback["attempts"]
        if a["result"] != "used"
    ]
    return (
        failed + model.diagnostics_["warnings"] + ([fallback["text"]] if fallback["text"] else [])
    )


def _model_for(name: str, unit: str, prior: float | None) -> PurchaseModel:
    """A purchase model by name (``bgnbd``/``pareto_nbd``) in ``unit`` with an optional prior."""
    cls = BetaGeoModel if name == "bgnbd" else ParetoNBDModel
    return cls(time_unit=unit, prior_sd=prior)


def _fallback_text(desc: str, attempts: list[dict[str, str]], prior: float | None) -> str:
    """The fallback in words: what failed, what is used, what the numbers are good for."""
    failed = "; ".join(a["attempt"] for a in attempts[:-1])
    text = (
        f"The requested fit was degenerate (tried, in the order fixed in advance: {failed}), "
        f"so the numbers below come from {desc}. "
    )
    if prior:
        text += (
            "The data barely show customers leaving, so the drop-out parameters lean on the "
            "prior: expected purchases and holdout totals can be used (they barely depend on "
            "the drop-out part), but P(alive), churn-risk lists and value at risk cannot be "
            "trusted as measurements."
        )
    else:
        text += (
            "Its numbers can be used like a normal fit; compare the goodness-of-fit tables "
            "before relying on P(alive) for individual customers."
        )
    return text

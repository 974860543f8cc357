"""How sure are the value numbers?  Intervals for holdout totals, future totals and each
customer's expected purchases and CLV.

Two sources of uncertainty:

* **parameters** - the fitted parameters are drawn from their asymptotic distribution: normal
  in log space around the estimate with covariance the inverse Hessian of the negative
  log-likelihood (the same Hessian that gives the standard errors, see
  :mod:`crm_models.value.common`).  When that distribution is not available (a standard error is
  ``None``: Hessian not positive definite, a parameter at a bound, or a model restored from disk
  without its likelihood), the draws come from a **customer bootstrap** instead: customers
  resampled with replacement (multinomial weights on the distinct summaries) and the model
  refitted, :data:`BOOTSTRAP_FITS` times.  The bootstrap needs no curvature, so it still works
  where the likelihood is flat; refits that fail are left out and counted.
* **purchases** - for totals, each parameter draw also simulates what every customer buys,
  given their history: alive or not with probability P(alive); if alive, a purchase rate and a
  drop-out propensity from their posterior given alive (BG/NBD: lambda ~ Gamma(r + x,
  alpha + T), p ~ Beta(a, b + x), purchases = min(Poisson(lambda t), Geometric(p)); Pareto/NBD:
  mu ~ Gamma(s, beta + T), remaining lifetime ~ Exp(mu), purchases = Poisson(lambda ×
  min(lifetime, t))), and for spend the Gamma-Gamma posterior nu ~ Gamma(q + p x, gamma + x m)
  and total spend ~ Gamma(p × purchases, nu).  A total's interval is the quantiles of the
  simulated totals over the draws.  For BG/NBD, lambda and p are integrated out and each
  customer's purchases drawn by inverse CDF from one uniform number: P(purchases >= i) =
  P(alive) × P(N >= i) × P(G >= i), with N ~ NB(r + x, (alpha + T) / (alpha + T + t)) and G
  ~ Beta-geometric(a, b + x) - the same distribution, at a fifth of the random numbers.

Per-customer intervals are for the *expected* purchases and CLV (parameter uncertainty only):
what one customer will actually buy is far more spread out, and that spread is what the totals
add.  Future CLV totals apply each customer's average discount factor (CLV / undiscounted
expected spend) to their simulated spend.

Speed: each draw's model quantities are computed once per distinct history (x, t_x, T) for
P(alive), once per distinct (x, T) for the purchases given alive (12 ``hyp2f1`` a year of
horizon for BG/NBD, the bulk of the time when recency is recorded to the day) and once per
distinct (x, mean spend) for the spend; customers sharing a history and a spend row share
their intervals, so a base of many look-alike customers costs its distinct rows, not its
customers.  The simulation of totals still draws one number per customer and draw.

Memory: the per-customer quantiles are taken in batches of ``max(1, MAX_CELLS // n_draws)``
distinct rows, so the draws × rows arrays never exceed :data:`MAX_CELLS` numbers each (8 million
float64 = 64 MB; a handful are alive at once), and the simulation handles about
:data:`MAX_CELLS` customers at a time, whatever the size of the base.  Fixed seed: same inputs and seed, same numbers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, Model, btyd_arrays, compress, num_grad
from crm_models.value.gamma_gamma import GammaGammaModel
from crm_models.value.purchase import PurchaseModel
from crm_models.value.scoring import customer_value, month_ends

N_DRAWS = 200  # parameter draws (one simulated purchase history per customer each)
BOOTSTRAP_FITS = 100  # refits of the customer bootstrap when the Hessian cannot be used
MAX_CELLS = 8_000_000  # rows × draws held at once (memory bound, see module docstring)
LEVELS = (0.80, 0.95)
DEFAULT_LEVEL = 0.80  # level of the per-customer clv_low / clv_high


# --------------------------------------------------------------------------- parameter draws
def parameter_draws(
    model: Model, data: pd.DataFrame, n_draws: int = N_DRAWS, seed: int = 0
) -> tuple[np.ndarray, str]:
    """``n_draws`` parameter vectors (rows, in the order of ``model._names``) and the method:
    ``"asymptotic normal"`` (log-parameters ~ N(estimate, inverse Hessian)) when every standard
    error exists, else ``"customer bootstrap"`` (refits on ``data`` resampled by customer)."""
    rng = np.random.default_rng(seed)
    theta = model._theta()
    cov = _log_covariance(model)
    if cov is not None:
        u = rng.multivariate_normal(np.log(theta), cov, size=n_draws, method="eigh")
        draws = np.exp(u)
        if isinstance(model, GammaGammaModel):  # q <= 1 means infinite spend: not a model
            draws = draws[draws[:, 1] > 1]
        return draws, "asymptotic normal"
    return _bootstrap(model, data, rng), "customer bootstrap"


def _log_covariance(model: Model) -> np.ndarray | None:
    """Inverse Hessian of the negative log-likelihood in log space; None when a standard error
    is missing (the data do not identify a parameter) or the likelihood is not at hand."""
    if any(v is None for v in model.standard_errors_.values()) or "_se_grad" not in vars(model):
        return None
    u = np.log(model._theta())
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        # central differences of the likelihood's gradient, row by row (as for the standard
        # errors in crm_models.value.common)
        H = np.array(
            [num_grad(lambda v, i=i: model._se_grad(v)[i], u, 1e-5) for i in range(len(u))]
        )
        cov = np.linalg.inv((H + H.T) / 2)
    cov = (cov + cov.T) / 2
    return cov if np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov) > 0) else None


def _bootstrap(model: Model, data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Parameters refitted on :data:`BOOTSTRAP_FITS` customer resamples of ``data`` (distinct
    rows with multinomial weights, so each refit costs one compressed fit)."""
    if isinstance(model, GammaGammaModel):
        cols = ["frequency", "monetary_value"]
        use = (data["frequency"] > 0) & (data["monetary_value"] > 0)
        data = data.loc[use]
    else:
        cols = ["frequency", "recency", "T"]
    arrays = [data[c].to_numpy(dtype=float) for c in cols]
    uniq, w, _ = compress(*arrays)
    frame = pd.DataFrame(dict(zip(cols, uniq, strict=True)))
    out, failed = [], 0
    for _ in range(BOOTSTRAP_FITS):  # a loop over refits, not customers
        counts = rng.multinomial(int(w.sum()), w / w.sum()).astype(float)
        keep = counts > 0
        try:
            refit = copy.copy(model).fit(frame.loc[keep], weights=counts[keep])
        except FitError:
            failed += 1
            continue
        out.append(refit._theta())
    if not out:
        raise FitError(
            f"{model.label}: none of the {BOOTSTRAP_FITS} bootstrap refits worked, so the "
            "uncertainty of the parameters cannot be estimated"
        )
    draws = np.array(out)
    if isinstance(model, GammaGammaModel):
        draws = draws[draws[:, 1] > 1]
    return draws


def _with_params(model: Model, theta: np.ndarray) -> Model:
    """A shallow copy of a fitted model carrying the parameters ``theta``."""
    out = copy.copy(model)
    out.params_ = dict(zip(model._names, map(float, theta), strict=True))
    return out


# --------------------------------------------------------------------------- simulation
def simulate_purchases(
    model: PurchaseModel,
    theta: np.ndarray,
    x: np.ndarray,
    T: np.ndarray,
    p_alive: np.ndarray,
    rows: np.ndarray,
    t: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated repeat purchases in the next ``t`` periods of one customer per entry of
    ``rows`` (an index into the distinct histories x, T with P(alive) ``p_alive`` under the
    parameters ``theta`` of ``model``'s kind, see the module docstring).  Returns the positions
    in ``rows`` of the simulated customers who buy and their numbers of purchases (the others
    buy nothing)."""
    u = 1.0 - rng.random(len(rows))  # in (0, 1]
    if isinstance(model, BetaGeoModel):
        return _bgnbd_buyers(theta, x, T, p_alive, rows, u, t)
    alive_at = np.flatnonzero(u < p_alive[rows])
    alive = rows[alive_at]
    r, alpha, s, beta = theta
    lam = rng.gamma(r + x[alive], 1.0 / (alpha + T[alive]))
    mu = rng.gamma(s, 1.0 / (beta + T[alive]))
    life = rng.exponential(1.0 / np.maximum(mu, 1e-300))
    n = rng.poisson(lam * np.minimum(life, t))
    buy = n > 0
    return alive_at[buy], n[buy]


def _bgnbd_buyers(theta, x, T, p_alive, rows, u, t):
    """BG/NBD purchases by inverse CDF, one uniform ``u`` per customer: n >= i exactly when
    u < P(alive) P(N >= i) P(G >= i), where N ~ NB(r + x, (alpha + T) / (alpha + T + t)) counts
    the Poisson purchases (lambda integrated out) and G ~ Beta-geometric(a, b + x) the purchase
    after which the customer drops out (p integrated out): the same distribution as drawing
    lambda, p, Poisson(lambda t) and Geometric(p), with one random number instead of five.  The
    loop runs over purchase counts 1, 2, ..., on the customers still buying, not over customers.
    """
    r, alpha, a, b = theta
    log_end = np.log(alpha + T + t)
    log_p0 = (r + x) * (np.log(alpha + T) - log_end)  # log P(N = 0)
    sn1 = -np.expm1(log_p0)  # P(N >= 1); P(G >= 1) = 1
    buyers = np.flatnonzero(u < (p_alive * sn1)[rows])
    row = rows[buyers]
    n = np.ones(len(row), dtype=np.int64)
    # the customers still buying at purchase count i: u / P(alive), r + x - 1, b + x,
    # log P(N = i - 1), P(N >= i), P(G >= i), their purchases so far and whether they go on
    idx = np.arange(len(row))
    v = u[buyers] / p_alive[row]
    k1, bx = r + x[row] - 1, b + x[row]
    log_rest = (math.log(t) - log_end)[row]  # P(N = i) / P(N = i - 1) = (k1 + i) / i × e^this
    log_pn, sn, sg = log_p0[row], sn1[row], np.ones(len(row))
    count, live = n.copy(), np.ones(len(row), dtype=bool)
    i = 1
    while len(idx):
        log_pn += np.log((k1 + i) / i) + log_rest
        # terms below e^-700 (1e-304) change nothing; exp of smaller numbers is very slow
        sn -= np.exp(np.maximum(log_pn, -700.0))
        # below 1e-12, P(N >= i) = 1 - sum(pmf) is rounding noise of hundreds of terms: 0, so the
        # loop ends even for u near 0
        sn[sn < 1e-12] = 0.0
        sg *= (bx + (i - 1)) / (bx + (a + i - 1))
        live &= v < sn * sg
        count += live
        i += 1
        alive = np.count_nonzero(live)
        if 2 * alive < len(live):  # drop the finished customers once they are half
            n[idx] = count
            keep = np.flatnonzero(live)
            idx, v, k1, bx, log_rest = idx[keep], v[keep], k1[keep], bx[keep], log_rest[keep]
            log_pn, sn, sg, count = log_pn[keep], sn[keep], sg[keep], count[keep]
            live = np.ones(len(keep), dtype=bool)
    return buyers, n


def _interval(samples: np.ndarray, level: float, axis: int = 0) -> np.ndarray:
    """Central ``level`` interval of ``samples`` along ``axis`` (low, high stacked first)."""
    q = (1 - level) / 2
    return np.quantile(samples, [q, 1 - q], axis=axis)


def _level_key(level: float) -> str:
    return f"{round(level * 100):d}"


def _batches(n: int, n_draws: int, counts: np.ndarray | None = None):
    """Slices of ``n`` distinct rows holding at most :data:`MAX_CELLS` rows × draws each and,
    when the rows stand for ``counts`` customers, fewer than 2 × :data:`MAX_CELLS` customers
    each (a row with more stands alone)."""
    size = max(1, MAX_CELLS // max(n_draws, 1))
    cuts = set(range(size, n, size))
    if counts is not None:
        starts = np.cumsum(counts) - counts
        cuts |= set((np.flatnonzero(np.diff(starts // MAX_CELLS)) + 1).tolist())
        big = np.flatnonzero(counts >= MAX_CELLS)
        cuts |= {int(i) for i in np.r_[big, big + 1] if 0 < i < n}
    bounds = [0, *sorted(cuts), n]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        yield slice(lo, hi)


# --------------------------------------------------------------------------- holdout totals
def holdout_interval(
    model: PurchaseModel,
    cal: pd.DataFrame,
    levels: Sequence[float] = LEVELS,
    n_draws: int = N_DRAWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Intervals for the total holdout repeat purchases of the calibration customers ``cal``
    (:func:`~crm_models.value.validation.calibration_holdout`): parameter draws plus simulated
    purchases.  Keys ``holdout_predicted_interval_80`` and ``_95`` (``[low, high]``, one per
    level) and ``holdout_interval_method`` (how the parameters were drawn)."""
    x, tx, T = btyd_arrays(cal)
    t = float(cal["duration_holdout"].iloc[0])
    draws, method = parameter_draws(model, cal, n_draws, seed)
    rng = np.random.default_rng([seed, 1])
    (ux, utx, uT), counts, _ = compress(x, tx, T)  # model quantities once per distinct history
    counts = counts.astype(np.int64)
    totals = np.zeros(len(draws))
    for part in _batches(len(counts), 1, counts):
        hx, htx, hT = ux[part], utx[part], uT[part]
        rows = np.repeat(np.arange(len(hx)), counts[part])  # one entry per customer
        for d, theta in enumerate(draws):  # a loop over parameter draws, not customers
            pa = _with_params(model, theta)._p_alive_rows(hx, htx, hT)
            totals[d] += simulate_purchases(model, theta, hx, hT, pa, rows, t, rng)[1].sum()
    out: dict[str, Any] = {
        f"holdout_predicted_interval_{_level_key(lv)}": [float(v) for v in _interval(totals, lv)]
        for lv in levels
    }
    out["holdout_interval_method"] = _method_text(method, len(draws))
    return out


def _method_text(method: str, n: int) -> str:
    return f"{method}, {n} parameter draws, each with simulated purchases"


# --------------------------------------------------------------------------- customer value
def value_intervals(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    horizon: float = 52.0,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    level: float = DEFAULT_LEVEL,
    levels: Sequence[float] = LEVELS,
    n_draws: int = N_DRAWS,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-customer intervals (central ``level``, 80 % by default) for the expected purchases
    and CLV of :func:`~crm_models.value.scoring.customer_value` (same arguments), and the
    totals of the base with intervals at each of ``levels``.

    Returns ``(customers, totals)``: ``customers`` has ``expected_purchases_low``/``_high``
    and ``clv_low``/``clv_high`` (parameter uncertainty only: intervals of the *expected*
    value); ``totals`` has ``expected_purchases`` and ``clv`` (the point totals),
    ``purchases_interval_80``/``_95`` and ``clv_interval_80``/``_95`` (parameter uncertainty
    plus simulated purchases and spend), ``level`` and ``interval_method``.

    Each draw's model quantities are computed once per distinct history (x, t_x, T), the
    purchases given alive once per distinct (x, T) and the spend once per distinct (x, mean
    spend); customers sharing a history and a spend row share their intervals.
    """
    point = customer_value(
        purchase_model, spend_model, data, horizon, annual_discount_rate, margin
    )  # also checks the arguments
    x, tx, T = btyd_arrays(data)
    m = data["monetary_value"].to_numpy(dtype=float)
    p_draws, p_method = parameter_draws(purchase_model, data, n_draws, seed)
    s_draws, s_method = parameter_draws(spend_model, data, n_draws, seed + 1)
    n = min(len(p_draws), len(s_draws))
    p_draws, s_draws = p_draws[:n], s_draws[:n]
    rng = np.random.default_rng([seed, 2])
    ends, disc = month_ends(purchase_model.time_unit, horizon, annual_discount_rate)
    rep = (x > 0) & (m > 0) & np.isfinite(m)
    (hx, htx, hT), _, hist = compress(x, tx, T)  # histories
    (px, pT), _, pair = compress(hx, hT)  # (x, T) of each history
    (sx, sm), _, spend_row = compress(np.where(rep, x, 0.0), np.where(rep, m, 0.0))
    (ch, cs), counts, cls = compress(hist, spend_row)  # classes: history and spend row
    counts = counts.astype(np.int64)
    order = np.lexsort((ch, pair[ch]))  # batches then cover runs of (x, T) and histories
    ep_bounds = np.empty((2, len(hx)))
    clv_bounds = np.empty((2, len(ch)))
    purchase_totals, clv_totals = np.zeros(n), np.zeros(n)
    for part in _batches(len(order), n, counts[order]):
        c = order[part]
        hb, h_of = np.unique(ch[c], return_inverse=True)
        pb, p_of = np.unique(pair[hb], return_inverse=True)
        sb, s_of = np.unique(cs[c], return_inverse=True)
        spend_rows = pd.DataFrame({"frequency": sx[sb], "monetary_value": sm[sb]})
        cx, cm = sx[sb][s_of], sm[sb][s_of]  # each class's spend history
        customer_class = np.repeat(np.arange(len(c)), counts[c])
        rows = h_of[customer_class]  # the history of each customer
        c_p = p_of[h_of]  # each class's (x, T)
        bx, bT = hx[hb], hT[hb]
        ep = np.empty((n, len(hb)))
        clv = np.empty((n, len(c)))
        for d in range(n):  # a loop over parameter draws, not customers
            pm = _with_params(purchase_model, p_draws[d])
            grid = pm._expected_alive(p_draws[d], px[pb][:, None], pT[pb][:, None], ends)
            alive_value = np.diff(grid, axis=1, prepend=0.0) @ disc
            pa = pm._p_alive_rows(bx, htx[hb], bT)
            ep[d] = grid[p_of, -1] * pa
            sm_d = _with_params(spend_model, s_draws[d])
            spend = sm_d.conditional_expected_spend(spend_rows).to_numpy()
            clv[d] = (alive_value[p_of] * pa)[h_of] * spend[s_of] * margin
            # totals: simulated purchases and spend, valued at the customer's discount share
            share = np.divide(alive_value, grid[:, -1], out=np.ones(len(pb)), where=grid[:, -1] > 0)
            at, k = simulate_purchases(purchase_model, p_draws[d], bx, bT, pa, rows, horizon, rng)
            buyer = customer_class[at]
            pp, q, g = s_draws[d]
            nu = rng.gamma(pp * cx[buyer] + q, 1.0 / (g + cx[buyer] * cm[buyer]))
            paid = rng.gamma(pp * k, 1.0 / nu)
            purchase_totals[d] += k.sum()
            clv_totals[d] += (paid * share[c_p[buyer]]).sum() * margin
        ep_bounds[:, hb] = _interval(ep, level)
        clv_bounds[:, c] = _interval(clv, level)
    customers = pd.DataFrame(
        {
            "expected_purchases_low": ep_bounds[0, hist],
            "expected_purchases_high": ep_bounds[1, hist],
            "clv_low": clv_bounds[0, cls],
            "clv_high": clv_bounds[1, cls],
        },
        index=point.index,
    )
    totals: dict[str, Any] = {
        "expected_purchases": float(point["expected_purchases"].sum()),
        "clv": float(point["clv"].sum()),
        "level": level,
    }
    for lv in levels:
        key = _level_key(lv)
        totals[f"purchases_interval_{key}"] = [float(v) for v in _interval(purchase_totals, lv)]
        totals[f"clv_interval_{key}"] = [float(v) for v in _interval(clv_totals, lv)]
    methods = p_method if p_method == s_method else f"purchases: {p_method}; spend: {s_method}"
    totals["interval_method"] = _method_text(methods, n)
    return customers, totals

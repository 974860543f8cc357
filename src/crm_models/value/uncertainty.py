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
P(alive) (its logs once per distinct x, t_x and T), once per distinct (x, T) for the purchases
given alive (12 ``hyp2f1`` a year of horizon for BG/NBD) and once per distinct (x, mean spend)
for the spend; customers sharing a history and a spend row share their intervals, so a base of
many look-alike customers costs its distinct rows, not its customers.

Large bases (small ones - the demo, CDNOW, Online Retail - keep the exact numbers above):

* **totals** - above :data:`MAX_SIMULATED` customers a draw plays out the purchases of a fixed
  random sample of that many (without replacement); its total is the expected total of every
  customer (exact, from the distinct rows) plus the sample's deviations from their expectations
  times sqrt(customers / sample).  The chance part of a total is a sum of independent customer
  deviations, so this keeps its variance, while the parameter part stays exact.
* **per-customer ranges** - above :data:`LINEAR_PAIRS` distinct (x, T), when every draw lies
  within :data:`LINEAR_SPREAD` of the estimate in each log-parameter (always so on a large base,
  whose parameters are known to a few per cent), each customer's log expected purchases and log
  CLV are expanded to first order in the log-parameters around the estimate (central
  differences: 9 evaluations of the 12 ``hyp2f1`` per (x, T), 9 of P(alive), 7 of the spend).
  Under a draw the log value then moves by a linear form of the draw's offsets, and the range
  is that form's exact normal quantile under the draws' spread: the limit of the draws' own
  quantiles, without their Monte Carlo noise, at a cost of a few numbers per customer instead
  of 200.  On CDNOW (parameters known far less well) the ranges stay within 7 % of their width
  of the quantiles of 1,000 exact draws, as close as 200 exact draws get
  (tests/test_value_scale.py).  The draws' expected totals are linear in their offsets too; the
  played-out sample's quantities stay exact.

Memory: the per-customer quantiles are taken in batches of ``max(1, MAX_CELLS // n_draws)``
distinct rows, so the draws × rows arrays never exceed :data:`MAX_CELLS` numbers each (8 million
float64 = 64 MB; a handful are alive at once), and the simulation plays out at most
:data:`MAX_SIMULATED` customers per draw, whatever the size of the base.  Fixed seed: same
inputs and seed, same numbers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import (
    FitError,
    Model,
    btyd_arrays,
    compress,
    customer_index,
    num_grad,
)
from crm_models.value.gamma_gamma import GammaGammaModel
from crm_models.value.purchase import PurchaseModel
from crm_models.value.scoring import forecast_factor, month_ends, point_value

N_DRAWS = 200  # parameter draws (one simulated purchase history per customer each)
BOOTSTRAP_FITS = 100  # refits of the customer bootstrap when the Hessian cannot be used
MAX_CELLS = 8_000_000  # rows × draws held at once (memory bound, see module docstring)
MAX_SIMULATED = 40_000  # customers whose purchases each draw plays out (above: a sample)
LINEAR_PAIRS = 10_000  # above this many distinct (x, T): ranges by the delta method
LINEAR_SPREAD = 0.1  # ... when every draw is this close to the estimate (log-parameters)
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


def _interval(samples: np.ndarray, level: float) -> np.ndarray:
    """Central ``level`` interval of ``samples`` along the first axis (low, high stacked first).

    The numbers of ``np.quantile`` (linear method: the two neighbouring order statistics and
    its interpolation), taken from one sort of the transposed samples: sorting contiguous rows
    is about ten times faster than ``np.quantile``'s partition across the draws of many
    customers, and transposing in blocks of 2,048 columns keeps the copy in cache."""
    samples = np.asarray(samples, dtype=float)
    flat = samples.reshape(len(samples), -1)
    ordered = np.empty(flat.shape[::-1])
    for j in range(0, flat.shape[1], 2048):  # blocks of customers, not one at a time
        ordered[j : j + 2048] = flat[:, j : j + 2048].T
    ordered.sort(axis=-1)
    n = ordered.shape[-1]
    out = []
    low = (1 - level) / 2
    for q in (low, 1 - low):
        v = (n - 1) * q
        lo = min(math.floor(v), n - 1)
        a, b = ordered[..., lo], ordered[..., min(lo + 1, n - 1)]
        t = v - lo
        diff = b - a
        out.append(b - diff * (1 - t) if t >= 0.5 else a + diff * t)
    return np.stack(out).reshape((2, *samples.shape[1:]))


def _played_out(counts: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """How many customers of each distinct row the simulation of totals plays out, and the
    factor on their deviations from expectation.

    Up to :data:`MAX_SIMULATED` customers: all of them, factor 1 (the totals are the simulated
    sums, exactly as without this step).  Above: a fixed random sample of
    :data:`MAX_SIMULATED` customers (without replacement, seed ``[seed, 3]``); a draw's total is
    then the expected total of all customers (exact, from the distinct rows) plus the sample's
    summed deviations from their expectations times sqrt(customers / sample), which keeps the
    variance of the chance part, a sum of independent customer deviations."""
    total = int(counts.sum())
    if total <= MAX_SIMULATED:
        return counts, 1.0
    rng = np.random.default_rng([seed, 3])
    return rng.multivariate_hypergeometric(counts, MAX_SIMULATED), math.sqrt(total / MAX_SIMULATED)


def _expansion(model: PurchaseModel, x: np.ndarray, T: np.ndarray, ends: np.ndarray):
    """Purchases given alive by each of ``ends`` (rows × ends) at the fitted parameters, and
    their derivatives in the log-parameters (central differences, step 1e-4; parameters first):
    a draw ``theta`` then costs ``grid + tensordot(log(theta / estimate), jac)``."""
    u = np.log(model._theta())
    grid = model._expected_alive(np.exp(u), x, T, ends)
    jac = []
    for step in np.eye(len(u)) * 1e-4:
        up = model._expected_alive(np.exp(u + step), x, T, ends)
        down = model._expected_alive(np.exp(u - step), x, T, ends)
        jac.append((up - down) / 2e-4)
    return grid, np.array(jac)


def _linearised(model: PurchaseModel, draws: np.ndarray, n_pairs: int) -> np.ndarray | None:
    """The draws as log-offsets from the estimate when the purchases given alive may come from
    :func:`_expansion`: more than :data:`LINEAR_PAIRS` distinct (x, T) and every draw within
    :data:`LINEAR_SPREAD` of the estimate in each log-parameter (the neglected second-order
    terms are then below about 1e-4 of the value, far inside the interval); else None (exact)."""
    offsets = np.log(draws) - np.log(model._theta())
    if n_pairs <= LINEAR_PAIRS or np.abs(offsets).max() > LINEAR_SPREAD:
        return None
    return offsets


def _relative_slopes(f, u: np.ndarray, at: np.ndarray) -> np.ndarray:
    """d f / d u_j divided by f (rows j; central differences, step 1e-4), 0 where f is 0."""
    steps = np.eye(len(u)) * 1e-4
    slopes = np.array([(f(u + e) - f(u - e)) / 2e-4 for e in steps])
    return np.divide(slopes, at, out=np.zeros_like(slopes), where=at != 0)


def _delta_method(purchase_model, spend_model, offsets, spend_offsets, rows, setting, ep, clv):
    """Per-customer ranges and the draws' expected totals on a large base, from the first-order
    expansion of log expected purchases and log CLV in the log-parameters (see the module
    docstring): a class's log CLV moves by ``G . offset`` under a draw, so its range is the
    exact normal quantile of that linear form under the draws' spread (second moments about the
    estimate, purchase and spend draws independent) - the limit of the draws' own quantiles,
    without their Monte Carlo noise - and the expected total of a draw is linear in its offsets.

    ``rows``: the distinct histories (x, t_x, T), their (x, T) pair, the pairs, the spend rows,
    and each class's history, spend row and customers; ``setting``: month ends, discount
    factors, margin and level; ``ep`` and ``clv``: the point values of each history and class.
    Returns the bounds (low, high stacked) per history and per class and, per draw, the
    expected purchases and CLV of every customer."""
    hx, htx, hT, pair, px, pT, sx, sm, ch, cs, counts = rows
    ends, disc, margin, level = setting
    z = stats.norm.ppf((1 + level) / 2)
    cov_u = offsets.T @ offsets / len(offsets)
    cov_v = spend_offsets.T @ spend_offsets / len(spend_offsets)
    u, v = np.log(purchase_model._theta()), np.log(spend_model._theta())
    grid0, jac = _expansion(purchase_model, px[:, None], pT[:, None], ends)
    value0 = np.diff(grid0, axis=1, prepend=0.0) @ disc  # discounted purchases given alive
    g_end = jac[:, :, -1] / grid0[:, -1]
    g_value = (np.diff(jac, axis=2, prepend=0.0) @ disc) / value0
    p_alive = purchase_model._p_alive_prepared(hx, htx, hT)
    g_alive = _relative_slopes(lambda w: p_alive(np.exp(w)), u, p_alive(np.exp(u)))

    def spend_at(w):
        return _with_params(spend_model, np.exp(w))._expected_spend_rows(sx, sm)

    g_spend = _relative_slopes(spend_at, v, spend_at(v))
    g_ep = g_end[:, pair] + g_alive  # per history
    g_clv = g_value[:, pair[ch]] + g_alive[:, ch]  # per class: purchase part
    g_clv_spend = g_spend[:, cs]  # ... and spend part

    def spread(g, cov):
        return np.einsum("ik,ij,jk->k", g, cov, g)

    sd_ep = np.sqrt(spread(g_ep, cov_u))
    sd_clv = np.sqrt(spread(g_clv, cov_u) + spread(g_clv_spend, cov_v))
    ep_bounds = ep * np.exp(np.outer([-z, z], sd_ep))
    clv_bounds = clv * np.exp(np.outer([-z, z], sd_clv))
    per_history = np.bincount(ch, weights=counts, minlength=len(hx))
    weighted_ep, weighted_clv = per_history * ep, counts * clv
    purchases = weighted_ep.sum() + offsets @ (g_ep @ weighted_ep)
    value = (
        weighted_clv.sum()
        + offsets @ (g_clv @ weighted_clv)
        + spend_offsets @ (g_clv_spend @ weighted_clv)
    )
    return ep_bounds, clv_bounds, purchases, value


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
@threadpool_limits.wrap(limits=1, user_api="blas")  # short products: threads only fight
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
    played, scale = _played_out(counts, seed)
    totals = np.zeros(len(draws))
    looped, weight = np.arange(len(counts)), counts  # histories run through the draws
    if scale != 1.0:  # a sample is played out: everybody's expectation, the sample's taken off
        totals = _expected_totals(model, draws, ux, utx, uT, counts, t)
        looped, weight = np.flatnonzero(played), np.zeros_like(counts)
    for part in _batches(len(looped), 1, played[looped]):
        at = looped[part]
        hx, htx, hT = ux[at], utx[at], uT[at]
        rows = np.repeat(np.arange(len(hx)), played[at])  # one entry per simulated customer
        rest = weight[at] - scale * played[at]  # weight of each row's expected purchases
        (px, pT), _, pair = compress(hx, hT)
        p_alive = model._p_alive_prepared(hx, htx, hT)
        for d, theta in enumerate(draws):  # a loop over parameter draws, not customers
            pa = p_alive(theta)
            sim = simulate_purchases(model, theta, hx, hT, pa, rows, t, rng)[1].sum()
            if scale != 1.0:  # a sample was played out: add everybody's expectation
                sim = scale * sim + rest @ (model._expected_alive(theta, px, pT, t)[pair] * pa)
            totals[d] += sim
    out: dict[str, Any] = {
        f"holdout_predicted_interval_{_level_key(lv)}": [float(v) for v in _interval(totals, lv)]
        for lv in levels
    }
    out["holdout_interval_method"] = _method_text(method, len(draws))
    return out


def _expected_totals(model, draws, x, tx, T, counts, t) -> np.ndarray:
    """Expected repeat purchases in the next ``t`` periods of all customers (``counts`` per
    distinct history) under each draw: linear in the draws' log-offsets when
    :func:`_linearised` allows (see the module docstring), else exact per draw."""
    (px, pT), _, pair = compress(x, T)
    offsets = _linearised(model, draws, len(px))
    p_alive = model._p_alive_prepared(x, tx, T)
    if offsets is None:
        return np.array(  # a loop over parameter draws, not customers
            [counts @ (model._expected_alive(th, px, pT, t)[pair] * p_alive(th)) for th in draws]
        )
    u = np.log(model._theta())
    grid0, jac = _expansion(model, px, pT, t)
    pa0 = p_alive(np.exp(u))
    slopes = jac[:, pair] / grid0[pair] + _relative_slopes(lambda w: p_alive(np.exp(w)), u, pa0)
    expected = counts * grid0[pair] * pa0
    return expected.sum() + offsets @ (slopes @ expected)


def _method_text(method: str, n: int) -> str:
    return f"{method}, {n} parameter draws, each with simulated purchases"


# --------------------------------------------------------------------------- customer value
@threadpool_limits.wrap(limits=1, user_api="blas")  # short products: threads only fight
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
    multiplier: pd.Series | None = None,
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
    spend); customers sharing a history and a spend row share their intervals.  On a large base
    the ranges come from the delta method and the totals' chance part from a played-out sample
    (module docstring).  With a ``multiplier`` (another forecaster chosen, as in
    :func:`~crm_models.value.scoring.customer_value`) each customer's range is multiplied by
    it and the totals' ranges by the change of the point totals (their relative width is the
    purchase model's).
    """
    pa, ep_point, _, potential = point_value(
        purchase_model, spend_model, data, horizon, annual_discount_rate, margin
    )  # also checks the arguments
    clv_point = potential * pa
    del pa, potential
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
    played, scale = _played_out(counts, seed)
    offsets = _linearised(purchase_model, p_draws, len(px))
    ep_bounds = np.empty((2, len(hx)))
    clv_bounds = np.empty((2, len(ch)))
    purchase_totals, clv_totals = np.zeros(n), np.zeros(n)  # expected part (0 at scale 1)
    looped, weight = np.arange(len(ch)), counts  # classes run through the draws
    if offsets is not None:  # a large base: ranges and expected totals from the expansion
        first, first_h = np.empty(len(ch), dtype=np.int64), np.empty(len(hx), dtype=np.int64)
        first[cls], first_h[hist] = np.arange(len(cls)), np.arange(len(hist))  # a customer of each
        ep_bounds, clv_bounds, purchase_totals, clv_totals = _delta_method(
            purchase_model,
            spend_model,
            offsets,
            np.log(s_draws) - np.log(spend_model._theta()),
            (hx, htx, hT, pair, px, pT, sx, sm, ch, cs, counts),
            (ends, disc, margin, level),
            ep_point[first_h],
            clv_point[first],
        )
        # the draws then only play out the sample: its expectation is taken off the totals
        looped, weight = np.flatnonzero(played), np.zeros_like(counts)
    order = looped[np.lexsort((ch[looped], pair[ch[looped]]))]  # runs of (x, T), histories
    played_parts: list[tuple[np.ndarray, ...]] = []  # what the simulation needs, per batch
    for part in _batches(len(order), n):
        c = order[part]
        hb, h_of = np.unique(ch[c], return_inverse=True)
        pb, p_of = np.unique(pair[hb], return_inverse=True)
        sb, s_of = np.unique(cs[c], return_inverse=True)
        customer_class = np.repeat(np.arange(len(c)), played[c])  # the simulated customers
        # the histories of the simulated customers (all of them unless a sample is played out)
        sim_h, rows = np.unique(h_of[customer_class], return_inverse=True)
        rest = weight[c] - scale * played[c]  # weight of each class's expectation in the totals
        bx, bT = hx[hb], hT[hb]
        p_alive = purchase_model._p_alive_prepared(bx, htx[hb], bT)
        if offsets is not None:
            grid0, jac = _expansion(purchase_model, px[pb][:, None], pT[pb][:, None], ends)
        ep = np.empty((n, len(hb)))
        clv = np.empty((n, len(c)))
        sim_pa, sim_share = np.empty((n, len(sim_h))), np.empty((n, len(sim_h)))
        for d in range(n):  # a loop over parameter draws, not customers
            grid = (
                purchase_model._expected_alive(p_draws[d], px[pb][:, None], pT[pb][:, None], ends)
                if offsets is None
                else grid0 + np.tensordot(offsets[d], jac, axes=1)
            )
            alive_value = np.diff(grid, axis=1, prepend=0.0) @ disc
            pa = p_alive(p_draws[d])
            ep[d] = grid[p_of, -1] * pa
            spend = _with_params(spend_model, s_draws[d])._expected_spend_rows(sx[sb], sm[sb])
            clv[d] = (alive_value[p_of] * pa)[h_of] * spend[s_of] * margin
            # for the totals: the discount share of the simulated histories' purchases, and
            # the expected totals of the customers not played out (rest is 0 at scale 1)
            share = np.divide(alive_value, grid[:, -1], out=np.ones(len(pb)), where=grid[:, -1] > 0)
            sim_pa[d], sim_share[d] = pa[sim_h], share[p_of[sim_h]]
            purchase_totals[d] += rest @ ep[d][h_of]
            clv_totals[d] += rest @ clv[d]
        if offsets is None:
            ep_bounds[:, hb] = _interval(ep, level)
            clv_bounds[:, c] = _interval(clv, level)
        spend_class = s_of[customer_class]
        played_parts.append(
            (
                rows,
                bx[sim_h],
                bT[sim_h],
                sim_pa,
                sim_share,
                sx[sb][spend_class],
                sm[sb][spend_class],
            )
        )
    # totals: simulated purchases and spend of the played-out customers (all of them up to
    # MAX_SIMULATED), valued at their discount share, one pass per draw over all batches
    offset = np.cumsum([0] + [len(p[1]) for p in played_parts[:-1]])
    rows = np.concatenate([p[0] + o for p, o in zip(played_parts, offset, strict=True)])
    sim_x, sim_T, cx, cm = (np.concatenate([p[i] for p in played_parts]) for i in (1, 2, 5, 6))
    for d in range(n):
        sim_pa, sim_share = (np.concatenate([p[i][d] for p in played_parts]) for i in (3, 4))
        at, k = simulate_purchases(
            purchase_model, p_draws[d], sim_x, sim_T, sim_pa, rows, horizon, rng
        )
        pp, q, g = s_draws[d]
        nu = rng.gamma(pp * cx[at] + q, 1.0 / (g + cx[at] * cm[at]))
        paid = rng.gamma(pp * k, 1.0 / nu)
        purchase_totals[d] += scale * k.sum()
        clv_totals[d] += scale * (paid * sim_share[rows[at]]).sum() * margin
    factor = forecast_factor(multiplier, data)
    customers = pd.DataFrame(
        {
            "expected_purchases_low": ep_bounds[0, hist] * factor,
            "expected_purchases_high": ep_bounds[1, hist] * factor,
            "clv_low": clv_bounds[0, cls] * factor,
            "clv_high": clv_bounds[1, cls] * factor,
        },
        index=customer_index(data),
    )
    totals: dict[str, Any] = {
        "expected_purchases": float(ep_point @ factor),
        "clv": float(clv_point @ factor),
        "level": level,
    }
    scale_p = totals["expected_purchases"] / ep_point.sum() if ep_point.sum() > 0 else 1.0
    scale_c = totals["clv"] / clv_point.sum() if clv_point.sum() > 0 else 1.0
    for lv in levels:
        key = _level_key(lv)
        totals[f"purchases_interval_{key}"] = [
            float(v) * scale_p for v in _interval(purchase_totals, lv)
        ]
        totals[f"clv_interval_{key}"] = [float(v) * scale_c for v in _interval(clv_totals, lv)]
    methods = p_method if p_method == s_method else f"purchases: {p_method}; spend: {s_method}"
    totals["interval_method"] = _method_text(methods, n) + (
        "" if multiplier is None else "; scaled by the chosen forecaster's correction"
    )
    return customers, totals

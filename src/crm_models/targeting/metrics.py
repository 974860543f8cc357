"""Uplift metrics as plain functions like ``sklearn.metrics``: curves, AUUC, Qini, uplift@k.

They follow the definitions documented by scikit-uplift (``sklift.metrics``,
https://www.uplift-modeling.com/en/latest/api/metrics/ — ``uplift_curve``, ``qini_curve``,
``perfect_uplift_curve``, ``perfect_qini_curve``, ``uplift_auc_score``, ``qini_auc_score``,
``uplift_at_k``, ``uplift_by_percentile``), written here from those definitions:

* rows are ordered by score, highest first; the curves take one point per *distinct* score (a
  block of tied scores is targeted all together, as in ``sklearn.metrics.roc_curve``), so they
  do not depend on row order; ``uplift_by_percentile`` spreads a block of tied scores over the
  bins its ranks span, in proportion, so it does not either;
* uplift curve at ``n`` targeted = ``(Y_T/N_T - Y_C/N_C) · n`` (a group rate is 0 while the
  group is empty); Qini curve = ``Y_T - Y_C · N_T/N_C`` (Radcliffe 2007);
* ``uplift_auc_score`` / ``qini_auc_score`` = (area under the model curve - area under the
  straight "random targeting" line) / (same for the perfect curve); ``qini_auc_score`` with
  ``negative_effect=True`` takes the perfect ordering treated responders first, control
  responders last;
* ``uplift_at_k`` (``strategy="overall"``) = treated mean minus control mean among the first
  ``int(k·n)`` rows; ``"by_group"`` takes the first ``int(k·n_T)`` treated and ``int(k·n_C)``
  control rows; rows tied at the cut score count in proportion (each with the share of its tie
  group needed to fill the top), so uplift@k, like the curves, does not depend on row order
  (scikit-uplift breaks such ties by row order);
* ``policy_value_at_k`` (not in scikit-uplift): the expected extra outcome per customer of
  contacting the top ``k``, by inverse-propensity weighting on a randomised test;
* ``uplift_by_percentile`` splits the ordered rows into ``bins`` near-equal parts
  (``numpy.array_split``), tied rows shared between parts in proportion.

Unlike scikit-uplift, every metric also accepts **money outcomes** (``y`` any number): the
curves and uplift@k are the same formulas on sums and means of money; the perfect curves then
order treated rows by ``y`` descending and control rows by ``y`` ascending (treated spenders
first, control spenders last).  For a yes/no outcome the perfect uplift curve is
scikit-uplift's construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "descending_order",
    "is_binary",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "policy_value_at_k",
    "qini_auc_score",
    "qini_curve",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_by_percentile",
    "uplift_curve",
]


def _arrays(y_true, score, treatment):
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    t = np.asarray(treatment).astype(bool)
    if not (len(y) == len(s) == len(t)):
        raise ValueError(f"lengths differ: y {len(y)}, score {len(s)}, treatment {len(t)}")
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s, t


def descending_order(score) -> np.ndarray:
    """Row order by score, highest first, ties kept in row order (deterministic)."""
    return np.argsort(-np.asarray(score, dtype=float), kind="stable")


def _cumulative(y_true, score, treatment):
    """Cumulative counts and sums at each distinct score threshold (highest score first)."""
    y, s, t = _arrays(y_true, score, treatment)
    order = descending_order(s)
    y, s, t = y[order], s[order], t[order]
    last_of_block = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    n_t = np.cumsum(t)[last_of_block].astype(float)
    y_t = np.cumsum(np.where(t, y, 0.0))[last_of_block]
    y_c = np.cumsum(np.where(t, 0.0, y))[last_of_block]
    n = (last_of_block + 1).astype(float)
    return n, n_t, n - n_t, y_t, y_c


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def _start_at_zero(n, values):
    return np.r_[0.0, n], np.r_[0.0, values]


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(number targeted, (Y_T/N_T - Y_C/N_C)·n)`` of the uplift curve, from (0, 0)."""
    n, n_t, n_c, y_t, y_c = _cumulative(y_true, uplift, treatment)
    return _start_at_zero(n, (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n)


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(number targeted, Y_T - Y_C·N_T/N_C)`` of the Qini curve, from (0, 0)."""
    n, n_t, n_c, y_t, y_c = _cumulative(y_true, uplift, treatment)
    return _start_at_zero(n, y_t - y_c * _ratio(n_t, n_c))


def is_binary(y) -> bool:
    y = np.asarray(y, dtype=float)
    return bool(np.isin(y, (0.0, 1.0)).all())


def _oracle_score(y, t) -> np.ndarray:
    """Treated rows by outcome descending first, control rows by outcome ascending last."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(t).astype(bool)
    return np.where(t, y, -y)


def perfect_uplift_curve(y_true, treatment) -> tuple[np.ndarray, np.ndarray]:
    """The best achievable uplift curve on these outcomes (scikit-uplift's for yes/no)."""
    y = np.asarray(y_true, dtype=float)
    t = np.asarray(treatment).astype(bool)
    if is_binary(y):
        control_responders = np.sum((y == 1) & ~t)
        treated_non_responders = np.sum((y == 0) & t)
        summand = y if control_responders > treated_non_responders else t.astype(float)
        score = 2.0 * (y == t) + summand
    else:
        score = _oracle_score(y, t)
    return uplift_curve(y, score, t)


def perfect_qini_curve(y_true, treatment, negative_effect: bool = True):
    """The best achievable Qini curve; without ``negative_effect`` the curve rises to the
    overall incremental response at once and stays flat (scikit-uplift's definition)."""
    y = np.asarray(y_true, dtype=float)
    t = np.asarray(treatment).astype(bool)
    if negative_effect:
        return qini_curve(y, _oracle_score(y, t), t)
    total = y[t].sum() - t.sum() * y[~t].sum() / max((~t).sum(), 1)
    return np.array([0.0, total, len(y)]), np.array([0.0, total, total])


def _area(x, y) -> float:
    return float(np.trapezoid(y, x))


def _normalised_area(curve, perfect) -> float:
    x, y = curve
    xp, yp = perfect
    random_area = _area([0.0, xp[-1]], [0.0, yp[-1]])
    best = _area(xp, yp) - random_area
    if best == 0:
        return float("nan")
    return (_area(x, y) - random_area) / best


def uplift_auc_score(y_true, uplift, treatment) -> float:
    """Normalised area under the uplift curve (AUUC): model area above the random line divided
    by the perfect curve's area above it (1 = perfect, 0 = random, < 0 worse than random)."""
    return _normalised_area(
        uplift_curve(y_true, uplift, treatment), perfect_uplift_curve(y_true, treatment)
    )


def qini_auc_score(y_true, uplift, treatment, negative_effect: bool = True) -> float:
    """Qini coefficient: normalised area under the Qini curve (1 = perfect, 0 = random)."""
    return _normalised_area(
        qini_curve(y_true, uplift, treatment),
        perfect_qini_curve(y_true, treatment, negative_effect),
    )


def uplift_at_k(y_true, uplift, treatment, k: float = 0.3, strategy: str = "overall") -> float:
    """Treated mean minus control mean among the top ``k`` (share, or a row count if int).

    ``strategy="overall"`` takes the first ``int(k·n)`` rows of all rows ranked by score;
    ``"by_group"`` the first ``int(k·n_T)`` treated and ``int(k·n_C)`` control rows.  Rows
    tied at the cut score count with the share of their tie group needed to fill the top.
    NaN when a group has no row in the top.
    """
    y, s, t = _arrays(y_true, uplift, treatment)
    n = len(y)
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        if not 0 < k <= n:
            raise ValueError(f"k={k} must be a row count in 1..{n}")
        share = None
    elif 0 < float(k) <= 1:
        share = float(k)
    else:
        raise ValueError(f"k={k} must be a share in (0, 1] or a positive row count")
    if strategy == "overall":
        top = int(n * share) if share is not None else int(k)
        w = _top_weights(s, top)
        wt, wc = w * t, w * ~t
    elif strategy == "by_group":
        wt, wc = np.zeros(n), np.zeros(n)
        for group, out in ((t, wt), (~t, wc)):
            top = int(group.sum() * share) if share is not None else int(k)
            out[group] = _top_weights(s[group], min(top, int(group.sum())))
    else:
        raise ValueError(f"strategy must be 'overall' or 'by_group', not {strategy!r}")
    if wt.sum() == 0 or wc.sum() == 0:
        return float("nan")
    return float(wt @ y / wt.sum() - wc @ y / wc.sum())


def policy_value_at_k(y_true, uplift, treatment, k: float = 0.3) -> tuple[float, float]:
    """Expected extra outcome per customer of contacting the top ``k`` (share) by score and
    nobody else, with its standard error, by inverse-propensity weighting on a randomised test.

    With ``p`` the share treated and ``π`` the top weight (rows tied at the cut in proportion),
    the estimate is the mean of ``π·y·(t/p - (1-t)/(1-p))``: the targeted customers' outcome if
    contacted minus if not, spread over all customers.  Times 1,000 it is the extra responses
    (or money) per 1,000 customers; random targeting of ``k`` gives ``k`` times the effect.
    """
    y, s, t = _arrays(y_true, uplift, treatment)
    if not 0 < float(k) <= 1:
        raise ValueError(f"k={k} must be a share in (0, 1]")
    p = t.mean()
    if p in (0.0, 1.0):
        return float("nan"), float("nan")
    z = _top_weights(s, int(len(y) * k)) * y * np.where(t, 1.0 / p, -1.0 / (1.0 - p))
    return float(z.mean()), float(z.std(ddof=1) / np.sqrt(len(z))) if len(z) > 1 else np.nan


def _top_weights(score: np.ndarray, top: int) -> np.ndarray:
    """Weight of each row in the top ``top`` rows by score: 1 above the cut score, 0 below, and
    for the rows tied at the cut the share of their tie group needed to fill ``top`` (so the
    result does not depend on row order)."""
    w = np.zeros(len(score))
    if top <= 0:
        return w
    cut = np.sort(score)[::-1][top - 1]
    above, tied = score > cut, score == cut
    w[above] = 1.0
    w[tied] = (top - above.sum()) / tied.sum()
    return w


def _bin_shares(score: np.ndarray, bins: int) -> np.ndarray:
    """Share of each row in each of ``bins`` near-equal parts of the rows ranked by score (best
    first; part sizes as ``numpy.array_split``): a block of tied scores is spread over the parts
    its positions span, every row of the block with the same shares, so the parts do not depend
    on row order.  An ``(n, bins)`` array whose rows sum to 1."""
    n = len(score)
    order = descending_order(score)
    ranked = np.asarray(score, dtype=float)[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ranked)) + 1]
    ends = np.r_[starts[1:], n]
    edges = np.r_[0, np.cumsum(np.full(bins, n // bins) + (np.arange(bins) < n % bins))]
    overlap = np.minimum(ends[:, None], edges[None, 1:]) - np.maximum(starts[:, None], edges[:-1])
    block_shares = overlap.clip(0) / (ends - starts)[:, None]
    shares = np.empty((n, bins))
    shares[order] = block_shares[np.repeat(np.arange(len(starts)), ends - starts)]
    return shares


def uplift_by_percentile(
    y_true, uplift, treatment, bins: int = 10, strategy: str = "overall"
) -> pd.DataFrame:
    """Per score bin (best first): group sizes, group means, uplift and its standard error.

    Rows tied in score are spread over the bins their ranks span, each counting in proportion
    (so counts may be fractional and the table does not depend on row order).
    Columns ``n_treatment``, ``n_control``, ``response_rate_treatment``,
    ``response_rate_control`` (the mean outcome: a rate, or money per customer), ``uplift``,
    ``std_uplift``; index ``"0-10"``, ``"10-20"``, … (percent of customers, best first).
    """
    y, s, t = _arrays(y_true, uplift, treatment)
    if not isinstance(bins, (int, np.integer)) or not 0 < bins <= len(y):
        raise ValueError(f"bins={bins} must be a positive integer no larger than the rows")
    if strategy == "overall":
        shares = _bin_shares(s, bins)
        st, sc = shares * t[:, None], shares * ~t[:, None]
    elif strategy == "by_group":
        st, sc = np.zeros((len(y), bins)), np.zeros((len(y), bins))
        st[t], sc[~t] = _bin_shares(s[t], bins), _bin_shares(s[~t], bins)
    else:
        raise ValueError(f"strategy must be 'overall' or 'by_group', not {strategy!r}")
    stats = []
    for w in (st, sc):
        n = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w.T @ y) / n
            var = ((w.T @ y**2) / n - mean**2).clip(0) * n / (n - 1)  # weighted, unbiased
            stats.append((n, mean, np.where(n > 1, var / n, np.nan)))
    (nt, mt, vt), (nc, mc, vc) = stats
    rows = list(zip(nt, nc, mt, mc, mt - mc, np.sqrt(vt + vc), strict=True))
    edges = np.linspace(0, 100, bins + 1)
    index = [f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(bins)]
    return pd.DataFrame(
        rows,
        columns=[
            "n_treatment",
            "n_control",
            "response_rate_treatment",
            "response_rate_control",
            "uplift",
            "std_uplift",
        ],
        index=pd.Index(index, name="percentile"),
    )

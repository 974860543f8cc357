"""Uplift models and uplift metrics: the *extra* response a contact causes.

Models follow scikit-learn's shape: hyper-parameters in ``__init__``, ``fit(X, treatment, y)``
returns ``self``, fitted attributes end in ``_``, ``predict(X)`` returns the estimated uplift
per row (treated outcome minus control outcome: a probability difference for a yes/no outcome,
a money difference for a money outcome).  Any scikit-learn estimator can sit inside; by default
a small gradient-boosting model (:func:`make_estimator`).

* :class:`TwoModelUplift` (T-learner): one outcome model on the treated, one on the controls,
  uplift = difference of their predictions.
* :class:`SLearnerUplift` (S-learner): one model on ``[X, t, t·X]`` (the treatment and its
  interactions with every feature), uplift = prediction with ``t=1`` minus with ``t=0``.
* :class:`ClassTransformationUplift`: for a yes/no outcome the class variable
  ``z = y·t + (1-y)(1-t)`` (Jaskowski & Jaroszewicz 2012), fitted with weights that make treated
  and control equally heavy so that ``uplift = 2·P(z=1|x) - 1`` stays valid when the groups
  differ in size; for a money outcome the transformed outcome
  ``y·(t-p)/(p(1-p))`` (Athey & Imbens 2015) regressed on ``x``.
* :class:`XLearnerUplift` (Künzel et al. 2019): outcome models per group, imputed individual
  effects, effect models per group, combined with the propensity (share treated).
* :class:`MultiArmUplift`: any of the above per offer (arm) against control; optional
  ``groups`` (campaigns) so that each arm is compared only with the controls of the campaigns
  that tested it (randomisation happened within a campaign).

Metrics (plain functions like ``sklearn.metrics``) follow the definitions documented by
scikit-uplift (``sklift.metrics``, https://www.uplift-modeling.com/en/latest/api/metrics/ —
``uplift_curve``, ``qini_curve``, ``perfect_uplift_curve``, ``perfect_qini_curve``,
``uplift_auc_score``, ``qini_auc_score``, ``uplift_at_k``, ``uplift_by_percentile``), written
here from those definitions:

* rows are ordered by score, highest first; **ties** are broken deterministically by row order
  (a stable sort), and the curves take one point per *distinct* score (a block of tied scores is
  targeted all together, as in ``sklearn.metrics.roc_curve``);
* uplift curve at ``n`` targeted = ``(Y_T/N_T - Y_C/N_C) · n`` (a group rate is 0 while the
  group is empty); Qini curve = ``Y_T - Y_C · N_T/N_C`` (Radcliffe 2007);
* ``uplift_auc_score`` / ``qini_auc_score`` = (area under the model curve - area under the
  straight "random targeting" line) / (same for the perfect curve); ``qini_auc_score`` with
  ``negative_effect=True`` takes the perfect ordering treated responders first, control
  responders last;
* ``uplift_at_k`` (``strategy="overall"``) = treated mean minus control mean among the first
  ``int(k·n)`` rows; ``"by_group"`` takes the first ``int(k·n_T)`` treated and ``int(k·n_C)``
  control rows;
* ``uplift_by_percentile`` splits the ordered rows into ``bins`` near-equal parts
  (``numpy.array_split``).

Unlike scikit-uplift, every metric also accepts **money outcomes** (``y`` any number): the
curves and uplift@k are the same formulas on sums and means of money; the perfect curves then
order treated rows by ``y`` descending and control rows by ``y`` ascending (treated spenders
first, control spenders last).  For a yes/no outcome the perfect uplift curve is
scikit-uplift's construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from crm_models.dataset import UnsupportedData

__all__ = [
    "ClassTransformationUplift",
    "MultiArmUplift",
    "PooledSLearnerUplift",
    "make_multi_arm",
    "SLearnerUplift",
    "TwoModelUplift",
    "XLearnerUplift",
    "make_estimator",
    "make_learner",
    "LEARNERS",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_auc_score",
    "qini_curve",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_by_percentile",
    "uplift_curve",
]


# =========================================================================== metrics
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


def _is_binary(y) -> bool:
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
    if _is_binary(y):
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
    ``"by_group"`` the first ``int(k·n_T)`` treated and ``int(k·n_C)`` control rows.
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
    order = descending_order(s)
    y, t = y[order], t[order]
    if strategy == "overall":
        top = int(n * share) if share is not None else int(k)
        yt, tt = y[:top], t[:top]
        treated, control = yt[tt], yt[~tt]
    elif strategy == "by_group":
        treated, control = y[t], y[~t]
        top_t = int(len(treated) * share) if share is not None else int(k)
        top_c = int(len(control) * share) if share is not None else int(k)
        treated, control = treated[:top_t], control[:top_c]
    else:
        raise ValueError(f"strategy must be 'overall' or 'by_group', not {strategy!r}")
    if len(treated) == 0 or len(control) == 0:
        return float("nan")
    return float(treated.mean() - control.mean())


def uplift_by_percentile(
    y_true, uplift, treatment, bins: int = 10, strategy: str = "overall"
) -> pd.DataFrame:
    """Per score bin (best first): group sizes, group means, uplift and its standard error.

    Columns ``n_treatment``, ``n_control``, ``response_rate_treatment``,
    ``response_rate_control`` (the mean outcome: a rate, or money per customer), ``uplift``,
    ``std_uplift``; index ``"0-10"``, ``"10-20"``, … (percent of customers, best first).
    """
    y, s, t = _arrays(y_true, uplift, treatment)
    if not isinstance(bins, (int, np.integer)) or not 0 < bins <= len(y):
        raise ValueError(f"bins={bins} must be a positive integer no larger than the rows")
    order = descending_order(s)
    y, t = y[order], t[order]
    rows = []
    if strategy == "overall":
        parts = [
            (yb[tb], yb[~tb])
            for yb, tb in zip(np.array_split(y, bins), np.array_split(t, bins), strict=True)
        ]
    elif strategy == "by_group":
        parts = list(zip(np.array_split(y[t], bins), np.array_split(y[~t], bins), strict=True))
    else:
        raise ValueError(f"strategy must be 'overall' or 'by_group', not {strategy!r}")
    for treated, control in parts:
        mt = treated.mean() if len(treated) else np.nan
        mc = control.mean() if len(control) else np.nan
        vt = treated.var(ddof=1) / len(treated) if len(treated) > 1 else np.nan
        vc = control.var(ddof=1) / len(control) if len(control) > 1 else np.nan
        rows.append((len(treated), len(control), mt, mc, mt - mc, np.sqrt(vt + vc)))
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


# =========================================================================== estimators
GBM_PARAMS = dict(
    max_iter=100, learning_rate=0.05, max_depth=2, min_samples_leaf=100, l2_regularization=1.0
)  # shallow and strongly regularised: uplift is a small difference of noisy estimates


def make_estimator(family: str = "gbm", binary: bool = True, random_state: int = 0):
    """A small default estimator: ``"gbm"`` (histogram gradient boosting) or ``"linear"``
    (median imputation, scaling, L2-regularised logistic / ridge regression)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "gbm":
        cls = HistGradientBoostingClassifier if binary else HistGradientBoostingRegressor
        return cls(**GBM_PARAMS, random_state=random_state)
    if family == "linear":
        last = LogisticRegression(C=0.1, max_iter=1000) if binary else Ridge(alpha=10.0)
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), last)
    raise ValueError(f"unknown estimator family {family!r} (gbm, linear)")


class _Constant:
    """Stand-in outcome model when a group has a single outcome value."""

    def __init__(self, value: float):
        self.value = float(value)

    def predict(self, X):
        return np.full(len(X), self.value)


def _binary(y) -> bool:
    return _is_binary(y)


class _Fitted:
    """A fitted outcome model on the columns that vary in its training rows (histogram
    gradient boosting in scikit-learn 1.9 fails on a constant column)."""

    def __init__(self, est, keep: np.ndarray):
        self.est = est
        self.keep = keep
        self.classifier = hasattr(est, "predict_proba")

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)[:, self.keep]
        if self.classifier:
            return self.est.predict_proba(X)[:, 1]
        return np.asarray(self.est.predict(X), dtype=float)


def _varying_columns(X: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    return np.flatnonzero(np.isfinite(lo) & (hi > lo))


def fit_outcome(est, X, y, sample_weight=None):
    """Fit a clone of ``est`` (probability of a yes/no outcome, or a number) on ``X``, ``y``;
    returns an object whose ``predict`` gives the probability or number."""
    X = _as_array(X)
    y = np.asarray(y, dtype=float)
    is_classifier = hasattr(est, "predict_proba")
    if len(y) == 0:
        return _Constant(0.0)
    if is_classifier and len(np.unique(y)) < 2:
        return _Constant(y.mean())
    keep = _varying_columns(X)
    if not len(keep):
        return _Constant(np.average(y, weights=sample_weight))
    est = clone(est)
    target = y.astype(int) if is_classifier else y
    Xk = X[:, keep]
    if sample_weight is None:
        est.fit(Xk, target)
    elif hasattr(est, "steps"):
        est.fit(Xk, target, **{f"{est.steps[-1][0]}__sample_weight": sample_weight})
    else:
        est.fit(Xk, target, sample_weight=sample_weight)
    return _Fitted(est, keep)


_fit_outcome = fit_outcome


def _predict_outcome(model, X) -> np.ndarray:
    return model.predict(_as_array(X))


def _xty(X, treatment, y):
    X = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
    t = np.asarray(treatment).astype(bool)
    y = np.asarray(y, dtype=float)
    if not (len(X) == len(t) == len(y)):
        raise ValueError("X, treatment and y must have the same number of rows")
    if t.all() or not t.any():
        raise UnsupportedData(NEED_BOTH)
    return X, t, y


NEED_BOTH = (
    "Uplift models need both treated and control customers: some who were mailed and a "
    "random control group who were not."
)


def _as_array(X) -> np.ndarray:
    return X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)


class _UpliftModel(BaseEstimator):
    def _default(self, est, binary: bool, family: str = "gbm"):
        return make_estimator(family, binary) if est is None else est


class TwoModelUplift(_UpliftModel):
    """T-learner: separate outcome models for treated and control rows."""

    def __init__(self, estimator=None, estimator_control=None):
        self.estimator = estimator
        self.estimator_control = estimator_control

    def fit(self, X, treatment, y):
        X, t, y = _xty(X, treatment, y)
        self.binary_ = _binary(y)
        est = self._default(self.estimator, self.binary_)
        est_c = est if self.estimator_control is None else self.estimator_control
        self.model_treated_ = _fit_outcome(est, X[t], y[t])
        self.model_control_ = _fit_outcome(est_c, X[~t], y[~t])
        return self

    def predict_outcomes(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (control, treated) outcome per row."""
        X = _as_array(X)
        return _predict_outcome(self.model_control_, X), _predict_outcome(self.model_treated_, X)

    def predict(self, X) -> np.ndarray:
        control, treated = self.predict_outcomes(X)
        return treated - control


class SLearnerUplift(_UpliftModel):
    """S-learner: one model on ``[X, t, t·X]``; uplift = f(x, t=1) - f(x, t=0)."""

    def __init__(self, estimator=None, interactions: bool = True):
        self.estimator = estimator
        self.interactions = interactions

    def _design(self, X, t):
        t = np.asarray(t, dtype=float)[:, None]
        parts = [X, t] + ([X * t] if self.interactions else [])
        return np.hstack(parts)

    def fit(self, X, treatment, y):
        X, t, y = _xty(X, treatment, y)
        self.binary_ = _binary(y)
        self.model_ = _fit_outcome(
            self._default(self.estimator, self.binary_), self._design(X, t), y
        )
        return self

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)
        ones, zeros = np.ones(len(X)), np.zeros(len(X))
        return _predict_outcome(self.model_, self._design(X, ones)) - _predict_outcome(
            self.model_, self._design(X, zeros)
        )


class ClassTransformationUplift(_UpliftModel):
    """Class transformation (yes/no outcome) or transformed outcome (money outcome)."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, treatment, y):
        X, t, y = _xty(X, treatment, y)
        self.binary_ = _binary(y)
        self.propensity_ = float(t.mean())
        p = self.propensity_
        if self.binary_:
            z = np.where(t, y, 1.0 - y)
            weight = np.where(t, 0.5 / p, 0.5 / (1.0 - p))
            est = self._default(self.estimator, True)
            self.model_ = _fit_outcome(est, X, z, sample_weight=weight)
        else:
            target = y * (t.astype(float) - p) / (p * (1.0 - p))
            est = self._default(self.estimator, False)
            self.model_ = _fit_outcome(est, X, target)
        return self

    def predict(self, X) -> np.ndarray:
        out = _predict_outcome(self.model_, _as_array(X))
        return 2.0 * out - 1.0 if self.binary_ else out


class XLearnerUplift(_UpliftModel):
    """X-learner (Künzel, Sekhon, Bickel & Yu 2019) with a constant propensity (randomised)."""

    def __init__(self, estimator=None, effect_estimator=None):
        self.estimator = estimator
        self.effect_estimator = effect_estimator

    def fit(self, X, treatment, y):
        X, t, y = _xty(X, treatment, y)
        self.binary_ = _binary(y)
        est = self._default(self.estimator, self.binary_)
        eff = self.effect_estimator
        if eff is None:
            family = "linear" if hasattr(est, "steps") else "gbm"
            eff = make_estimator(family, binary=False)
        m1 = _fit_outcome(est, X[t], y[t])
        m0 = _fit_outcome(est, X[~t], y[~t])
        d1 = y[t] - _predict_outcome(m0, X[t])
        d0 = _predict_outcome(m1, X[~t]) - y[~t]
        self.effect_treated_ = _fit_outcome(eff, X[t], d1)
        self.effect_control_ = _fit_outcome(eff, X[~t], d0)
        self.propensity_ = float(t.mean())
        return self

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)
        g = self.propensity_
        return g * _predict_outcome(self.effect_control_, X) + (1 - g) * _predict_outcome(
            self.effect_treated_, X
        )


LEARNERS = {
    "pooled_s_learner_gbm": (
        "S-learner pooled over all offers, gradient boosting",
        None,
        "gbm",
    ),
    "two_model_gbm": ("T-learner, gradient boosting", TwoModelUplift, "gbm"),
    "s_learner_gbm": ("S-learner, gradient boosting", SLearnerUplift, "gbm"),
    "class_transformation_gbm": (
        "Class transformation, gradient boosting",
        ClassTransformationUplift,
        "gbm",
    ),
    "x_learner_gbm": ("X-learner, gradient boosting", XLearnerUplift, "gbm"),
    "two_model_logistic": ("T-learner, regularised logistic (baseline)", TwoModelUplift, "linear"),
}


def make_learner(name: str, binary: bool = True, random_state: int = 0) -> _UpliftModel:
    """An uplift learner by name (see :data:`LEARNERS`), with the default estimator inside."""
    if name not in LEARNERS:
        raise ValueError(f"unknown uplift model {name!r} (known: {', '.join(LEARNERS)})")
    _, cls, family = LEARNERS[name]
    if cls is None:
        raise ValueError(f"{name!r} is a multi-arm model: use make_multi_arm({name!r}, ...)")
    return cls(make_estimator(family, binary, random_state))


def make_multi_arm(
    name: str, binary: bool = True, random_state: int = 0, control="control", arms=None
):
    """A multi-arm uplift model by name: the pooled S-learner, or any single-arm learner per arm."""
    if name == "pooled_s_learner_gbm":
        return PooledSLearnerUplift(make_estimator("gbm", binary, random_state), control, arms)
    return MultiArmUplift(make_learner(name, binary, random_state), control=control, arms=arms)


class MultiArmUplift(BaseEstimator):
    """One uplift learner per arm (offer) against the control arm.

    ``fit(X, arm, y, groups=None)``: ``arm`` holds arm names (``control`` for the control
    group); with ``groups`` (e.g. campaign ids) an arm is compared only with the control rows
    of the groups in which it was tested.  ``predict(X)`` returns an ``(n, n_arms)`` array in
    the order of ``arms_``; :meth:`predict_frame` the same as a DataFrame.
    """

    def __init__(self, learner=None, control: str = "control", arms=None):
        self.learner = learner
        self.control = control
        self.arms = arms

    def fit(self, X, arm, y, groups=None):
        X = _as_array(X)
        arm = np.asarray(arm, dtype=object)
        y = np.asarray(y, dtype=float)
        groups = None if groups is None else np.asarray(groups, dtype=object)
        arms = self.arms or sorted({a for a in arm if a != self.control})
        if not arms:
            raise UnsupportedData(NEED_BOTH)
        is_control = arm == self.control
        base = self.learner if self.learner is not None else TwoModelUplift()
        self.arms_ = list(arms)
        self.models_ = {}
        for a in self.arms_:
            rows = arm == a
            ctrl = is_control
            if groups is not None:
                ctrl = is_control & np.isin(groups, np.unique(groups[rows]))
            keep = rows | ctrl
            self.models_[a] = clone(base).fit(X[keep], rows[keep], y[keep])
        return self

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)
        return np.column_stack([self.models_[a].predict(X) for a in self.arms_])

    def predict_arm(self, X, arm: str) -> np.ndarray:
        """Uplift of one arm against control."""
        return self.models_[arm].predict(_as_array(X))

    def predict_frame(self, X, index=None) -> pd.DataFrame:  # noqa: D102
        idx = X.index if index is None and isinstance(X, pd.DataFrame) else index
        return pd.DataFrame(self.predict(X), columns=self.arms_, index=idx)


class PooledSLearnerUplift(BaseEstimator):
    """Multi-arm S-learner: one model on every row (all arms and the control group) with the
    features, a "contacted" flag and one flag per arm; uplift of arm *a* = prediction as if
    contacted with *a* minus prediction as if not contacted.

    Pooling lets the arms share what they have in common (who responds at all, the effect of
    being contacted) while trees still find arm-specific differences; with small campaigns it
    is much less noisy than separate models per arm.  ``groups`` is accepted for the interface
    of :class:`MultiArmUplift` and not needed (the flags carry the arm).
    """

    def __init__(self, estimator=None, control: str = "control", arms=None):
        self.estimator = estimator
        self.control = control
        self.arms = arms

    def _design(self, X, arm_vector) -> np.ndarray:
        a = np.asarray(arm_vector, dtype=object)
        flags = [(a != self.control).astype(float)] + [(a == b).astype(float) for b in self.arms_]
        return np.column_stack([X, *flags])

    def fit(self, X, arm, y, groups=None):
        X = _as_array(X)
        arm = np.asarray(arm, dtype=object)
        y = np.asarray(y, dtype=float)
        self.arms_ = list(self.arms or sorted({a for a in arm if a != self.control}))
        keep = np.isin(arm, [*self.arms_, self.control])
        if not (arm[keep] == self.control).any() or (arm[keep] == self.control).all():
            raise UnsupportedData(NEED_BOTH)
        self.binary_ = _binary(y)
        est = make_estimator("gbm", self.binary_) if self.estimator is None else self.estimator
        self.model_ = _fit_outcome(est, self._design(X[keep], arm[keep]), y[keep])
        return self

    def _outcome(self, X, arm: str) -> np.ndarray:
        return _predict_outcome(self.model_, self._design(X, np.full(len(X), arm, dtype=object)))

    def predict_arm(self, X, arm: str) -> np.ndarray:
        """Uplift of one arm against control."""
        X = _as_array(X)
        return self._outcome(X, arm) - self._outcome(X, self.control)

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)
        control = self._outcome(X, self.control)
        return np.column_stack([self._outcome(X, a) - control for a in self.arms_])

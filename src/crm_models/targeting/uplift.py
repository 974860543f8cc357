"""Uplift learners: the *extra* response a contact causes, per customer (and per offer).

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
* :class:`AverageEffectUplift`: the same measured average effect for everyone (the fallback
  when no model ranks better than random).
* :class:`MultiArmUplift`: any of the above per offer (arm) against control; optional
  ``groups`` (campaigns) so that each arm is compared only with the controls of the campaigns
  that tested it (randomisation happened within a campaign).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble._hist_gradient_boosting import binning as _binning

from crm_models.data.dataset import UnsupportedData
from crm_models.targeting.metrics import is_binary

_SKLEARN_THRESHOLDS = _binning._find_binning_thresholds

__all__ = [
    "AverageEffectUplift",
    "ClassTransformationUplift",
    "GBM_PARAMS",
    "LEARNERS",
    "MultiArmUplift",
    "NEED_BOTH",
    "PooledSLearnerUplift",
    "SLearnerUplift",
    "TwoModelUplift",
    "XLearnerUplift",
    "fit_outcome",
    "limit_threads",
    "make_estimator",
    "make_learner",
    "make_multi_arm",
    "shared_fits",
]


def limit_threads():
    """One BLAS/OpenMP thread: small fits on a shared machine are much faster that way."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


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


def _weighted_thresholds(col_data, max_bins, sample_weight=None):
    """scikit-learn's ``_find_binning_thresholds`` (1.9) for a weighted column, all percentiles
    at once: scikit-learn calls its weighted percentile once per threshold (255 times, each
    with a sort and array-API overhead).  The same thresholds (a test compares them); unweighted
    columns go to scikit-learn's own function."""
    if sample_weight is None:
        return _SKLEARN_THRESHOLDS(col_data, max_bins)
    keep = ~np.isnan(col_data) & (sample_weight != 0)
    col_data, sample_weight = col_data[keep], sample_weight[keep]
    order = np.argsort(col_data)
    col_data, sample_weight = col_data[order], sample_weight[order]
    distinct = np.unique(col_data).astype(_binning.X_DTYPE)
    if len(distinct) == 1:
        return np.asarray([])
    if len(distinct) <= max_bins:
        return _SKLEARN_THRESHOLDS(col_data, max_bins)  # midpoints: weights play no part
    # sklearn.utils.stats._weighted_percentile(..., average=True), vectorised over the ranks
    ranks = np.linspace(0, 100, num=max_bins + 1)[1:-1]
    idx = np.argsort(col_data[:, None], axis=0)[:, 0]  # as scikit-learn sorts (not stable)
    cdf = np.cumsum(sample_weight[idx])
    target = ranks / 100 * cdf[-1]
    target[target == 0] = np.nextafter(0.0, 1.0)
    last = len(idx) - 1
    at = np.clip(np.searchsorted(cdf, target), 0, last)
    low, high = col_data[idx[at]], col_data[idx[np.clip(at + 1, 0, last)]]
    values = np.where(cdf[at] - target > np.finfo(float).eps, low, (low + high) / 2)
    return np.clip(np.unique(values), None, _binning.ALMOST_INF)


@contextmanager
def _fast_weighted_binning():
    """Histogram gradient boosting fitted with sample weights, binning with
    :func:`_weighted_thresholds` (scikit-learn sorts each column once per percentile there)."""
    _binning._find_binning_thresholds = _weighted_thresholds
    try:
        yield
    finally:
        _binning._find_binning_thresholds = _SKLEARN_THRESHOLDS


_SHARED_FITS: dict | None = None  # fitted outcome models by their inputs, inside shared_fits()


@contextmanager
def shared_fits():
    """Inside it, :func:`fit_outcome` fits an estimator once per identical input (the T- and
    X-learner both fit the same outcome model per group): the fits are deterministic, so reusing
    them changes no number."""
    global _SHARED_FITS
    outer, _SHARED_FITS = _SHARED_FITS, ({} if _SHARED_FITS is None else _SHARED_FITS)
    try:
        yield
    finally:
        _SHARED_FITS = outer


def _fit_key(est, X: np.ndarray, y: np.ndarray, sample_weight) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for part in (X, y, sample_weight if sample_weight is not None else np.empty(0)):
        digest.update(np.ascontiguousarray(part).view(np.uint8))
    return type(est).__name__, repr(est.get_params()), X.shape, digest.hexdigest()


def fit_outcome(est, X, y, sample_weight=None):
    """Fit a clone of ``est`` (probability of a yes/no outcome, or a number) on ``X``, ``y``;
    returns an object whose ``predict`` gives the probability or number."""
    X = _as_array(X)
    y = np.asarray(y, dtype=float)
    if _SHARED_FITS is None:
        return _fit_outcome(est, X, y, sample_weight)
    key = _fit_key(est, X, y, sample_weight)
    if key not in _SHARED_FITS:
        _SHARED_FITS[key] = _fit_outcome(est, X, y, sample_weight)
    return _SHARED_FITS[key]


def _fit_outcome(est, X: np.ndarray, y: np.ndarray, sample_weight=None):
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
        with _fast_weighted_binning():
            est.fit(Xk, target, sample_weight=sample_weight)
    return _Fitted(est, keep)


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
        self.binary_ = is_binary(y)
        est = self._default(self.estimator, self.binary_)
        est_c = est if self.estimator_control is None else self.estimator_control
        self.model_treated_ = fit_outcome(est, X[t], y[t])
        self.model_control_ = fit_outcome(est_c, X[~t], y[~t])
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
        self.binary_ = is_binary(y)
        self.model_ = fit_outcome(
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
        self.binary_ = is_binary(y)
        self.propensity_ = float(t.mean())
        p = self.propensity_
        if self.binary_:
            z = np.where(t, y, 1.0 - y)
            weight = np.where(t, 0.5 / p, 0.5 / (1.0 - p))
            est = self._default(self.estimator, True)
            self.model_ = fit_outcome(est, X, z, sample_weight=weight)
        else:
            target = y * (t.astype(float) - p) / (p * (1.0 - p))
            est = self._default(self.estimator, False)
            self.model_ = fit_outcome(est, X, target)
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
        self.binary_ = is_binary(y)
        est = self._default(self.estimator, self.binary_)
        eff = self.effect_estimator
        if eff is None:
            family = "linear" if hasattr(est, "steps") else "gbm"
            eff = make_estimator(family, binary=False)
        m1 = fit_outcome(est, X[t], y[t])
        m0 = fit_outcome(est, X[~t], y[~t])
        d1 = y[t] - _predict_outcome(m0, X[t])
        d0 = _predict_outcome(m1, X[~t]) - y[~t]
        self.effect_treated_ = fit_outcome(eff, X[t], d1)
        self.effect_control_ = fit_outcome(eff, X[~t], d0)
        self.propensity_ = float(t.mean())
        return self

    def predict(self, X) -> np.ndarray:
        X = _as_array(X)
        g = self.propensity_
        return g * _predict_outcome(self.effect_control_, X) + (1 - g) * _predict_outcome(
            self.effect_treated_, X
        )


class AverageEffectUplift(_UpliftModel):
    """Average-effect targeting: every customer gets the measured average effect (treated mean
    minus control mean); the fallback when no model ranks customers better than random."""

    def fit(self, X, treatment, y):
        _, t, y = _xty(X, treatment, y)
        self.effect_ = float(y[t].mean() - y[~t].mean())
        return self

    def predict(self, X) -> np.ndarray:
        return np.full(len(_as_array(X)), self.effect_)


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
    """An uplift learner by name (see :data:`LEARNERS`), with the default estimator inside;
    ``"average_effect"`` for :class:`AverageEffectUplift`."""
    if name == "average_effect":
        return AverageEffectUplift()
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
        self.binary_ = is_binary(y)
        est = make_estimator("gbm", self.binary_) if self.estimator is None else self.estimator
        self.model_ = fit_outcome(est, self._design(X[keep], arm[keep]), y[keep])
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

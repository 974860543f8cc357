"""A stacked purchase model: BG/NBD's forecast corrected by gradient boosting on recent activity.

Why: BG/NBD is stationary and sees a customer only through (x, t_x, T); recent activity,
first-order value and customer attributes carry more (issue 18).  The model keeps BG/NBD's
forecast as the base and learns a multiplier on it: a Poisson gradient-boosting model
(scikit-learn's ``HistGradientBoostingRegressor``) of purchases with BG/NBD's expected
purchases as the exposure (target ``y / base``, weight ``base``: the Poisson likelihood of
``y ~ Poisson(base × multiplier)``).  It learns on an *earlier* split of the calibration data
(the inner calibration ends ``H`` periods before the calibration end, the inner holdout is those
``H`` periods) and is applied at the real calibration end with the same features.  The
features do not grow with the customer's age (rates, shares of the age, recent counts), so
customers older than any seen in the inner split are not extrapolated; nothing after the
calibration end is read.  Because the forecast is ``base × multiplier`` per customer, P(alive)
and the shape of purchases over time stay BG/NBD's, and value ranges scale with the multiplier.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from crm_models.data.dataset import Dataset
from crm_models.engine import Source, aggregates
from crm_models.features import btyd_columns, customer_codes, significant, transactions_as_of
from crm_models.units import as_of_day, unit_days
from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, NotEnoughData, btyd_arrays, compress, customer_index
from crm_models.value.fit_quality import PRIOR_SD

# the booster runs on one OpenMP thread: on this 2-core machine shared with other jobs, its
# threads waiting on each other made a 3,000-customer fit take 18 s instead of 0.3 s, and two
# threads predicted 300,000 customers in 2.6 s against 1.4 s on one.  Large predictions are
# split into row blocks predicted by Python threads instead (the booster releases the GIL;
# independent blocks never wait on each other): 1,000,000 customers in 1.1 s against 2.2 s
PREDICT_BLOCK = 100_000  # rows per thread at least
PREDICT_THREADS = min(4, os.cpu_count() or 1)
RECENT_WEEKS = (4, 13, 26)  # windows of the recent-activity counts
# the multiplier never falls with more recent purchases (all else equal)
INCREASING = tuple(f"recent_{w}" for w in RECENT_WEEKS)
FEATURES = (
    "frequency",
    "rate",
    "since_last",
    "idle_share",
    *(f"recent_{w}" for w in RECENT_WEEKS),
    "log_first_value",
    "log_mean_value",
    "p_alive",
)
MAX_BINS = 255  # the booster's max_bins (its default)
BIN_SUBSAMPLE = 200_000  # above this many rows the booster bins an unweighted subsample


def purchase_days(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and purchase day (``customer_id``, ``day``, ``amount`` summed),
    from the lines with a non-negative amount, as :func:`~crm_models.value.calibration_holdout`
    counts purchases."""
    keep = tx["amount"].to_numpy() >= 0
    frame = pd.DataFrame(
        {
            "customer_id": tx["customer_id"].to_numpy()[keep],
            "day": tx["order_date"].dt.normalize().to_numpy()[keep],
            "amount": tx["amount"].to_numpy(dtype=float)[keep],
        }
    )
    return frame.groupby(["customer_id", "day"], sort=False, as_index=False)["amount"].sum()


def purchase_days_as_of(
    ds: Dataset | Source, end, customers: np.ndarray | None = None
) -> pd.DataFrame:
    """:func:`purchase_days` of the known customers' lines up to the ``end`` day, from a loaded
    dataset or summed by an engine, as the same table on both: rows by customer and day, a
    day's spend rounded to :func:`~crm_models.features.significant` digits (an engine adds a
    day's lines in its own order).  ``customers``: only these (the engine keeps only their
    lines before summing)."""
    end = pd.Timestamp(end)
    if isinstance(ds, Source):
        days = aggregates.purchase_day_rows(
            ds if customers is None else ds.only_customers(customers), end
        )
    else:
        days = purchase_days(transactions_as_of(ds, end))
        if customers is not None:
            days = days.loc[days["customer_id"].isin(customers)]
    days = days.sort_values(["customer_id", "day"], kind="stable", ignore_index=True)
    days["amount"] = significant(days["amount"].to_numpy())
    return days


def counts_between(days: pd.DataFrame, start, end, index: pd.Index) -> pd.Series:
    """Purchase days in (start, end] per customer of ``index`` (0 for those without any)."""
    d = days["day"].to_numpy()
    inside = (d > pd.Timestamp(start).to_datetime64()) & (d <= pd.Timestamp(end).to_datetime64())
    pos = index.get_indexer(days["customer_id"].to_numpy()[inside])
    counts = np.bincount(pos[pos >= 0], minlength=len(index)).astype(float)
    return pd.Series(counts, index=index, name="purchases")


def activity_features(days: pd.DataFrame, end, time_unit: str = "W") -> pd.DataFrame:
    """The BTYD summary at ``end`` (inclusive) plus ``recent_4``/``recent_13``/``recent_26``
    (purchase days in the last 4/13/26 weeks), ``first_value`` (spend on the first day).

    ``days`` has one row per customer and (normalised) day, as :func:`purchase_days` gives, so
    every row is a distinct purchase day: the sums of :func:`~crm_models.features.btyd_summary`
    are plain bincounts over integer day numbers (no sort, no datetime arithmetic)."""
    end = pd.Timestamp(end)
    stamp = days["day"].to_numpy()
    known = stamp <= end.to_datetime64()
    if not known.any():
        raise NotEnoughData(f"No purchases on or before {end.date()}: nothing to learn from.")
    rows = slice(None) if known.all() else known  # no copies when every day is known
    codes, index = customer_codes(days["customer_id"].to_numpy()[rows])
    day = stamp[rows].astype("datetime64[D]").view(np.int64)  # whole days since 1970 (floor)
    amount = days["amount"].to_numpy(dtype=np.float64)[rows]
    n = len(index)
    first_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last_day = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first_day, codes, day)
    np.maximum.at(last_day, codes, day)
    on_first = day == first_day[codes]  # exactly one row per customer
    first_amount = np.bincount(codes[on_first], weights=amount[on_first], minlength=n)
    sums = {
        "first_day": first_day,
        "last_day": last_day,
        "n_days": np.bincount(codes, minlength=n),
        "first_amount": first_amount,
        "total": np.bincount(codes, weights=amount, minlength=n),
    }
    today = as_of_day(end)
    out = pd.DataFrame(btyd_columns(sums, today, unit_days(time_unit)), index=index)
    out["frequency"] = out["frequency"].astype(np.int64)
    age = today - day
    for w in RECENT_WEEKS:
        out[f"recent_{w}"] = np.bincount(codes[age < 7 * w], minlength=n).astype(np.float64)
    out["first_value"] = first_amount
    return out


def _forecast(model: BetaGeoModel, frame: pd.DataFrame, t: float) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected purchases over the next ``t`` periods per customer of an activity
    frame (``model.p_alive`` and ``model.conditional_expected_purchases``, the same numbers),
    computed once per distinct history (x, t_x, T) instead of twice per customer."""
    x, tx, T = btyd_arrays(frame)
    (ux, utx, uT), _, inv = compress(x, tx, T)
    alive = model._p_alive_rows(ux, utx, uT)
    expected = model._expected_alive(model._theta(), ux, uT, float(t)) * alive
    return alive[inv], expected[inv]


def _split_points(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The thresholds at which the booster can split a feature, as it bins it: the midpoints
    of the distinct values when there are at most :data:`MAX_BINS`, else the weighted
    quantiles (averaged inverted CDF) at ``1/MAX_BINS, 2/MAX_BINS, ...``; a threshold above an
    empty bin is dropped (the booster splits at the lower one of equal splits).

    Why: the booster's own binning (scikit-learn 1.8+, with sample weights) computes those
    quantiles one at a time (254 sorts of the column, 2 s for 50,000 rows); here they are one
    sort and one search, and the booster learns on the bin codes (the same trees)."""
    order = np.argsort(values)
    v = values[order]
    distinct = v[np.concatenate(([True], v[1:] != v[:-1]))]
    if len(distinct) <= MAX_BINS:
        return (distinct[:-1] + distinct[1:]) / 2
    cdf = np.cumsum(weight[order])
    rank = np.linspace(0, 100, MAX_BINS + 1)[1:-1] / 100 * cdf[-1]
    at = np.minimum(np.searchsorted(cdf, rank), len(v) - 1)
    above = np.minimum(at + 1, len(v) - 1)
    exact = cdf[at] - rank <= np.finfo(np.float64).eps
    edges = np.unique(np.where(exact, (v[at] + v[above]) / 2, v[at]))
    used = np.unique(np.searchsorted(edges, v))  # bins holding training values
    return edges[used[:-1]]


def _btyd(summary: pd.DataFrame, time_unit: str) -> BetaGeoModel:
    """BG/NBD with a weak prior (as the last step of the fallback rule), so a history that
    barely shows drop-out still gives usable features."""
    return BetaGeoModel(time_unit=time_unit, prior_sd=PRIOR_SD).fit(summary)


class StackedModel(BaseEstimator):
    """BG/NBD's expected purchases times a multiplier learnt by gradient boosting on an earlier
    split (module docstring).

    ``share`` caps the inner holdout at that share of the calibration span (the inner
    calibration keeps the rest); ``max_train_rows`` subsamples the inner customers (fixed
    seed) to bound the fit time.  Fitted attributes: ``calibration_frame_`` (the activity
    frame at the calibration end: what :meth:`predict` scores when given no frame), ``btyd_``
    (BG/NBD with the weak prior at the calibration end: the base forecast, and P(alive) for
    risk lists), ``booster_``,
    ``horizon_`` (periods predicted), ``inner_end_``, ``inner_horizon_``, ``features_``,
    ``covariates_``, ``split_points_`` (per feature, the thresholds whose bin codes the booster
    sees instead of the raw values; empty when it bins more than ``BIN_SUBSAMPLE`` rows itself).
    """

    label = "stacked"

    def __init__(
        self,
        share: float = 1 / 3,
        max_iter: int = 50,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        max_train_rows: int = 50_000,
        time_unit: str = "W",
        random_state: int = 0,
    ):
        self.share = share
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_train_rows = max_train_rows
        self.time_unit = time_unit
        self.random_state = random_state

    def _design(
        self, frame: pd.DataFrame, p_alive: np.ndarray, covariates: pd.DataFrame | None
    ) -> pd.DataFrame:
        """The feature matrix of :data:`FEATURES` (plus covariates) for an activity frame."""
        T = frame["T"].to_numpy(dtype=float)
        x = frame["frequency"].to_numpy(dtype=float)
        idle = T - frame["recency"].to_numpy(dtype=float)
        X = pd.DataFrame(
            {
                "frequency": x,
                "rate": np.divide(x, T, out=np.zeros_like(x), where=T > 0),
                "since_last": idle,
                "idle_share": np.divide(idle, T, out=np.ones_like(idle), where=T > 0),
                **{f"recent_{w}": frame[f"recent_{w}"].to_numpy() for w in RECENT_WEEKS},
                "log_first_value": np.log1p(np.maximum(frame["first_value"].to_numpy(), 0)),
                "log_mean_value": np.log1p(np.fmax(frame["monetary_value"].to_numpy(), 0)),
                "p_alive": p_alive,
            },
            index=customer_index(frame),
        )
        if covariates is not None and len(covariates.columns):
            cov = covariates.reindex(X.index)
            for col in cov.columns:
                numeric = pd.api.types.is_numeric_dtype(cov[col])
                X[f"cov_{col}"] = cov[col] if numeric else cov[col].astype("category")
        return X

    def _binned(self, X: pd.DataFrame) -> pd.DataFrame:
        """:data:`FEATURES` replaced by their bin among ``split_points_`` (the booster then
        splits exactly where it would on the raw values)."""
        return X.assign(
            **{c: np.searchsorted(p, X[c].to_numpy()) for c, p in self.split_points_.items()}
        )

    def fit(
        self,
        days: pd.DataFrame,
        calibration_end,
        horizon: float,
        covariates: pd.DataFrame | None = None,
    ) -> StackedModel:
        """Learn from the purchase days (:func:`purchase_days`) up to ``calibration_end`` to
        predict purchases over the next ``horizon`` periods; later days are ignored.
        ``covariates``: customer attributes indexed by ``customer_id`` (text columns become
        categories)."""
        end = pd.Timestamp(calibration_end)
        days = days.loc[(days["day"] <= end).to_numpy()]
        per = unit_days(self.time_unit)
        span = (end - days["day"].min()).days / per
        inner_h = min(float(horizon), self.share * span)
        inner_days = int(round(inner_h * per))
        if inner_days < 7:
            raise NotEnoughData(
                f"The calibration period ({span:.1f} periods) is too short to train the stacked "
                "model on an earlier split of it (an inner holdout of at least a week is needed)."
            )
        self.horizon_ = float(horizon)
        self.inner_end_ = end - pd.Timedelta(days=inner_days)
        self.inner_horizon_ = inner_days / per
        # BG/NBD at the calibration end is fitted in a thread meanwhile (NumPy and the
        # optimiser release the GIL); one BLAS thread throughout keeps the sums reproducible
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as pool:
            frame = activity_features(days, end, self.time_unit)
            final = pool.submit(_btyd, frame, self.time_unit)
            inner = activity_features(days, self.inner_end_, self.time_unit)
            inner_btyd = _btyd(inner, self.time_unit)
            p_alive, base = _forecast(inner_btyd, inner, self.inner_horizon_)
            X = self._design(inner, p_alive, covariates)
            y = counts_between(days, self.inner_end_, end, X.index).to_numpy()
            if len(X) > self.max_train_rows:
                rows = np.sort(
                    np.random.default_rng(self.random_state).choice(
                        len(X), self.max_train_rows, replace=False
                    )
                )
                X, y, base = X.iloc[rows], y[rows], base[rows]
            base = np.maximum(base, 1e-12)  # exposure: y ~ Poisson(base × multiplier)
            # the booster bins a weighted sample at most BIN_SUBSAMPLE rows long itself, slowly
            small = len(X) <= BIN_SUBSAMPLE
            self.split_points_ = {
                c: _split_points(X[c].to_numpy(dtype=np.float64), base) for c in FEATURES if small
            }
            X = self._binned(X)
            self.features_ = list(X.columns)
            booster = HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                monotonic_cst={c: 1 for c in INCREASING},
                early_stopping=False,
                random_state=self.random_state,
            )
            with threadpool_limits(1, user_api="openmp"):  # one thread, see the note at the top
                self.booster_ = booster.fit(X, y / base, sample_weight=base)
            self.btyd_ = final.result()
        self.calibration_frame_ = frame
        self.covariates_ = None if covariates is None else list(covariates.columns)
        return self

    def multiplier(
        self, frame: pd.DataFrame | None = None, covariates: pd.DataFrame | None = None
    ) -> pd.Series:
        """The learnt correction of BG/NBD's forecast for each customer of an activity frame at
        the calibration end (:func:`activity_features`; default ``calibration_frame_``),
        indexed by ``customer_id``."""
        factor, _ = self._multiplier_and_base(frame, covariates)
        return factor

    def _multiplier_and_base(
        self, frame: pd.DataFrame | None, covariates: pd.DataFrame | None
    ) -> tuple[pd.Series, np.ndarray]:
        """:meth:`multiplier` and BG/NBD's forecast over ``horizon_`` (P(alive) is shared)."""
        if not hasattr(self, "booster_"):
            raise ValueError("StackedModel is not fitted yet; call fit() first")
        frame = self.calibration_frame_ if frame is None else frame
        if (covariates is None) != (self.covariates_ is None):
            raise FitError("give predict() the same covariates as fit()")
        p_alive, base = _forecast(self.btyd_, frame, self.horizon_)
        X = self._design(frame, p_alive, covariates)[self.features_]
        blocks = max(1, min(PREDICT_THREADS, len(X) // PREDICT_BLOCK))
        cuts = np.linspace(0, len(X), blocks + 1).astype(int)

        def block(i: int) -> np.ndarray:
            # OpenMP's thread count is per calling thread: set it in each worker
            with threadpool_limits(1, user_api="openmp"):
                return self.booster_.predict(self._binned(X.iloc[cuts[i] : cuts[i + 1]]))

        with ThreadPoolExecutor(blocks) as pool:
            factor = np.concatenate(list(pool.map(block, range(blocks))))
        return pd.Series(factor, index=X.index, name="multiplier"), base

    def predict(
        self, frame: pd.DataFrame | None = None, covariates: pd.DataFrame | None = None
    ) -> pd.Series:
        """Expected purchase days over ``horizon_`` for each customer of an activity frame at
        the calibration end (default ``calibration_frame_``): BG/NBD's forecast times
        :meth:`multiplier`."""
        factor, base = self._multiplier_and_base(frame, covariates)
        return (factor * base).rename(f"expected_purchases_{self.horizon_:g}")

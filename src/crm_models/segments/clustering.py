"""Behavioural clusters of buyers that must prove they are stable, named from their profiles.

Buyers are described by log/scale-transformed view columns (:data:`BEHAVIOUR_FEATURES`),
standardised.  K-means (scored by silhouette, computed on a sample: never a customer ×
customer matrix of the whole base) and a Gaussian mixture (scored by BIC) are fitted for every
``k`` in ``k_range`` on a fixed random sample, and every candidate is refitted on
``n_bootstrap`` bootstrap resamples of that sample; **stability** is the mean adjusted Rand
index between the bootstrap fit's and the original fit's labels of the sample.  Per method the
best-scoring *stable* ``k`` (mean ARI ≥ ``stability_threshold``, 0.75 following Hennig 2007's
"stable cluster" guideline) is kept, and the more stable of the two methods is the chosen
segmentation; when no candidate is stable the most stable one is returned with ``stable_ =
False`` and must not be presented as real segments.  Segments are named from their profiles
(:func:`name_segments`): the two features in which a segment differs most from the base.

All work is vectorised (NumPy / scikit-learn on arrays); models fit on a sample and predict
every customer, so a million customers cost a few seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from crm_models.data.conditions import few
from crm_models.segments.common import buyers
from crm_models.segments.sampling import SEGMENT_SAMPLE_CAP, SampleInfo, stratified_sample

# view column -> (transform, short name used in tables and segment names)
BEHAVIOUR_FEATURES: dict[str, str] = {
    "orders": "log1p",
    "avg_order_value": "log1p",
    "days_since_last": "log1p",
    "tenure_days": "log1p",
    "n_categories": "log1p",
    "return_rate": "identity",
}
# words for a segment that is above (+) or below (-) the base in a feature
_WORDS: dict[str, tuple[str, str]] = {
    "orders": ("frequent", "one-off"),
    "revenue": ("high-value", "low-value"),
    "avg_order_value": ("big-basket", "small-basket"),
    "days_since_last": ("lapsed", "recently active"),
    "tenure_days": ("long-standing", "newly acquired"),
    "n_categories": ("broad-range", "narrow-range"),
    "return_rate": ("heavy-returning", "rarely returning"),
}


def behaviour_matrix(view: pd.DataFrame, drop_constant: bool = True) -> pd.DataFrame:
    """Transformed behaviour features of the buyers (rows: customers who bought, not scaled).

    Uses the columns of :data:`BEHAVIOUR_FEATURES` present in the view (log1p for counts and
    money, as is) plus the ``channel_share_*`` columns when there are at least two channels.
    Missing values (e.g. no return rate) become 0.  Columns constant over these customers
    are dropped unless ``drop_constant`` is False (scoring a few customers with a fitted
    model must keep every column the model was fitted on).
    """
    chan = [c for c in view.columns if c.startswith("channel_share_")]
    used = [c for c in BEHAVIOUR_FEATURES if c in view.columns] + (chan if len(chan) >= 2 else [])
    v = view.loc[buyers(view), used]  # these columns only: a whole view is 3.4 GB at 10M
    cols = {}
    for col, how in BEHAVIOUR_FEATURES.items():
        if col not in v.columns:
            continue
        x = v[col].astype("float64").fillna(0.0)
        cols[col] = np.log1p(x.clip(lower=0)) if how == "log1p" else x
    if len(chan) >= 2:
        for c in chan:
            cols[c] = v[c].astype("float64").fillna(0.0)
    out = pd.DataFrame(cols, index=v.index)
    if not drop_constant:
        return out
    # drop constant columns (e.g. no returns at all): they carry no information
    return out.loc[:, out.std(ddof=0) > 1e-12]


def _word(feature: str, sign: int) -> str:
    if feature.startswith("channel_share_"):
        ch = feature.removeprefix("channel_share_")
        return f"{ch}-first" if sign > 0 else f"rarely {ch}"
    up, down = _WORDS.get(feature, (f"high {feature}", f"low {feature}"))
    return up if sign > 0 else down


def name_segments(centres: pd.DataFrame, min_effect: float = 0.25) -> dict[Any, str]:
    """Descriptive names from standardised segment centres (rows: segments, columns: features).

    A segment is named after the two features where its centre is furthest from the base
    (|z| largest, at least ``min_effect``); "typical" when nothing stands out.  Names are made
    unique by adding the next distinguishing feature.
    """
    names: dict[Any, str] = {}
    order = {
        s: list(centres.loc[s].abs().sort_values(ascending=False).index) for s in centres.index
    }
    used: dict[str, Any] = {}
    for s in centres.index:
        row = centres.loc[s]
        feats = [f for f in order[s] if abs(row[f]) >= min_effect]
        words = [_word(f, int(np.sign(row[f]))) for f in feats]
        n_words = 2
        name = ", ".join(words[:n_words]) if words else "typical"
        while name in used and n_words < len(words):
            n_words += 1
            name = ", ".join(words[:n_words])
        base, i = name, 2
        while name in used:
            name = f"{base} ({i})"
            i += 1
        used[name] = s
        names[s] = name[0].upper() + name[1:]
    return names


def _fit_predict(method: str, k: int, X: np.ndarray, seed: int, X_eval: np.ndarray):
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(X)
    else:
        model = GaussianMixture(
            n_components=k,
            covariance_type="full",
            n_init=1,
            random_state=seed,
            reg_covar=1e-4,
            tol=1e-2,
            max_iter=200,
        ).fit(X)
    return model, model.predict(X_eval)


class BehaviourClustering(ClusterMixin, BaseEstimator):
    """K-means and Gaussian-mixture segments of buyers, with ``k`` chosen by fit *and* stability.

    A scikit-learn clusterer: ``clone``, ``get_params``/``set_params`` and ``fit_predict`` work.

    Parameters
    ----------
    k_range : candidate numbers of segments.
    methods : ``"kmeans"`` (scored by silhouette) and/or ``"gmm"`` (scored by BIC).
    n_bootstrap : bootstrap refits per candidate for the stability (adjusted Rand) index.
    sample_size : customers in the model-selection sample (all if fewer).
    silhouette_size : customers on which the silhouette is computed.
    stability_threshold : mean ARI a segmentation needs to count as stable.
    random_state : seed; the same input and seed give the same segments.
    sample_cap : above this many buyers the selection sample is stratified by the ``strata``
        given to :meth:`fit` (:data:`~crm_models.segments.sampling.SEGMENT_SAMPLE_CAP`).

    Fitted attributes: ``features_`` (column names), ``scaler_``, ``sample_`` (the selection
    sample, a :class:`~crm_models.segments.sampling.SampleInfo`), ``selection_`` (one row per
    method × k: silhouette, bic, stability, stability_sd, stable), ``method_``, ``k_``,
    ``model_``, ``order_`` (solver label → segment number, 0 = largest), ``stability_``, ``stable_``, ``labels_`` (Series over the buyers),
    ``centres_`` (standardised feature means per segment), ``names_`` (segment → name).
    """

    def __init__(
        self,
        k_range: tuple[int, ...] | range = range(2, 8),
        methods: tuple[str, ...] = ("kmeans", "gmm"),
        n_bootstrap: int = 10,
        sample_size: int = 6000,
        silhouette_size: int = 3000,
        stability_threshold: float = 0.75,
        random_state: int = 0,
        sample_cap: int = SEGMENT_SAMPLE_CAP,
    ) -> None:
        self.k_range = k_range
        self.methods = methods
        self.n_bootstrap = n_bootstrap
        self.sample_size = sample_size
        self.silhouette_size = silhouette_size
        self.stability_threshold = stability_threshold
        self.random_state = random_state
        self.sample_cap = sample_cap

    def _matrix(self, X: pd.DataFrame | np.ndarray, drop_constant: bool = True) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame) and "orders" in X.columns and "revenue" in X.columns:
            return behaviour_matrix(X, drop_constant)
        frame = pd.DataFrame(X)
        return frame.set_axis([str(c) for c in frame.columns], axis=1)

    def fit(
        self, X: pd.DataFrame | np.ndarray, y: Any = None, strata: pd.Series | None = None
    ) -> BehaviourClustering:
        """Fit on a customer view (buyers are used) or on a ready numeric feature matrix.

        ``strata`` (e.g. the RFM segment of every customer, indexed like the view): above
        ``sample_cap`` buyers the selection sample is drawn stratified by it, so every
        segment keeps its share; at or below, it is a simple random sample (as always).
        """
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        frame = self._matrix(X)
        if len(frame) < 2 * max(self.k_range):
            raise few(
                len(frame),
                "customer has bought",
                "customers have bought",
                "look for segments",
                2 * max(self.k_range),
            )
        self.features_ = list(frame.columns)
        self.scaler_ = StandardScaler().fit(frame.to_numpy(dtype=np.float64))
        Z = self.scaler_.transform(frame.to_numpy(dtype=np.float64))
        rng = np.random.default_rng(self.random_state)
        n = len(Z)
        if strata is not None and n > self.sample_cap:
            by = strata.reindex(frame.index)
            sample = stratified_sample(by, self.sample_size, self.random_state)
        else:
            sample = np.sort(rng.choice(n, min(n, self.sample_size), replace=False))
        S = Z[sample]
        self.sample_ = SampleInfo(
            "behavioural segments (model choice)",
            len(sample),
            n,
            str(strata.name) if strata is not None and n > self.sample_cap else None,
            intervals=False,
        )
        sil_idx = rng.choice(len(S), min(len(S), self.silhouette_size), replace=False)
        boots = [rng.integers(0, len(S), len(S)) for _ in range(self.n_bootstrap)]
        with threadpool_limits(1):  # small fits: thread start-up costs 10-50x the work
            rows, fitted = self._candidates(S, sil_idx, boots)
        sel = pd.DataFrame(rows)
        sel["stable"] = sel["stability"] >= self.stability_threshold
        sel["chosen_for_method"] = False
        best = []
        for method, part in sel.groupby("method", sort=False):
            pool = part.loc[part["stable"]] if part["stable"].any() else part
            if method == "kmeans":
                i = (
                    pool["silhouette"].idxmax()
                    if part["stable"].any()
                    else pool["stability"].idxmax()
                )
            else:
                i = pool["bic"].idxmin() if part["stable"].any() else pool["stability"].idxmax()
            sel.loc[i, "chosen_for_method"] = True
            best.append(i)
        # the more stable of the methods' choices (k-means on ties: hard, simple assignments)
        chosen = max(
            best, key=lambda i: (sel.loc[i, "stability"], sel.loc[i, "method"] == "kmeans")
        )
        sel["chosen"] = sel.index == chosen
        self.selection_ = sel
        self.method_ = str(sel.loc[chosen, "method"])
        self.k_ = int(sel.loc[chosen, "k"])
        self.stability_ = float(sel.loc[chosen, "stability"])
        self.stable_ = bool(sel.loc[chosen, "stable"])
        self.model_ = fitted[(self.method_, self.k_)]
        raw = self.model_.predict(Z)
        sizes = np.bincount(raw, minlength=self.k_)
        self.order_ = np.argsort(np.argsort(-sizes, kind="stable"), kind="stable")
        labels = self.order_[raw]
        self.labels_ = pd.Series(labels, index=frame.index, name="cluster")
        centres = pd.DataFrame(Z, index=frame.index, columns=self.features_).groupby(labels).mean()
        self.centres_ = centres
        self.names_ = name_segments(centres)
        return self

    def _candidates(self, S: np.ndarray, sil_idx: np.ndarray, boots: list[np.ndarray]):
        """Fit every method × k on the sample, with silhouette, BIC and bootstrap stability."""
        from sklearn.metrics import adjusted_rand_score, silhouette_score

        rows, fitted = [], {}
        for method in self.methods:
            for k in self.k_range:
                model, ref = _fit_predict(method, k, S, self.random_state, S)
                fitted[(method, k)] = model
                aris = [
                    adjusted_rand_score(
                        ref, _fit_predict(method, k, S[b], self.random_state + 1 + i, S)[1]
                    )
                    for i, b in enumerate(boots)
                ]
                sil = (
                    silhouette_score(S[sil_idx], ref[sil_idx])
                    if method == "kmeans" and len(np.unique(ref[sil_idx])) > 1
                    else np.nan
                )
                rows.append(
                    {
                        "method": method,
                        "k": k,
                        "silhouette": float(sil),
                        "bic": float(model.bic(S)) if method == "gmm" else np.nan,
                        "stability": float(np.mean(aris)) if aris else np.nan,
                        "stability_sd": float(np.std(aris)) if aris else np.nan,
                        "smallest_share": float(np.bincount(ref, minlength=k).min() / len(ref)),
                    }
                )
        return rows, fitted

    def predict(self, X: pd.DataFrame | np.ndarray) -> pd.Series:
        # every fitted column, even one constant among the customers scored (a small batch)
        frame = self._matrix(X, drop_constant=False).reindex(columns=self.features_, fill_value=0.0)
        Z = self.scaler_.transform(frame.to_numpy(dtype=np.float64))
        return pd.Series(self.order_[self.model_.predict(Z)], index=frame.index, name="cluster")

    def segment_names(self, labels: pd.Series) -> pd.Series:
        """Labels mapped to the descriptive names (a categorical in label order)."""
        cats = [self.names_[i] for i in sorted(self.names_)]
        return pd.Series(
            pd.Categorical(labels.map(self.names_), categories=cats), index=labels.index
        )


def stability_metrics(selection: pd.DataFrame) -> dict[str, float]:
    """The stability of every candidate of ``BehaviourClustering.selection_``, keyed like
    ``stability_kmeans_k4``."""
    return {
        f"stability_{r['method']}_k{int(r['k'])}": float(r["stability"])
        for _, r in selection.iterrows()
    }

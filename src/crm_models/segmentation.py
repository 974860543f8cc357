"""Market segmentation: RFM segments, behavioural clusters that must prove they are real, profiles.

Everything starts from the single customer view (:func:`crm_models.features.customer_view`, one
row per customer) and returns pandas objects indexed by ``customer_id``.

RFM scoring (:class:`RFMScorer`)
--------------------------------
Recency (time since the last purchase, counted in whole periods of ``unit``: days, weeks or
months), frequency (orders) and monetary value (net revenue) are each scored 1..``q`` (5 = best)
by quantile *rank*: a value's score is ``1 + floor(q * (number of reference customers with a
strictly worse value) / n)``.  Equal values therefore always get the same score (ties are never
split at random), scores never fall as the value improves, and a heavily tied value (half the
base bought once) all lands in the score where the tie starts.  ``fm`` = ``(F + M + 1) // 2``
(the mean of F and M, halves rounded up).  Customers who never bought get no score and the
segment ``prospect``.

Named RFM segments: the first rule of :data:`RFM_RULES` whose R and FM ranges contain the
customer's scores names the segment (the 25 R × FM cells are all covered):

=====================  ========  ========  ============================================
segment                R score   FM score  who they are
=====================  ========  ========  ============================================
champions              4-5       4-5       bought recently, buy often, spend the most
loyal                  3-5       3-5       regular buyers of good value
new                    5         1         first purchase very recently
potential loyalists    4-5       1-2       recent buyers with few or small orders so far
can't lose             1         4-5       used to buy often and big, gone for long
at risk                1-2       3-5       good customers who have not come back for a while
hibernating            2-3       1-2       low-value customers, last seen some time ago
lost                   1         1-2       low value and long gone
=====================  ========  ========  ============================================

Behavioural clustering (:class:`BehaviourClustering`)
-----------------------------------------------------
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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.conditions import few, no_sales
from crm_models.units import unit_days

__all__ = [
    "BEHAVIOUR_FEATURES",
    "RFM_RULES",
    "BehaviourClustering",
    "RFMScorer",
    "Segmentation",
    "behaviour_matrix",
    "indicator_intervals",
    "mix_table",
    "name_segments",
    "quantile_scores",
    "rfm_rules_table",
    "segment_customers",
    "segment_profile",
    "segment_summary",
]

PROSPECT = "prospect"

# (segment, R score range, FM score range, description, suggested treatment)
RFM_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int], str, str], ...] = (
    (
        "champions",
        (4, 5),
        (4, 5),
        "bought recently, buy often and spend the most",
        "reward; early access; ask for reviews and referrals",
    ),
    (
        "loyal",
        (3, 5),
        (3, 5),
        "regular buyers of good value",
        "loyalty programme, cross-sell, upsell",
    ),
    (
        "new",
        (5, 5),
        (1, 1),
        "first purchase very recently",
        "onboarding; make the second purchase easy",
    ),
    (
        "potential loyalists",
        (4, 5),
        (1, 2),
        "recent buyers with few or small orders so far",
        "membership offers, recommendations",
    ),
    (
        "can't lose",
        (1, 1),
        (4, 5),
        "used to buy often and big, but gone for long",
        "win back personally; find out why they left",
    ),
    (
        "at risk",
        (1, 2),
        (3, 5),
        "good customers who have not come back for a while",
        "reactivation offer before they lapse",
    ),
    (
        "hibernating",
        (2, 3),
        (1, 2),
        "low-value customers last seen some time ago",
        "occasional low-cost reminders only",
    ),
    (
        "lost",
        (1, 1),
        (1, 2),
        "low value and long gone",
        "do not spend on them; cheap channels only",
    ),
)
RFM_SEGMENTS = tuple(r[0] for r in RFM_RULES)

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


# --------------------------------------------------------------------------- RFM
def quantile_scores(values: Any, reference: Any | None = None, q: int = 5) -> np.ndarray:
    """Quantile-rank scores ``1..q`` of ``values`` against ``reference`` (default: themselves).

    ``score = 1 + floor(q * (#reference values strictly below the value) / n_reference)``:
    ties share a score, the score never falls as the value grows, NaN gives NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    ref = np.asarray(values if reference is None else reference, dtype=np.float64)
    ref = np.sort(ref[~np.isnan(ref)])
    if len(ref) == 0:
        return np.full(len(values), np.nan)
    below = np.searchsorted(ref, values, side="left")
    scores = 1 + np.floor(q * below / len(ref))
    scores = np.clip(scores, 1, q)
    return np.where(np.isnan(values), np.nan, scores)


def rfm_rules_table() -> pd.DataFrame:
    """The segment rules as a table (for reports and documentation)."""
    rows = [
        {
            "segment": name,
            "R score": f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}",
            "FM score": f"{f[0]}" if f[0] == f[1] else f"{f[0]}-{f[1]}",
            "who they are": desc,
            "suggested treatment": action,
        }
        for name, r, f, desc, action in RFM_RULES
    ]
    return pd.DataFrame(rows)


def _rfm_segment(r: np.ndarray, fm: np.ndarray) -> np.ndarray:
    conditions = [
        (r >= rr[0]) & (r <= rr[1]) & (fm >= ff[0]) & (fm <= ff[1]) for _, rr, ff, _, _ in RFM_RULES
    ]
    return np.select(conditions, list(RFM_SEGMENTS), default=PROSPECT)


class RFMScorer:
    """Recency, frequency and monetary quantile scores and named RFM segments.

    Parameters
    ----------
    q : number of score levels (5: quintile-like scores 1..5).
    unit : period in which recency is counted (``"D"``, ``"W"``, ``"M"``); customers whose last
        purchase falls in the same number of whole periods tie.
    recency, frequency, monetary : view columns (days since last purchase, orders, revenue).

    ``fit(view)`` keeps the buyers' values as the reference distribution (``reference_``), so
    ``transform`` scores any customers against the same base.  Output indexed by customer_id:
    ``recency`` (whole periods), ``frequency``, ``monetary``, ``r``, ``f``, ``m``, ``fm``,
    ``rfm`` (e.g. ``"545"``) and ``segment`` (categorical in :data:`RFM_RULES` order plus
    ``prospect``).
    """

    def __init__(
        self,
        q: int = 5,
        unit: str = "D",
        recency: str = "days_since_last",
        frequency: str = "orders",
        monetary: str = "revenue",
    ) -> None:
        self.q = q
        self.unit = unit
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary

    def _values(self, view: pd.DataFrame) -> pd.DataFrame:
        days = view[self.recency].astype("float64")
        per = unit_days(self.unit)
        bought = days.notna()  # customers with at least one purchase day
        out = pd.DataFrame(
            {
                "recency": np.floor(days / per),
                "frequency": view[self.frequency].astype("float64"),
                # to 1e-6: sums of the same amounts in another order must tie (any engine)
                "monetary": view[self.monetary].astype("float64").round(6),
            },
            index=view.index,
        )
        return out.where(bought)

    def fit(self, view: pd.DataFrame, y: Any = None) -> RFMScorer:
        if self.q < 2:
            raise ValueError("q must be at least 2")
        values = self._values(view).dropna()
        if values.empty or not (values["frequency"] > 0).any():
            raise no_sales("there are no customers to segment", view.attrs.get("as_of"))
        # recency: fewer periods is better, so score its negation
        self.reference_ = {
            "r": np.sort(-values["recency"].to_numpy()),
            "f": np.sort(values["frequency"].to_numpy()),
            "m": np.sort(values["monetary"].to_numpy()),
        }
        self.n_customers_ = len(values)
        return self

    def transform(self, view: pd.DataFrame) -> pd.DataFrame:
        values = self._values(view)
        ref = self.reference_
        r = quantile_scores(-values["recency"].to_numpy(), ref["r"], self.q)
        f = quantile_scores(values["frequency"].to_numpy(), ref["f"], self.q)
        m = quantile_scores(values["monetary"].to_numpy(), ref["m"], self.q)
        fm = np.floor((f + m + 1) / 2)
        scale = self.q / 5.0  # the rules are written for 5 levels
        r5 = np.ceil(r / scale)
        fm5 = np.ceil(fm / scale)
        segment = np.where(np.isnan(r), PROSPECT, _rfm_segment(r5, fm5))
        out = values.copy()
        scored = ~np.isnan(r)
        for name, col in (("r", r), ("f", f), ("m", m), ("fm", fm)):
            out[name] = pd.arrays.IntegerArray(np.nan_to_num(col).astype(np.int64), ~scored)
        # "545": the three scores as digits (joined by "-" when q >= 10)
        if self.q < 10:
            code = np.nan_to_num(100 * r + 10 * f + m).astype(np.int64)
            text = pd.Series(code, index=out.index).astype("string")
        else:
            parts = [pd.Series(np.nan_to_num(x).astype(np.int64)).astype(str) for x in (r, f, m)]
            text = pd.Series(
                (parts[0] + "-" + parts[1] + "-" + parts[2]).to_numpy(), index=out.index
            ).astype("string")
        out["rfm"] = text.where(scored)
        out["segment"] = pd.Categorical(segment, categories=[*RFM_SEGMENTS, PROSPECT])
        out.index.name = "customer_id"
        return out

    def fit_transform(self, view: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        return self.fit(view).transform(view)


# --------------------------------------------------------------------------- profiles
def _weighted_value(view: pd.DataFrame) -> pd.Series:
    return view["revenue"].fillna(0.0) if "revenue" in view.columns else pd.Series(0.0, view.index)


def segment_summary(
    view: pd.DataFrame, segment: pd.Series, value: pd.Series | None = None
) -> pd.DataFrame:
    """Per segment: customers, share of customers, revenue, revenue share, revenue per customer.

    ``value`` (e.g. CLV per customer) adds ``value`` and ``value_share`` columns.
    """
    seg = segment.reindex(view.index)
    revenue = _weighted_value(view)
    g = revenue.groupby(seg, observed=True)
    out = pd.DataFrame({"customers": g.size(), "revenue": g.sum()})
    out = out.loc[out["customers"] > 0]
    total_rev = out["revenue"].clip(lower=0).sum()
    out.insert(1, "customer_share", out["customers"] / out["customers"].sum())
    out["revenue_share"] = out["revenue"].clip(lower=0) / total_rev if total_rev else np.nan
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    if value is not None:
        v = value.reindex(view.index)
        gv = v.groupby(seg, observed=True)
        out["value"] = gv.sum().reindex(out.index)
        out["value_share"] = out["value"].clip(lower=0) / out["value"].clip(lower=0).sum()
    out.index.name = "segment"
    return out


def _mean_ci(x: pd.Series, by: pd.Series, z: float = 1.96) -> pd.DataFrame:
    g = x.groupby(by, observed=True)
    n, mean, sd = g.count(), g.mean(), g.std(ddof=1)
    half = z * sd / np.sqrt(n.clip(lower=1))
    return pd.DataFrame({"n": n, "mean": mean, "low": mean - half, "high": mean + half})


def _share_ci(x: pd.Series, by: pd.Series, z: float = 1.96) -> pd.DataFrame:
    """Wilson score interval of a share per group."""
    g = x.astype("float64").groupby(by, observed=True)
    n, p = g.count(), g.mean()
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low, high = np.minimum(centre - half, p), np.maximum(centre + half, p)  # rounding at 0 / 1
    return pd.DataFrame({"n": n, "mean": p, "low": low, "high": high})


# indicator -> (how it is computed, label)
INDICATORS = {
    "revenue": ("mean", "net revenue per customer"),
    "orders": ("mean", "orders per customer"),
    "avg_order_value": ("mean", "average order value"),
    "repeat": ("share", "share who bought more than once"),
    "retained": ("share", "share who bought in the last 180 days"),
    "clv": ("mean", "predicted customer lifetime value"),
}


def indicator_intervals(
    view: pd.DataFrame, segment: pd.Series, clv: pd.Series | None = None
) -> pd.DataFrame:
    """Key indicators per segment with 95% confidence intervals (long table).

    Means get a normal-theory interval (mean ± 1.96 s/√n), shares a Wilson interval.  Columns:
    segment, indicator, label, n, mean, low, high.
    """
    seg = segment.reindex(view.index)
    buyers = _buyers(view)
    series = {}
    for col in ("revenue", "orders", "avg_order_value"):
        if col in view.columns:
            series[col] = view[col].where(buyers)
    if "orders" in view.columns:
        series["repeat"] = (view["orders"] >= 2).where(buyers)
    if "days_since_last" in view.columns:
        series["retained"] = (view["days_since_last"] <= 180).where(buyers)
    if clv is not None:
        series["clv"] = clv.reindex(view.index)
    parts = []
    for key, x in series.items():
        kind, label = INDICATORS[key]
        ok = x.notna() & seg.notna()
        table = (_share_ci if kind == "share" else _mean_ci)(x[ok], seg[ok])
        table = table.loc[table["n"] > 0]
        parts.append(table.assign(indicator=key, label=label).rename_axis("segment").reset_index())
    out = pd.concat(parts, ignore_index=True)
    return out[["segment", "indicator", "label", "n", "mean", "low", "high"]]


def mix_table(view: pd.DataFrame, segment: pd.Series, column: str) -> pd.DataFrame:
    """Share of each level of ``column`` within each segment (rows: segments, sum to 1).

    For ``column="channel"`` the mean ``channel_share_*`` columns (spend mix) are returned.
    """
    seg = segment.reindex(view.index)
    if column == "channel":
        cols = [c for c in view.columns if c.startswith("channel_share_")]
        if not cols:
            raise KeyError("the view has no channel_share_* columns")
        mix = view[cols].groupby(seg, observed=True).mean()
        mix.columns = [c.removeprefix("channel_share_") for c in cols]
        return mix.rename_axis("segment")
    if column not in view.columns:
        raise KeyError(f"the view has no column {column!r}")
    level = view[column].astype("object").where(view[column].notna(), "unknown").astype(str)
    return pd.crosstab(seg, level, normalize="index").rename_axis("segment")


def segment_profile(
    view: pd.DataFrame,
    segment: pd.Series,
    rfm: pd.DataFrame | None = None,
    clv: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per segment: size and value shares, typical behaviour, RFM, CLV, top levels.

    Adds the mean R/F/M scores when ``rfm`` is given, mean CLV and CLV share when ``clv`` is
    given, the most common favourite category and main channel, and for every categorical
    attribute the most over-represented level.
    """
    seg = segment.reindex(view.index)
    out = segment_summary(view, seg, value=clv)
    g = view.groupby(seg, observed=True)
    for col in ("orders", "avg_order_value", "days_since_last", "tenure_days", "return_rate"):
        if col in view.columns:
            out[col] = g[col].median()
    if "orders" in view.columns:
        out["repeat_share"] = (view["orders"] >= 2).groupby(seg, observed=True).mean()
    if rfm is not None:
        scores = rfm[["r", "f", "m"]].astype("float64").reindex(view.index)
        out[["mean_r", "mean_f", "mean_m"]] = scores.groupby(seg, observed=True).mean()
    if clv is not None:
        out = out.rename(columns={"value": "clv", "value_share": "clv_share"})
        out["clv_per_customer"] = out["clv"] / out["customers"]
    if "favourite_category" in view.columns:
        mix = mix_table(view, seg, "favourite_category")
        out["top_category"] = mix.idxmax(axis=1)
    chan = [c for c in view.columns if c.startswith("channel_share_")]
    if chan:
        out["main_channel"] = mix_table(view, seg, "channel").idxmax(axis=1)
    return out


# --------------------------------------------------------------------------- clustering
def _buyers(view: pd.DataFrame) -> pd.Series:
    if "days_since_last" in view.columns:
        return view["days_since_last"].notna()
    return view["orders"].fillna(0) > 0


def behaviour_matrix(view: pd.DataFrame) -> pd.DataFrame:
    """Transformed behaviour features of the buyers (rows: customers who bought, not scaled).

    Uses the columns of :data:`BEHAVIOUR_FEATURES` present in the view (log1p for counts and
    money, as is) plus the ``channel_share_*`` columns when there are at least two channels.
    Missing values (e.g. no return rate) become 0.
    """
    v = view.loc[_buyers(view)]
    cols = {}
    for col, how in BEHAVIOUR_FEATURES.items():
        if col not in v.columns:
            continue
        x = v[col].astype("float64").fillna(0.0)
        cols[col] = np.log1p(x.clip(lower=0)) if how == "log1p" else x
    chan = [c for c in v.columns if c.startswith("channel_share_")]
    if len(chan) >= 2:
        for c in chan:
            cols[c] = v[c].astype("float64").fillna(0.0)
    out = pd.DataFrame(cols, index=v.index)
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


class BehaviourClustering:
    """K-means and Gaussian-mixture segments of buyers, with ``k`` chosen by fit *and* stability.

    Parameters
    ----------
    k_range : candidate numbers of segments.
    methods : ``"kmeans"`` (scored by silhouette) and/or ``"gmm"`` (scored by BIC).
    n_bootstrap : bootstrap refits per candidate for the stability (adjusted Rand) index.
    sample_size : customers in the model-selection sample (all if fewer).
    silhouette_size : customers on which the silhouette is computed.
    stability_threshold : mean ARI a segmentation needs to count as stable.
    random_state : seed; the same input and seed give the same segments.

    Fitted attributes: ``features_`` (column names), ``scaler_``, ``selection_`` (one row per
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
    ) -> None:
        self.k_range = k_range
        self.methods = methods
        self.n_bootstrap = n_bootstrap
        self.sample_size = sample_size
        self.silhouette_size = silhouette_size
        self.stability_threshold = stability_threshold
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame) and "orders" in X.columns and "revenue" in X.columns:
            return behaviour_matrix(X)
        frame = pd.DataFrame(X)
        return frame.set_axis([str(c) for c in frame.columns], axis=1)

    def fit(self, X: pd.DataFrame | np.ndarray, y: Any = None) -> BehaviourClustering:
        """Fit on a customer view (buyers are used) or on a ready numeric feature matrix."""
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
        sample = np.sort(rng.choice(n, min(n, self.sample_size), replace=False))
        S = Z[sample]
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
        frame = self._matrix(X).reindex(columns=self.features_, fill_value=0.0)
        Z = self.scaler_.transform(frame.to_numpy(dtype=np.float64))
        return pd.Series(self.order_[self.model_.predict(Z)], index=frame.index, name="cluster")

    def segment_names(self, labels: pd.Series) -> pd.Series:
        """Labels mapped to the descriptive names (a categorical in label order)."""
        cats = [self.names_[i] for i in sorted(self.names_)]
        return pd.Series(
            pd.Categorical(labels.map(self.names_), categories=cats), index=labels.index
        )


# --------------------------------------------------------------------------- one call
@dataclass
class Segmentation:
    """RFM segments and behavioural clusters of every customer (see :func:`segment_customers`)."""

    rfm: pd.DataFrame
    clustering: BehaviourClustering
    assignments: pd.DataFrame
    rfm_summary: pd.DataFrame
    cluster_summary: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """customer_id → rfm scores, rfm_segment, cluster, cluster_name (no personal data)."""
        return self.assignments

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: rfm_segments, clusters, stability and the chosen clustering."""

        def shape(summary: pd.DataFrame) -> dict[str, Any]:
            return {
                str(name): {
                    "customers": int(row["customers"]),
                    "revenue_share": round(float(row["revenue_share"]), 6),
                }
                for name, row in summary.iterrows()
            }

        c = self.clustering
        return {
            "rfm_segments": shape(self.rfm_summary),
            "clusters": shape(self.cluster_summary),
            "stability": round(c.stability_, 4),
            "stable": c.stable_,
            "method": c.method_,
            "k": c.k_,
            **self.info,
        }


def segment_customers(
    view: pd.DataFrame, quick: bool = False, random_state: int = 0, unit: str = "D"
) -> Segmentation:
    """RFM-score, segment and cluster every customer of a customer view.

    ``quick`` uses fewer bootstrap refits and a smaller selection sample (tests, previews).
    Raises :class:`~crm_models.dataset.UnsupportedData` when nobody has bought for a positive
    amount, or too few customers have bought to look for segments (twice the largest number
    of segments tried).
    """
    rfm = RFMScorer(unit=unit).fit_transform(view)
    clustering = BehaviourClustering(
        n_bootstrap=4 if quick else 6,
        sample_size=3000 if quick else 4000,
        silhouette_size=2000 if quick else 3000,
        random_state=random_state,
    ).fit(view)
    labels = clustering.labels_
    names = clustering.segment_names(labels)
    assignments = rfm[["r", "f", "m", "rfm"]].copy()
    assignments["rfm_segment"] = rfm["segment"]
    assignments["cluster"] = labels.reindex(view.index).astype("Int64")
    assignments["cluster_name"] = names.reindex(view.index)
    assignments.index.name = "customer_id"
    rfm_summary = segment_summary(view, rfm["segment"])
    cluster_summary = segment_summary(view, assignments["cluster_name"])
    info = {"customers": int(len(view)), "buyers": int(labels.size)}
    return Segmentation(rfm, clustering, assignments, rfm_summary, cluster_summary, info)


def clv_if_available(view: pd.DataFrame, horizon_weeks: float = 52.0) -> pd.Series | None:
    """Predicted 1-year CLV per buyer from :mod:`crm_models.clv` (BG/NBD + Gamma-Gamma), or None.

    Optional: when the module is missing or its models cannot be fitted on this data (too few
    repeat buyers, a degenerate fit) the segment profiles simply go without CLV.
    """
    try:
        from crm_models import clv

        data = clv.buyers(view)
        purchase = clv.BetaGeoModel().fit(data)
        spend = clv.GammaGammaModel().fit(data)
        value = clv.customer_value(purchase, spend, data, horizon=horizon_weeks)
    except Exception:  # noqa: BLE001 - CLV is an optional extra column, never a failure here
        return None
    out = value["clv"].rename("clv")
    return out if np.isfinite(out).all() else None

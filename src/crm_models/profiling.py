"""Customer profiling: what best customers look like, what drives spend, who will buy next.

Answers the source documents' profiling questions from the single customer view:

* **Best-customer profile** (:func:`index_table`): for a target group (default the top value
  decile of buyers; or repeat buyers; or any boolean column) and every known characteristic,
  the share of each level among the target vs. among all buyers, their ratio (index, 100 =
  average), and a two-proportion z-test of the level's target rate against the rest
  (Benjamini-Hochberg adjusted).  :func:`attribute_association` gives one chi-square test and
  Cramér's V per characteristic.
* **Purchasing power** (:func:`purchasing_power`): an OLS regression of log spend (average order
  value by default) on the known characteristics (statsmodels, HC3 robust errors), so every
  coefficient reads "customers with level X spend N% more per order than those with the
  reference level, 95% CI a..b", plus one joint Wald test per characteristic.  It is also fitted
  on 70% of customers and judged on the other 30% against the naive "everybody spends the
  average" prediction.
* **Look-alike / conversion model** (:func:`lookalike`): which one-time buyers (and prospects)
  will buy (again) in the next ``horizon_days``?  Trained on the customers who had bought at most
  once at ``as_of - 2 * horizon`` (labels: purchase in the following horizon) and judged **out of
  time** on those of ``as_of - horizon``, using only what is known early: characteristics and
  the first order.  Gradient boosting is compared with a regularised logistic regression and
  with the naive rule "the most recent first-time buyers come back first" (AUC, lift in the top
  deciles, Brier score, calibration); the better model, refitted on the latest window, scores
  today's one-time buyers and prospects.
* **Characteristics that matter** (:func:`characteristics`): permutation importance (drop in
  held-out AUC when a characteristic is shuffled, bootstrap 95% CI) next to the spend
  regression's joint tests; a characteristic that moves neither spend nor repeat buying
  (CI includes zero, adjusted p ≥ 0.05) is "not worth attention".

All computations are vectorised; loops run over characteristics or resamples, never customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.conditions import few
from crm_models.dataset import Dataset, UnsupportedData

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "LookalikeResult",
    "PurchasingPower",
    "attribute_association",
    "attribute_columns",
    "attribute_levels",
    "characteristics",
    "define_target",
    "index_table",
    "lift_at",
    "lookalike",
    "purchasing_power",
]

# columns of the customer view that describe behaviour, not who the customer is
BEHAVIOUR_COLUMNS = frozenset(
    {
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "first_purchase",
        "last_purchase",
        "revenue",
        "gross_sales",
        "returns",
        "orders",
        "return_orders",
        "items",
        "favourite_category",
        "n_categories",
        "avg_order_value",
        "return_rate",
        "mean_interpurchase",
        "contacts",
        "measured_contacts",
        "responses",
        "response_amount",
        "last_contact",
        "response_rate",
        "tenure_days",
        "days_since_last",
        "lifecycle_stage",
    }
)
# known after the fact or bookkeeping: never a characteristic to target on
_NOT_CHARACTERISTICS = frozenset({"opt_out_reason", "opt_out_date", "signup_date", "customer_id"})
MAX_LEVELS = 30


def attribute_columns(view: pd.DataFrame, max_levels: int = MAX_LEVELS) -> list[str]:
    """The known characteristics of customers in a view (customer attributes and region).

    Dates, behaviour, after-the-fact columns (opt-out reason) and columns with one level or more
    than ``max_levels`` levels are left out; a numeric column ``x`` is left out when ``x_band``
    exists (age and age_band describe the same thing).
    """
    out = []
    for col in view.columns:
        if (
            col in BEHAVIOUR_COLUMNS
            or col in _NOT_CHARACTERISTICS
            or col.startswith("channel_share_")
            or pd.api.types.is_datetime64_any_dtype(view[col])
            or f"{col}_band" in view.columns
        ):
            continue
        x = view[col]
        n_levels = x.nunique(dropna=True)
        numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
        if n_levels < 2 or (not numeric and n_levels > max_levels):
            continue
        out.append(col)
    return out


def attribute_levels(x: pd.Series, bins: int = 5) -> pd.Series:
    """A characteristic as text levels: numbers with many values binned into quantile ranges."""
    numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    if numeric and x.nunique() > bins:
        cut = pd.qcut(x, bins, duplicates="drop")
        labels = cut.cat.categories
        names = [f"{iv.left:,.0f}-{iv.right:,.0f}" for iv in labels]
        return pd.Series(
            pd.Categorical.from_codes(cut.cat.codes, categories=names).astype(object),
            index=x.index,
        ).where(cut.notna(), "unknown")
    return x.astype(object).where(x.notna(), "unknown").astype(str)


def define_target(view: pd.DataFrame, target: str = "top_decile") -> pd.Series:
    """Boolean target over the buyers: ``"top_decile"`` (top 10% by net revenue), ``"repeat"``
    (more than one order) or the name of a boolean column of the view."""
    buyers = view.loc[view["days_since_last"].notna()] if "days_since_last" in view else view
    if target == "top_decile":
        rev = buyers["revenue"].fillna(0.0)
        return (rev.rank(method="first", ascending=False) <= max(1, round(0.1 * len(rev)))).rename(
            "target"
        )
    if target == "repeat":
        return (buyers["orders"] >= 2).rename("target")
    if target in buyers.columns:
        return buyers[target].fillna(False).astype(bool).rename("target")
    raise KeyError(f"unknown target {target!r}: use top_decile, repeat or a boolean column")


# --------------------------------------------------------------------------- best customers
def index_table(
    view: pd.DataFrame,
    target: pd.Series | str = "top_decile",
    attributes: list[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per characteristic level: share among the target vs. the base, index, significance.

    Columns: attribute, level, customers, target_customers, share_of_target, share_of_base,
    index (100 × share_of_target / share_of_base), target_rate, p_value (two-proportion z-test
    of the level's target rate against all other buyers), p_adjusted (Benjamini-Hochberg over
    the whole table), significant.  Sorted: significant levels first, then by |log index|.
    """
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    y = define_target(view, target) if isinstance(target, str) else target.astype(bool)
    base = view.loc[y.index]
    attributes = attribute_columns(base) if attributes is None else attributes
    n, n_t = len(y), int(y.sum())
    parts = []
    for col in attributes:
        lv = attribute_levels(base[col])
        g = y.groupby(lv, observed=True)
        parts.append(
            pd.DataFrame({"customers": g.size(), "target_customers": g.sum()})
            .assign(attribute=col)
            .rename_axis("level")
            .reset_index()
        )
    if not parts:
        return pd.DataFrame(
            columns=["attribute", "level", "customers", "target_customers", "index", "p_value"]
        )
    t = pd.concat(parts, ignore_index=True)
    t["share_of_target"] = t["target_customers"] / max(n_t, 1)
    t["share_of_base"] = t["customers"] / n
    t["index"] = 100 * t["share_of_target"] / t["share_of_base"]
    t["target_rate"] = t["target_customers"] / t["customers"]
    rest_n = n - t["customers"]
    rest_rate = (n_t - t["target_customers"]) / rest_n.clip(lower=1)
    pooled = n_t / n
    se = np.sqrt(pooled * (1 - pooled) * (1 / t["customers"] + 1 / rest_n.clip(lower=1)))
    z = (t["target_rate"] - rest_rate) / se.replace(0, np.nan)
    t["p_value"] = np.nan_to_num(2 * norm.sf(np.abs(z.to_numpy(dtype=float))), nan=1.0)
    t["p_adjusted"] = multipletests(t["p_value"], method="fdr_bh")[1]
    t["significant"] = t["p_adjusted"] < alpha
    t["strength"] = np.abs(np.log(t["index"].clip(lower=1e-6) / 100))
    t = t.sort_values(["significant", "strength"], ascending=[False, False]).drop(
        columns="strength"
    )
    cols = [
        "attribute",
        "level",
        "customers",
        "target_customers",
        "share_of_target",
        "share_of_base",
        "index",
        "target_rate",
        "p_value",
        "p_adjusted",
        "significant",
    ]
    return t[cols].reset_index(drop=True)


def attribute_association(
    view: pd.DataFrame, target: pd.Series | str = "top_decile", attributes: list[str] | None = None
) -> pd.DataFrame:
    """One chi-square test per characteristic against the target, with Cramér's V (Holm)."""
    from scipy.stats import chi2_contingency
    from statsmodels.stats.multitest import multipletests

    y = define_target(view, target) if isinstance(target, str) else target.astype(bool)
    base = view.loc[y.index]
    attributes = attribute_columns(base) if attributes is None else attributes
    rows = []
    for col in attributes:
        tab = pd.crosstab(attribute_levels(base[col]), y)
        if tab.shape[0] < 2 or tab.shape[1] < 2:
            continue
        chi2, p, dof, _ = chi2_contingency(tab, correction=False)
        v = np.sqrt(chi2 / (tab.to_numpy().sum() * (min(tab.shape) - 1)))
        rows.append({"attribute": col, "chi2": chi2, "dof": dof, "p_value": p, "cramers_v": v})
    out = pd.DataFrame(rows, columns=["attribute", "chi2", "dof", "p_value", "cramers_v"])
    if len(out):
        out["p_adjusted"] = multipletests(out["p_value"], method="holm")[1]
    return out.sort_values("cramers_v", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- purchasing power
@dataclass
class PurchasingPower:
    """Result of :func:`purchasing_power` (tables are plain DataFrames)."""

    outcome: str
    coefficients: pd.DataFrame  # attribute, level, reference, effect, low, high, p_value
    tests: pd.DataFrame  # attribute, statistic, df, p_value, p_adjusted
    n: int
    r2: float
    holdout: dict[str, float]  # r2_test, rmse_test, rmse_naive, n_test
    model: Any = field(repr=False, default=None)

    def sentences(self, top: int = 8, money_fmt=None) -> list[str]:
        """The significant effects in plain words, strongest first."""
        sig = self.coefficients.loc[self.coefficients["p_value"] < 0.05]
        sig = sig.reindex(sig["effect"].abs().sort_values(ascending=False).index).head(top)
        what = OUTCOMES.get(self.outcome, f"({self.outcome})")
        verb = "place" if self.outcome == "orders_per_year" else "spend"
        out = []
        for _, r in sig.iterrows():
            word = "more" if r["effect"] > 0 else "less"
            amount = f"**{abs(r['effect']):.0%} {word}**"
            phrase = f"{amount} {what}"
            out.append(
                f"Customers with {r['attribute']} = **{r['level']}** {verb} "
                f"{phrase} than those with {r['reference']} "
                f"(95% CI {r['low']:+.0%} to {r['high']:+.0%}), other characteristics equal."
            )
        return out


def _design(frame: pd.DataFrame, attributes: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    cols, refs = [], {}
    for col in attributes:
        lv = attribute_levels(frame[col])
        ref = lv.value_counts().idxmax()
        refs[col] = ref
        levels = sorted(set(lv.unique()) - {ref})
        dummies = pd.DataFrame(
            {f"{col}={lev}": (lv == lev).astype("float64") for lev in levels}, index=frame.index
        )
        cols.append(dummies)
    X = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=frame.index)
    X.insert(0, "const", 1.0)
    return X, refs


OUTCOMES = {
    "avg_order_value": "per order",
    "orders_per_year": "orders per year",
    "spend_per_year": "net spend per year",
}
MIN_TENURE_DAYS = 180  # rates per year need at least half a year of history
MIN_POWER_CUSTOMERS = 30  # customers with a positive outcome the regression needs
_WHO = {  # outcome: (what a customer needs to count, what the outcome is in words)
    "avg_order_value": ("an order of positive value", "spend per order"),
    "orders_per_year": (
        f"at least {MIN_TENURE_DAYS} days of history since their first purchase",
        "orders per year",
    ),
    "spend_per_year": (
        f"at least {MIN_TENURE_DAYS} days of history and a positive net spend",
        "net spend per year",
    ),
}


def _outcome(view: pd.DataFrame, outcome: str) -> pd.Series:
    """The spend measure: a view column, or a yearly rate for customers of at least
    :data:`MIN_TENURE_DAYS` days' standing (orders or net revenue per year since the first
    purchase)."""
    if outcome in ("orders_per_year", "spend_per_year"):
        years = view["tenure_days"].astype("float64") / 365.25
        value = view["orders" if outcome == "orders_per_year" else "revenue"].astype("float64")
        return (value / years).where(view["tenure_days"] >= MIN_TENURE_DAYS)
    return view[outcome].astype("float64")


def purchasing_power(
    view: pd.DataFrame,
    attributes: list[str] | None = None,
    outcome: str = "avg_order_value",
    test_size: float = 0.3,
    random_state: int = 0,
) -> PurchasingPower:
    """Regress log(outcome) on the known characteristics (see module docstring).

    ``outcome``: ``"avg_order_value"`` (spend per order), ``"orders_per_year"`` or
    ``"spend_per_year"`` (customers with at least half a year since their first purchase), or
    any positive view column.

    ``effect`` is the multiplicative difference against the most common (reference) level minus
    one (0.2 = 20% more), with its 95% CI; ``tests`` holds one joint Wald test per
    characteristic (HC3 covariance, Holm-adjusted).
    """
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests

    y_raw = _outcome(view, outcome)
    ok = y_raw.notna() & (y_raw > 0)
    frame = view.loc[ok]
    n_ok = int(ok.sum())
    if n_ok < MIN_POWER_CUSTOMERS:
        who, what = _WHO.get(outcome, (f"a positive {outcome}", outcome.replace("_", " ")))
        raise few(
            n_ok,
            f"customer has {who}",
            f"customers have {who}",
            f"relate {what} to customer characteristics",
            MIN_POWER_CUSTOMERS,
        )
    attributes = attribute_columns(frame) if attributes is None else attributes
    if not attributes:
        raise UnsupportedData(
            "The data has no customer characteristics (such as age or region) to relate spend to."
        )
    y = np.log(y_raw[ok])
    X, refs = _design(frame, attributes)
    res = sm.OLS(y, X).fit(cov_type="HC3")
    ci = res.conf_int()
    rows = []
    for name in X.columns[1:]:
        attr, level = name.split("=", 1)
        rows.append(
            {
                "attribute": attr,
                "level": level,
                "reference": refs[attr],
                "effect": np.expm1(res.params[name]),
                "low": np.expm1(ci.loc[name, 0]),
                "high": np.expm1(ci.loc[name, 1]),
                "p_value": res.pvalues[name],
            }
        )
    coefs = pd.DataFrame(rows)
    tests = []
    names = list(X.columns)
    for attr in attributes:
        idx = [i for i, c in enumerate(names) if c.startswith(f"{attr}=")]
        if not idx:
            continue
        R = np.zeros((len(idx), len(names)))
        R[np.arange(len(idx)), idx] = 1.0
        w = res.wald_test(R, scalar=True, use_f=True)
        tests.append(
            {
                "attribute": attr,
                "statistic": float(w.statistic),
                "df": len(idx),
                "p_value": float(w.pvalue),
            }
        )
    tests = pd.DataFrame(tests)
    tests["p_adjusted"] = multipletests(tests["p_value"], method="holm")[1]
    # held-out check against the naive prediction (the training mean)
    rng = np.random.default_rng(random_state)
    test = rng.random(len(y)) < test_size
    fit = sm.OLS(y[~test], X.loc[~test]).fit()
    pred = fit.predict(X.loc[test])
    resid = y[test] - pred
    naive = y[test] - y[~test].mean()
    sse, sst = float((resid**2).sum()), float((naive**2).sum())
    holdout = {
        "r2_test": 1 - sse / sst if sst else np.nan,
        "rmse_test": float(np.sqrt((resid**2).mean())),
        "rmse_naive": float(np.sqrt((naive**2).mean())),
        "n_test": int(test.sum()),
    }
    return PurchasingPower(
        outcome=outcome,
        coefficients=coefs,
        tests=tests.sort_values("p_value").reset_index(drop=True),
        n=int(len(y)),
        r2=float(res.rsquared),
        holdout=holdout,
        model=res,
    )


# --------------------------------------------------------------------------- look-alike model
# naive rules the models must beat: (label, early feature, sign of the ranking)
NAIVE_RULES = (("naive: biggest first order first", "first order value", 1.0),)


def _early_frame(view: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """What is known at the first order: characteristics, first-order value and its age.

    The first purchase day's gross value is ``gross_sales - frequency * monetary_value`` (the
    view's BTYD columns), so later purchases never leak in.  Prospects get NaN values.
    """
    cols: dict[str, Any] = {}
    for col in attributes:
        cols[col] = pd.Categorical(attribute_levels(view[col]))
    freq = view["frequency"].astype("float64")
    first = view["gross_sales"].astype("float64") - freq.fillna(0) * view["monetary_value"].fillna(
        0
    )
    cols["first order value"] = first.where(freq.notna())
    cols["days since first order"] = view["tenure_days"].astype("float64")
    cols["prospect"] = freq.isna().astype("float64")
    return pd.DataFrame(cols, index=view.index)


def _cohort(view: pd.DataFrame, as_of: pd.Timestamp, window: pd.Timedelta) -> pd.Index:
    """New customers: first purchase within ``window`` before the view's day, plus prospects
    who signed up in it (or have no sign-up date)."""
    first = view["first_purchase"]
    new = first.notna() & (first > as_of - window)
    prospect = first.isna()
    if "signup_date" in view.columns:
        prospect &= view["signup_date"].isna() | (view["signup_date"] > as_of - window)
    return view.index[new | prospect]


def _labels(
    pop: pd.Index, before: pd.DataFrame, after: pd.DataFrame, outcome: str = "high_value"
) -> pd.Series:
    """What the cohort did by the later view.

    ``"repeat"``: bought more than once by then (or, for prospects, bought at all).
    ``"high_value"``: net spend after the first purchase day in the top quarter of the cohort
    (and above zero): a valuable customer in the making, not a big one-off.
    """
    f0 = before["frequency"].reindex(pop)
    f1 = after["frequency"].reindex(pop)
    if outcome == "repeat":
        return ((f0.isna() & f1.notna()) | (f1.fillna(0) >= 1)).astype(int).rename("repeat")
    if outcome != "high_value":
        raise ValueError(f"unknown outcome {outcome!r}: use high_value or repeat")
    later = after.reindex(pop)
    first_day = later["gross_sales"] - later["frequency"] * later["monetary_value"]
    spend = (later["revenue"] - first_day).fillna(0.0)
    threshold = max(float(spend.quantile(0.75)), 1e-9)
    return (spend >= threshold).astype(int).rename("high_value")


def lift_at(y: np.ndarray, score: np.ndarray, share: float) -> float:
    """Response rate among the top ``share`` by score divided by the overall rate."""
    y = np.asarray(y, dtype=float)
    n_top = max(1, int(round(share * len(y))))
    top = np.argsort(-np.asarray(score), kind="stable")[:n_top]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else np.nan


def _models(frame: pd.DataFrame, random_state: int) -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in frame.columns if c not in cats]
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), cats),
                (
                    "num",
                    make_pipeline(
                        SimpleImputer(strategy="median", add_indicator=True),
                        FunctionTransformer(_signed_log1p),
                        StandardScaler(),
                    ),
                    nums,
                ),
            ]
        ),
        LogisticRegression(C=0.5, max_iter=2000),
    )
    gbm = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=8,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=random_state,
    )
    return {"gradient boosting": gbm, "logistic regression": logistic}


def _signed_log1p(X):
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X))


def _align(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Give ``frame`` the categorical levels of the training frame (unknown levels -> NaN)."""
    out = frame.copy()
    for c in like.columns:
        if isinstance(like[c].dtype, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c].astype(object), categories=like[c].cat.categories)
    return out[like.columns]


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {
        "auc": float(roc_auc_score(y, p)),
        "lift_top10": lift_at(y, p, 0.1),
        "lift_top20": lift_at(y, p, 0.2),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
    }


@dataclass
class LookalikeResult:
    """Result of :func:`lookalike`."""

    horizon_days: int
    cutoffs: dict[str, str]  # train, test, score
    comparison: pd.DataFrame  # model -> auc, lift_top10, lift_top20, brier (out of time)
    best: str
    calibration: pd.DataFrame  # model, bin, predicted, observed, customers
    importance: pd.DataFrame  # feature, importance, low, high, matters
    scored: pd.DataFrame  # customer_id -> probability, rank, decile
    counts: dict[str, Any]
    model: Any = field(repr=False, default=None)

    @property
    def beats_baseline(self) -> bool:
        c = self.comparison["auc"]
        naive = [m for m in c.index if m.startswith("naive")]
        return bool(c[self.best] > c[naive].max()) if naive else True


def _permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    n_repeats: int,
    random_state: int,
) -> pd.DataFrame:
    """Drop in held-out AUC when one column is shuffled; bootstrap + permutation 95% CI.

    Each repeat shuffles every column once over the held-out rows, then compares the AUCs of
    the original and the shuffled predictions on one bootstrap resample of the rows (shared by
    all columns), so the interval reflects both the shuffle and the sampling of customers.
    """
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(random_state)
    base_p = model.predict_proba(X)[:, 1]
    drops: dict[str, list[float]] = {c: [] for c in X.columns}
    for _ in range(n_repeats):
        boot = rng.integers(0, len(y), len(y))
        if y[boot].min() == y[boot].max():
            continue
        base_auc = roc_auc_score(y[boot], base_p[boot])
        for c in X.columns:
            shuffled = X.copy()
            shuffled[c] = X[c].to_numpy()[rng.permutation(len(X))]
            p = model.predict_proba(shuffled)[:, 1]
            drops[c].append(base_auc - roc_auc_score(y[boot], p[boot]))
    rows = [
        {
            "feature": c,
            "importance": float(np.mean(d)),
            "low": float(np.percentile(d, 2.5)),
            "high": float(np.percentile(d, 97.5)),
        }
        for c, d in drops.items()
        if d
    ]
    out = pd.DataFrame(rows).sort_values("importance", ascending=False)
    out["matters"] = out["low"] > 0
    return out.reset_index(drop=True)


def lookalike(
    ds: Dataset,
    as_of: str | pd.Timestamp | None = None,
    horizon_days: int = 180,
    cohort_days: int = 180,
    outcome: str = "high_value",
    quick: bool = False,
    random_state: int = 0,
    views: dict[pd.Timestamp, pd.DataFrame] | None = None,
) -> LookalikeResult:
    """Train, judge out of time and apply the look-alike model (see module docstring).

    ``views`` may pass already computed customer views keyed by as-of day (the function needs
    the views at ``as_of - 2h``, ``as_of - h`` and ``as_of``).  Raises
    :class:`~crm_models.dataset.UnsupportedData` when the history is too short or a cohort
    holds too few customers of either kind (became high-value or not).
    """
    from threadpoolctl import threadpool_limits

    from crm_models.features import customer_view, resolve_as_of

    as_of = resolve_as_of(ds, as_of)
    h = pd.Timedelta(days=horizon_days)
    window = pd.Timedelta(days=cohort_days)
    days = {"train": as_of - 2 * h, "test": as_of - h, "score": as_of}
    first = ds.customer_transactions()["order_date"].min()
    if pd.isna(first) or days["test"] - window <= first:
        start = "is empty" if pd.isna(first) else f"starts on {first.date()}"
        raise UnsupportedData(
            f"The history {start}, too short to check the look-alike model out of time, which "
            f"needs two {cohort_days}-day groups of new customers each followed by "
            f"{horizon_days} days."
        )
    views = dict(views or {})
    for d in days.values():
        if d not in views:
            views[d] = customer_view(ds, as_of=d)
    v_train, v_test, v_now = (views[days[k]] for k in ("train", "test", "score"))
    attributes = attribute_columns(v_now)

    def cohort(v_before, v_after, day):
        pop = _cohort(v_before, day, window)
        return _early_frame(v_before.loc[pop], attributes), _labels(pop, v_before, v_after, outcome)

    X_tr, y_tr = cohort(v_train, v_test, days["train"])
    X_te, y_te = cohort(v_test, v_now, days["test"])
    became = {"high_value": "became high-value", "repeat": "bought again"}[outcome]
    for name, (X, y) in {"training": (X_tr, y_tr), "test": (X_te, y_te)}.items():
        end = days["train" if name == "training" else "test"].date()
        purpose = (
            "train the look-alike model"
            if name == "training"
            else "test the look-alike model out of time"
        )
        acquired = f"acquired in the {cohort_days} days before {end}"
        if len(X) < 200:
            raise few(
                len(X), f"customer was {acquired}", f"customers were {acquired}", purpose, 200
            )
        yes, no = int(y.sum()), int(len(y) - y.sum())
        if yes < 20 or no < 20:
            raise UnsupportedData(
                f"Of the {len(X):,} customers {acquired}, {yes:,} {became} and {no:,} did not, "
                f"too few of one kind to {purpose}; at least 20 of each are needed."
            )
    X_te = _align(X_te, X_tr)
    y_tr_a, y_te_a = y_tr.to_numpy(), y_te.to_numpy()

    rows, preds, fitted = {}, {}, {}
    with threadpool_limits(1):  # small data: threads cost more than they save
        for name, model in _models(X_tr, random_state).items():
            model.fit(X_tr, y_tr_a)
            p = model.predict_proba(X_te)[:, 1]
            fitted[name], preds[name] = model, p
            rows[name] = _scores(y_te_a, p)
    constant = _scores(y_te_a, np.full(len(y_te_a), y_tr_a.mean()))
    for label, col, sign in NAIVE_RULES:
        if col in X_te.columns:
            naive = _scores(y_te_a, sign * X_te[col].fillna(0).to_numpy())
            naive["brier"] = constant["brier"]  # a ranking rule: its probability is the base rate
            rows[label] = naive
    comparison = pd.DataFrame(rows).T.rename_axis("model")
    best = max(fitted, key=lambda m: rows[m]["auc"])

    cal = []
    for name, p in preds.items():
        bins = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False)
        g = pd.DataFrame({"p": p, "y": y_te_a, "bin": bins}).groupby("bin")
        cal.append(
            pd.DataFrame(
                {
                    "model": name,
                    "predicted": g["p"].mean(),
                    "observed": g["y"].mean(),
                    "customers": g.size(),
                }
            )
            .rename_axis("decile")
            .reset_index()
        )
    calibration = pd.concat(cal, ignore_index=True)
    calibration["decile"] += 1

    with threadpool_limits(1):
        importance = _permutation_importance(
            fitted[best], X_te, y_te_a, 5 if quick else 10, random_state
        )

    # refit the better model on the latest complete window and score today's candidates
    final = _models(X_te, random_state)[best]
    X_fit = pd.concat([X_tr, X_te])
    X_fit = _align(X_fit, X_tr)
    with threadpool_limits(1):
        final.fit(X_fit, np.concatenate([y_tr_a, y_te_a]))
    pop_now = _cohort(v_now, as_of, window)
    X_now = _align(_early_frame(v_now.loc[pop_now], attributes), X_tr)
    prob = final.predict_proba(X_now)[:, 1]
    scored = pd.DataFrame({"probability": prob}, index=pop_now)
    scored["prospect"] = v_now.loc[pop_now, "days_since_last"].isna().to_numpy()
    scored = scored.sort_values("probability", ascending=False, kind="stable")
    scored["rank"] = np.arange(1, len(scored) + 1)
    scored["decile"] = np.ceil(10 * scored["rank"] / max(len(scored), 1)).astype(int)
    scored.index.name = "customer_id"
    counts = {
        "outcome": outcome,
        "train_customers": int(len(y_tr)),
        "train_rate": float(y_tr.mean()),
        "test_customers": int(len(y_te)),
        "test_rate": float(y_te.mean()),
        "scored_customers": int(len(scored)),
        "scored_prospects": int(scored["prospect"].sum()),
        "attributes": attributes,
    }
    return LookalikeResult(
        horizon_days=horizon_days,
        cutoffs={k: str(v.date()) for k, v in days.items()},
        comparison=comparison,
        best=best,
        calibration=calibration,
        importance=importance,
        scored=scored,
        counts=counts,
        model=final,
    )


# --------------------------------------------------------------------------- the verdict
def characteristics(
    attributes: list[str],
    power: PurchasingPower | None = None,
    look: LookalikeResult | None = None,
    association: pd.DataFrame | None = None,
    alpha: float = 0.05,
    extra_power: list[PurchasingPower] | None = None,
) -> pd.DataFrame:
    """Which characteristics matter and which are not worth attention (one row each).

    A characteristic *matters* when it moves spend (joint test of the purchasing-power
    regression, Holm-adjusted p < ``alpha``) or repeat buying (permutation importance in the
    look-alike model with a 95% CI above zero); ``extra_power`` adds further regressions (e.g.
    orders per year, column ``rate_p_adjusted``); otherwise it is *not worth attention*.  The note
    says when such a characteristic is still associated with best customers (it then only
    stands in for others, e.g. contact channel for age).
    """
    rows = []
    tests = power.tests.set_index("attribute") if power is not None else None
    imp = look.importance.set_index("feature") if look is not None else None
    assoc = association.set_index("attribute") if association is not None else None
    extra = [x.tests.set_index("attribute") for x in (extra_power or [])]
    for a in attributes:
        row: dict[str, Any] = {"attribute": a}
        spend = repeat = rate = False
        if tests is not None and a in tests.index:
            row["spend_p_adjusted"] = float(tests.loc[a, "p_adjusted"])
            spend = row["spend_p_adjusted"] < alpha
        for t in extra:
            if a in t.index:
                row["rate_p_adjusted"] = float(t.loc[a, "p_adjusted"])
                rate = rate or row["rate_p_adjusted"] < alpha
        if imp is not None and a in imp.index:
            row["lookalike_importance"] = float(imp.loc[a, "importance"])
            row["lookalike_low"] = float(imp.loc[a, "low"])
            row["lookalike_high"] = float(imp.loc[a, "high"])
            repeat = bool(imp.loc[a, "matters"])
        if assoc is not None and a in assoc.index:
            row["best_customer_v"] = float(assoc.loc[a, "cramers_v"])
            row["best_customer_p_adjusted"] = float(assoc.loc[a, "p_adjusted"])
        drives = [
            w
            for w, flag in (
                ("spend per order", spend),
                ("purchase frequency", rate),
                ("becoming high-value", repeat),
            )
            if flag
        ]
        row["verdict"] = "matters" if drives else "not worth attention"
        if drives:
            row["note"] = "drives " + " and ".join(drives)
        elif row.get("best_customer_p_adjusted", 1.0) < alpha:
            row["note"] = "linked to best customers only through other characteristics"
        else:
            row["note"] = "indistinguishable from noise"
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["_order"] = out["verdict"].eq("matters")
    return (
        out.sort_values(["_order", "attribute"], ascending=[False, True])
        .drop(columns="_order")
        .reset_index(drop=True)
    )

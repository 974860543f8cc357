"""Look-alike model: which new customers and prospects will become valuable, judged out of time.

**Look-alike / conversion model** (:func:`lookalike`): which one-time buyers (and prospects)
will buy (again) in the next ``horizon_days``?  Trained on the customers who had bought at most
once at ``as_of - 2 * horizon`` (labels: purchase in the following horizon) and judged **out of
time** on those of ``as_of - horizon``, using only what is known early: characteristics and
the first order.  Gradient boosting is compared with a regularised logistic regression and
with the naive rule "the most recent first-time buyers come back first" (AUC, lift in the top
deciles, Brier score, calibration); the better model, refitted on the latest window, scores
today's one-time buyers and prospects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.conditions import few
from crm_models.data.dataset import Dataset, UnsupportedData, no_transactions
from crm_models.engine import Source
from crm_models.features import customer_view, resolve_as_of
from crm_models.segments.attributes import attribute_columns, attribute_levels
from crm_models.segments.sampling import (
    IMPORTANCE_SAMPLE_CAP,
    LOOKALIKE_SAMPLE_CAP,
    SampleInfo,
    stratified_sample,
)

# naive rules the models must beat: (label, early feature, sign of the ranking)
NAIVE_RULES = (("naive: biggest first order first", "first order value", 1.0),)


# money differences are rounded to 1e-6: sums of the same amounts in another order (another
# engine) must rank and tie alike
MONEY_DIGITS = 6

# customers scored at a time: the encoded rows of 10M customers' candidates held 3 GB at once
SCORE_BATCH = 200_000

# customer-view columns the model reads besides the characteristics (see _early_frame)
EARLY_COLUMNS = ["frequency", "gross_sales", "monetary_value", "tenure_days"]


def _early_frame(view: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """What is known at the first order: characteristics, first-order value and its age.

    The first purchase day's gross value is ``gross_sales - frequency * monetary_value`` (the
    view's BTYD columns, to 1e-6), so later purchases never leak in.  Prospects get NaN values.  Every
    row depends on that customer only: numeric characteristics stay numbers (quantile bands
    would depend on the customers scored together), the others become text levels.
    """
    cols: dict[str, Any] = {}
    for col in attributes:
        x = view[col]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            cols[col] = x.astype("float64")
        else:
            cols[col] = pd.Categorical(attribute_levels(x))
    freq = view["frequency"].astype("float64")
    first = view["gross_sales"].astype("float64") - freq.fillna(0) * view["monetary_value"].fillna(
        0
    )
    cols["first order value"] = first.where(freq.notna()).round(MONEY_DIGITS)
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
    later = after[["gross_sales", "frequency", "monetary_value", "revenue"]].reindex(pop)
    first_day = later["gross_sales"] - later["frequency"] * later["monetary_value"]
    spend = (later["revenue"] - first_day).fillna(0.0).round(MONEY_DIGITS)
    threshold = max(float(spend.quantile(0.75)), 1e-9)
    return (spend >= threshold).astype(int).rename("high_value")


def lift_at(y: np.ndarray, score: np.ndarray, share: float) -> float:
    """Response rate among the top ``share`` by score divided by the overall rate."""
    y = np.asarray(y, dtype=float)
    n_top = max(1, int(round(share * len(y))))
    top = np.argsort(-np.asarray(score), kind="stable")[:n_top]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else np.nan


def _new_customers_only(
    ds: Dataset | Source, view: pd.DataFrame, since: pd.Timestamp, until: pd.Timestamp
) -> Dataset | Source:
    """``ds`` cut to the customers of ``view`` with no purchase by ``since`` (a later first
    purchase, or none) who are in a view of ``until`` or earlier (bought by then, or signed up
    by then or at an unknown date): the only ones a cohort of customers new after ``since`` in
    such a view can hold.  Every column of a customer's view row depends on that customer's rows
    only, so their rows of any view of the cut data up to ``until`` are those of the whole
    data; the other tables are not needed.  On an engine source the cut is a semi-join in the
    engine (no line comes into memory)."""
    first = view["first_purchase"]
    new = first.isna() | (first > since)
    if "signup_date" in view.columns:  # without it every customer of the table is in a view
        signup, seen = view["signup_date"], until + pd.Timedelta(days=1)  # as the views cut
        new &= (first < seen) | signup.isna() | (signup < seen)
    ids = view.index[new]
    key = f"{ds.fingerprint} customers new after {since.date()} seen by {until.date()}"
    fingerprint = hashlib.sha256(key.encode()).hexdigest()  # never the whole data's
    if isinstance(ds, Source):
        cut = ds.only_customers(ids)
        tables = {n: t for n, t in cut.tables.items() if n in ("transactions", "customers")}
        return replace(cut, tables=tables, fingerprint=fingerprint)

    def keep(table: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if table is None else table.loc[table["customer_id"].isin(ids)]

    return Dataset(
        ds.name,
        transactions=keep(ds.customer_transactions()),
        customers=keep(ds.customers),
        currency=ds.currency,
        as_of=ds.as_of,
        fingerprint=fingerprint,
    )


def _first_order_date(ds: Dataset | Source) -> pd.Timestamp | None:
    """Day of the first transaction line of a known customer (None without any); on an engine
    source the minimum is taken by the engine."""
    if isinstance(ds, Source):
        if not ds.has("transactions"):
            raise no_transactions(ds.name)
        first = ds.execute(ds.customer_lines().order_date.min())
    else:
        first = ds.customer_transactions()["order_date"].min()
    return None if first is None or pd.isna(first) else pd.Timestamp(first)


def _sample(
    X: pd.DataFrame, y: pd.Series, cap: int | None, random_state: int, what: str, intervals: bool
) -> tuple[pd.DataFrame, pd.Series, SampleInfo]:
    """``X``, ``y`` cut to a seeded sample of ``cap`` customers stratified by the outcome and
    prospect status (everybody at or below ``cap``), and what the sample is."""
    strata = pd.DataFrame({"y": y.to_numpy(), "prospect": X["prospect"].to_numpy()})
    keep = stratified_sample(strata, cap, random_state)
    info = SampleInfo(what, len(keep), len(X), "outcome and prospect-status group", intervals)
    return X.iloc[keep], y.iloc[keep], info


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
        FunctionTransformer(_category_codes),
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
        categorical_features=cats or None,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=random_state,
    )
    gbm = make_pipeline(FunctionTransformer(_category_codes), gbm)
    return {"gradient boosting": gbm, "logistic regression": logistic}


def _category_codes(X: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as their level numbers (NaN: missing or unseen level).

    The levels are sorted, so the models see the levels in the order they would sort the text
    themselves (the same fit), without encoding text value by value: 10x faster scoring."""
    out = X.copy()
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            out[c] = X[c].cat.codes.astype("float64").where(X[c].notna())
    return out


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


def _probability(model: Any, rows: pd.DataFrame, encode: Any = None) -> np.ndarray:
    """``model``'s probability of the outcome for each row (encoded by ``encode`` first),
    :data:`SCORE_BATCH` rows at a time: every row is scored on its own, so batches give the
    same numbers, and the models' encoded rows of millions of customers never exist at once."""
    prob = [np.empty(0)]
    for i in range(0, len(rows), SCORE_BATCH):
        batch = rows.iloc[i : i + SCORE_BATCH]
        prob.append(model.predict_proba(batch if encode is None else encode(batch))[:, 1])
    return np.concatenate(prob)


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {
        "auc": float(roc_auc_score(y, p)),
        "lift_top10": lift_at(y, p, 0.1),
        "lift_top20": lift_at(y, p, 0.2),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
    }


@dataclass
class LookalikeModel:
    """The refitted look-alike model as a function of customer-view rows: what scores today's
    new customers and prospects (``lookalike_prospects``) and what MLflow logs."""

    estimator: Any  # the better model, refitted on the latest complete window
    attributes: list[str]  # the characteristics it reads
    levels: pd.DataFrame = field(repr=False)  # the training frame without rows: column levels

    @property
    def columns(self) -> list[str]:
        """The customer-view columns it reads."""
        return [*self.attributes, *EARLY_COLUMNS]

    def predict(self, view: pd.DataFrame) -> pd.Series:
        """Probability that each customer of ``view`` (rows of the customer view, at least
        :attr:`columns`) becomes high-value (or buys again, the outcome it was fitted on) within
        the horizon, indexed like ``view``.  Meant for new customers and prospects; a level of a
        characteristic unseen in training counts as missing."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # one thread per tree walk: threads wait longer than they work
            prob = _probability(
                self.estimator,
                view,
                lambda v: _align(_early_frame(v, self.attributes), self.levels),
            )
        return pd.Series(prob, index=view.index, name="probability")


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
    model: LookalikeModel | None = field(repr=False, default=None)  # scores customer views
    samples: list[SampleInfo] = field(default_factory=list)  # what each fit was run on

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
    The shuffled copies of a repeat are scored in one call (a prediction is row by row).
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
        copies = []
        for c in X.columns:
            shuffled = X.copy()
            shuffled[c] = X[c].array[rng.permutation(len(X))]  # keeps the dtype
            copies.append(shuffled)
        p = model.predict_proba(pd.concat(copies, ignore_index=True))[:, 1].reshape(-1, len(X))
        for c, pc in zip(X.columns, p, strict=True):
            drops[c].append(base_auc - roc_auc_score(y[boot], pc[boot]))
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
    ds: Dataset | Source,
    as_of: str | pd.Timestamp | None = None,
    horizon_days: int = 180,
    cohort_days: int = 180,
    outcome: str = "high_value",
    quick: bool = False,
    random_state: int = 0,
    views: dict[pd.Timestamp, pd.DataFrame] | None = None,
    sample_cap: int | None = LOOKALIKE_SAMPLE_CAP,
    importance_cap: int | None = IMPORTANCE_SAMPLE_CAP,
) -> LookalikeResult:
    """Train, judge out of time and apply the look-alike model (see module docstring).

    ``views`` may pass already computed customer views keyed by as-of day (the function needs
    the views at ``as_of - 2h``, ``as_of - h`` and ``as_of``; on an engine source each is
    aggregated by the engine, so no transaction line comes into memory).  Above ``sample_cap``
    customers the earlier views are built for the new customers only (the same rows, far fewer
    lines), and the models are trained (and refitted) on seeded samples of ``sample_cap``
    customers per cohort, stratified by outcome and prospect status; the out-of-time comparison
    uses the whole test cohort, the permutation importance a sample of ``importance_cap`` of it,
    and every new customer and prospect of today is scored.  ``samples`` says what was sampled.
    None: never sample.  Raises :class:`~crm_models.data.dataset.UnsupportedData` when the
    history is too short or a cohort holds too few customers of either kind (became high-value
    or not).
    """
    from threadpoolctl import threadpool_limits

    as_of = resolve_as_of(ds, as_of)
    h = pd.Timedelta(days=horizon_days)
    window = pd.Timedelta(days=cohort_days)
    days = {"train": as_of - 2 * h, "test": as_of - h, "score": as_of}
    first = _first_order_date(ds)
    if first is None or days["test"] - window <= first:
        start = "is empty" if first is None else f"starts on {first.date()}"
        raise UnsupportedData(
            f"The history {start}, too short to check the look-alike model out of time, which "
            f"needs two {cohort_days}-day groups of new customers each followed by "
            f"{horizon_days} days."
        )
    views = dict(views or {})
    if days["score"] not in views:
        views[days["score"]] = customer_view(ds, as_of=days["score"])
    v_now = views[days["score"]]
    source = (
        _new_customers_only(ds, v_now, days["train"] - window, days["test"])
        if sample_cap is not None and len(v_now) > sample_cap
        else ds
    )
    attributes = attribute_columns(v_now)
    # what the cohorts, labels and early frames read: only these are kept of an earlier view
    read = [*attributes, *EARLY_COLUMNS, "first_purchase", "signup_date", "revenue"]
    for d in days.values():
        if d not in views:
            view = customer_view(source, as_of=d)
            views[d] = view[view.columns.intersection(read)]
    v_train, v_test = (views[days[k]] for k in ("train", "test"))

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
    n_train = len(y_tr)
    X_tr, y_tr, train_sample = _sample(
        X_tr,
        y_tr,
        sample_cap,
        random_state,
        "look-alike model training (new customers)",
        intervals=False,
    )
    X_te = _align(X_te, X_tr)
    y_tr_a, y_te_a = y_tr.to_numpy(), y_te.to_numpy()

    rows, preds, fitted = {}, {}, {}
    with threadpool_limits(1):  # small data: threads cost more than they save
        for name, model in _models(X_tr, random_state).items():
            model.fit(X_tr, y_tr_a)
            p = _probability(model, X_te)
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

    X_imp, y_imp, importance_sample = _sample(
        X_te,
        y_te,
        importance_cap,
        random_state,
        "look-alike characteristic importance (held-out new customers)",
        True,
    )
    with threadpool_limits(1):
        importance = _permutation_importance(
            fitted[best], X_imp, y_imp.to_numpy(), 5 if quick else 10, random_state
        )

    # refit the better model on the latest complete window and score today's candidates
    X_te_fit, y_te_fit, _ = _sample(X_te, y_te, sample_cap, random_state, "refit", False)
    final = _models(X_te_fit, random_state)[best]
    X_fit = pd.concat([X_tr, X_te_fit])
    X_fit = _align(X_fit, X_tr)
    with threadpool_limits(1):
        final.fit(X_fit, np.concatenate([y_tr_a, y_te_fit.to_numpy()]))
    model = LookalikeModel(final, attributes, X_fit.iloc[:0])
    pop_now = _cohort(v_now, as_of, window)
    candidates = v_now.loc[pop_now, [*model.columns, "days_since_last"]]  # not every column
    scored = model.predict(candidates).to_frame()
    scored["prospect"] = candidates["days_since_last"].isna().to_numpy()
    del candidates
    scored = scored.sort_values("probability", ascending=False, kind="stable")
    scored["rank"] = np.arange(1, len(scored) + 1)
    scored["decile"] = np.ceil(10 * scored["rank"] / max(len(scored), 1)).astype(int)
    scored.index.name = "customer_id"
    counts = {
        "outcome": outcome,
        "train_customers": n_train,
        "train_sample": int(len(y_tr)),
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
        model=model,
        samples=[train_sample, importance_sample],
    )


def lookalike_aucs(result: LookalikeResult) -> tuple[float, float]:
    """Out-of-time AUC of the better model and the best naive rule (NaN without one)."""
    comp = result.comparison
    naive = [m for m in comp.index if m.startswith("naive")]
    return float(comp.loc[result.best, "auc"]), float(comp.loc[naive, "auc"].max())


def lookalike_metrics(comparison: pd.DataFrame) -> dict[str, float]:
    """AUC, lifts and Brier score of every compared model, keyed like ``lookalike_naive_auc``
    (the model name up to a colon, spaces as underscores)."""
    out = {}
    for model_name, r in comparison.iterrows():
        key = str(model_name).split(":")[0].replace(" ", "_")
        for metric in ("auc", "lift_top10", "lift_top20", "brier"):
            out[f"lookalike_{key}_{metric}"] = float(r[metric])
    return out

"""Who should get the mailing: response models, uplift models on randomised campaigns, honest
evaluation, and a profit-optimal contact list that respects permissions.

The flow (one way through, like the rest of crm-models)::

    Dataset ─► campaign_data()        one row per customer and campaign, features as of the day
               │                      before the send (customer view), arm, outcomes
               ├► arm_summary()       what each campaign arm did against its control group
               ├► evaluate_response() response models (gradient boosting vs logistic), gains,
               │                      calibration; trained on earlier campaigns, tested on the latest
               ├► evaluate_uplift()   uplift models on a stratified split (treatment × outcome,
               │                      fixed seed) against random targeting, response-model ranking
               │                      and the two-model logistic baseline; bootstrap intervals;
               │                      on simulated data, rank correlation with the TRUE uplift
               └► TargetingModel ─► contact_list()   expected incremental profit per customer and
                                                      arm, permission rules, budget, comparison

**No leakage.**  Features for a campaign come from :func:`crm_models.features.customer_view` as
of the day *before* the send date, and the campaign history in them counts only campaigns whose
response window (``response_window_days``) had closed by then, so no outcome of the campaign
being modelled (or of one still running) can reach its features.  Post-send attributes
(``opt_out_date``, ``opt_out_reason``) are never features.

**Expected incremental profit** of contacting customer *i* with arm *a*::

    uplift_ia × (value_i + clv_weight × ΔCLV_i) × margin
        -  offer_cost_a × p_treated_ia × value_i  -  contact cost

where ``uplift_ia`` is the modelled extra response probability, ``value_i`` the expected value of
a response order (the customer's own average order value shrunk towards the average, calibrated
to the response orders seen in past campaigns), ``offer_cost_a`` the share of a response order
the offer gives away (a discount is paid by every responder, not only the persuaded ones), and
``ΔCLV_i`` the gain in expected lifetime value when the customer buys today
(:func:`response_clv_gain`): a response re-activates a customer who may be drifting away, so it
is worth more than the order itself.  ``clv_weight`` (:class:`ContactPolicy`, default 0.5, 0
switches the term off) discounts that model-based gain: part of the re-activated purchases would
have come anyway, and the order value already counts today's purchase.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_models.conditions import few, plural
from crm_models.dataset import Dataset, UnsupportedData
from crm_models.features import customer_view, resolve_as_of
from crm_models.uplift import (
    LEARNERS,
    descending_order,
    fit_outcome,
    make_estimator,
    make_multi_arm,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_by_percentile,
)

__all__ = [
    "ARM_LABELS",
    "CampaignData",
    "ContactPolicy",
    "FeatureEncoder",
    "TargetingModel",
    "arm_label",
    "arm_summary",
    "campaign_data",
    "contact_list",
    "evaluate_response",
    "evaluate_uplift",
    "response_clv_gain",
    "select_contacts",
    "stratified_split",
    "true_uplift",
    "uplift_summary",
]

CONTROL = "control"
RESPONSE_WINDOW_DAYS = 14
# Arm names as the source file spells them (the Hillstrom loader renames the segment values).
ARM_LABELS = {
    "hillstrom": {
        "mens_email": "Mens E-Mail",
        "womens_email": "Womens E-Mail",
        "control": "No E-Mail",
    }
}
NEVER_FEATURES = {"opt_out_date", "opt_out_reason", "opt_in"}  # post-send or constant
DATE_FEATURES = {"signup_date": "days_since_signup", "last_contact": "days_since_contact"}
MAX_LEVELS = 30
MIN_GROUP_CUSTOMERS = 30  # an offer, and its control group, need this many for uplift models
MIN_ARM_RESPONDERS = 5  # ... and this many responders between them
MIN_RESPONDERS = 10  # mailed customers who responded, for a response model
NO_CONTROL = (
    "The campaigns have no control group (every customer was mailed), so the effect of mailing "
    "cannot be measured; keep a random 10-20 % of each campaign unmailed."
)
# what a customer did when the outcome is positive, in words
OUTCOME_WORDS = {
    "responded": "responded",
    "response_amount": "spent anything in response",
    "visit": "visited",
    "conversion": "bought",
    "spend": "spent anything",
}


def arm_label(ds_or_name: Dataset | str, arm: str) -> str:
    """The arm as the data's source names it (``Mens E-Mail`` on Hillstrom), else unchanged."""
    name = ds_or_name if isinstance(ds_or_name, str) else ds_or_name.name
    return ARM_LABELS.get(name, {}).get(arm, arm)


def _limit_threads():
    """One BLAS/OpenMP thread: small fits on a shared machine are much faster that way."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


# =========================================================================== features
class FeatureEncoder:
    """Customer-view columns to a numeric matrix: numbers as they are, dates as days before the
    as-of day, text columns with few levels one-hot; the columns seen in ``fit`` are kept."""

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        self.numeric_: list[str] = []
        self.levels_: dict[str, list[str]] = {}
        for col in frame.columns:
            s = frame[col]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                self.numeric_.append(col)
            elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s):
                levels = sorted(map(str, s.dropna().unique()))
                if 1 < len(levels) <= MAX_LEVELS:
                    self.levels_[col] = levels
        self.columns_ = list(self.numeric_) + [
            f"{c}={lv}" for c, levels in self.levels_.items() for lv in levels
        ]
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col in self.numeric_:
            out[col] = (
                frame[col].astype(float).to_numpy() if col in frame else np.full(len(frame), np.nan)
            )
        for col, levels in self.levels_.items():
            values = frame[col].astype(object).to_numpy() if col in frame else None
            for lv in levels:
                out[f"{col}={lv}"] = (
                    np.zeros(len(frame)) if values is None else (values == lv).astype(float)
                )
        return pd.DataFrame(out, index=frame.index, columns=self.columns_)

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.fit(frame).transform(frame)


def _closed_campaigns(ds: Dataset, as_of: pd.Timestamp, window_days: int) -> pd.DataFrame | None:
    if ds.campaigns is None:
        return None
    c = ds.campaigns
    closed = c["sent_date"] + pd.Timedelta(days=window_days) < as_of + pd.Timedelta(days=1)
    return c.loc[closed]


def customer_features(
    ds: Dataset, as_of, response_window_days: int = RESPONSE_WINDOW_DAYS
) -> pd.DataFrame:
    """Model inputs per customer as of a day (raw types; encode with :class:`FeatureEncoder`).

    Campaign history counts only campaigns whose response window closed by ``as_of``.
    """
    as_of = resolve_as_of(ds, as_of)
    sub = Dataset(
        ds.name,
        transactions=ds.transactions,
        customers=ds.customers,
        campaigns=_closed_campaigns(ds, as_of, response_window_days),
        fingerprint="-",
    )
    view = customer_view(sub, as_of=as_of)
    for col, new in DATE_FEATURES.items():
        if col in view.columns:
            view[new] = (as_of - view[col]).dt.days.astype(float)
    drop = NEVER_FEATURES | set(DATE_FEATURES) | {"first_purchase", "last_purchase"}
    return view.drop(columns=[c for c in view.columns if c in drop])


# =========================================================================== campaign data
@dataclass
class CampaignData:
    """Campaign rows with their leakage-free features.

    ``rows``: campaign_id, customer_id, sent_date, arm, treated and the outcome columns;
    ``features``: raw customer features as of the day before each send (same row order);
    ``X``: the encoded numeric matrix; ``encoder``: the fitted :class:`FeatureEncoder`.
    """

    dataset: str
    rows: pd.DataFrame
    features: pd.DataFrame
    X: pd.DataFrame
    encoder: FeatureEncoder
    outcomes: list[str]
    control: str = CONTROL
    notes: list[str] = field(default_factory=list)  # campaigns left out, and why

    @property
    def arms(self) -> list[str]:
        return sorted(a for a in self.rows["arm"].unique() if a != self.control)

    @property
    def campaigns(self) -> list[str]:
        order = self.rows.groupby("campaign_id", observed=True)["sent_date"].min().sort_values()
        return [str(c) for c in order.index]

    def label(self, arm: str) -> str:
        return arm_label(self.dataset, arm)


def campaign_data(
    ds: Dataset,
    campaigns: Sequence[str] | None = None,
    response_window_days: int = RESPONSE_WINDOW_DAYS,
) -> CampaignData:
    """One row per customer and campaign with features as of the day before the send.

    Only randomised campaigns can show what a contact does: a campaign without a control group
    (or without anybody mailed) is left out (said in ``notes``).  Raises
    :class:`~crm_models.dataset.UnsupportedData` when no campaign has both, or nobody responded
    to any campaign.
    """
    if ds.campaigns is None or not len(ds.campaigns):
        raise UnsupportedData(
            "The data has no campaigns (no campaigns table, or an empty one), so there is no "
            "campaign response to analyse."
        )
    c = ds.campaigns
    if campaigns is not None:
        c = c.loc[c["campaign_id"].isin(list(campaigns))]
        if not len(c):
            raise ValueError(f"no rows for campaigns {list(campaigns)}")
    c = c.copy()
    if "arm" not in c.columns:
        c["arm"] = np.where(c["treated"], "treated", CONTROL)
    c["arm"] = c["arm"].astype(str).where(c["treated"].astype(bool), CONTROL)
    c, notes = _randomised(c)
    c["send_day"] = c["sent_date"].dt.normalize()
    rows, feats = [], []
    for day, group in c.groupby("send_day", sort=True):
        f = customer_features(ds, day - pd.Timedelta(days=1), response_window_days)
        f = f.reindex(group["customer_id"].to_numpy())
        rows.append(group)
        feats.append(f.reset_index(drop=True))
    rows_df = pd.concat(rows, ignore_index=True)
    feats_df = pd.concat(feats, ignore_index=True)
    feats_df = feats_df.drop(columns=[c for c in feats_df.columns if c == "customer_id"])
    outcomes = [
        col
        for col in ("responded", "response_amount", "visit", "conversion", "spend")
        if col in rows_df.columns
    ]
    for col in outcomes:
        rows_df[col] = rows_df[col].astype(float)
    if outcomes and not (rows_df[outcomes].fillna(0.0).to_numpy() > 0).any():
        raise UnsupportedData(
            f"No customer responded to any campaign (none of the {len(rows_df):,} customer "
            "contacts), so response and uplift cannot be modelled."
        )
    encoder = FeatureEncoder().fit(feats_df)
    keep = ["campaign_id", "customer_id", "sent_date", "channel", "arm", "treated", *outcomes]
    return CampaignData(
        ds.name,
        rows_df[[k for k in keep if k in rows_df.columns]],
        feats_df,
        encoder.transform(feats_df),
        encoder,
        outcomes,
        notes=notes,
    )


def _randomised(c: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of campaigns with both mailed customers and a control group, and a note for
    each campaign left out."""
    treated = c["treated"].astype(bool)
    if not treated.any():
        raise UnsupportedData(
            "Nobody in the campaigns was mailed (every customer is in a control group), so "
            "there is no effect of mailing to measure."
        )
    if treated.all():
        raise UnsupportedData(NO_CONTROL)
    per = treated.groupby(c["campaign_id"], observed=True).agg(["any", "all"])
    if not (per["any"] & ~per["all"]).any():
        raise UnsupportedData(
            "No campaign has both mailed customers and a control group, so the effect of "
            "mailing cannot be measured; keep a random 10-20 % of each campaign unmailed."
        )
    notes = [
        f"Campaign {cid} is left out: "
        + (
            "it has no control group (every customer was mailed)."
            if row["all"]
            else "nobody in it was mailed (everybody is in the control group)."
        )
        for cid, row in per.iterrows()
        if row["all"] or not row["any"]
    ]
    keep = c["campaign_id"].isin(per.index[per["any"] & ~per["all"]])
    return c.loc[keep.to_numpy()], notes


def _arm_rows(data: CampaignData, arm: str, mask=None) -> np.ndarray:
    """Rows of ``arm`` plus the control rows of the campaigns that tested it."""
    r = data.rows
    is_arm = (r["arm"] == arm).to_numpy()
    tested = r["campaign_id"].isin(r.loc[is_arm, "campaign_id"].unique()).to_numpy()
    rows = is_arm | ((r["arm"] == data.control).to_numpy() & tested)
    return rows if mask is None else rows & mask


def _mean_ci(treated: np.ndarray, control: np.ndarray) -> tuple[float, float, float]:
    diff = treated.mean() - control.mean()
    se = math.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    return diff, diff - 1.96 * se, diff + 1.96 * se


def arm_summary(data: CampaignData, outcome: str = "responded") -> pd.DataFrame:
    """Per campaign and arm: customers, mean outcome with a 95% interval, and the difference
    from the campaign's control group (the measured effect, with a 95% interval)."""
    out = []
    r = data.rows
    for cid in data.campaigns:
        rc = r.loc[r["campaign_id"] == cid]
        ctrl = rc.loc[rc["arm"] == data.control, outcome].to_numpy()
        for arm, g in rc.groupby("arm", sort=True):
            y = g[outcome].to_numpy()
            se = y.std(ddof=1) / math.sqrt(len(y)) if len(y) > 1 else np.nan
            row = {
                "campaign_id": cid,
                "arm": arm,
                "label": data.label(arm),
                "customers": len(y),
                "mean": y.mean(),
                "mean_low": y.mean() - 1.96 * se,
                "mean_high": y.mean() + 1.96 * se,
            }
            if arm != data.control and len(ctrl) > 1 and len(y) > 1:
                row["effect"], row["effect_low"], row["effect_high"] = _mean_ci(y, ctrl)
            out.append(row)
    return pd.DataFrame(out)


def stratified_split(
    data: CampaignData, outcome: str, test_size: float = 0.3, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train/test masks stratified on campaign × arm × (outcome > 0), fixed seed.

    Strata too small to split fall back to arm × outcome (then outcome) only.
    """
    r = data.rows
    positive = (r[outcome].to_numpy() > 0).astype(int).astype(str)
    candidates = [
        r["campaign_id"].astype(str) + "|" + r["arm"].astype(str) + "|" + positive,
        r["arm"].astype(str) + "|" + positive,
        pd.Series(positive, index=r.index),
    ]
    _, test = _split(np.arange(len(r)), candidates, test_size, seed)
    is_test = np.zeros(len(r), dtype=bool)
    is_test[test] = True
    return ~is_test, is_test


def _split(idx: np.ndarray, candidates, test_size: float, seed: int):
    """``train_test_split`` of ``idx`` stratified on the first usable strata of
    ``candidates`` (every stratum twice or more, and no more strata than either part has rows),
    else unstratified."""
    from sklearn.model_selection import train_test_split

    n_test = math.ceil(test_size * len(idx))
    if n_test < 1 or len(idx) - n_test < 1:
        raise few(
            len(idx), "customer contact", "customer contacts", "keep some back for testing", 2
        )
    for strata in candidates:
        counts = pd.Series(np.asarray(strata)).value_counts()
        if counts.min() >= 2 and len(counts) <= min(n_test, len(idx) - n_test):
            return train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
    return train_test_split(idx, test_size=test_size, random_state=seed)


# =========================================================================== truth (simulated)
def true_uplift(ds: Dataset) -> pd.DataFrame | None:
    """The simulator's true uplift per (campaign_id, customer_id, arm), or None for real data."""
    truth_dir = ds.info.get("truth_dir") if ds.info else None
    if not truth_dir or not (Path(truth_dir) / "uplift.parquet").exists():
        return None
    t = pd.read_parquet(Path(truth_dir) / "uplift.parquet")
    return t[["campaign_id", "customer_id", "arm", "p_control", "uplift"]]


def _truth_for(data: CampaignData, rows: np.ndarray, arm: str, truth: pd.DataFrame) -> np.ndarray:
    r = data.rows.loc[rows, ["campaign_id", "customer_id"]]
    t = truth.loc[truth["arm"] == arm, ["campaign_id", "customer_id", "uplift"]]
    merged = r.astype({"campaign_id": str}).merge(
        t.astype({"campaign_id": str}), on=["campaign_id", "customer_id"], how="left"
    )
    return merged["uplift"].to_numpy(dtype=float)


def _true_gain_ratio(score: np.ndarray, truth: np.ndarray) -> float:
    """Area under the cumulative TRUE uplift curve of a ranking, above random, relative to the
    oracle ranking (by the true uplift itself): 1 = oracle, 0 = random."""
    ok = ~np.isnan(truth)
    score, truth = score[ok], truth[ok]
    if len(truth) < 2:
        return float("nan")
    n = np.arange(len(truth) + 1)

    def area(order):
        return float(np.trapezoid(np.r_[0.0, np.cumsum(truth[order])], n))

    random = float(np.trapezoid(n * truth.mean(), n))
    best = area(descending_order(truth)) - random
    return (area(descending_order(score)) - random) / best if best else float("nan")


# =========================================================================== response models
@dataclass
class ResponseEvaluation:
    """Response models (P(respond | contacted)) on the treated rows."""

    outcome: str
    split: str
    n_train: int
    n_test: int
    metrics: pd.DataFrame  # per model: auc, log_loss, brier, top-decile lift
    gains: pd.DataFrame  # best model, per decile of score
    calibration: pd.DataFrame  # best model, per decile of predicted probability
    best: str
    cumulative: pd.DataFrame  # share contacted vs share of responders captured, per model


def _gains(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    order = descending_order(p)
    parts = np.array_split(order, bins)
    total, base = y.sum(), y.mean()
    rows, cum = [], 0.0
    for i, part in enumerate(parts):
        cum += y[part].sum()
        rows.append(
            {
                "decile": i + 1,
                "customers": len(part),
                "responders": int(y[part].sum()),
                "response_rate": y[part].mean(),
                "lift": y[part].mean() / base if base else np.nan,
                "cumulative_share_of_responders": cum / total if total else np.nan,
                "mean_score": p[part].mean(),
            }
        )
    return pd.DataFrame(rows)


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    parts = np.array_split(np.argsort(p, kind="stable"), bins)
    return pd.DataFrame(
        {
            "bin": range(1, bins + 1),
            "customers": [len(i) for i in parts],
            "predicted": [p[i].mean() for i in parts],
            "observed": [y[i].mean() for i in parts],
        }
    )


def evaluate_response(
    data: CampaignData, outcome: str = "responded", test_size: float = 0.3, seed: int = 42
) -> ResponseEvaluation:
    """Gradient boosting vs regularised logistic response models on the contacted rows.

    With several campaigns: trained on the earlier campaigns, tested on the latest one (unless
    either side has no responder); with one campaign: a stratified split (``seed``) of its
    contacted rows.  Raises :class:`~crm_models.dataset.UnsupportedData` with fewer than
    :data:`MIN_RESPONDERS` responders or non-responders among the contacted customers.
    """
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    treated = data.rows["treated"].to_numpy(dtype=bool)
    y = (data.rows[outcome].to_numpy() > 0).astype(float)
    yes, n = int(y[treated].sum()), int(treated.sum())
    did = OUTCOME_WORDS.get(outcome, f"had a positive {outcome}")
    if yes == 0:
        raise UnsupportedData(
            f"None of the {n:,} mailed customers {did}, so a response model has nothing to "
            "learn from."
        )
    if yes < MIN_RESPONDERS or n - yes < MIN_RESPONDERS:
        who = f"Only {yes:,}" if yes < MIN_RESPONDERS else f"All but {n - yes:,}"
        raise UnsupportedData(
            f"{who} of the {n:,} mailed customers {did}, too few of one kind to fit a response "
            f"model and test it; at least {MIN_RESPONDERS} who did and {MIN_RESPONDERS} who "
            "did not are needed."
        )
    is_test = None
    if len(data.campaigns) >= 2:
        latest = data.campaigns[-1]
        in_latest = (data.rows["campaign_id"] == latest).to_numpy()
        if 0 < y[treated & in_latest].sum() < (treated & in_latest).sum() and (
            y[treated & ~in_latest].sum() > 0
        ):
            is_test = in_latest
            split = f"trained on {len(data.campaigns) - 1} earlier campaigns, tested on {latest}"
    if is_test is None:
        _, is_test = stratified_split(data, outcome, test_size, seed)
        split = f"stratified random split ({test_size:.0%} test, seed {seed})"
        if len(data.campaigns) >= 2:
            split += f" of all campaigns, as either {latest} or the earlier ones have no responder"
    train, test = treated & ~is_test, treated & is_test
    X = data.X.to_numpy()
    rows, preds = [], {}
    with _limit_threads():
        for name, family in (("gradient boosting", "gbm"), ("regularised logistic", "linear")):
            model = fit_outcome(make_estimator(family, True, seed), X[train], y[train])
            p = model.predict(X[test])
            preds[name] = p
            top = descending_order(p)[: max(1, len(p) // 10)]
            rows.append(
                {
                    "model": name,
                    "auc": roc_auc_score(y[test], p) if 0 < y[test].mean() < 1 else np.nan,
                    "log_loss": log_loss(y[test], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]),
                    "brier": brier_score_loss(y[test], p),
                    "top_decile_lift": y[test][top].mean() / y[test].mean(),
                }
            )
    metrics = pd.DataFrame(rows).set_index("model")
    best = str(metrics["auc"].idxmax()) if metrics["auc"].notna().any() else "gradient boosting"
    yt = y[test]
    cumulative = {}
    for name, p in preds.items():
        order = descending_order(p)
        captured = np.r_[0.0, np.cumsum(yt[order])] / max(yt.sum(), 1)
        cumulative[name] = captured
    share = np.arange(len(yt) + 1) / max(len(yt), 1)
    step = max(1, len(share) // 400)
    cum = pd.DataFrame({"share_contacted": share, **cumulative}).iloc[::step]
    return ResponseEvaluation(
        outcome,
        split,
        int(train.sum()),
        int(test.sum()),
        metrics,
        _gains(yt, preds[best]),
        _calibration(yt, preds[best]),
        best,
        cum,
    )


# =========================================================================== uplift evaluation
@dataclass
class UpliftEvaluation:
    """Uplift models compared on the test part of a stratified split."""

    outcome: str
    arms: list[str]
    models: list[str]
    chosen: str
    reason: str
    metrics: pd.DataFrame  # one row per arm × model (incl. "random" and "response_model")
    deciles: dict[tuple[str, str], pd.DataFrame]
    qini: dict[tuple[str, str], pd.DataFrame]  # share targeted vs Qini value
    validation: pd.DataFrame  # mean Qini per model on the validation part (selection)
    n_train: int
    n_test: int
    seed: int
    test_size: float
    truth: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def best_rows(self) -> pd.DataFrame:
        return self.metrics.loc[self.metrics["model"] == self.chosen]


def default_models(quick: bool = False) -> list[str]:
    """The models compared: all of :data:`crm_models.uplift.LEARNERS`, or three when quick."""
    if quick:
        return ["pooled_s_learner_gbm", "two_model_gbm", "two_model_logistic"]
    return list(LEARNERS)


def _fit_models(data, names, rows_mask, outcome, seed, arms):
    X = data.X.to_numpy()
    r = data.rows
    y = r[outcome].to_numpy(dtype=float)
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    fitted = {}
    for name in names:
        mau = make_multi_arm(name, binary, seed, control=data.control, arms=arms)
        fitted[name] = mau.fit(
            X[rows_mask],
            r["arm"].to_numpy()[rows_mask],
            y[rows_mask],
            groups=r["campaign_id"].astype(str).to_numpy()[rows_mask],
        )
    # response-model ranking: P(outcome | contacted), ignoring the control group
    treated = r["treated"].to_numpy(dtype=bool)
    resp_rows = rows_mask & treated
    est = make_estimator("gbm", binary, seed)
    fitted["response_model"] = fit_outcome(est, X[resp_rows], y[resp_rows])
    return fitted


def _score(fitted, name, X, arm_index):
    model = fitted[name]
    if name == "response_model":
        return model.predict(X)
    return model.predict_arm(X, model.arms_[arm_index])


def _bootstrap_at_k(y, s, t, k, n_boot, rng) -> tuple[float, float]:
    """95% percentile interval of uplift@k over ``n_boot`` bootstrap resamples of the rows.

    Vectorised: each resample is a row of multinomial counts; in score order (ties by row
    order, as in :func:`crm_models.uplift.uplift_at_k`) the first ``int(k·n)`` resampled rows
    form the top.
    """
    if n_boot <= 0:
        return np.nan, np.nan
    n = len(y)
    top = int(n * k)
    order = descending_order(s)
    y, t = np.asarray(y, float)[order], np.asarray(t, bool)[order]
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    before = np.cumsum(counts, axis=1) - counts
    w = np.clip(top - before, 0.0, counts)
    wt, wc = w * t, w * ~t
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (wt @ y) / wt.sum(axis=1) - (wc @ y) / wc.sum(axis=1)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def evaluate_uplift(
    data: CampaignData,
    outcome: str = "responded",
    models: Sequence[str] | None = None,
    arms: Sequence[str] | None = None,
    test_size: float = 0.3,
    seed: int = 42,
    n_boot: int = 200,
    k: float = 0.3,
    truth: pd.DataFrame | None = None,
    quick: bool = False,
) -> UpliftEvaluation:
    """Fit uplift models on the training part and compare them on the test part.

    Models are fitted on three quarters of the training part and chosen by their mean Qini
    coefficient over the arms on the remaining validation quarter (no refit), so the test
    figures are not inflated by the choice.  ``"random"`` is random targeting (its uplift@k is
    the test part's overall effect), ``"response_model"`` ranks by the probability of responding
    when contacted, ``"two_model_logistic"`` is the two-model logistic baseline.

    An offer whose customers or control group number fewer than :data:`MIN_GROUP_CUSTOMERS`,
    or with fewer than :data:`MIN_ARM_RESPONDERS` responders between them, is left out (the
    reason in ``info["arms_left_out"]``); :class:`~crm_models.dataset.UnsupportedData` when no
    offer is left.
    """
    models = list(dict.fromkeys([*(models or default_models(quick)), "two_model_logistic"]))
    arms = list(arms or data.arms)
    unknown = set(arms) - set(data.arms)
    if unknown:
        raise ValueError(f"unknown arm(s) {sorted(unknown)}; the data has {data.arms}")
    arms, left_out = _usable_arms(data, outcome, arms)
    train, test = stratified_split(data, outcome, test_size, seed)
    X = data.X.to_numpy()
    r = data.rows
    y = r[outcome].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    with _limit_threads():
        ev = _evaluate_uplift(
            data,
            outcome,
            models,
            arms,
            train,
            test,
            X,
            r,
            y,
            rng,
            n_boot,
            k,
            truth,
            seed,
            test_size,
        )
    ev.info["arms_left_out"] = left_out
    return ev


def _usable_arms(data: CampaignData, outcome: str, arms: list[str]):
    """The arms with enough customers and responders to measure uplift, and a sentence for
    each arm left out; UnsupportedData when none is left."""
    r = data.rows
    y = r[outcome].to_numpy(dtype=float)
    did = OUTCOME_WORDS.get(outcome, f"had a positive {outcome}")
    if not (y > 0).any():
        raise UnsupportedData(
            f"No customer {did} after any campaign, so the effect of mailing on this outcome "
            "cannot be measured."
        )
    usable, left_out = [], {}
    for arm in arms:
        rows = _arm_rows(data, arm)
        is_arm = (r["arm"] == arm).to_numpy()
        n_arm, n_ctrl = int(is_arm.sum()), int((rows & ~is_arm).sum())
        yes = int((y[rows] > 0).sum())
        offer = f"offer {data.label(arm)}"
        if min(n_arm, n_ctrl) < MIN_GROUP_CUSTOMERS:
            left_out[arm] = (
                f"The {offer} went to {plural(n_arm, 'customer')} and its control group holds "
                f"{n_ctrl:,}, too few to measure its uplift; each needs at least "
                f"{MIN_GROUP_CUSTOMERS}."
            )
        elif yes == 0:
            left_out[arm] = (
                f"Not a single customer {did} after the {offer} or in its control group, so "
                "its uplift cannot be measured."
            )
        elif yes < MIN_ARM_RESPONDERS:
            left_out[arm] = (
                f"Only {plural(yes, 'customer')} {did} after the {offer} or in "
                f"its control group, too few to measure its uplift; at least "
                f"{MIN_ARM_RESPONDERS} are needed."
            )
        else:
            usable.append(arm)
    if not usable:
        if len(arms) == 1:
            raise UnsupportedData(left_out[arms[0]])
        raise UnsupportedData(
            "No offer has enough customers and responders to measure its uplift: each offer and "
            f"its control group need at least {MIN_GROUP_CUSTOMERS} customers, with at least "
            f"{MIN_ARM_RESPONDERS} who {did} between them."
        )
    return usable, left_out


def _evaluate_uplift(
    data, outcome, models, arms, train, test, X, r, y, rng, n_boot, k, truth, seed, test_size
) -> UpliftEvaluation:
    # three parts: models are fitted on 75% of the training part, the other 25% (validation)
    # chooses the model, the test part only measures
    train_idx = np.flatnonzero(train)
    positive = (y[train_idx] > 0).astype(str)
    strata = r["arm"].astype(str).to_numpy()[train_idx] + positive
    fit_idx, val_idx = _split(train_idx, [strata, positive], 0.25, seed)
    fit_mask = np.zeros(len(r), bool)
    fit_mask[fit_idx] = True
    val_mask = np.zeros(len(r), bool)
    val_mask[val_idx] = True
    fitted = _fit_models(data, models, fit_mask, outcome, seed, arms)
    arm_col = r["arm"].to_numpy()
    val_rows = []
    for name in models:
        q = []
        for j, arm in enumerate(arms):
            rows = _arm_rows(data, arm, val_mask)
            q.append(
                qini_auc_score(y[rows], _score(fitted, name, X[rows], j), arm_col[rows] == arm)
            )
        val_rows.append({"model": name, "validation_qini": float(np.nanmean(q))})
    validation = pd.DataFrame(val_rows).set_index("model")
    if validation["validation_qini"].notna().any():
        chosen = str(validation["validation_qini"].idxmax())
        reason = (
            f"highest mean Qini coefficient over the arms on the validation part "
            f"({validation.loc[chosen, 'validation_qini']:.3f}), which played no part in "
            "fitting or testing"
        )
    else:  # no responder in the validation part: nothing tells the models apart
        chosen = "two_model_logistic"
        reason = (
            "logistic baseline: the validation part holds too few responders to tell the "
            "models apart"
        )

    out, deciles, qini = [], {}, {}
    for j, arm in enumerate(arms):
        rows = _arm_rows(data, arm, test)
        yt, tt, Xt = y[rows], arm_col[rows] == arm, X[rows]
        true = _truth_for(data, rows, arm, truth) if truth is not None else None
        ate = yt[tt].mean() - yt[~tt].mean()
        lo, hi = _bootstrap_at_k(yt, rng.random(len(yt)), tt, k, n_boot, rng)
        out.append(
            {
                "arm": arm,
                "model": "random",
                "uplift_at_30": ate,
                "uplift_at_30_low": lo,
                "uplift_at_30_high": hi,
                "qini_auc": 0.0,
                "auuc": 0.0,
                "n_test": len(yt),
            }
        )
        for name in [*models, "response_model"]:
            s = _score(fitted, name, Xt, j)
            lo, hi = _bootstrap_at_k(yt, s, tt, k, n_boot, rng)
            row = {
                "arm": arm,
                "model": name,
                "uplift_at_30": uplift_at_k(yt, s, tt, k),
                "uplift_at_30_low": lo,
                "uplift_at_30_high": hi,
                "qini_auc": qini_auc_score(yt, s, tt),
                "auuc": uplift_auc_score(yt, s, tt),
                "n_test": len(yt),
            }
            if true is not None:
                from scipy.stats import spearmanr

                ok = ~np.isnan(true)
                row["rank_corr_true"] = float(spearmanr(s[ok], true[ok]).statistic)
                row["auuc_vs_oracle"] = _true_gain_ratio(s, true)
            out.append(row)
            deciles[(name, arm)] = uplift_by_percentile(yt, s, tt, bins=10)
            x, q = qini_curve(yt, s, tt)
            step = max(1, len(x) // 300)
            qini[(name, arm)] = pd.DataFrame({"share": x / len(yt), "qini": q}).iloc[::step]
        if true is not None:
            ok = ~np.isnan(true)
            out.append(
                {
                    "arm": arm,
                    "model": "oracle (true uplift)",
                    "uplift_at_30": uplift_at_k(yt, np.nan_to_num(true), tt, k),
                    "qini_auc": qini_auc_score(yt, np.nan_to_num(true), tt),
                    "auuc": uplift_auc_score(yt, np.nan_to_num(true), tt),
                    "rank_corr_true": 1.0,
                    "auuc_vs_oracle": 1.0,
                    "n_test": int(ok.sum()),
                }
            )
    metrics = pd.DataFrame(out)
    return UpliftEvaluation(
        outcome,
        arms,
        models,
        chosen,
        reason,
        metrics,
        deciles,
        qini,
        validation,
        int(fit_mask.sum()),
        int(test.sum()),
        seed,
        test_size,
        truth is not None,
        {"n_validation": int(val_mask.sum())},
    )


def uplift_summary(
    ds: Dataset,
    outcome: str = "responded",
    arms: Sequence[str] | None = None,
    model: str | None = None,
    test_size: float = 0.3,
    seed: int = 42,
    n_boot: int = 200,
    quick: bool = False,
) -> dict[str, Any]:
    """The figures of ``crm-models uplift --json`` (arm names as the source spells them)."""
    data = campaign_data(ds)
    if outcome not in data.outcomes:
        raise ValueError(f"unknown outcome {outcome!r}; the campaigns have {data.outcomes}")
    labels = {data.label(a): a for a in data.arms}
    arms = [labels.get(a, a) for a in arms] if arms else data.arms
    models = [model] if model else default_models(quick)
    ev = evaluate_uplift(
        data, outcome, models=models, arms=arms, test_size=test_size, seed=seed, n_boot=n_boot
    )
    r = data.rows
    y = r[outcome].to_numpy(dtype=float)
    chosen = model or ev.chosen
    result: dict[str, Any] = {
        "dataset": ds.name,
        "outcome": outcome,
        "model": chosen,
        "test_size": test_size,
        "seed": seed,
        "control": {
            "name": data.label(data.control),
            "customers": int((r["arm"] == data.control).sum()),
            "response_rate": float(y[(r["arm"] == data.control).to_numpy()].mean()),
        },
        "arms": {},
    }
    m = ev.metrics.set_index(["arm", "model"])
    if ev.info.get("arms_left_out"):
        result["arms_left_out"] = {
            data.label(a): why for a, why in ev.info["arms_left_out"].items()
        }
    for arm in ev.arms:
        rows = _arm_rows(data, arm)
        is_arm = (r["arm"] == arm).to_numpy()
        ctrl = rows & ~is_arm
        result["arms"][data.label(arm)] = {
            "customers": int(is_arm.sum()),
            "response_rate": float(y[is_arm].mean()),
            "ate": float(y[is_arm].mean() - y[ctrl].mean()),
            "test_ate": float(m.loc[(arm, "random"), "uplift_at_30"]),
            "uplift_at_30": float(m.loc[(arm, chosen), "uplift_at_30"]),
            "uplift_at_30_ci": [
                float(m.loc[(arm, chosen), "uplift_at_30_low"]),
                float(m.loc[(arm, chosen), "uplift_at_30_high"]),
            ],
            "qini_auc": float(m.loc[(arm, chosen), "qini_auc"]),
            "auuc": float(m.loc[(arm, chosen), "auuc"]),
            "baseline_uplift_at_30": float(m.loc[(arm, "two_model_logistic"), "uplift_at_30"]),
            "response_model_uplift_at_30": float(m.loc[(arm, "response_model"), "uplift_at_30"]),
        }
    return result


# =========================================================================== contact list
@dataclass
class ContactPolicy:
    """The rules and economics of one send.

    ``budget``: maximum number of contacts; ``budget_money``: maximum total contact cost;
    ``cost_per_contact``: one amount or ``{channel: amount}``; ``max_contacts`` in
    ``window_days`` days (the new contact included) from the contact history; ``channels``: the
    channels this send may use (a customer is reached only through their preferred channel);
    ``margin``: share of a response order's value that is profit; ``offer_costs``: per arm, the
    share of a response order's value the offer gives away; ``clv_weight``: weight of the gain in
    expected lifetime value a response brings (``clv_gain`` in the scores, see
    :func:`response_clv_gain`; 0 switches the term off); ``send_date``: default the day after the
    as-of day.  Both budgets may be given; the list then respects both.
    """

    budget: int | None = None
    budget_money: float | None = None
    cost_per_contact: float | Mapping[str, float] = 0.5
    max_contacts: int = 2
    window_days: int = 30
    channels: tuple[str, ...] | None = None
    margin: float = 1.0
    offer_costs: Mapping[str, float] = field(default_factory=dict)
    clv_weight: float = 0.5
    send_date: Any = None

    def __post_init__(self):
        if self.budget is not None and self.budget < 0:
            raise ValueError("budget (number of contacts) must be >= 0")
        if self.budget_money is not None and self.budget_money < 0:
            raise ValueError("budget_money must be >= 0")
        if self.clv_weight < 0:
            raise ValueError("clv_weight must be >= 0 (0 switches the lifetime-value term off)")

    def cost(self, channel: pd.Series) -> np.ndarray:
        if isinstance(self.cost_per_contact, Mapping):
            default = float(self.cost_per_contact.get("default", 0.0))
            return channel.map(lambda c: float(self.cost_per_contact.get(c, default))).to_numpy(
                dtype=float
            )
        return np.full(len(channel), float(self.cost_per_contact))


EXCLUSIONS = {
    "NO_CONSENT": "never gave marketing consent",
    "OPTED_OUT": "opted out before the send date",
    "FREQUENCY_CAP": "would exceed the contact-frequency cap",
    "CHANNEL": "preferred channel not used in this send",
    "NEGATIVE_UPLIFT": "no offer raises their response (sleeping dog or lost cause)",
    "UNPROFITABLE": "expected incremental profit not above zero",
    "OVER_BUDGET": "profitable, but the budget ran out",
}


def recent_contacts(
    campaigns: pd.DataFrame | None, send_date: pd.Timestamp, window_days: int
) -> pd.Series:
    """Contacts (treated rows) per customer in the ``window_days`` days up to the send date."""
    if campaigns is None or not len(campaigns):
        return pd.Series(dtype="int64")
    start = send_date - pd.Timedelta(days=window_days)
    c = campaigns.loc[
        campaigns["treated"].astype(bool)
        & (campaigns["sent_date"] > start)
        & (campaigns["sent_date"] < send_date + pd.Timedelta(days=1))
    ]
    return c.groupby("customer_id").size()


def _profit(
    d: pd.DataFrame, uplift: np.ndarray, offer: np.ndarray, cost: np.ndarray, policy: ContactPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Expected incremental profit (module docstring) and its lifetime-value part, for uplift
    and offer-cost arrays that broadcast against the customers (rows of ``d``)."""
    value = d["value"].to_numpy(dtype=float)[:, None]
    p0 = d["p_control"].to_numpy(dtype=float)[:, None]
    gain = d["clv_gain"].fillna(0.0).to_numpy(dtype=float) if "clv_gain" in d else np.zeros(len(d))
    uplift = np.asarray(uplift, dtype=float)
    uplift = uplift[:, None] if uplift.ndim == 1 else uplift
    cost = np.asarray(cost, dtype=float)
    cost = cost[:, None] if cost.ndim == 1 else cost
    clv_part = uplift * policy.clv_weight * gain[:, None] * policy.margin
    profit = (
        uplift * value * policy.margin
        + clv_part
        - offer * np.clip(p0 + uplift, 0, 1) * value
        - cost
    )
    return profit, clv_part


def select_contacts(
    scores: pd.DataFrame,
    arms: Sequence[str],
    policy: ContactPolicy,
    customers: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    send_date: Any = None,
) -> pd.DataFrame:
    """Decide per customer: contact with which arm, or why not.

    ``scores`` is indexed by ``customer_id`` with ``uplift_<arm>``, ``p_control``, ``value``
    and optionally ``clv_gain`` and ``channel``.  Returns ``scores`` plus ``arm`` (best arm),
    ``expected_profit``, ``expected_incremental_response``, ``expected_incremental_clv`` (the
    lifetime-value part of the profit), ``cost``, ``selected`` and ``exclusion`` (a key of
    :data:`EXCLUSIONS`, empty when selected).  Opted-out, non-consenting and over-contacted
    customers are never selected, whatever the budget.  With ``budget_money`` customers are
    taken by expected profit per unit of contact cost until the next would overspend, so the
    list's cost never exceeds it; ``budget`` then keeps the most profitable of those.
    """
    send = pd.Timestamp(send_date if send_date is not None else policy.send_date).normalize()
    d = scores.copy()
    n = len(d)
    channel = d["channel"] if "channel" in d else pd.Series([""] * n, index=d.index)
    channel = channel.astype(object).where(channel.notna(), "")
    cost = policy.cost(channel)
    up = np.column_stack([d[f"uplift_{a}"].to_numpy(dtype=float) for a in arms])
    offer = np.array([float(policy.offer_costs.get(a, 0.0)) for a in arms])
    profits, clv_part = _profit(d, up, offer[None, :], cost[:, None], policy)
    best = np.argmax(profits, axis=1)
    rows = np.arange(n)
    d["arm"] = np.asarray(arms, dtype=object)[best]
    d["expected_incremental_response"] = up[rows, best]
    d["expected_profit"] = profits[rows, best]
    d["expected_incremental_clv"] = clv_part[rows, best]
    d["cost"] = cost
    reason = np.full(n, "", dtype=object)

    def mark(mask, code):
        mask = np.asarray(mask, dtype=bool) & (reason == "")
        reason[mask] = code

    if customers is not None and len(customers):
        cust = customers.set_index("customer_id").reindex(d.index)
        if "opt_out_date" in cust:
            out = cust["opt_out_date"]
            mark((out.notna() & (out < send + pd.Timedelta(days=1))).to_numpy(), "OPTED_OUT")
        if "opt_in" in cust:
            mark(~cust["opt_in"].fillna(False).astype(bool).to_numpy(), "NO_CONSENT")
    contacts = recent_contacts(campaigns, send, policy.window_days)
    mark(
        d.index.map(contacts).to_series().fillna(0).to_numpy() >= policy.max_contacts,
        "FREQUENCY_CAP",
    )
    if policy.channels is not None:
        mark(~channel.isin(list(policy.channels)).to_numpy(), "CHANNEL")
    mark(d["expected_incremental_response"].to_numpy() <= 0, "NEGATIVE_UPLIFT")
    mark(d["expected_profit"].to_numpy() <= 0, "UNPROFITABLE")
    candidates = np.flatnonzero(reason == "")
    if policy.budget_money is not None:
        ratio = d["expected_profit"].to_numpy()[candidates] / np.maximum(cost[candidates], 1e-9)
        order = candidates[np.argsort(-ratio, kind="stable")]
        spent = np.cumsum(cost[order])
        over = order[spent > policy.budget_money]
        reason[over] = "OVER_BUDGET"
    candidates = np.flatnonzero(reason == "")
    if policy.budget is not None:
        order = candidates[np.argsort(-d["expected_profit"].to_numpy()[candidates], kind="stable")]
        reason[order[int(policy.budget) :]] = "OVER_BUDGET"
    d["exclusion"] = reason
    d["selected"] = reason == ""
    return d


@dataclass
class ContactListResult:
    """The list to send, every customer's decision, totals and the comparison of strategies."""

    contacts: pd.DataFrame  # the CSV: customer_id, arm, channel, expected figures, reason codes
    decisions: pd.DataFrame
    summary: dict[str, Any]
    comparison: pd.DataFrame
    exclusions: pd.DataFrame


def _reason_codes(d: pd.DataFrame, arms: Sequence[str]) -> pd.Series:
    """Why each selected customer is on the list, as ``;``-joined codes (vectorised)."""
    sel = d.loc[d["selected"]]
    if not len(sel):
        return pd.Series(dtype=object)
    uplift = sel["expected_incremental_response"]
    flags = {
        "TOP_10PCT_UPLIFT": uplift >= uplift.quantile(0.9),
        "HIGH_ORDER_VALUE": sel["value"] > d["value"].quantile(0.75),  # never if all equal
        "REACTIVATION_VALUE": (
            sel["clv_gain"] > d["clv_gain"].quantile(0.75)
            if "clv_gain" in sel and sel["expected_incremental_clv"].gt(0).any()
            else pd.Series(False, index=sel.index)
        ),
        "UNLIKELY_TO_BUY_UNPROMPTED": sel["p_control"] <= d["p_control"].median(),
        "RECENT_BUYER": (
            sel["days_since_last"] <= 60
            if "days_since_last" in sel
            else pd.Series(False, index=sel.index)
        ),
    }
    codes = "BEST_OFFER_" + sel["arm"].astype(str).str.upper()
    for code, flag in flags.items():
        codes = codes.where(~flag.to_numpy(dtype=bool), codes + ";" + code)
    return codes


def _strategy_totals(name, d, mask, arm_col, policy, arms):
    up = np.column_stack([d[f"uplift_{a}"].to_numpy(dtype=float) for a in arms])
    idx = np.flatnonzero(mask)
    a_idx = pd.Index(list(arms)).get_indexer(arm_col[idx])
    u = up[idx, a_idx]
    offer = np.asarray([float(policy.offer_costs.get(a, 0.0)) for a in arms])[a_idx]
    sub = d.iloc[idx]
    cost = d["cost"].to_numpy()[idx]
    profit, clv_part = _profit(sub, u, offer[:, None], cost, policy)
    return {
        "strategy": name,
        "contacts": len(idx),
        "expected_incremental_responses": float(u.sum()),
        "expected_incremental_revenue": float((u * sub["value"].to_numpy(dtype=float)).sum()),
        "expected_incremental_clv": float(clv_part.sum()),
        "contact_cost": float(cost.sum()),
        "expected_incremental_profit": float(profit.sum()),
    }


def contact_list(
    scores: pd.DataFrame,
    arms: Sequence[str],
    policy: ContactPolicy,
    customers: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    send_date: Any = None,
) -> ContactListResult:
    """The contact list under ``policy`` and its comparison with simpler strategies.

    Strategies compared (expected figures from the models): this list; mailing every eligible
    customer (permission rules still apply) with the single offer that pays best on average;
    mailing as many customers as this list by the response score (probability of buying when
    contacted) with that offer; mailing nobody.
    """
    d = select_contacts(scores, arms, policy, customers, campaigns, send_date)
    permission = d["exclusion"].isin(["NO_CONSENT", "OPTED_OUT", "FREQUENCY_CAP", "CHANNEL"])
    eligible = ~permission.to_numpy()
    # the single best offer on average over the eligible customers
    sel = d["selected"].to_numpy()
    mean_profit = {}
    for a in arms:
        tmp = _strategy_totals(a, d, eligible, np.full(len(d), a, dtype=object), policy, arms)
        mean_profit[a] = tmp["expected_incremental_profit"]
    one_arm = max(mean_profit, key=mean_profit.get)
    same = np.full(len(d), one_arm, dtype=object)
    p_treated = d["p_control"].to_numpy() + d[f"uplift_{one_arm}"].to_numpy()
    n_list = int(sel.sum())
    by_response = np.zeros(len(d), bool)
    cand = np.flatnonzero(eligible)
    by_response[cand[np.argsort(-p_treated[cand], kind="stable")[:n_list]]] = True
    arm_col = d["arm"].to_numpy()
    comparison = pd.DataFrame(
        [
            _strategy_totals("uplift list (this list)", d, sel, arm_col, policy, arms),
            _strategy_totals(
                "uplift list without a budget (every profitable customer)",
                d,
                d["exclusion"].isin(["", "OVER_BUDGET"]).to_numpy(),
                arm_col,
                policy,
                arms,
            ),
            _strategy_totals(
                f"mail every eligible customer ({one_arm})", d, eligible, same, policy, arms
            ),
            _strategy_totals(
                f"top {n_list:,} by response score ({one_arm})", d, by_response, same, policy, arms
            ),
            _strategy_totals("mail nobody", d, np.zeros(len(d), bool), same, policy, arms),
        ]
    )
    codes = _reason_codes(d, arms)
    out = d.loc[sel].copy()
    out["reason_codes"] = codes
    cols = [
        "arm",
        "channel",
        "expected_incremental_response",
        "expected_incremental_clv",
        "expected_profit",
        "reason_codes",
    ]
    contacts = (
        out[[c for c in cols if c in out.columns]]
        .rename(columns={"expected_profit": "expected_incremental_profit"})
        .sort_values("expected_incremental_profit", ascending=False, kind="stable")
        .reset_index()
    )
    exclusions = (
        d["exclusion"]
        .replace("", "SELECTED")
        .value_counts()
        .rename_axis("decision")
        .reset_index(name="customers")
    )
    exclusions["meaning"] = exclusions["decision"].map({**EXCLUSIONS, "SELECTED": "on the list"})
    summary = {
        "customers_scored": len(d),
        "contacts": n_list,
        "excluded_by_permission_rules": int(permission.sum()),
        "excluded_no_consent": int((d["exclusion"] == "NO_CONSENT").sum()),
        "excluded_opted_out": int((d["exclusion"] == "OPTED_OUT").sum()),
        "excluded_frequency_cap": int((d["exclusion"] == "FREQUENCY_CAP").sum()),
        "excluded_channel": int((d["exclusion"] == "CHANNEL").sum()),
        "expected_incremental_responses": float(d.loc[sel, "expected_incremental_response"].sum()),
        "expected_incremental_profit": float(d.loc[sel, "expected_profit"].sum()),
        "expected_incremental_clv": float(d.loc[sel, "expected_incremental_clv"].sum()),
        "contact_cost": float(d.loc[sel, "cost"].sum()),
        "budget_contacts": policy.budget,
        "budget_amount": policy.budget_money,
        "spent": float(d.loc[sel, "cost"].sum()),
        "clv_weight": policy.clv_weight,
        "by_arm": {str(k): int(v) for k, v in d.loc[sel, "arm"].value_counts().items()},
        "single_best_offer": one_arm,
    }
    return ContactListResult(contacts, d, summary, comparison, exclusions)


def _clv_gain_raw(
    view: pd.DataFrame, purchase_model, spend_model, horizon: float, annual_discount_rate: float
) -> np.ndarray:
    """ΔCLV of :func:`response_clv_gain` for buyers, unclipped (tests check it is >= 0)."""
    from crm_models.clv import customer_value

    kw = dict(horizon=horizon, annual_discount_rate=annual_discount_rate)
    now = customer_value(purchase_model, spend_model, view, **kw)
    x, T = view["frequency"].to_numpy(dtype=float), view["T"].to_numpy(dtype=float)
    # a purchase today is a repeat purchase at T (on the day of the first purchase it is the
    # same purchase day, which changes nothing)
    after = pd.DataFrame(
        {
            "frequency": np.where(T > 0, x + 1, x),
            "recency": np.where(T > 0, T, view["recency"].to_numpy(dtype=float)),
            "T": T,
            "monetary_value": view["monetary_value"].to_numpy(dtype=float),
        },
        index=view.index,
    )
    then = customer_value(purchase_model, spend_model, after, **kw)
    alive_purchases = then["potential_value"] / then["expected_spend_per_purchase"]
    return (now["expected_spend_per_purchase"] * alive_purchases - now["clv"]).to_numpy()


def response_clv_gain(
    view: pd.DataFrame,
    purchase_model=None,
    spend_model=None,
    horizon: float = 52.0,
    annual_discount_rate: float = 0.10,
) -> pd.Series:
    """Gain in expected lifetime value when a customer buys today (responds), per customer::

        ΔCLV_i = m_i × A(x_i + 1, T_i)  -  CLV_i,     CLV_i = m_i × P(alive)_i × A(x_i, T_i)

    ``A(x, T)``: purchases expected over ``horizon`` weeks from a customer known to be active
    with ``x`` repeat purchases in ``T`` weeks, each discounted at ``annual_discount_rate``
    (BG/NBD, as in :func:`crm_models.clv.customer_value`, whose ``potential_value`` is
    ``m × A``); ``m_i``: Gamma-Gamma expected spend per purchase, held at its current value (the
    response order is valued separately); ``CLV_i``: the current CLV.  After buying today the
    customer is active for certain (P(alive) = 1: a response *re-activates*), with one more
    repeat purchase and the last purchase today.  (BG/NBD lets a customer drop out right after a
    purchase; counting that would make a purchase lower the value of a one-time buyer, whose
    P(alive) is 1 by construction.)

    ΔCLV >= 0: ``A`` grows with ``x`` (a higher posterior purchase rate and a lower posterior
    drop-out probability, both raising expected purchases at every horizon) and P(alive) <= 1.
    It is largest for valuable customers who are slipping away (low P(alive)).  Customers who
    never bought get 0.  The models are fitted on ``view``'s buyers unless given (a
    :class:`crm_models.clv.FitError` says why they cannot be).
    """
    from crm_models.clv import BetaGeoModel, GammaGammaModel, buyers

    base = buyers(view)
    purchase_model = purchase_model or BetaGeoModel().fit(base)
    spend_model = spend_model or GammaGammaModel().fit(base)
    raw = _clv_gain_raw(base, purchase_model, spend_model, horizon, annual_discount_rate)
    gain = pd.Series(np.maximum(raw, 0.0), index=base.index, name="clv_gain")  # clip: rounding
    return gain.reindex(view.index, fill_value=0.0)


class TargetingModel:
    """Everything the contact list needs, fitted on all campaign rows of a dataset.

    ``fit(ds)``: the uplift learner per arm (yes/no outcome ``outcome``), each arm's predicted
    uplift re-centred on the effect measured in its own randomised campaigns (``offsets_``), a
    control-group response model (``p_control``), and the calibration of the response value.  ``score(ds,
    as_of)``: per customer, as of a day, ``p_control``, ``uplift_<arm>``, ``value``, ``channel``
    and ``clv_gain`` (:func:`response_clv_gain` over ``clv_horizon_weeks``, BG/NBD and
    Gamma-Gamma fitted as of that day; 0 when ``clv_horizon_weeks`` is None or the data cannot
    support the models, with the reason in ``clv_note_``).
    """

    def __init__(
        self,
        learner: str = "pooled_s_learner_gbm",
        outcome: str = "responded",
        value_outcome: str = "response_amount",
        response_window_days: int = RESPONSE_WINDOW_DAYS,
        random_state: int = 0,
        shrinkage_orders: float = 2.0,
        clv_horizon_weeks: float | None = 52.0,
        annual_discount_rate: float = 0.10,
    ):
        self.learner = learner
        self.outcome = outcome
        self.value_outcome = value_outcome
        self.response_window_days = response_window_days
        self.random_state = random_state
        self.shrinkage_orders = shrinkage_orders
        self.clv_horizon_weeks = clv_horizon_weeks
        self.annual_discount_rate = annual_discount_rate

    def _clv_gain(self, feats: pd.DataFrame) -> np.ndarray:
        from crm_models.clv import FitError

        zeros = np.zeros(len(feats))
        if not self.clv_horizon_weeks:
            self.clv_note_ = "lifetime-value term off (no horizon)"
            return zeros
        if not {"frequency", "recency", "T", "monetary_value"} <= set(feats.columns):
            self.clv_note_ = "lifetime-value term off: the data has no purchase history"
            return zeros
        try:
            gain = response_clv_gain(
                feats,
                horizon=self.clv_horizon_weeks,
                annual_discount_rate=self.annual_discount_rate,
            )
        except (FitError, ValueError) as err:
            why = str(err).splitlines()[0].rstrip(".")
            if why[:2].istitle():  # a plain sentence: continue it after the colon
                why = why[0].lower() + why[1:]
            self.clv_note_ = f"lifetime-value term off: {why}"
            return zeros
        self.clv_note_ = (
            f"BG/NBD + Gamma-Gamma, {self.clv_horizon_weeks:g}-week horizon, "
            f"{self.annual_discount_rate:.0%} a year discount"
        )
        return gain.to_numpy(dtype=float)

    def _history_value(self, feats: pd.DataFrame) -> np.ndarray:
        if "avg_order_value" not in feats or self.global_aov_ is None:
            return np.ones(len(feats))
        aov = feats["avg_order_value"].to_numpy(dtype=float)
        orders = feats["orders"].fillna(0).to_numpy(dtype=float) if "orders" in feats else 0.0
        aov = np.where(np.isnan(aov), self.global_aov_, aov)
        m = self.shrinkage_orders
        return (orders * aov + m * self.global_aov_) / (orders + m)

    def fit(self, ds: Dataset, data: CampaignData | None = None) -> TargetingModel:
        data = data or campaign_data(ds, response_window_days=self.response_window_days)
        r = data.rows
        y = (r[self.outcome].to_numpy(dtype=float) > 0).astype(float)
        X = data.X.to_numpy()
        self.encoder_ = data.encoder
        self.arms_ = data.arms
        self.control_ = data.control
        with _limit_threads():
            self.uplift_ = make_multi_arm(
                self.learner, True, self.random_state, control=data.control
            ).fit(X, r["arm"].to_numpy(), y, groups=r["campaign_id"].astype(str).to_numpy())
            # re-centre each offer on the effect measured in its own randomised campaign(s):
            # keeps the ranking within an offer, makes the offers' levels comparable
            self.offsets_ = {}
            for a in self.arms_:
                rows = _arm_rows(data, a)
                is_arm = (r["arm"] == a).to_numpy()
                measured = y[rows & is_arm].mean() - y[rows & ~is_arm].mean()
                self.offsets_[a] = float(measured - self.uplift_.predict_arm(X[rows], a).mean())
            ctrl = (r["arm"] == data.control).to_numpy()
            self.control_model_ = fit_outcome(
                make_estimator("gbm", True, self.random_state), X[ctrl], y[ctrl]
            )
        f = data.features
        aov = f["avg_order_value"] if "avg_order_value" in f else None
        self.global_aov_ = float(np.nanmean(aov)) if aov is not None and aov.notna().any() else None
        hist = self._history_value(f)
        responders = y > 0
        if self.value_outcome in r and responders.any():
            amount = r[self.value_outcome].to_numpy(dtype=float)[responders]
            self.value_scale_ = float(amount.mean() / max(hist[responders].mean(), 1e-9))
        else:
            self.value_scale_ = 1.0
        return self

    def score(self, ds: Dataset, as_of=None) -> pd.DataFrame:
        as_of = resolve_as_of(ds, as_of)
        feats = customer_features(ds, as_of, self.response_window_days)
        X = self.encoder_.transform(feats).to_numpy()
        with _limit_threads():
            up = self.uplift_.predict(X)
            p0 = self.control_model_.predict(X)
        out = pd.DataFrame(
            {f"uplift_{a}": up[:, j] + self.offsets_[a] for j, a in enumerate(self.arms_)},
            index=feats.index,
        )
        out["p_control"] = p0
        out["value"] = self._history_value(feats) * self.value_scale_
        out["clv_gain"] = self._clv_gain(feats)
        if "preferred_channel" in feats:
            out["channel"] = feats["preferred_channel"].astype(object)
        elif ds.campaigns is not None and "channel" in ds.campaigns:
            out["channel"] = str(ds.campaigns["channel"].mode().iloc[0])
        for col in ("days_since_last", "lifecycle_stage"):
            if col in feats:
                out[col] = feats[col]
        out.index.name = "customer_id"
        return out


def build_contact_list(
    ds: Dataset,
    policy: ContactPolicy,
    learner: str = "pooled_s_learner_gbm",
    as_of=None,
    model: TargetingModel | None = None,
    data: CampaignData | None = None,
) -> tuple[ContactListResult, TargetingModel]:
    """Fit (unless given) the targeting model on ``ds`` and build the contact list as of a day."""
    as_of = resolve_as_of(ds, as_of)
    model = model or TargetingModel(learner).fit(ds, data)
    scores = model.score(ds, as_of)
    send = policy.send_date or (as_of + pd.Timedelta(days=1))
    result = contact_list(scores, model.arms_, policy, ds.customers, ds.campaigns, send)
    result.summary["as_of"] = str(as_of.date())
    result.summary["send_date"] = str(pd.Timestamp(send).date())
    result.summary["clv_term"] = model.clv_note_
    return result, model

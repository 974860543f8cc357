"""Response models: who buys when contacted (gradient boosting vs logistic), gains, calibration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_models.data.dataset import UnsupportedData
from crm_models.targeting.campaigns import OUTCOME_WORDS, CampaignData
from crm_models.targeting.metrics import descending_order
from crm_models.targeting.splits import stratified_split
from crm_models.targeting.uplift import fit_outcome, limit_threads, make_estimator

__all__ = ["MIN_RESPONDERS", "ResponseEvaluation", "evaluate_response"]


MIN_RESPONDERS = 10  # mailed customers who responded, for a response model


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
    contacted rows.  Raises :class:`~crm_models.data.dataset.UnsupportedData` with fewer than
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
    with limit_threads():
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

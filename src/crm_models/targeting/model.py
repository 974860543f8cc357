"""The targeting model: uplift per offer, control response, order value, CLV gain per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from crm_models.data.dataset import Dataset
from crm_models.data.snapshot import drop_mapped_pages
from crm_models.engine import Source
from crm_models.engine.aggregates import table_columns
from crm_models.features import resolve_as_of
from crm_models.targeting.campaigns import (
    RESPONSE_WINDOW_DAYS,
    CampaignData,
    arm_rows,
    campaign_data,
    customer_features,
)
from crm_models.targeting.clv_gain import response_clv_gain
from crm_models.targeting.evaluation import evaluate_uplift
from crm_models.targeting.policy import (
    ContactListResult,
    ContactPolicy,
    contact_list,
    permission_tables,
)
from crm_models.targeting.sampling import fit_sample, sample_summary
from crm_models.targeting.uplift import fit_outcome, limit_threads, make_estimator, make_multi_arm
from crm_models.value import (
    SUMMARY_COLUMNS,
    VALUE_MODEL_LABELS,
    FitError,
    buyers,
    forecast_multiplier,
    make_purchase_model,
    purchase_model_for,
    value_model_choice,
)

__all__ = ["SCORE_BATCH", "TargetingModel", "build_contact_list"]

SCORE_BATCH = 100_000  # customers scored at a time: bounds the models' design matrices in memory


class TargetingModel(BaseEstimator):
    """Everything the contact list needs, fitted on all campaign rows of a dataset.

    ``fit(ds)``: the uplift learner per arm (yes/no outcome ``outcome``), each arm's predicted
    uplift re-centred on the effect measured in its own randomised campaigns (``offsets_``), a
    control-group response model (``p_control``), and the calibration of the response value.  ``score(ds,
    as_of)``: per customer, as of a day, ``p_control``, ``uplift_<arm>``, ``value``, ``channel``
    and ``clv_gain`` (:func:`response_clv_gain` over ``clv_horizon_weeks`` with the value model
    ``value_model`` - ``auto``: the one the value report chose,
    :func:`crm_models.value.value_model_choice` - and Gamma-Gamma fitted as of that day; 0 when
    ``clv_horizon_weeks`` is None or the data cannot support the models, with the reason in
    ``clv_note_``).  Above ``max_fit_rows`` campaign rows
    (None: :data:`~crm_models.targeting.sampling.MAX_FIT_ROWS`, 0: no cap) the models are fitted
    on a stratified sample (seed ``sample_seed``, None: ``random_state``; described in
    ``fit_sample_``; the seed of an evaluation's sample reuses that sample and its features)
    and each offer is re-centred on its effect measured on every row.  A scikit-learn
    estimator, so ``clone`` and ``get_params``/``set_params`` work (it fits on a dataset, not a
    matrix).
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
        max_fit_rows: int | None = None,
        value_model: str = "auto",
        sample_seed: int | None = None,
    ):
        self.learner = learner
        self.outcome = outcome
        self.value_outcome = value_outcome
        self.response_window_days = response_window_days
        self.random_state = random_state
        self.shrinkage_orders = shrinkage_orders
        self.clv_horizon_weeks = clv_horizon_weeks
        self.annual_discount_rate = annual_discount_rate
        self.max_fit_rows = max_fit_rows
        self.value_model = value_model
        self.sample_seed = sample_seed

    def _clv_gain(
        self, ds: Dataset | Source, as_of: pd.Timestamp, feats: pd.DataFrame
    ) -> np.ndarray:
        zeros = np.zeros(len(feats))
        if not self.clv_horizon_weeks:
            self.clv_note_ = "lifetime-value term off (no horizon)"
            return zeros
        if not {"frequency", "recency", "T", "monetary_value"} <= set(feats.columns):
            self.clv_note_ = "lifetime-value term off: the data has no purchase history"
            return zeros
        try:
            chosen = value_model_choice(ds, self.value_model, None, as_of)["model_chosen"]
            base = buyers(feats, SUMMARY_COLUMNS)
            purchase = make_purchase_model(purchase_model_for(chosen)).fit(base)
            gain = response_clv_gain(
                feats,
                purchase,
                horizon=self.clv_horizon_weeks,
                annual_discount_rate=self.annual_discount_rate,
                multiplier=forecast_multiplier(
                    chosen, ds, as_of, self.clv_horizon_weeks, purchase, base
                ),
            )
        except (FitError, ValueError) as err:
            why = str(err).splitlines()[0].rstrip(".")
            if why[:2].istitle():  # a plain sentence: continue it after the colon
                why = why[0].lower() + why[1:]
            self.clv_note_ = f"lifetime-value term off: {why}"
            return zeros
        self.clv_note_ = (
            f"{VALUE_MODEL_LABELS[chosen]} + Gamma-Gamma, {self.clv_horizon_weeks:g}-week horizon, "
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

    def fit(self, ds: Dataset | Source, data: CampaignData | None = None) -> TargetingModel:
        full = data or campaign_data(ds, response_window_days=self.response_window_days)
        seed = self.random_state if self.sample_seed is None else self.sample_seed
        data = fit_sample(full, self.outcome, self.max_fit_rows, seed)
        self.fit_sample_ = sample_summary(data)
        r = data.rows
        y = (r[self.outcome].to_numpy(dtype=float) > 0).astype(float)
        X = data.X.to_numpy()
        y_full = (full.rows[self.outcome].to_numpy(dtype=float) > 0).astype(float)
        self.encoder_ = data.encoder
        self.arms_ = data.arms
        self.control_ = data.control
        with limit_threads():
            self.uplift_ = make_multi_arm(
                self.learner, True, self.random_state, control=data.control
            ).fit(X, r["arm"].to_numpy(), y, groups=r["campaign_id"].astype(str).to_numpy())
            # re-centre each offer on the effect measured in its own randomised campaign(s):
            # keeps the ranking within an offer, makes the offers' levels comparable
            self.offsets_ = {}
            for a in self.arms_:
                rows, every = arm_rows(data, a), arm_rows(full, a)
                is_arm = (full.rows["arm"] == a).to_numpy()
                measured = y_full[every & is_arm].mean() - y_full[every & ~is_arm].mean()
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

    @property
    def feature_columns_(self) -> list[str]:
        """The :func:`customer_features` columns :meth:`predict` reads."""
        return [*self.encoder_.numeric_, *self.encoder_.levels_]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per customer of ``features`` (rows of :func:`customer_features`): ``uplift_<arm>``, the
        extra response a contact with that offer is expected to cause, ``p_control``, the
        response without a contact, and ``value``, the expected value of a response order.
        Each row depends on that customer only, so a small batch scores as the whole base; the
        models score :data:`SCORE_BATCH` customers at a time (their design matrices stay small)."""
        up, p0 = [np.empty((0, len(self.arms_)))], [np.empty(0)]
        with limit_threads():  # each batch encoded on its own: 10M rows at once took 8 GB
            for i in range(0, len(features), SCORE_BATCH):
                X = self.encoder_.transform(features.iloc[i : i + SCORE_BATCH]).to_numpy()
                up.append(self.uplift_.predict(X))
                p0.append(self.control_model_.predict(X))
                # features from a build's cache are a mapped file: the pages this batch read
                # are let go (10M customers' features kept 3.1 GB resident by the last batch)
                drop_mapped_pages()
        up, p0 = np.vstack(up), np.concatenate(p0)
        out = pd.DataFrame(
            {f"uplift_{a}": up[:, j] + self.offsets_[a] for j, a in enumerate(self.arms_)},
            index=features.index,
        )
        out["p_control"] = p0
        out["value"] = self._history_value(features) * self.value_scale_
        return out

    def score(
        self, ds: Dataset | Source, as_of=None, features: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """:meth:`predict` for every customer as of a day, plus ``clv_gain`` and the contact
        columns; ``features``: the day's :func:`customer_features` when already computed."""
        as_of = resolve_as_of(ds, as_of)
        feats = (
            customer_features(ds, as_of, self.response_window_days)
            if features is None
            else features
        )
        out = self.predict(feats)
        out["clv_gain"] = self._clv_gain(ds, as_of, feats)
        if "preferred_channel" in feats:
            # a few channels: as Python text, 10M customers' channels took 0.7 GB
            out["channel"] = feats["preferred_channel"].astype("category")
        elif (channel := _usual_channel(ds)) is not None:
            out["channel"] = channel
        for col in ("days_since_last", "lifecycle_stage"):
            if col in feats:
                out[col] = feats[col].copy()
        # copies: the scores keep none of the features' memory alive, so dropping the features
        # frees them (every customer's columns: 3.1 GB at 10M customers)
        out.index = feats.index.copy(deep=True).rename("customer_id")
        drop_mapped_pages()  # and the pages the value terms read
        return out


def _usual_channel(ds: Dataset | Source) -> str | None:
    """The channel most campaign contacts went through (the first by name on a tie), or None
    when the campaigns say nothing about channels; only that column leaves an engine."""
    c = table_columns(ds, "campaigns", ["channel"]) if isinstance(ds, Source) else ds.campaigns
    if c is None or "channel" not in c or c["channel"].isna().all():
        return None
    return str(c["channel"].mode().iloc[0])


EVALUATION_SEED = 42  # the seed of the quick evaluation's split and fitting sample


def build_contact_list(
    ds: Dataset | Source,
    policy: ContactPolicy,
    learner: str = "pooled_s_learner_gbm",
    as_of=None,
    model: TargetingModel | None = None,
    data: CampaignData | None = None,
    max_fit_rows: int | None = None,
    value_model: str = "auto",
) -> tuple[ContactListResult, TargetingModel]:
    """Fit (unless given) the targeting model on ``ds`` and build the contact list as of a day;
    ``value_model`` values the lifetime-value term (see :class:`TargetingModel`).

    ``learner="auto"``: the learner :func:`evaluate_uplift` (quick) says to use, i.e. the
    chosen model when it beats the two-model logistic baseline on the test part, else the
    baseline (or average-effect targeting); the reason is in ``summary["learner_verdict"]``.
    Models are fitted on at most ``max_fit_rows`` campaign rows (see :class:`TargetingModel`;
    ``summary["fit_sample"]`` says when a sample was used).
    """
    as_of = resolve_as_of(ds, as_of)
    verdict = None
    if model is None and learner == "auto":
        data = data or campaign_data(ds, response_window_days=RESPONSE_WINDOW_DAYS)
        sample = fit_sample(data, "responded", max_fit_rows, seed=EVALUATION_SEED)
        ev = evaluate_uplift(sample, "responded", quick=True, seed=EVALUATION_SEED)
        learner, verdict = ev.used, ev.verdict
    # the model is fitted on the rows its learner was judged on (and their features, built once)
    model = model or TargetingModel(
        learner, max_fit_rows=max_fit_rows, value_model=value_model, sample_seed=EVALUATION_SEED
    ).fit(ds, data)
    scores = model.score(ds, as_of)
    send = policy.send_date or (as_of + pd.Timedelta(days=1))
    result = contact_list(scores, model.arms_, policy, *permission_tables(ds), send)
    result.summary["as_of"] = str(as_of.date())
    result.summary["send_date"] = str(pd.Timestamp(send).date())
    result.summary["clv_term"] = model.clv_note_
    result.summary["learner"] = model.learner
    result.summary["fit_sample"] = model.fit_sample_
    if verdict is not None:
        result.summary["learner_verdict"] = verdict
    return result, model

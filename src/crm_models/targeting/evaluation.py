"""Uplift evaluation: models compared on a held-out part against random and response ranking."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.conditions import plural
from crm_models.data.dataset import Dataset, UnsupportedData
from crm_models.engine import Source
from crm_models.targeting.campaigns import OUTCOME_WORDS, CampaignData, arm_rows, campaign_data
from crm_models.targeting.metrics import (
    descending_order,
    policy_value_at_k,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_by_percentile,
)
from crm_models.targeting.sampling import fit_sample, sample_summary
from crm_models.targeting.splits import stratified_split
from crm_models.targeting.uplift import (
    LEARNERS,
    fit_outcome,
    limit_threads,
    make_estimator,
    make_multi_arm,
    shared_fits,
)

__all__ = [
    "AVERAGE_EFFECT",
    "INTERVAL_LEVEL",
    "BASELINE",
    "MIN_ARM_RESPONDERS",
    "MIN_GROUP_CUSTOMERS",
    "MODEL_LABELS",
    "UpliftEvaluation",
    "chosen_model_summary",
    "default_models",
    "evaluate_uplift",
    "model_label",
    "other_outcomes_uplift",
    "repeated_split_intervals",
    "truth_summary",
    "uplift_summary",
]


BASELINE = "two_model_logistic"  # the two-model logistic baseline every model must beat
AVERAGE_EFFECT = "average_effect"  # the fallback when no model ranks better than random
MIN_GROUP_CUSTOMERS = 30  # an offer, and its control group, need this many for uplift models
MIN_ARM_RESPONDERS = 5  # ... and this many responders between them


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
    validation: pd.DataFrame  # cross-fitted mean Qini per model (and random) on the training part
    n_train: int
    n_test: int
    seed: int
    test_size: float
    k: float = 0.3
    truth: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    beats_baseline: dict[str, bool] = field(default_factory=dict)
    used: str = BASELINE  # the learner the contact list should use (chosen, or the fallback)
    verdict: str = ""  # in words: does the chosen model beat the baseline, and what is used

    def best_rows(self) -> pd.DataFrame:
        return self.metrics.loc[self.metrics["model"] == self.chosen]


def default_models(quick: bool = False) -> list[str]:
    """The models compared: all of :data:`crm_models.targeting.uplift.LEARNERS`, or three when
    quick."""
    if quick:
        return ["pooled_s_learner_gbm", "two_model_gbm", "two_model_logistic"]
    return list(LEARNERS)


PARALLEL_ROWS = 20_000  # from this many fitting rows, independent fits run two at a time


def _fit_each(data, names, jobs, outcome, seed, arms) -> list[dict]:
    """The models ``names`` fitted on the rows of each ``(rows_mask, response)`` job (with the
    response model when ``response``).  From
    :data:`PARALLEL_ROWS` rows on, with two or more cores, the jobs run in two worker processes
    (each fit is seeded and single-threaded, so the models are the same either way; a process,
    not a thread, because the fits patch scikit-learn's binning while they run)."""
    X = data.X.to_numpy()
    r = data.rows
    y = r[outcome].to_numpy(dtype=float)
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    arm = r["arm"].to_numpy()
    groups = r["campaign_id"].astype(str).to_numpy()
    treated = r["treated"].to_numpy(dtype=bool)
    args = [
        (names, binary, seed, data.control, arms, X[m], arm[m], y[m], groups[m], treated[m], resp)
        for m, resp in jobs
    ]
    if len(args) < 2 or len(y) < PARALLEL_ROWS or (os.cpu_count() or 1) < 2:
        return [_fit_arrays(*a) for a in args]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=2, backend="loky")(delayed(_fit_arrays)(*a) for a in args)


def _fit_arrays(names, binary, seed, control, arms, X, arm, y, groups, treated, response):
    fitted = {}
    with limit_threads(), shared_fits():  # the T- and X-learner share their outcome models
        for name in names:
            mau = make_multi_arm(name, binary, seed, control=control, arms=arms)
            fitted[name] = mau.fit(X, arm, y, groups=groups)
        if response:  # response-model ranking: P(outcome | contacted), ignoring the control group
            est = make_estimator("gbm", binary, seed)
            fitted["response_model"] = fit_outcome(est, X[treated], y[treated])
    return fitted


def _score(fitted, name, X, arm_index):
    model = fitted[name]
    if name == "response_model":
        return model.predict(X)
    return model.predict_arm(X, model.arms_[arm_index])


def _bootstrap_at_k(y, s, t, k, n_boot, rng) -> tuple[float, float]:
    """95% percentile interval of uplift@k over ``n_boot`` bootstrap resamples of the rows.

    Vectorised: each resample is a row of multinomial counts; in score order the first
    ``int(k·n)`` resampled rows form the top, and the resampled rows tied at the cut score count
    in proportion, as in :func:`crm_models.targeting.metrics.uplift_at_k`.
    """
    if n_boot <= 0:
        return np.nan, np.nan
    n = len(y)
    top = int(n * k)
    order = descending_order(s)
    s = np.asarray(s, float)[order]
    y, t = np.asarray(y, float)[order], np.asarray(t, bool)[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]  # tie blocks of equal score
    block = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    in_block = np.add.reduceat(counts, starts, axis=1)
    before = np.cumsum(in_block, axis=1) - in_block
    share = np.divide(
        np.clip(top - before, 0.0, in_block),
        in_block,
        out=np.zeros_like(in_block),
        where=in_block > 0,
    )
    w = counts * share[:, block]
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
    folds: int = 3,
    choose: bool = True,
) -> UpliftEvaluation:
    """Fit uplift models on the training part and compare them on the test part.

    The model is chosen by cross-fitting on the training part: ``folds`` stratified folds, each
    scored by the models fitted on the other folds, the Qini coefficient averaged over folds and
    arms; random targeting (Qini 0) and the two-model logistic baseline are always candidates.
    Every model is then refitted on the whole training part and measured on the test part,
    which played no part in fitting or choosing.  ``"random"`` is random targeting (its
    uplift@k is the test part's overall effect), ``"response_model"`` ranks by the probability
    of responding when contacted, ``"two_model_logistic"`` is the two-model logistic baseline.

    The chosen model *beats the baseline* on an offer when its test uplift@k lies above the
    baseline's 95% bootstrap interval.  ``used`` is the learner for the contact list: the
    chosen model when it beats the baseline on at least one offer and falls below the
    baseline's interval on none, else the baseline; ``"average_effect"`` (everyone gets the
    offer's measured average effect) when no model ranked better than random.

    An offer whose customers or control group number fewer than :data:`MIN_GROUP_CUSTOMERS`,
    or with fewer than :data:`MIN_ARM_RESPONDERS` responders between them, is left out (the
    reason in ``info["arms_left_out"]``); :class:`~crm_models.data.dataset.UnsupportedData` when no
    offer is left.

    ``choose=False`` skips the cross-fitting: the first of ``models`` counts as chosen (for a
    model type already chosen on another outcome; the test figures are the same).
    """
    names = [m for m in (models or default_models(quick)) if m != "random"]
    models = list(dict.fromkeys([*names, BASELINE]))
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
    with limit_threads():
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
            folds if choose else 0,
        )
    ev.info["arms_left_out"] = left_out
    _judge(ev, data)
    return ev


def _judge(ev: UpliftEvaluation, data: CampaignData) -> None:
    """Set ``beats_baseline``, ``used`` and ``verdict`` from the test metrics."""
    m = ev.metrics.set_index(["arm", "model"])
    above, below = {}, {}
    for arm in ev.arms:
        value = float(m.loc[(arm, ev.chosen), "uplift_at_30"])
        low, high = m.loc[(arm, BASELINE), ["uplift_at_30_low", "uplift_at_30_high"]]
        fair = ev.chosen not in (BASELINE, "random")
        above[arm] = bool(fair and value > high)
        below[arm] = bool(fair and value < low)
    ev.beats_baseline = above
    offers = ", ".join(data.label(a) for a, b in above.items() if b)
    if ev.chosen == "random":
        ev.used = AVERAGE_EFFECT
        ev.verdict = (
            "No uplift model ranked customers better than random targeting, so the contact "
            "list uses each offer's average measured effect for every customer."
        )
    elif ev.chosen == BASELINE:
        ev.used = BASELINE
        ev.verdict = (
            "The two-model logistic baseline was chosen itself: no other model had a higher "
            "mean Qini coefficient in cross-fitting on the training part, so the contact list "
            "uses the baseline."
        )
    elif any(above.values()) and not any(below.values()):
        ev.used = ev.chosen
        ev.verdict = (
            f"The chosen model beats the two-model logistic baseline on the test part for "
            f"{offers} (uplift@{ev.k:.0%} above the baseline's 95% interval); the contact list "
            "uses it."
        )
    else:
        where = (
            f"falls below the baseline's 95% interval for "
            f"{', '.join(data.label(a) for a, b in below.items() if b)}"
            if any(below.values())
            else "lies inside the baseline's 95% bootstrap interval for every offer"
        )
        ev.used = BASELINE
        ev.verdict = (
            f"The chosen model does not beat the two-model logistic baseline: its uplift@"
            f"{ev.k:.0%} on the test part {where}, so it may be no better than the baseline. "
            "The contact list uses the baseline instead."
        )


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
        rows = arm_rows(data, arm)
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


def _fold_masks(data, train_idx, y, seed, folds) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` stratified folds of the training part: (fitting rows, validation rows)."""
    from sklearn.model_selection import StratifiedKFold

    r = data.rows
    arm_col = r["arm"].to_numpy()
    strata = arm_col[train_idx].astype(str) + (y[train_idx] > 0).astype(str)
    if pd.Series(strata).value_counts().min() < folds:
        strata = (y[train_idx] > 0).astype(str)
    kfold = StratifiedKFold(folds, shuffle=True, random_state=seed)
    masks = []
    for fit_pos, val_pos in kfold.split(train_idx, strata):
        fit_mask = np.zeros(len(r), bool)
        fit_mask[train_idx[fit_pos]] = True
        val_mask = np.zeros(len(r), bool)
        val_mask[train_idx[val_pos]] = True
        masks.append((fit_mask, val_mask))
    return masks


def _cross_fitted_qini(data, models, fold_fits, X, y, arms):
    """Mean Qini coefficient per model over the folds of the training part (each fold scored
    by the models fitted on the other folds: ``fold_fits`` holds (validation rows, fitted
    models) per fold) and over the arms; ``"random"`` is 0."""
    arm_col = data.rows["arm"].to_numpy()
    scores = {name: [] for name in models}
    for val_mask, fitted in fold_fits:
        for name in models:
            for j, arm in enumerate(arms):
                rows = arm_rows(data, arm, val_mask)
                s = _score(fitted, name, X[rows], j)
                scores[name].append(qini_auc_score(y[rows], s, arm_col[rows] == arm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a fold without responders: NaN
        rows = [
            {
                "model": name,
                "validation_qini": float(np.nanmean(q)),
                "validation_qini_sd": float(np.nanstd(q)),
            }
            for name, q in scores.items()
        ]
    rows.append({"model": "random", "validation_qini": 0.0, "validation_qini_sd": 0.0})
    return pd.DataFrame(rows).set_index("model")


def _choose(validation: pd.DataFrame, folds: int) -> tuple[str, str]:
    """The model with the highest cross-fitted mean Qini (random targeting among them), and why."""
    q = validation["validation_qini"]
    if not q.drop("random").notna().any():  # no responder in the folds: nothing tells them apart
        return BASELINE, (
            "logistic baseline: the training part holds too few responders to tell the models apart"
        )
    chosen = str(q.idxmax())
    if chosen == "random":
        return chosen, (
            f"no model ranked customers better than random targeting in {folds}-fold "
            "cross-fitting on the training part (every mean Qini coefficient at or below 0)"
        )
    return chosen, (
        f"highest mean Qini coefficient over the arms in {folds}-fold cross-fitting on the "
        f"training part ({q[chosen]:.3f}; the test part played no part in fitting or choosing), "
        "refitted on the whole training part"
    )


def _evaluate_uplift(
    data, outcome, models, arms, train, test, X, r, y, rng, n_boot, k, truth, seed, test_size, folds
) -> UpliftEvaluation:
    masks = _fold_masks(data, np.flatnonzero(train), y, seed, folds) if folds else []
    # the folds' fits, then every model refitted on the whole training part for the test
    *fold_fitted, fitted = _fit_each(
        data, models, [*((m, False) for m, _ in masks), (train, True)], outcome, seed, arms
    )
    if folds:
        fold_fits = [(val, f) for (_, val), f in zip(masks, fold_fitted, strict=True)]
        validation = _cross_fitted_qini(data, models, fold_fits, X, y, arms)
        chosen, reason = _choose(validation, folds)
    else:
        validation = pd.DataFrame(columns=["validation_qini", "validation_qini_sd"])
        chosen, reason = models[0], "chosen beforehand"
    arm_col = r["arm"].to_numpy()

    out, deciles, qini = [], {}, {}
    for j, arm in enumerate(arms):
        rows = arm_rows(data, arm, test)
        yt, tt, Xt = y[rows], arm_col[rows] == arm, X[rows]
        true = _truth_for(data, rows, arm, truth) if truth is not None else None
        ate = yt[tt].mean() - yt[~tt].mean()
        lo, hi = _bootstrap_at_k(yt, rng.random(len(yt)), tt, k, n_boot, rng)
        value, se = policy_value_at_k(yt, np.zeros(len(yt)), tt, k)
        out.append(
            {
                "arm": arm,
                "model": "random",
                "uplift_at_30": ate,
                "uplift_at_30_low": lo,
                "uplift_at_30_high": hi,
                "qini_auc": 0.0,
                "auuc": 0.0,
                "policy_value_at_30": value,
                "policy_value_at_30_se": se,
                "n_test": len(yt),
            }
        )
        for name in [*models, "response_model"]:
            s = _score(fitted, name, Xt, j)
            lo, hi = _bootstrap_at_k(yt, s, tt, k, n_boot, rng)
            value, se = policy_value_at_k(yt, s, tt, k)
            row = {
                "arm": arm,
                "model": name,
                "uplift_at_30": uplift_at_k(yt, s, tt, k),
                "uplift_at_30_low": lo,
                "uplift_at_30_high": hi,
                "qini_auc": qini_auc_score(yt, s, tt),
                "auuc": uplift_auc_score(yt, s, tt),
                "policy_value_at_30": value,
                "policy_value_at_30_se": se,
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
        int(train.sum()),
        int(test.sum()),
        seed,
        test_size,
        k,
        truth is not None,
        {"folds": folds},
    )


INTERVAL_LEVEL = 0.9  # the repeated-split intervals are 90% intervals


def repeated_split_intervals(
    data: CampaignData,
    outcome: str,
    models: Sequence[str],
    arms: Sequence[str],
    test_size: float = 0.3,
    seed: int = 42,
    k: float = 0.3,
    repeats: int = 5,
    n_boot: int = 20,
    level: float = INTERVAL_LEVEL,
) -> pd.DataFrame:
    """Repeated-split intervals of the Qini coefficient and uplift@k per offer and model.

    ``repeats`` further stratified splits (seeds ``seed+1``, ``seed+2``, ...): on each, the
    models are refitted on the training part and their test part resampled ``n_boot`` times
    (bootstrap); the ``level`` interval is the central share of the pooled values, so it holds
    both the noise of fitting on another sample and of testing on another one.  One row per arm
    and model: ``qini_low``, ``qini_high``, ``uplift_at_k_low``, ``uplift_at_k_high``.
    """
    y = data.rows[outcome].to_numpy(dtype=float)
    X = data.X.to_numpy()
    arm_col = data.rows["arm"].to_numpy()
    models = list(dict.fromkeys(models))
    values: dict[tuple[str, str], list[tuple[float, float]]] = {}
    splits = [stratified_split(data, outcome, test_size, seed + 1 + r) for r in range(repeats)]
    jobs = [(train, False) for train, _ in splits]
    all_fitted = _fit_each(data, models, jobs, outcome, seed, list(arms))
    with limit_threads():
        for r, ((_, test), fitted) in enumerate(zip(splits, all_fitted, strict=True)):
            rng = np.random.default_rng(seed + 1 + r)
            for j, arm in enumerate(arms):
                rows = arm_rows(data, arm, test)
                yt, tt = y[rows], arm_col[rows] == arm
                resamples = rng.integers(0, len(yt), size=(n_boot, len(yt)))
                for name in models:
                    s = _score(fitted, name, X[rows], j)
                    values.setdefault((arm, name), []).extend(
                        (qini_auc_score(yt[i], s[i], tt[i]), uplift_at_k(yt[i], s[i], tt[i], k))
                        for i in resamples
                    )
    tail = (1 - level) / 2
    out = []
    for (arm, name), v in values.items():
        v = np.asarray(v, dtype=float)
        lo, hi = np.nanquantile(v, [tail, 1 - tail], axis=0)
        out.append(
            {
                "arm": arm,
                "model": name,
                "qini_low": lo[0],
                "qini_high": hi[0],
                "uplift_at_k_low": lo[1],
                "uplift_at_k_high": hi[1],
                "repeats": repeats,
                "level": level,
            }
        )
    return pd.DataFrame(out)


def uplift_summary(
    ds: Dataset | Source,
    outcome: str = "responded",
    arms: Sequence[str] | None = None,
    model: str | None = None,
    test_size: float = 0.3,
    seed: int = 42,
    n_boot: int = 200,
    quick: bool = False,
    repeats: int = 5,
    max_fit_rows: int | None = None,
) -> dict[str, Any]:
    """The figures of ``crm-models uplift --json`` (arm names as the source spells them);
    ``qini_interval`` and ``uplift_at_30_interval`` (and the baseline's) from ``repeats``
    repeated splits (:func:`repeated_split_intervals`, none when 0).  The models are fitted on
    at most ``max_fit_rows`` campaign rows (:func:`~crm_models.targeting.sampling.fit_sample`;
    ``fit_sample`` in the result says so); customers, rates and ATEs use every row."""
    full = campaign_data(ds)
    if outcome not in full.outcomes:
        raise ValueError(f"unknown outcome {outcome!r}; the campaigns have {full.outcomes}")
    data = fit_sample(full, outcome, max_fit_rows, seed)
    labels = {data.label(a): a for a in data.arms}
    arms = [labels.get(a, a) for a in arms] if arms else data.arms
    models = [model] if model else default_models(quick)
    ev = evaluate_uplift(
        data, outcome, models=models, arms=arms, test_size=test_size, seed=seed, n_boot=n_boot
    )
    if model:  # the model asked for is reported, and judged against the baseline
        ev.chosen = model
        _judge(ev, data)
    r = full.rows
    y = r[outcome].to_numpy(dtype=float)
    chosen = ev.chosen
    result: dict[str, Any] = {
        "dataset": ds.name,
        "outcome": outcome,
        "model": chosen,
        "used": ev.used,
        "beats_baseline": any(ev.beats_baseline.values()) and ev.used == ev.chosen,
        "verdict": ev.verdict,
        "selection": f"{ev.info['folds']}-fold cross-fitted mean Qini on the training part",
        "test_size": test_size,
        "seed": seed,
        "fit_sample": sample_summary(data),
        "control": {
            "name": data.label(data.control),
            "customers": int((r["arm"] == data.control).sum()),
            "response_rate": float(y[(r["arm"] == data.control).to_numpy()].mean()),
        },
        "arms": {},
    }
    m = ev.metrics.set_index(["arm", "model"])
    measured = chosen if chosen != "random" else BASELINE  # random has no interval of its own
    iv = (
        repeated_split_intervals(
            data, outcome, [measured, BASELINE], ev.arms, test_size, seed, ev.k, repeats
        ).set_index(["arm", "model"])
        if repeats
        else None
    )
    result["intervals"] = (
        f"{INTERVAL_LEVEL:.0%} intervals over {repeats} further splits (models refitted on "
        "each), 20 bootstrap resamples of each test part"
        if repeats
        else None
    )

    def interval(arm, model, metric):
        if iv is None:
            return None
        return [
            float(iv.loc[(arm, model), f"{metric}_low"]),
            float(iv.loc[(arm, model), f"{metric}_high"]),
        ]

    if ev.info.get("arms_left_out"):
        result["arms_left_out"] = {
            data.label(a): why for a, why in ev.info["arms_left_out"].items()
        }
    for arm in ev.arms:
        rows = arm_rows(full, arm)
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
            "baseline_uplift_at_30": float(m.loc[(arm, BASELINE), "uplift_at_30"]),
            "response_model_uplift_at_30": float(m.loc[(arm, "response_model"), "uplift_at_30"]),
            "baseline_uplift_at_30_ci": [
                float(m.loc[(arm, BASELINE), "uplift_at_30_low"]),
                float(m.loc[(arm, BASELINE), "uplift_at_30_high"]),
            ],
            "qini_interval": interval(arm, measured, "qini"),
            "uplift_at_30_interval": interval(arm, measured, "uplift_at_k"),
            "baseline_qini_auc": float(m.loc[(arm, BASELINE), "qini_auc"]),
            "baseline_qini_interval": interval(arm, BASELINE, "qini"),
            "baseline_uplift_at_30_interval": interval(arm, BASELINE, "uplift_at_k"),
            "beats_baseline": ev.beats_baseline[arm],
            "used": ev.used,
            "extra_per_1000_at_30": _per_1000(m, arm, chosen),
            "baseline_extra_per_1000_at_30": _per_1000(m, arm, BASELINE),
        }
    return result


def _per_1000(m: pd.DataFrame, arm: str, model: str) -> dict[str, Any]:
    """Policy value of contacting the top 30% by ``model``: extra outcome per 1,000 customers
    (inverse-propensity weighted on the test part) with its 95% normal interval."""
    value = 1000 * float(m.loc[(arm, model), "policy_value_at_30"])
    half = 1.96 * 1000 * float(m.loc[(arm, model), "policy_value_at_30_se"])
    return {"estimate": value, "ci": [value - half, value + half]}


# Model keys in words: the uplift learners and the rankings they are compared with.
MODEL_LABELS = {k: v[0] for k, v in LEARNERS.items()} | {
    "random": "random targeting",
    AVERAGE_EFFECT: "average-effect targeting (each offer's measured effect for everyone)",
    "response_model": "ranking by response model",
    "oracle (true uplift)": "oracle (true uplift, simulated data only)",
}


def model_label(name: str) -> str:
    """A model key in words (unknown keys as they are)."""
    return MODEL_LABELS.get(name, name)


def chosen_model_summary(ev: UpliftEvaluation) -> pd.DataFrame:
    """Per offer (index ``arm``): the chosen model's uplift@30% with its 95% interval and Qini
    coefficient, and the uplift@30% of random targeting, of the response-model ranking and of
    the two-model logistic baseline."""
    best = ev.best_rows().set_index("arm")
    out = best[["uplift_at_30", "uplift_at_30_low", "uplift_at_30_high", "qini_auc"]].copy()
    for model, column in (
        ("random", "random_uplift_at_30"),
        ("response_model", "response_model_uplift_at_30"),
        ("two_model_logistic", "baseline_uplift_at_30"),
    ):
        other = ev.metrics.loc[ev.metrics["model"] == model].set_index("arm")["uplift_at_30"]
        out[column] = other.reindex(out.index)
    return out


def truth_summary(ev: UpliftEvaluation) -> dict[str, Any] | None:
    """On simulated data (``ev.truth``), how close the rankings come to the TRUE uplift,
    averaged over the offers: ``rank_corr`` and ``gain_vs_oracle`` per uplift model (Series),
    and the same two figures for the response model; None when the truth is unknown."""
    if not ev.truth:
        return None
    models = ev.metrics.loc[ev.metrics["model"].isin(ev.models)].groupby("model")
    response = ev.metrics.loc[ev.metrics["model"] == "response_model"]
    return {
        "rank_corr": models["rank_corr_true"].mean(),
        "gain_vs_oracle": models["auuc_vs_oracle"].mean(),
        "response_rank_corr": float(response["rank_corr_true"].mean()),
        "response_gain_vs_oracle": float(response["auuc_vs_oracle"].mean()),
    }


def other_outcomes_uplift(
    data: CampaignData,
    outcomes: Sequence[str],
    chosen: str,
    *,
    test_size: float = 0.3,
    seed: int = 42,
    n_boot: int = 200,
) -> pd.DataFrame:
    """The chosen model type and the logistic baseline evaluated (quick) on further outcomes:
    per outcome and offer, the test effect of random targeting, uplift@30% of both with the
    chosen model's 95% interval, and its Qini coefficient."""
    rows = []
    for o in outcomes:
        ev = evaluate_uplift(
            data,
            o,
            models=[chosen, "two_model_logistic"],
            test_size=test_size,
            seed=seed,
            n_boot=n_boot,
            choose=False,
        )
        m = ev.metrics.set_index(["arm", "model"])
        for arm in ev.arms:
            rows.append(
                {
                    "outcome": o,
                    "offer": data.label(arm),
                    "test effect (random)": m.loc[(arm, "random"), "uplift_at_30"],
                    "uplift@30% chosen model": m.loc[(arm, chosen), "uplift_at_30"],
                    "95% low": m.loc[(arm, chosen), "uplift_at_30_low"],
                    "95% high": m.loc[(arm, chosen), "uplift_at_30_high"],
                    "uplift@30% logistic baseline": m.loc[
                        (arm, "two_model_logistic"), "uplift_at_30"
                    ],
                    "Qini": m.loc[(arm, chosen), "qini_auc"],
                }
            )
    return pd.DataFrame(rows)

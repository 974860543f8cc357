"""``clv fit --model auto``: a choice rule fixed in advance, and the out-of-time comparison.

The rule (never reads the holdout): split the calibration period once more - the inner
calibration ends ``H`` periods before the calibration end, with ``H`` the holdout length capped
at a third of the calibration span - fit every candidate (BG/NBD, Pareto/NBD, the naive rate
x/T × horizon, the stacked model of :mod:`crm_models.value.stacked`) on the inner calibration
only, and choose the one with the lowest per-customer MAE of purchases in the inner holdout
(ties: the earlier in :data:`CANDIDATES`).  A BTYD candidate whose fit fails or is degenerate
is refitted with the weak prior of the fallback rule (:mod:`crm_models.value.fit_quality`);
a candidate that still cannot be fitted is left out with the reason.  Then every candidate is
refitted on the whole calibration period and compared on the real holdout (``mae``, ``rmse``,
``total_error``, ``spearman``): reported for all, used for none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from crm_models.data.dataset import Dataset
from crm_models.features import transactions_as_of
from crm_models.units import unit_days
from crm_models.value.common import FitError
from crm_models.value.fit_quality import PRIOR_SD
from crm_models.value.stacked import (
    StackedModel,
    activity_features,
    counts_between,
    purchase_days,
)
from crm_models.value.validation import mae, make_purchase_model, rmse

CANDIDATES = ("bgnbd", "pareto_nbd", "naive", "stacked")
INNER_SHARE = 1 / 3  # the inner holdout is at most this share of the calibration span


def _btyd_prediction(name: str, frame: pd.DataFrame, horizon: float, time_unit: str):
    """A BTYD candidate's expected purchases; refitted with the weak prior when the plain fit
    fails or is degenerate (as the fallback rule's last step)."""
    try:
        model = make_purchase_model(name, time_unit=time_unit).fit(frame)
        if model.diagnostics_["degenerate"]:
            raise FitError("degenerate")
    except FitError:
        model = make_purchase_model(name, time_unit=time_unit, prior_sd=PRIOR_SD).fit(frame)
    return model.conditional_expected_purchases(frame, horizon)


def candidate_predictions(
    days: pd.DataFrame,
    calibration_end,
    horizon: float,
    time_unit: str = "W",
    covariates: pd.DataFrame | None = None,
    random_state: int = 0,
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Each candidate's expected purchase days over ``horizon`` for the customers who bought by
    ``calibration_end``, learnt from the days up to then only; and the candidates that could not
    be fitted, with the reason."""
    end = pd.Timestamp(calibration_end)
    days = days.loc[(days["day"] <= end).to_numpy()]
    frame = activity_features(days, end, time_unit)
    T = frame["T"].to_numpy(dtype=float)
    x = frame["frequency"].to_numpy(dtype=float)
    out = {}
    failed = {}
    for name in CANDIDATES:
        try:
            if name == "naive":
                rate = np.divide(x, T, out=np.zeros_like(x), where=T > 0)
                out[name] = pd.Series(rate * horizon, index=frame.index)
            elif name == "stacked":
                model = StackedModel(
                    share=INNER_SHARE, time_unit=time_unit, random_state=random_state
                ).fit(days, end, horizon, covariates)
                out[name] = model.predict(frame, covariates)
            else:
                out[name] = _btyd_prediction(name, frame, horizon, time_unit)
        except FitError as err:
            failed[name] = str(err)
    return out, failed


def comparison_table(predictions: dict[str, pd.Series], actual: pd.Series) -> pd.DataFrame:
    """Per candidate: ``mae``, ``rmse`` (per customer), ``total_error`` (predicted / actual
    total - 1), ``spearman`` (rank correlation with the actual purchases), totals."""
    a = actual.to_numpy(dtype=float)
    rows = {}
    for name, pred in predictions.items():
        p = pred.reindex(actual.index).to_numpy(dtype=float)
        rows[name] = {
            "mae": mae(a, p),
            "rmse": rmse(a, p),
            "total_error": float(p.sum() / a.sum() - 1) if a.sum() else float("nan"),
            "spearman": float(spearmanr(a, p).statistic),
            "predicted_total": float(p.sum()),
            "actual_total": float(a.sum()),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out


def choose_model(
    days: pd.DataFrame,
    calibration_end,
    horizon: float,
    time_unit: str = "W",
    covariates: pd.DataFrame | None = None,
) -> tuple[str, pd.DataFrame]:
    """The rule of this module: the candidate with the lowest inner-holdout MAE, and the inner
    comparison.  Reads nothing after ``calibration_end``."""
    end = pd.Timestamp(calibration_end)
    days = days.loc[(days["day"] <= end).to_numpy()]
    per = unit_days(time_unit)
    span = (end - days["day"].min()).days / per
    inner_days = int(round(min(float(horizon), INNER_SHARE * span) * per))
    inner_end = end - pd.Timedelta(days=inner_days)
    preds, failed = candidate_predictions(days, inner_end, inner_days / per, time_unit, covariates)
    if not preds:
        raise FitError("no candidate model could be fitted: " + "; ".join(failed.values()))
    index = next(iter(preds.values())).index
    inner = comparison_table(preds, counts_between(days, inner_end, end, index))
    order = [c for c in CANDIDATES if c in inner.index]
    chosen = str(inner.loc[order, "mae"].idxmin())
    inner.attrs.update(inner_end=str(inner_end.date()), failed=failed)
    return chosen, inner


def auto_comparison(
    ds: Dataset,
    calibration_end,
    holdout_end,
    time_unit: str = "W",
    covariates: list[str] | None = None,
) -> dict[str, Any]:
    """What ``clv fit --model auto`` adds: ``model_chosen``, ``choice_rule`` (in words),
    ``inner_comparison`` (what the rule saw) and ``comparison`` (every candidate on the real
    holdout), as JSON-ready records keyed by model."""
    cal_end, hold_end = pd.Timestamp(calibration_end), pd.Timestamp(holdout_end)
    days = purchase_days(transactions_as_of(ds, hold_end))
    cov = customer_covariates(ds, covariates)
    horizon = (hold_end - cal_end).days / unit_days(time_unit)
    chosen, inner = choose_model(days, cal_end, horizon, time_unit, cov)
    preds, failed = candidate_predictions(days, cal_end, horizon, time_unit, cov)
    index = next(iter(preds.values())).index
    real = comparison_table(preds, counts_between(days, cal_end, hold_end, index))
    return {
        "model_chosen": chosen,
        "choice_rule": (
            f"lowest per-customer MAE on an inner holdout ({inner.attrs['inner_end']} to "
            f"{cal_end.date()}) of models fitted on the calibration data before it; the real "
            "holdout is not used for the choice"
        ),
        "inner_comparison": inner.to_dict("index"),
        "comparison": real.to_dict("index"),
        "not_fitted": {**inner.attrs["failed"], **failed},
    }


def customer_covariates(ds: Dataset, columns: list[str] | None) -> pd.DataFrame | None:
    """The named columns of the customers table, indexed by ``customer_id``; a clear error
    naming the missing columns and those present."""
    if not columns:
        return None
    table = ds.customers
    if table is None or table.empty:
        raise ValueError(
            f"--covariates {','.join(columns)}: dataset {ds.name!r} has no customers table "
            f"({0 if table is None else len(table)} rows); give a customers file with those columns"
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"--covariates: column(s) {', '.join(missing)} not in the customers table of "
            f"{ds.name!r} ({len(table):,} rows); columns present: {', '.join(table.columns)}"
        )
    return table.set_index("customer_id")[columns]

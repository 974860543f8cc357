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

The chosen model then values the customers (:func:`forecast_multiplier`): a chosen BTYD model
is the purchase model itself; the naive rate or the stacked model correct the BG/NBD purchase
model's expected purchases customer by customer, so P(alive), intervals and risk lists keep
the interfaces of the BTYD models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from crm_models.data.dataset import Dataset, UnsupportedData
from crm_models.data.snapshot import cached_frame
from crm_models.engine import Source, aggregates, table_of
from crm_models.features import resolve_as_of, transactions_as_of
from crm_models.units import unit_days
from crm_models.value.common import FitError, NotEnoughData
from crm_models.value.fit_quality import PRIOR_SD
from crm_models.value.purchase import PurchaseModel
from crm_models.value.stacked import (
    StackedModel,
    activity_features,
    counts_between,
    purchase_days_as_of,
)
from crm_models.value.validation import (
    default_calibration_end,
    mae,
    make_purchase_model,
    rmse,
)

CANDIDATES = ("bgnbd", "pareto_nbd", "naive", "stacked")
VALUE_MODELS = ("auto", *CANDIDATES)  # what a report or command may ask for
BTYD = ("bgnbd", "pareto_nbd")
INNER_SHARE = 1 / 3  # the inner holdout is at most this share of the calibration span
MIN_INNER_DAYS = 7  # a shorter inner holdout cannot tell the candidates apart
# above this many buyers by the calibration end the rule compares the candidates on a seeded
# sample of them: per-customer MAEs are pinned down long before, and the purchase days of ten
# million customers (about 45 million rows) would not fit the memory of a report build
CHOICE_CUSTOMERS = 500_000


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


def _spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Rank correlation; NaN (not a warning) when either side is constant."""
    if np.ptp(actual) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return float(spearmanr(actual, predicted).statistic)


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
            "spearman": _spearman(a, p),
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
    if inner_days < MIN_INNER_DAYS:
        raise NotEnoughData(
            f"the calibration period ({span * per:.0f} days) is too short to compare the models "
            f"on an earlier split of it (the later part would be {inner_days} days; at least "
            f"{MIN_INNER_DAYS} are needed)"
        )
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


def choice_sample(
    ds: Dataset | Source, calibration_end, max_customers: int = CHOICE_CUSTOMERS, seed: int = 0
) -> tuple[np.ndarray | None, int]:
    """The customers the candidates are compared on, and how many bought by the calibration
    end: ``None`` (all of them) up to ``max_customers``, else a seeded sample of that many
    (sorted ids), the same from a loaded dataset and from an engine (which lists the ids)."""
    end = pd.Timestamp(calibration_end)
    if isinstance(ds, Source):
        ids = aggregates.buyer_ids(ds, end)
    else:
        tx = transactions_as_of(ds, end)
        ids = np.sort(pd.unique(tx["customer_id"].to_numpy()[tx["amount"].to_numpy() >= 0]))
    if len(ids) <= max_customers:
        return None, len(ids)
    sample = np.random.default_rng(seed).choice(len(ids), max_customers, replace=False)
    return ids[np.sort(sample)], len(ids)


def auto_comparison(
    ds: Dataset | Source,
    calibration_end,
    holdout_end,
    time_unit: str = "W",
    covariates: list[str] | None = None,
    max_customers: int = CHOICE_CUSTOMERS,
) -> dict[str, Any]:
    """What ``clv fit --model auto`` adds: ``model_chosen``, ``choice_rule`` (in words),
    ``inner_holdout`` (its first and last day), ``inner_comparison`` (what the rule saw) and
    ``comparison`` (every candidate on the real holdout), as JSON-ready records keyed by
    model.  Above ``max_customers`` buyers by the calibration end everything is computed on a
    seeded sample of that many (:func:`choice_sample`; ``choice_rule`` says so)."""
    cal_end, hold_end = pd.Timestamp(calibration_end), pd.Timestamp(holdout_end)
    sample, buyers = choice_sample(ds, cal_end, max_customers)
    days = purchase_days_as_of(ds, hold_end, sample)
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
            + (
                ""
                if sample is None
                else f"; on a seeded sample of {len(sample):,} of the {buyers:,} customers"
            )
        ),
        "inner_holdout": [inner.attrs["inner_end"], str(cal_end.date())],
        "inner_comparison": inner.to_dict("index"),
        "comparison": real.to_dict("index"),
        "not_fitted": {**inner.attrs["failed"], **failed},
    }


VALUE_MODEL_LABELS = {  # in reports and notes
    "bgnbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "naive": "naive rate",
    "stacked": "stacked (BG/NBD corrected by boosting)",
}


def value_model_choice(
    ds: Dataset | Source,
    requested: str = "auto",
    calibration_end=None,
    as_of=None,
    covariates: list[str] | None = None,
) -> dict[str, Any]:
    """Which model values the customers at ``as_of``: ``requested``, or with ``auto`` the rule of
    this module on the calibration period before ``calibration_end`` (default: as
    :func:`~crm_models.value.validation.default_calibration_end`) with the holdout to
    ``as_of``.  Returns :func:`auto_comparison`'s keys (only ``model_chosen`` and
    ``choice_rule`` when a model was asked for); when the history is too short to compare,
    BG/NBD with the reason in ``choice_rule``.  On an engine source the purchase days are
    summed by the engine (the same choice).  Inside a report build the choice is made once
    and read back by the other reports (value, targeting, forecast use the same model)."""
    purchase_model_for(requested if requested != "auto" else "bgnbd")  # checks the name
    if requested != "auto":
        return {"model_chosen": requested, "choice_rule": "asked for (value_model parameter)"}
    holdout_end = resolve_as_of(ds, as_of)
    cal_end = (
        default_calibration_end(ds, holdout_end)
        if calibration_end is None
        else pd.Timestamp(calibration_end)
    )

    def compute() -> pd.DataFrame:
        try:
            choice = auto_comparison(ds, cal_end, holdout_end, "W", covariates)
        except (FitError, UnsupportedData) as err:
            choice = {
                "model_chosen": "bgnbd",
                "choice_rule": f"BG/NBD by default: the models could not be compared ({err})",
            }
        frame = pd.DataFrame({"model": [choice["model_chosen"]]})
        frame.attrs["choice"] = choice
        return frame

    key = {"calibration_end": str(cal_end), "as_of": str(holdout_end), "covariates": covariates}
    return cached_frame(ds, "value_model_choice", key, compute).attrs["choice"]


def purchase_model_for(chosen: str) -> str:
    """The BTYD model that carries P(alive), intervals and parameters for a chosen forecaster:
    itself if it is one, else BG/NBD (which the stacked model builds on)."""
    if chosen not in CANDIDATES:
        raise ValueError(f"unknown value model {chosen!r}; choose one of {', '.join(VALUE_MODELS)}")
    return chosen if chosen in BTYD else "bgnbd"


def forecast_multiplier(
    chosen: str,
    ds: Dataset | Source,
    as_of,
    horizon: float,
    purchase_model: PurchaseModel,
    data: pd.DataFrame,
    covariates: list[str] | None = None,
) -> pd.Series | None:
    """Per customer of ``data`` (the purchase model's summary at ``as_of``): the chosen
    forecaster's expected purchases over ``horizon`` (the purchase model's periods) divided by
    the purchase model's; ``None`` when the chosen model is the purchase model.  Learnt from
    the data up to ``as_of`` only.  A customer the forecaster has no row for (the stacked model
    counts days with a non-negative amount, so one who only returned goods) or whom the
    purchase model expects no purchase from keeps the purchase model's forecast (1)."""
    if chosen in BTYD:
        return None
    x, T = data["frequency"].to_numpy(dtype=float), data["T"].to_numpy(dtype=float)
    base = purchase_model.conditional_expected_purchases(data, horizon)
    if chosen == "naive":
        forecast = pd.Series(np.divide(x, T, out=np.zeros_like(x), where=T > 0) * horizon)
        forecast.index = base.index
    else:
        end = pd.Timestamp(as_of)
        unit = purchase_model.time_unit
        days = purchase_days_as_of(ds, end)
        cov = customer_covariates(ds, covariates)
        stacked = StackedModel(time_unit=unit).fit(days, end, horizon, cov)
        forecast = stacked.predict(covariates=cov).reindex(base.index)
    factor = forecast / base.where(base > 0)
    return factor.fillna(1.0).rename("multiplier")


def customer_covariates(ds: Dataset | Source, columns: list[str] | None) -> pd.DataFrame | None:
    """The named columns of the customers table, indexed by ``customer_id``; a clear error
    naming the missing columns and those present."""
    if not columns:
        return None
    table = table_of(ds, "customers")
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

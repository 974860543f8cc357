"""Moved to crm_models.value; this alias stays for a while."""

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, NotEnoughData, buyers
from crm_models.value.gamma_gamma import GammaGammaModel, frequency_monetary_correlation
from crm_models.value.pareto_nbd import ParetoNBDModel
from crm_models.value.scoring import customer_value, p_alive_change
from crm_models.value.validation import (
    calibration_holdout,
    compare_models,
    conditional_expectations,
    default_calibration_end,
    evaluate_holdout,
    evaluate_spend_holdout,
    fit_and_validate,
    mae,
    make_purchase_model,
    rmse,
    tracking,
)

__all__ = [
    "BetaGeoModel",
    "FitError",
    "GammaGammaModel",
    "NotEnoughData",
    "ParetoNBDModel",
    "buyers",
    "calibration_holdout",
    "compare_models",
    "conditional_expectations",
    "customer_value",
    "default_calibration_end",
    "evaluate_holdout",
    "evaluate_spend_holdout",
    "fit_and_validate",
    "frequency_monetary_correlation",
    "mae",
    "make_purchase_model",
    "p_alive_change",
    "rmse",
    "tracking",
]

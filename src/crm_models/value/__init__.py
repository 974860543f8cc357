"""What is each customer worth, and who is leaving?

* ``common.py`` - errors (:class:`FitError`, :class:`NotEnoughData`), BTYD input checks, the
  compression of distinct rows, the log-space optimiser, the parameter-table base class;
* ``purchase.py`` - the shared API of the purchase models (fit, P(alive), expected purchases);
* ``bgnbd.py`` - BG/NBD (Fader, Hardie & Lee 2005), analytic gradient;
* ``pareto_nbd.py`` - Pareto/NBD (Schmittlein, Morrison & Colombo 1987);
* ``gamma_gamma.py`` - the Gamma-Gamma spend model and its frequency/spend correlation check;
* ``validation.py`` - calibration/holdout split, holdout errors against the naive baseline,
  tracking, model comparison, ``fit_and_validate`` (the CLI's ``clv fit``);
* ``scoring.py`` - per-customer value: P(alive), expected purchases and spend, discounted CLV,
  potential value, value at risk, ranks and deciles;
* ``retention.py`` - cohorts, repeat purchase, churn, survival to lapse, payback, risk lists.

Models follow scikit-learn's shape (hyper-parameters in ``__init__``, ``fit`` returns ``self``,
fitted attributes end in ``_``) and take the BTYD columns of the customer view
(:func:`crm_models.features.customer_view`).  The likelihoods are our own NumPy/SciPy code in
log space, fitted on distinct rows with weights (exactly the likelihood of the uncompressed
data); a failed or degenerate fit raises :class:`FitError` with the reason, never silent NaNs.
"""

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import FitError, NotEnoughData, buyers
from crm_models.value.gamma_gamma import GammaGammaModel, frequency_monetary_correlation
from crm_models.value.pareto_nbd import ParetoNBDModel
from crm_models.value.retention import (
    Cohorts,
    churn_risk_list,
    cohort_matrix,
    cohorts,
    first_purchase_channel,
    monthly_retention,
    payback,
    payback_figures,
    period_churn,
    period_label,
    repeat_rate,
    retention_by,
    summary_figures,
    survival,
    time_to_lapse,
    time_to_payback,
    top_customers,
)
from crm_models.value.scoring import (
    average_customer,
    base_figures,
    customer_value,
    p_alive_change,
    p_alive_vs_truth,
    parameter_table,
    value_deciles,
)
from crm_models.value.validation import (
    calibration_holdout,
    compare_models,
    comparison_metrics,
    conditional_expectations,
    default_calibration_end,
    evaluate_holdout,
    evaluate_spend_holdout,
    fit_and_validate,
    holdout_accuracy,
    holdout_total_error,
    mae,
    make_purchase_model,
    rmse,
    tracking,
)

__all__ = [
    "BetaGeoModel",
    "Cohorts",
    "FitError",
    "GammaGammaModel",
    "NotEnoughData",
    "ParetoNBDModel",
    "average_customer",
    "base_figures",
    "buyers",
    "calibration_holdout",
    "churn_risk_list",
    "cohort_matrix",
    "cohorts",
    "compare_models",
    "comparison_metrics",
    "conditional_expectations",
    "customer_value",
    "default_calibration_end",
    "evaluate_holdout",
    "evaluate_spend_holdout",
    "first_purchase_channel",
    "fit_and_validate",
    "frequency_monetary_correlation",
    "holdout_accuracy",
    "holdout_total_error",
    "mae",
    "make_purchase_model",
    "monthly_retention",
    "p_alive_change",
    "p_alive_vs_truth",
    "parameter_table",
    "payback",
    "payback_figures",
    "period_churn",
    "period_label",
    "repeat_rate",
    "retention_by",
    "rmse",
    "summary_figures",
    "survival",
    "time_to_lapse",
    "time_to_payback",
    "top_customers",
    "tracking",
    "value_deciles",
]

"""What is each customer worth, and who is leaving?

* ``common.py`` - errors (:class:`FitError`, :class:`NotEnoughData`), BTYD input checks, the
  compression of distinct rows, the log-space optimiser, the parameter-table base class;
* ``purchase.py`` - the shared API of the purchase models (fit, P(alive), expected purchases);
* ``bgnbd.py`` - BG/NBD (Fader, Hardie & Lee 2005), analytic gradient;
* ``pareto_nbd.py`` - Pareto/NBD (Schmittlein, Morrison & Colombo 1987);
* ``gamma_gamma.py`` - the Gamma-Gamma spend model and its frequency/spend correlation check;
* ``fit_quality.py`` - goodness of fit on real data (chi-square of the calibration frequency
  histogram, holdout calibration by decile of predicted P(any purchase)) and the fallback rule
  for degenerate fits (the rule is written out in that module's docstring);
* ``validation.py`` - calibration/holdout split, holdout errors against the naive baseline,
  tracking, model comparison, ``fit_and_validate`` (the CLI's ``clv fit``);
* ``scoring.py`` - per-customer value: P(alive), expected purchases and spend, discounted CLV,
  potential value, value at risk, ranks and deciles;
* ``retention.py`` - cohorts, repeat purchase, churn, survival to lapse, payback, risk lists;
* ``stacked.py`` - the stacked model: BTYD and recent-activity features into gradient boosting
  trained on an earlier split of the calibration data;
* ``selection.py`` - ``clv fit --model auto``: the choice rule fixed in advance (lowest MAE on
  an inner split), the out-of-time comparison of every candidate, and the per-customer
  correction that lets a chosen naive or stacked forecast value customers through BG/NBD;
* ``uncertainty.py`` - intervals for holdout and future totals and for each customer's expected
  purchases and CLV (parameter draws from the Hessian, or a customer bootstrap, plus simulated
  purchases).

Models are scikit-learn estimators (hyper-parameters in ``__init__``, so ``clone`` and
``get_params`` work; ``fit`` returns ``self``; fitted attributes end in ``_``) and take the
BTYD columns of the customer view (:func:`crm_models.features.customer_view`).  The likelihoods
are our own NumPy/SciPy code in log space, fitted on distinct rows with weights (exactly the
likelihood of the uncompressed data); a failed fit, or one whose parameters run off beyond
3e-7..3e6, raises :class:`FitError` with the reason, never silent NaNs.  Every fit carries
``diagnostics_`` (convergence, parameters at a bound, Hessian positive definite, plain-sentence
``warnings``); a standard error the data do not identify is ``None``, never 0.
"""

from crm_models.value.bgnbd import BetaGeoModel
from crm_models.value.common import SUMMARY_COLUMNS, FitError, NotEnoughData, buyers
from crm_models.value.fit_quality import (
    PRIOR_SD,
    count_probabilities,
    decile_calibration,
    fallback_plan,
    fit_warnings,
    fit_with_fallback,
    frequency_histogram,
    p_any_purchase,
)
from crm_models.value.gamma_gamma import GammaGammaModel, frequency_monetary_correlation
from crm_models.value.pareto_nbd import ParetoNBDModel
from crm_models.value.retention import (
    Cohorts,
    churn_risk_list,
    cohort_matrix,
    cohorts,
    first_purchase_channel,
    monthly_retention,
    p_overdue,
    payback,
    payback_figures,
    period_churn,
    period_label,
    repeat_rate,
    retention_by,
    risk_rule,
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
from crm_models.value.selection import (
    CANDIDATES,
    VALUE_MODEL_LABELS,
    VALUE_MODELS,
    auto_comparison,
    choose_model,
    comparison_table,
    forecast_multiplier,
    purchase_model_for,
    value_model_choice,
)
from crm_models.value.stacked import StackedModel, activity_features, purchase_days
from crm_models.value.uncertainty import holdout_interval, parameter_draws, value_intervals
from crm_models.value.validation import (
    calibration_holdout,
    compare_models,
    comparison_metrics,
    conditional_expectations,
    default_calibration_end,
    evaluate_holdout,
    evaluate_spend_holdout,
    fit_and_validate,
    goodness_of_fit,
    holdout_accuracy,
    holdout_total_error,
    mae,
    make_purchase_model,
    rmse,
    tracking,
)

__all__ = [
    "BetaGeoModel",
    "CANDIDATES",
    "VALUE_MODELS",
    "VALUE_MODEL_LABELS",
    "Cohorts",
    "FitError",
    "GammaGammaModel",
    "NotEnoughData",
    "PRIOR_SD",
    "ParetoNBDModel",
    "StackedModel",
    "activity_features",
    "auto_comparison",
    "average_customer",
    "base_figures",
    "buyers",
    "SUMMARY_COLUMNS",
    "calibration_holdout",
    "churn_risk_list",
    "cohort_matrix",
    "cohorts",
    "choose_model",
    "comparison_table",
    "compare_models",
    "comparison_metrics",
    "conditional_expectations",
    "count_probabilities",
    "customer_value",
    "decile_calibration",
    "default_calibration_end",
    "evaluate_holdout",
    "evaluate_spend_holdout",
    "first_purchase_channel",
    "fallback_plan",
    "fit_and_validate",
    "fit_warnings",
    "fit_with_fallback",
    "frequency_histogram",
    "frequency_monetary_correlation",
    "goodness_of_fit",
    "holdout_accuracy",
    "holdout_interval",
    "holdout_total_error",
    "mae",
    "make_purchase_model",
    "monthly_retention",
    "p_alive_change",
    "p_any_purchase",
    "p_alive_vs_truth",
    "parameter_draws",
    "p_overdue",
    "parameter_table",
    "payback",
    "payback_figures",
    "period_churn",
    "period_label",
    "purchase_days",
    "repeat_rate",
    "retention_by",
    "risk_rule",
    "rmse",
    "summary_figures",
    "survival",
    "time_to_lapse",
    "time_to_payback",
    "top_customers",
    "tracking",
    "value_intervals",
    "value_deciles",
    "forecast_multiplier",
    "purchase_model_for",
    "value_model_choice",
]

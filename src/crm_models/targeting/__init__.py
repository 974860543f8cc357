"""Whom should we mail, with which offer?  Response and uplift models on randomised campaigns,
honest evaluation, and a profit-optimal contact list that respects permissions.

- :mod:`~crm_models.targeting.campaigns` — campaign rows with leakage-free features, arms, effects;
- :mod:`~crm_models.targeting.sampling` — the stated cap on the campaign rows models are fitted on;
- :mod:`~crm_models.targeting.splits` — train/test splits stratified on campaign, arm, outcome;
- :mod:`~crm_models.targeting.metrics` — uplift metrics (curves, AUUC, Qini, uplift@k);
- :mod:`~crm_models.targeting.uplift` — uplift learners (T-, S-, X-learner, class transformation,
  multi-arm, pooled S-learner) and their default estimators;
- :mod:`~crm_models.targeting.response` — response models, gains and calibration;
- :mod:`~crm_models.targeting.evaluation` — uplift models compared on a held-out part;
- :mod:`~crm_models.targeting.clv_gain` — the gain in expected lifetime value from a response;
- :mod:`~crm_models.targeting.policy` — contact policy, expected profit, the contact list;
- :mod:`~crm_models.targeting.contact_list` — the list as a mail tool takes it (campaign id,
  send date, channel, a seeded hold-out group), written as CSV, Parquet or Excel;
- :mod:`~crm_models.targeting.knapsack` — the money-budget list solved exactly (or greedy with
  its gap to the LP bound);
- :mod:`~crm_models.targeting.model` — the targeting model that scores customers, and
  :func:`build_contact_list`.

The flow::

    Dataset ─► campaign_data()        one row per customer and campaign, features as of the day
               │                      before the send (customer view), arm, outcomes
               ├► arm_summary()       what each campaign arm did against its control group
               ├► fit_sample()        above MAX_FIT_ROWS rows, a stratified sample for the models
               ├► evaluate_response() response models (gradient boosting vs logistic), gains,
               │                      calibration; trained on earlier campaigns, tested on the latest
               ├► evaluate_uplift()   uplift models chosen by cross-fitting on the training part,
               │                      refitted, tested on a stratified split (fixed seeds) against
               │                      random targeting, response-model ranking and the two-model
               │                      logistic baseline; bootstrap intervals; beats the baseline
               │                      or says so (``used``: the learner for the contact list);
               ├► repeated_split_intervals()  90% intervals of Qini and uplift@k over further
               │                      splits (models refitted on each);
               │                      on simulated data, rank correlation with the TRUE uplift
               └► TargetingModel ─► contact_list()   expected incremental profit per customer and
                                                      arm, permission rules, budget, comparison
"""

from crm_models.data.truth import true_uplift
from crm_models.targeting.campaigns import (
    ARM_LABELS,
    CONTROL,
    MONEY_OUTCOMES,
    OUTCOME_WORDS,
    RESPONSE_WINDOW_DAYS,
    CampaignData,
    FeatureEncoder,
    arm_label,
    arm_rows,
    arm_summary,
    average_effects,
    campaign_data,
    customer_features,
    distinct_outcomes,
    is_rate_outcome,
    mean_ci,
)
from crm_models.targeting.clv_gain import clv_gain_raw, response_clv_gain
from crm_models.targeting.contact_list import (
    LIST_COLUMNS,
    LIST_FORMATS,
    check_holdout,
    check_list_path,
    default_campaign_id,
    holdout_flags,
    holdout_summary,
    mailing_list,
    write_contact_list,
)
from crm_models.targeting.evaluation import (
    AVERAGE_EFFECT,
    BASELINE,
    INTERVAL_LEVEL,
    MIN_ARM_RESPONDERS,
    MIN_GROUP_CUSTOMERS,
    MODEL_LABELS,
    UpliftEvaluation,
    chosen_model_summary,
    default_models,
    evaluate_uplift,
    model_label,
    other_outcomes_uplift,
    repeated_split_intervals,
    truth_summary,
    uplift_summary,
)
from crm_models.targeting.metrics import (
    descending_order,
    perfect_qini_curve,
    perfect_uplift_curve,
    policy_value_at_k,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_by_percentile,
    uplift_curve,
)
from crm_models.targeting.model import EVALUATION_SEED, TargetingModel, build_contact_list
from crm_models.targeting.policy import (
    EXCLUSIONS,
    PERMISSION_EXCLUSIONS,
    ContactListResult,
    ContactPolicy,
    budgeted_contact_list,
    contact_list,
    eligible_customers,
    permission_tables,
    recent_contacts,
    select_contacts,
)
from crm_models.targeting.response import MIN_RESPONDERS, ResponseEvaluation, evaluate_response
from crm_models.targeting.sampling import MAX_FIT_ROWS, fit_sample, sample_note, sample_summary
from crm_models.targeting.splits import stratified_split
from crm_models.targeting.uplift import (
    LEARNERS,
    AverageEffectUplift,
    ClassTransformationUplift,
    MultiArmUplift,
    PooledSLearnerUplift,
    SLearnerUplift,
    TwoModelUplift,
    XLearnerUplift,
    fit_outcome,
    make_estimator,
    make_learner,
    make_multi_arm,
)

__all__ = [
    "ARM_LABELS",
    "AVERAGE_EFFECT",
    "INTERVAL_LEVEL",
    "BASELINE",
    "CONTROL",
    "EVALUATION_SEED",
    "EXCLUSIONS",
    "LEARNERS",
    "LIST_COLUMNS",
    "LIST_FORMATS",
    "MAX_FIT_ROWS",
    "MIN_ARM_RESPONDERS",
    "MIN_GROUP_CUSTOMERS",
    "MIN_RESPONDERS",
    "MODEL_LABELS",
    "MONEY_OUTCOMES",
    "OUTCOME_WORDS",
    "PERMISSION_EXCLUSIONS",
    "RESPONSE_WINDOW_DAYS",
    "CampaignData",
    "AverageEffectUplift",
    "ClassTransformationUplift",
    "ContactListResult",
    "ContactPolicy",
    "FeatureEncoder",
    "MultiArmUplift",
    "PooledSLearnerUplift",
    "ResponseEvaluation",
    "SLearnerUplift",
    "TargetingModel",
    "TwoModelUplift",
    "UpliftEvaluation",
    "XLearnerUplift",
    "arm_label",
    "arm_rows",
    "arm_summary",
    "average_effects",
    "budgeted_contact_list",
    "build_contact_list",
    "campaign_data",
    "check_holdout",
    "check_list_path",
    "chosen_model_summary",
    "clv_gain_raw",
    "contact_list",
    "customer_features",
    "default_campaign_id",
    "default_models",
    "descending_order",
    "distinct_outcomes",
    "eligible_customers",
    "evaluate_response",
    "evaluate_uplift",
    "fit_outcome",
    "fit_sample",
    "holdout_flags",
    "holdout_summary",
    "is_rate_outcome",
    "make_estimator",
    "make_learner",
    "mailing_list",
    "make_multi_arm",
    "mean_ci",
    "model_label",
    "other_outcomes_uplift",
    "repeated_split_intervals",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "permission_tables",
    "policy_value_at_k",
    "qini_auc_score",
    "qini_curve",
    "recent_contacts",
    "response_clv_gain",
    "sample_note",
    "sample_summary",
    "select_contacts",
    "stratified_split",
    "true_uplift",
    "truth_summary",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_by_percentile",
    "uplift_curve",
    "uplift_summary",
    "write_contact_list",
]

"""Moved to crm_models.value; this alias stays for a while."""

from crm_models.value.retention import (
    Cohorts,
    churn_risk_list,
    cohorts,
    first_purchase_channel,
    payback,
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

__all__ = [
    "Cohorts",
    "churn_risk_list",
    "cohorts",
    "first_purchase_channel",
    "payback",
    "period_churn",
    "period_label",
    "repeat_rate",
    "retention_by",
    "summary_figures",
    "survival",
    "time_to_lapse",
    "time_to_payback",
    "top_customers",
]

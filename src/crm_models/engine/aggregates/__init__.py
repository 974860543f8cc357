"""The heavy aggregations as relational (ibis) expressions: written once, run on DuckDB, Spark
or PostgreSQL (:mod:`crm_models.engine`).

Each function here returns the *same* compact frame as its NumPy counterpart in the analysis
modules (per-customer sums for the customer view, RFM scores, cohort counts, basket item and
pair counts, period totals), so the models downstream never know which engine ran; tests
compare the two column by column on CDNOW and ``demo``.

One module per business question, all re-exported here:

- :mod:`~crm_models.engine.aggregates.customers` — per-customer sums and views;
- :mod:`~crm_models.engine.aggregates.periods` — cohorts and totals per period;
- :mod:`~crm_models.engine.aggregates.baskets` — basket contents, item and pair counts;
- :mod:`~crm_models.engine.aggregates.checks` — contract problems, warnings and summaries;
- :mod:`~crm_models.engine.aggregates.retention` — repeat purchases, lapses and payback;
- :mod:`~crm_models.engine.aggregates.revenue` — netted orders and revenue per level;

on the shared ibis helpers of :mod:`~crm_models.engine.aggregates._common`.
"""

from crm_models.engine.aggregates._common import (
    EPOCH,
    count_if,
    day_number,
    lines_as_of,
    period_code,
)
from crm_models.engine.aggregates.baskets import (
    basket_compositions,
    basket_contents,
    basket_item_counts,
    basket_pair_counts,
    category_moves,
    category_period_lines,
    customer_item_first_days,
    has_times,
    repurchase_gaps,
)
from crm_models.engine.aggregates.checks import (
    checked,
    first_line_date,
    source_summary,
    source_warnings,
    validation_problems,
)
from crm_models.engine.aggregates.customers import (
    CHANNEL_GROSS,
    MAX_CHANNELS,
    attributes_as_of,
    btyd_sums_expr,
    buyer_ids,
    calibration_holdout_sums,
    campaign_features,
    customer_sums,
    customer_sums_expr,
    purchase_day_codes,
    purchase_day_rows,
    purchase_days,
    rfm_ranks,
    sales_span,
    table_columns,
)
from crm_models.engine.aggregates.periods import (
    cohort_counts,
    level_period_totals,
    order_period_totals,
    treated_sends_per_day,
)
from crm_models.engine.aggregates.retention import (
    day_counts,
    first_day_channel,
    payback_days,
    period_activity,
    purchase_day_gaps,
    repeat_day_counts,
)
from crm_models.engine.aggregates.revenue import (
    customer_net_revenue,
    level_revenue,
    level_table,
    new_revenue_per_period,
    order_rows,
    period_level_revenue,
    with_level,
)

__all__ = [
    "CHANNEL_GROSS",
    "EPOCH",
    "MAX_CHANNELS",
    "attributes_as_of",
    "basket_contents",
    "basket_compositions",
    "basket_item_counts",
    "basket_pair_counts",
    "btyd_sums_expr",
    "buyer_ids",
    "calibration_holdout_sums",
    "campaign_features",
    "category_moves",
    "category_period_lines",
    "checked",
    "cohort_counts",
    "count_if",
    "customer_item_first_days",
    "customer_net_revenue",
    "customer_sums",
    "customer_sums_expr",
    "day_counts",
    "day_number",
    "first_day_channel",
    "first_line_date",
    "has_times",
    "level_period_totals",
    "level_revenue",
    "level_table",
    "lines_as_of",
    "new_revenue_per_period",
    "order_period_totals",
    "order_rows",
    "payback_days",
    "period_activity",
    "period_code",
    "period_level_revenue",
    "purchase_day_gaps",
    "purchase_day_codes",
    "purchase_day_rows",
    "purchase_days",
    "repeat_day_counts",
    "repurchase_gaps",
    "rfm_ranks",
    "sales_span",
    "source_summary",
    "source_warnings",
    "table_columns",
    "treated_sends_per_day",
    "validation_problems",
    "with_level",
]

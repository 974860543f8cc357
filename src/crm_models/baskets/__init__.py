"""What is bought together, and what to recommend next?

- ``mining``: baskets from transactions or basket files, frequent itemsets, pair affinities.
- ``rules``: association rules (arules semantics), significance, redundancy, revenue, in words.
- ``recommend``: the cross-sell recommender and its out-of-time evaluation.
- ``timing``: category seasonality, next-order transitions, repurchase intervals.
"""

from crm_models.baskets.mining import (
    Baskets,
    affinity_grid,
    as_baskets,
    baskets_from_lines,
    baskets_from_transactions,
    frequent_itemsets,
    min_count,
    pair_affinities,
    service_items,
    strongest_pairs,
)
from crm_models.baskets.recommend import (
    CrossSell,
    CrossSellEvaluation,
    cross_sell_list,
    evaluate_cross_sell,
    evaluation_metrics,
    offer_counts,
)
from crm_models.baskets.rules import (
    add_significance,
    association_rules,
    basket_summary,
    choose_min_support,
    fisher_p_values,
    is_redundant,
    is_significant,
    mine_rules,
    rank_rules,
    rule_hygiene,
    rule_lift_grid,
    rule_revenue,
    rule_sentence,
    rules_table,
    strong_rules,
)
from crm_models.baskets.timing import (
    category_seasonality,
    category_transitions,
    has_times,
    repeat_category_lift,
    repurchase_intervals,
    seasonal_peak,
)

__all__ = [
    "Baskets",
    "CrossSell",
    "CrossSellEvaluation",
    "add_significance",
    "affinity_grid",
    "as_baskets",
    "association_rules",
    "basket_summary",
    "baskets_from_lines",
    "baskets_from_transactions",
    "category_seasonality",
    "category_transitions",
    "choose_min_support",
    "cross_sell_list",
    "evaluate_cross_sell",
    "evaluation_metrics",
    "fisher_p_values",
    "frequent_itemsets",
    "has_times",
    "is_redundant",
    "is_significant",
    "min_count",
    "mine_rules",
    "offer_counts",
    "pair_affinities",
    "rank_rules",
    "repeat_category_lift",
    "repurchase_intervals",
    "rule_hygiene",
    "rule_lift_grid",
    "rule_revenue",
    "rule_sentence",
    "rules_table",
    "seasonal_peak",
    "service_items",
    "strong_rules",
    "strongest_pairs",
]

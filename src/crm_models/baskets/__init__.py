"""What is bought together, and what to recommend next?

- ``mining``: baskets from transactions or basket files, frequent itemsets, pair affinities.
- ``rules``: association rules (arules semantics), significance, redundancy, revenue, in words.
- ``recommend``: the cross-sell recommender and its out-of-time evaluation.
- ``timing``: category seasonality, next-order transitions, repurchase intervals.
"""

from crm_models.baskets.mining import (
    Baskets,
    as_baskets,
    baskets_from_lines,
    baskets_from_transactions,
    frequent_itemsets,
    min_count,
    pair_affinities,
    service_items,
)
from crm_models.baskets.recommend import CrossSell, CrossSellEvaluation, evaluate_cross_sell
from crm_models.baskets.rules import (
    add_significance,
    association_rules,
    basket_summary,
    choose_min_support,
    fisher_p_values,
    is_redundant,
    is_significant,
    rank_rules,
    rule_revenue,
    rule_sentence,
)
from crm_models.baskets.timing import (
    category_seasonality,
    category_transitions,
    has_times,
    repurchase_intervals,
)

__all__ = [
    "Baskets",
    "CrossSell",
    "CrossSellEvaluation",
    "add_significance",
    "as_baskets",
    "association_rules",
    "basket_summary",
    "baskets_from_lines",
    "baskets_from_transactions",
    "category_seasonality",
    "category_transitions",
    "choose_min_support",
    "evaluate_cross_sell",
    "fisher_p_values",
    "frequent_itemsets",
    "has_times",
    "is_redundant",
    "is_significant",
    "min_count",
    "pair_affinities",
    "rank_rules",
    "repurchase_intervals",
    "rule_revenue",
    "rule_sentence",
    "service_items",
]

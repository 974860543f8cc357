"""Moved to crm_models.baskets; this alias stays for a while."""

from crm_models.baskets.mining import (
    Baskets,
    baskets_from_transactions,
    frequent_itemsets,
    min_count,
    pair_affinities,
    service_items,
)
from crm_models.baskets.recommend import CrossSell, evaluate_cross_sell
from crm_models.baskets.rules import (
    add_significance,
    association_rules,
    basket_summary,
    choose_min_support,
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
    "add_significance",
    "association_rules",
    "basket_summary",
    "baskets_from_transactions",
    "category_seasonality",
    "category_transitions",
    "choose_min_support",
    "evaluate_cross_sell",
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

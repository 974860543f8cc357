"""Moved to crm_models.segments; this alias stays for a while."""

from crm_models.segments.attributes import BEHAVIOUR_COLUMNS, attribute_columns, attribute_levels
from crm_models.segments.best_customers import attribute_association, define_target, index_table
from crm_models.segments.lookalike_model import LookalikeResult, lift_at, lookalike
from crm_models.segments.spend import PurchasingPower, purchasing_power
from crm_models.segments.verdict import characteristics

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "LookalikeResult",
    "PurchasingPower",
    "attribute_association",
    "attribute_columns",
    "attribute_levels",
    "characteristics",
    "define_target",
    "index_table",
    "lift_at",
    "lookalike",
    "purchasing_power",
]

"""Moved to crm_models.segments; this alias stays for a while."""

from crm_models.segments.clustering import (
    BEHAVIOUR_FEATURES,
    BehaviourClustering,
    behaviour_matrix,
    name_segments,
)
from crm_models.segments.profiles import (
    clv_if_available,
    indicator_intervals,
    mix_table,
    segment_profile,
    segment_summary,
)
from crm_models.segments.rfm import (
    PROSPECT,
    RFM_RULES,
    RFM_SEGMENTS,
    RFMScorer,
    quantile_scores,
    rfm_rules_table,
    rfm_segment,
)
from crm_models.segments.segmentation import Segmentation, segment_customers

__all__ = [
    "BEHAVIOUR_FEATURES",
    "PROSPECT",
    "RFM_RULES",
    "RFM_SEGMENTS",
    "BehaviourClustering",
    "RFMScorer",
    "Segmentation",
    "behaviour_matrix",
    "clv_if_available",
    "indicator_intervals",
    "mix_table",
    "name_segments",
    "quantile_scores",
    "rfm_rules_table",
    "rfm_segment",
    "segment_customers",
    "segment_profile",
    "segment_summary",
]

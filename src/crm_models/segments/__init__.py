"""Segments: which segments do we have, and what do our best customers look like?

- :mod:`~crm_models.segments.rfm` — RFM quantile scores and the named RFM segments;
- :mod:`~crm_models.segments.clustering` — behavioural clusters that must prove they are stable;
- :mod:`~crm_models.segments.segmentation` — :func:`segment_customers`, both in one call;
- :mod:`~crm_models.segments.profiles` — segment profiles, indicators with intervals, mixes, CLV;
- :mod:`~crm_models.segments.attributes` — the known characteristics of customers and their levels;
- :mod:`~crm_models.segments.best_customers` — best-customer index and association tests;
- :mod:`~crm_models.segments.spend` — purchasing power: spend regressed on characteristics;
- :mod:`~crm_models.segments.lookalike_model` — the look-alike model, judged out of time;
- :mod:`~crm_models.segments.verdict` — which characteristics matter and which are noise;
- :mod:`~crm_models.segments.common` — who counts as a buyer;
- :mod:`~crm_models.segments.sampling` — the stated sample caps and seeded stratified samples
  above them (small data is never sampled).
"""

from crm_models.segments.attributes import (
    BEHAVIOUR_COLUMNS,
    attribute_columns,
    attribute_levels,
)
from crm_models.segments.best_customers import attribute_association, define_target, index_table
from crm_models.segments.clustering import (
    BEHAVIOUR_FEATURES,
    BehaviourClustering,
    behaviour_matrix,
    name_segments,
    stability_metrics,
)
from crm_models.segments.lookalike_model import (
    LookalikeResult,
    lift_at,
    lookalike,
    lookalike_aucs,
    lookalike_metrics,
)
from crm_models.segments.profiles import (
    clv_if_available,
    indicator_intervals,
    mix_table,
    segment_mixes,
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
from crm_models.segments.spend import PurchasingPower, purchasing_power
from crm_models.segments.verdict import attributes_by_verdict, characteristics

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "BEHAVIOUR_FEATURES",
    "PROSPECT",
    "RFM_RULES",
    "RFM_SEGMENTS",
    "BehaviourClustering",
    "LookalikeResult",
    "PurchasingPower",
    "RFMScorer",
    "Segmentation",
    "attribute_association",
    "attribute_columns",
    "attribute_levels",
    "attributes_by_verdict",
    "behaviour_matrix",
    "characteristics",
    "clv_if_available",
    "define_target",
    "index_table",
    "indicator_intervals",
    "lift_at",
    "lookalike",
    "lookalike_aucs",
    "lookalike_metrics",
    "mix_table",
    "name_segments",
    "purchasing_power",
    "quantile_scores",
    "rfm_rules_table",
    "rfm_segment",
    "segment_customers",
    "segment_mixes",
    "segment_profile",
    "segment_summary",
    "stability_metrics",
]

"""One call: RFM segments and behavioural clusters of every customer, with their summaries.

Everything starts from the single customer view (:func:`crm_models.features.customer_view`, one
row per customer) and returns pandas objects indexed by ``customer_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crm_models.data.dataset import UnsupportedData
from crm_models.segments.clustering import BehaviourClustering
from crm_models.segments.profiles import segment_summary
from crm_models.segments.rfm import RFMScorer
from crm_models.segments.sampling import SEGMENT_SAMPLE_CAP


@dataclass
class Segmentation:
    """RFM segments and behavioural clusters of every customer (see :func:`segment_customers`)."""

    rfm: pd.DataFrame
    clustering: BehaviourClustering
    assignments: pd.DataFrame
    rfm_summary: pd.DataFrame
    cluster_summary: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """customer_id → rfm scores, rfm_segment, cluster, cluster_name (no personal data)."""
        return self.assignments

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: rfm_segments, clusters, stability and the chosen clustering."""

        def shape(summary: pd.DataFrame) -> dict[str, Any]:
            return {
                str(name): {
                    "customers": int(row["customers"]),
                    "revenue_share": round(float(row["revenue_share"]), 6),
                }
                for name, row in summary.iterrows()
            }

        c = self.clustering
        return {
            "rfm_segments": shape(self.rfm_summary),
            "clusters": shape(self.cluster_summary),
            "stability": round(c.stability_, 4),
            "stable": c.stable_,
            "method": c.method_,
            "k": c.k_,
            **self.info,
        }


def segment_customers(
    view: pd.DataFrame,
    quick: bool = False,
    random_state: int = 0,
    unit: str = "D",
    sample_cap: int = SEGMENT_SAMPLE_CAP,
) -> Segmentation:
    """RFM-score, segment and cluster every customer of a customer view.

    ``quick`` uses fewer bootstrap refits and a smaller selection sample (tests, previews).
    RFM scores are exact (quantile ranks of all buyers, as ``engine.aggregates.rfm_ranks``);
    the clusters are chosen on a sample of a few thousand buyers, stratified by RFM segment
    above ``sample_cap`` buyers, and every buyer is assigned.
    Raises :class:`~crm_models.data.dataset.UnsupportedData` when nobody has bought for a positive
    amount, or too few customers have bought to look for segments (twice the largest number
    of segments tried).
    """
    if "days_since_last" not in view.columns:
        raise UnsupportedData(
            "Segments are built from purchases, and this dataset has no transactions table."
        )
    rfm = RFMScorer(unit=unit).fit_transform(view)
    clustering = BehaviourClustering(
        n_bootstrap=4 if quick else 6,
        sample_size=3000 if quick else 4000,
        silhouette_size=2000 if quick else 3000,
        random_state=random_state,
        sample_cap=sample_cap,
    ).fit(view, strata=rfm["segment"].rename("RFM segment"))
    labels = clustering.labels_
    names = clustering.segment_names(labels)
    assignments = rfm[["r", "f", "m", "rfm"]].copy()
    assignments["rfm_segment"] = rfm["segment"]
    assignments["cluster"] = labels.reindex(view.index).astype("Int64")
    assignments["cluster_name"] = names.reindex(view.index)
    assignments.index.name = "customer_id"
    rfm_summary = segment_summary(view, rfm["segment"])
    cluster_summary = segment_summary(view, assignments["cluster_name"])
    info = {"customers": int(len(view)), "buyers": int(labels.size)}
    return Segmentation(rfm, clustering, assignments, rfm_summary, cluster_summary, info)

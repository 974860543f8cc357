"""A stated cap on the campaign rows the uplift and response models are fitted and tested on.

Above :data:`MAX_FIT_ROWS` campaign rows the models are fitted on a seeded random sample
stratified by campaign × offer × response (each stratum keeps its share, and at least
:data:`MIN_STRATUM_ROWS` rows or all it has), so every offer keeps its control group and its
responders; at or below the cap the data is used whole and every number stays exact.  The
measured campaign effects (:func:`~crm_models.targeting.campaigns.arm_summary`) always use all
rows, and every customer is scored, whatever the sample.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from crm_models.data.dataset import derived
from crm_models.sampling import interval_widening, stratified_sample
from crm_models.targeting.campaigns import CampaignData

__all__ = ["MAX_FIT_ROWS", "MIN_STRATUM_ROWS", "fit_sample", "sample_note", "sample_summary"]

# Campaign rows the uplift/response models are fitted and tested on at most: the smallest round
# cap that keeps the default datasets whole (demo 28,718 rows, Hillstrom 64,000); on 1M simulated
# customers (1.42M campaign rows) the targeting report then takes about 224 CPU seconds.
MAX_FIT_ROWS = 65_000
MIN_STRATUM_ROWS = 30  # a small stratum (a campaign's control responders) keeps this many rows


def fit_sample(
    data: CampaignData, outcome: str = "responded", max_rows: int | None = None, seed: int = 42
) -> CampaignData:
    """``data`` itself when it has at most ``max_rows`` campaign rows (None: :data:`MAX_FIT_ROWS`;
    0: no cap), else a seeded random sample of its rows stratified by campaign × offer ×
    (``outcome`` > 0), rows in their original order, ``sampled_from`` set to the number of rows
    it was drawn from."""
    max_rows = MAX_FIT_ROWS if max_rows is None else max_rows
    if max_rows < 0:
        raise ValueError(
            f"the cap on campaign rows must be a positive number (0: no cap), not {max_rows}"
        )
    n = len(data.rows)
    if max_rows == 0 or n <= max_rows:
        return data

    def draw() -> CampaignData:
        r = data.rows
        strata = pd.DataFrame(
            {
                "campaign": r["campaign_id"].astype(str).to_numpy(),
                "arm": r["arm"].astype(str).to_numpy(),
                "positive": r[outcome].to_numpy(dtype=float) > 0,
            }
        )
        keep = stratified_sample(
            strata, max_rows, random_state=seed, min_per_stratum=MIN_STRATUM_ROWS
        )
        # the sample builds the features of its own rows (CampaignData), never all of them
        return dataclasses.replace(data, rows=data.rows.iloc[keep], sampled_from=n, _built={})

    # the same sample (and the features it built) for every model fitted on this data
    return derived(data, f"fit sample {outcome} {max_rows} {seed}", draw)


def sample_summary(data: CampaignData) -> dict | None:
    """The sample in figures for ``--json`` (rows, of, stratified_by, note); None when the
    models used every campaign row."""
    if data.sampled_from is None:
        return None
    return {
        "rows": len(data.rows),
        "of": data.sampled_from,
        "stratified_by": ["campaign", "offer", "response"],
        "note": sample_note(data),
    }


def sample_note(data: CampaignData) -> str | None:
    """In words: the models were fitted on a sample, and what that means for precision; None
    when they used every campaign row."""
    if data.sampled_from is None:
        return None
    n, of = len(data.rows), data.sampled_from
    return (
        f"The uplift and response models were fitted on a random sample of {n:,} of {of:,} "
        "contacts (stratified by campaign, offer and response). Figures tested on a part of the "
        "sample are less precise than the full data would allow: their intervals are about "
        f"{interval_widening(n, of):.1f} times as wide (the square root of {of:,} / {n:,}). The "
        "campaign effects are measured on every contact, and every customer is scored."
    )

"""Simulator ground truth read back from disk: the true uplift per campaign, customer and offer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crm_models.data.dataset import Dataset

__all__ = ["UPLIFT_COLUMNS", "true_uplift"]

UPLIFT_COLUMNS = ["campaign_id", "customer_id", "arm", "p_control", "uplift"]


def true_uplift(ds: Dataset) -> pd.DataFrame | None:
    """The simulator's true uplift per (campaign_id, customer_id, arm), or None for real data.

    Read from ``uplift.parquet`` in the folder named by ``ds.info["truth_dir"]`` (the ``demo``
    loader sets it; :meth:`crm_models.data.simulate.SimulatedRetailer.write` writes the file) with
    the columns :data:`UPLIFT_COLUMNS`: ``p_control`` is the probability of responding when not
    mailed, ``uplift`` the extra probability when mailed with that arm (every audience member and
    every offer of the campaign, whether or not they received it).  None when the dataset has no
    truth folder or the folder holds no uplift table.
    """
    truth_dir = ds.info.get("truth_dir") if ds.info else None
    if not truth_dir or not (Path(truth_dir) / "uplift.parquet").exists():
        return None
    t = pd.read_parquet(Path(truth_dir) / "uplift.parquet")
    return t[UPLIFT_COLUMNS]

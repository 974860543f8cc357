"""Train/test splits of campaign rows, stratified on campaign, arm and outcome, fixed seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crm_models.data.conditions import few
from crm_models.targeting.campaigns import CampaignData

__all__ = ["split", "stratified_split"]


def stratified_split(
    data: CampaignData, outcome: str, test_size: float = 0.3, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train/test masks stratified on campaign × arm × (outcome > 0), fixed seed.

    Strata too small to split fall back to arm × outcome (then outcome) only.
    """
    r = data.rows
    positive = (r[outcome].to_numpy() > 0).astype(int).astype(str)
    candidates = [
        r["campaign_id"].astype(str) + "|" + r["arm"].astype(str) + "|" + positive,
        r["arm"].astype(str) + "|" + positive,
        pd.Series(positive, index=r.index),
    ]
    _, test = split(np.arange(len(r)), candidates, test_size, seed)
    is_test = np.zeros(len(r), dtype=bool)
    is_test[test] = True
    return ~is_test, is_test


def split(idx: np.ndarray, candidates, test_size: float, seed: int):
    """``train_test_split`` of ``idx`` stratified on the first usable strata of
    ``candidates`` (every stratum twice or more, and no more strata than either part has rows),
    else unstratified."""
    from sklearn.model_selection import train_test_split

    n_test = math.ceil(test_size * len(idx))
    if n_test < 1 or len(idx) - n_test < 1:
        raise few(
            len(idx), "customer contact", "customer contacts", "keep some back for testing", 2
        )
    for strata in candidates:
        counts = pd.Series(np.asarray(strata)).value_counts()
        if counts.min() >= 2 and len(counts) <= min(n_test, len(idx) - n_test):
            return train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
    return train_test_split(idx, test_size=test_size, random_state=seed)

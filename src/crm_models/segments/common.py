"""Helpers the segment parts share: who counts as a buyer."""

from __future__ import annotations

import pandas as pd


def buyers(view: pd.DataFrame) -> pd.Series:
    """Customers who bought: a last purchase day, or (without that column) a positive order count."""
    if "days_since_last" in view.columns:
        return view["days_since_last"].notna()
    return view["orders"].fillna(0) > 0

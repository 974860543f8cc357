"""Seeded stratified samples: how every fit that must be sampled at scale draws its rows.

Proportional allocation with largest-remainder rounding (each stratum gets ``floor`` or
``ceil`` of its exact share of the cap), rows drawn at random within each stratum, one sort of
the rows (no loop over strata).  A sample of ``n`` out of ``N`` makes a confidence interval
about ``sqrt(N / n)`` times as wide as the same fit on all rows (standard errors scale with
``1 / sqrt(n)``): :func:`interval_widening`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["interval_widening", "stratified_sample"]


def interval_widening(n: int, population: int) -> float:
    """``sqrt(population / n)``: the factor by which a sample of ``n`` widens an interval."""
    return float(np.sqrt(population / n)) if n > 0 else float("nan")


def stratified_sample(
    strata: pd.Series | pd.DataFrame,
    cap: int | None,
    random_state: int = 0,
    min_per_stratum: int = 0,
) -> np.ndarray:
    """Sorted row positions of a seeded sample of ``cap`` rows, stratified by ``strata``.

    ``strata``: one label per row (a Series, or a DataFrame whose columns together form the
    stratum; missing values are a stratum of their own).  Every stratum gets ``floor`` or
    ``ceil`` of ``cap * size / total`` rows (largest remainders first, ties at random), raised
    to ``min_per_stratum`` (or the whole stratum when smaller), so that a rare stratum (a
    campaign's responders in its control group) keeps enough rows to be measured; the sample
    then exceeds ``cap`` by what those floors add.  All positions when there are at most
    ``cap`` rows or ``cap`` is None.
    """
    n = len(strata)
    if cap is None or n <= cap:
        return np.arange(n)
    if cap < 1:
        raise ValueError(f"a sample cap must be a positive number of rows, not {cap}")
    if isinstance(strata, pd.DataFrame):
        codes = strata.groupby(list(strata.columns), sort=True, dropna=False).ngroup().to_numpy()
    else:
        codes = pd.factorize(strata, sort=True, use_na_sentinel=False)[0]
    rng = np.random.default_rng(random_state)
    sizes = np.bincount(codes)
    exact = sizes * (cap / n)
    quota = np.floor(exact).astype(np.int64)
    short = cap - int(quota.sum())
    if short:  # largest remainders get one more row (random tie-break)
        order = np.lexsort((rng.random(len(sizes)), -(exact - quota)))
        quota[order[:short]] += 1
    quota = np.maximum(quota, np.minimum(sizes, min_per_stratum))
    # random order within each stratum: the first `quota` rows of every stratum are kept
    order = np.lexsort((rng.random(n), codes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(n) - starts[codes[order]]
    return np.sort(order[rank < quota[codes[order]]])

"""Seeded stratified samples: the fits that must be sampled at scale, and what the sample costs.

Above a stated number of customers (the ``*_SAMPLE_CAP`` constants below, notebook parameters
of the segments report) a model is fitted on a seeded sample that keeps every stratum's share
of the customers (proportional allocation, largest-remainder rounding: each stratum gets
``floor`` or ``ceil`` of its exact share), and every customer is still assigned or scored.  At or
below the cap nothing is sampled, so small data gives exactly the numbers of a full fit.

A sample of ``n`` out of ``N`` customers makes a confidence interval about ``sqrt(N / n)`` times
as wide as the same fit on everybody (standard errors scale with ``1 / sqrt(n)``);
:func:`interval_widening` gives that factor for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# behavioural segments: above this many buyers the model-selection sample (a few thousand buyers,
# ``BehaviourClustering.sample_size``) is stratified by RFM segment; below, a simple random one
SEGMENT_SAMPLE_CAP = 200_000
# look-alike model: new customers per cohort that train / test it (by outcome and prospect)
LOOKALIKE_SAMPLE_CAP = 50_000
# look-alike permutation importance: held-out customers shuffled (by outcome)
IMPORTANCE_SAMPLE_CAP = 10_000
# purchasing-power regressions: customers (by the levels of the characteristics)
POWER_SAMPLE_CAP = 100_000


@dataclass(frozen=True)
class SampleInfo:
    """What a fit was run on: ``n`` of ``population`` customers (``n == population``: all)."""

    what: str  # the fit, in words ("purchasing power", "look-alike model training")
    n: int
    population: int
    strata: str | None  # what the sample is stratified by (None: a simple random sample)
    intervals: bool = True  # the fit reports intervals, which a sample widens

    @property
    def sampled(self) -> bool:
        return self.n < self.population

    @property
    def widening(self) -> float:
        """How many times wider the intervals are than on all customers."""
        return interval_widening(self.n, self.population)


def interval_widening(n: int, population: int) -> float:
    """``sqrt(population / n)``: the factor by which a sample of ``n`` widens an interval."""
    return float(np.sqrt(population / n)) if n > 0 else float("nan")


def stratified_sample(
    strata: pd.Series | pd.DataFrame, cap: int | None, random_state: int = 0
) -> np.ndarray:
    """Sorted row positions of a seeded sample of exactly ``cap`` rows, stratified by ``strata``.

    ``strata``: one label per row (a Series, or a DataFrame whose columns together form the
    stratum; missing values are a stratum of their own).  Every stratum gets ``floor`` or
    ``ceil`` of ``cap * size / total`` rows (largest remainders first, ties at random), drawn at
    random within the stratum.  All positions when there are at most ``cap`` rows or ``cap`` is
    None.  Vectorised: one sort of the rows.
    """
    n = len(strata)
    if cap is None or n <= cap:
        return np.arange(n)
    if cap < 1:
        raise ValueError(f"a sample cap must be a positive number of customers, not {cap}")
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
    # random order within each stratum: the first `quota` rows of every stratum are kept
    order = np.lexsort((rng.random(n), codes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(n) - starts[codes[order]]
    return np.sort(order[rank < quota[codes[order]]])

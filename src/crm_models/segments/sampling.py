"""The segments report's sample caps, and what a fit was run on (:class:`SampleInfo`).

Above a stated number of customers (the ``*_SAMPLE_CAP`` constants below, notebook parameters
of the segments report) a model is fitted on a seeded stratified sample
(:func:`crm_models.sampling.stratified_sample`) and every customer is still assigned or scored.
At or below the cap nothing is sampled, so small data gives exactly the numbers of a full fit.
A sample of ``n`` out of ``N`` customers makes an interval about ``sqrt(N / n)`` times as wide
(:func:`crm_models.sampling.interval_widening`), which the report states.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_models.sampling import interval_widening, stratified_sample

__all__ = [
    "IMPORTANCE_SAMPLE_CAP",
    "LOOKALIKE_SAMPLE_CAP",
    "POWER_SAMPLE_CAP",
    "SEGMENT_SAMPLE_CAP",
    "SampleInfo",
    "interval_widening",
    "stratified_sample",
]

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

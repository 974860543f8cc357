"""One stratified sampler for every fit sampled at scale (segments, targeting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models.sampling import interval_widening, stratified_sample


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=8),
    cap=st.integers(1, 800),
    floor=st.integers(0, 40),
    seed=st.integers(0, 10),
)
def test_each_stratum_gets_its_share_and_at_least_its_floor(sizes, cap, floor, seed):
    labels = pd.Series(np.repeat(np.arange(len(sizes)), sizes)).sample(frac=1, random_state=seed)
    labels = labels.reset_index(drop=True)
    keep = stratified_sample(labels, cap, random_state=seed, min_per_stratum=floor)
    assert np.all(np.diff(keep) > 0)  # sorted positions, no repeats
    n = sum(sizes)
    if n <= cap:
        assert len(keep) == n
        return
    got = np.bincount(labels.to_numpy()[keep], minlength=len(sizes))
    share = np.asarray(sizes) * cap / n
    floors = np.minimum(sizes, floor)
    assert np.all(got >= np.maximum(np.floor(share), floors))
    assert np.all(got <= np.maximum(np.ceil(share), floors))
    assert len(keep) >= cap
    again = stratified_sample(labels, cap, random_state=seed, min_per_stratum=floor)
    assert np.array_equal(keep, again)  # seeded


def test_interval_widening_is_the_square_root_of_the_sampling_ratio():
    assert interval_widening(25, 100) == 2.0
    assert np.isnan(interval_widening(0, 100))

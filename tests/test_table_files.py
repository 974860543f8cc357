"""CSV files written a column at a time hold exactly pandas' text (`crm_models.table_files`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from crm_models import table_files
from crm_models.table_files import write_csv

TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\n\r;é1.-')), max_size=8)


@pytest.fixture(autouse=True)
def always_fast(monkeypatch):
    """Every frame takes the column-at-a-time route (in use it starts at 100,000 rows)."""
    monkeypatch.setattr(table_files, "FAST_ROWS", 0)
    monkeypatch.setattr(table_files, "_CHUNK", 7)  # several slices even for small frames


def same_bytes(frame: pd.DataFrame, tmp_path, index: bool) -> None:
    frame.to_csv(tmp_path / "pandas.csv", index=index)
    write_csv(frame, tmp_path / "ours.csv", index=index)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


@settings(max_examples=60, deadline=None)
@given(
    data_frames(
        [
            column("id", dtype=np.int64),
            column("score", dtype=float),
            column("flag", dtype=bool),
            column("text", elements=st.none() | TEXT, dtype=object),
        ],
        index=range_indexes(min_size=1, max_size=30),
    ),
    st.booleans(),
)
def test_numbers_flags_and_text_as_pandas_writes_them(tmp_path_factory, frame, index):
    same_bytes(frame, tmp_path_factory.mktemp("csv"), index)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=40))
def test_every_float_as_python_writes_it(tmp_path_factory, values):
    """Arrow's text is kept only where it is Python's (positional, 1e-4 to 1e16)."""
    frame = pd.DataFrame(
        {"x": values, "y": np.float32(np.nan_to_num(values, posinf=1, neginf=-1) % 1e30)}
    )
    same_bytes(frame, tmp_path_factory.mktemp("csv"), False)


def test_nullable_dates_strings_and_indexes(tmp_path):
    n = 40
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "day": pd.Timestamp("2024-02-28") + pd.to_timedelta(rng.integers(0, 9, n), "D"),
            "count": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
            "share": pd.array(rng.choice([0.5, 1e-7, None], n), dtype="Float64"),
            "yes": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "name": pd.Series(rng.choice(["a", "b,c", 'x"y', None], n), dtype="str"),
            "label": pd.Categorical(rng.choice(["a", "b,c", 'x"y', None], n)),
            "tag": pd.Categorical(rng.choice(["x", None], n), categories=["x", "unused"]),
        }
    )
    frame.loc[3, "day"] = pd.NaT
    for index in (False, True):
        same_bytes(frame, tmp_path, index)
        same_bytes(frame.set_index("customer_id"), tmp_path, index)
        same_bytes(frame.set_index(["customer_id", "name"]), tmp_path, index)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "a", None]}),  # one field per row: pandas quotes an empty one
        pd.DataFrame({"at": pd.to_datetime(["2024-01-01 10:30", "2024-01-02 00:00"]), "n": [1, 2]}),
        pd.DataFrame({"at": pd.to_datetime(["2024-01-01"]).tz_localize("UTC"), "n": [1]}),
        pd.DataFrame({"c": pd.Categorical([1.5, 2.0]), "n": [1, 2]}),
        pd.DataFrame({"mixed": [1, "a"], "n": [1, 2]}),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
    ],
)
def test_pandas_writes_what_it_alone_formats(tmp_path, frame):
    """Times of day, time zones, number categories, mixed objects, one-column and two-level
    headers."""
    assert table_files._columns(frame, False) is None
    same_bytes(frame, tmp_path, False)

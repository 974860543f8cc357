"""The report build's load-once snapshot: what a kernel reads back is exactly what was loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_models.data.loading import load_dataset
from crm_models.data.snapshot import (
    SNAPSHOT_ENV,
    SnapshotError,
    read_snapshot,
    snapshot_for,
    write_snapshot,
)
from crm_models.environment import temporary_env


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo", n_customers=600, as_of="2024-10-31")


def test_a_snapshot_reads_back_the_loaded_dataset_exactly(demo, tmp_path):
    assert demo.cleaning_log and demo.as_of is not None  # something to carry over
    back = read_snapshot(write_snapshot(demo, tmp_path / "snap", "demo", "2024-10-31"))
    assert set(back.tables()) == set(demo.tables())
    for name, frame in demo.tables().items():
        pd.testing.assert_frame_equal(back.tables()[name], frame.reset_index(drop=True))
    assert back.fingerprint == demo.fingerprint
    assert (back.name, back.source, back.currency, back.as_of, back.info) == (
        demo.name,
        demo.source,
        demo.currency,
        demo.as_of,
        demo.info,
    )
    assert back.cleaning_log == demo.cleaning_log
    assert [str(w) for w in back.warnings] == [str(w) for w in demo.warnings]


def test_warnings_survive_the_round_trip(tmp_path):
    from crm_models.data.contract import Problem

    ds = load_dataset("cdnow_sample")
    ds.warnings = [Problem("transactions.csv", "amount", "looks odd", 3, ["row 2: -1"])]
    back = read_snapshot(write_snapshot(ds, tmp_path / "snap", "cdnow_sample"))
    assert back.warnings == ds.warnings


def test_a_snapshot_whose_tables_changed_is_refused(demo, tmp_path):
    folder = write_snapshot(demo, tmp_path / "snap", "demo")
    tx = pd.read_feather(folder / "transactions.arrow")
    tx.loc[0, "amount"] += 1.0
    tx.to_feather(folder / "transactions.arrow", compression="uncompressed")
    with pytest.raises(SnapshotError, match="content hash differs"):
        read_snapshot(folder)


def test_a_kernel_uses_the_snapshot_only_for_the_dataset_and_day_it_holds(
    demo, tmp_path, monkeypatch
):
    monkeypatch.delenv(SNAPSHOT_ENV, raising=False)
    folder = write_snapshot(demo, tmp_path / "snap", "/data/shop", "2024-10-31")
    assert snapshot_for("/data/shop", "2024-10-31") is None  # not inside a build
    with temporary_env(**{SNAPSHOT_ENV: str(folder)}):
        assert snapshot_for("/data/shop", "2024-10-31").fingerprint == demo.fingerprint
        assert snapshot_for("/data/other", "2024-10-31") is None
        assert snapshot_for("/data/shop", None) is None
        assert snapshot_for("/data/shop", "2024-09-30") is None
    assert SNAPSHOT_ENV not in __import__("os").environ


def test_start_report_reads_the_builds_snapshot(tmp_path, monkeypatch):
    """Inside a build the notebook's ``start_report`` takes the build's snapshot instead of
    loading again: a snapshot recorded under the name ``cdnow`` but holding the CDNOW sample
    comes back as the sample."""
    from crm_models.reporting import start_report

    monkeypatch.setenv("CRM_MODELS_TRACKING", "off")
    sample = load_dataset("cdnow_sample")
    folder = write_snapshot(sample, tmp_path / "snap", "cdnow")
    monkeypatch.setenv(SNAPSHOT_ENV, str(folder))
    namespace = {
        "In": [f"dataset = 'cdnow'\noutput_dir = {str(tmp_path / 'run')!r}"],
        "dataset": "cdnow",
        "output_dir": str(tmp_path / "run"),
    }
    ds, _, run = start_report("customer_base", namespace)
    assert ds.name == "cdnow_sample" and ds.fingerprint == sample.fingerprint
    run.finish()


def test_inside_a_build_the_customer_view_is_computed_once_and_read_back_equal(
    demo, tmp_path, monkeypatch
):
    from crm_models import features

    calls = []
    real = features._customer_view

    def counted(*args):
        calls.append(args[1:])
        return real(*args)

    monkeypatch.setattr(features, "_customer_view", counted)
    folder = write_snapshot(demo, tmp_path / "snap", "demo")
    fresh = features.customer_view(demo, as_of="2024-09-30")  # outside a build: computed
    with temporary_env(**{SNAPSHOT_ENV: str(folder)}):
        first = features.customer_view(demo, as_of="2024-09-30")
        again = features.customer_view(demo, as_of="2024-09-30")
        weekly_days = features.customer_view(demo, as_of="2024-09-30", time_unit="D")
        other = load_dataset("cdnow_sample")  # not the snapshot's data: never cached
        features.customer_view(other)
        features.customer_view(other)
    assert len(calls) == 5  # fresh, first, the daily view, and the other data twice
    for view in (first, again):
        pd.testing.assert_frame_equal(view, fresh)
        assert view.attrs == fresh.attrs
    assert weekly_days.attrs["time_unit"] == "D"
    assert len(list((folder / "cache").glob("customer_view-*.arrow"))) == 2


def test_inside_a_build_the_value_model_is_chosen_once_for_every_report(
    demo, tmp_path, monkeypatch
):
    """The value, targeting and forecast reports of a build use one choice: the first computes
    it, the others read the same dict back."""
    from crm_models.value import selection

    calls = []
    real = selection.auto_comparison

    def counted(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(selection, "auto_comparison", counted)
    folder = write_snapshot(demo, tmp_path / "snap", "demo")
    with temporary_env(**{SNAPSHOT_ENV: str(folder)}):
        first = selection.value_model_choice(demo)
        again = selection.value_model_choice(demo)
    assert len(calls) == 1
    assert again == first and set(first["comparison"]) == set(selection.CANDIDATES)


def test_inside_a_build_each_revenue_table_is_counted_once(demo, tmp_path, monkeypatch):
    """The customer-base and forecast reports share a period table (same period and as-of
    day): the first counts it, the others read exactly the same table back."""
    from crm_models import revenue

    calls = []
    real = revenue._nlv_table

    def counted(*args):
        calls.append(args[1:3])
        return real(*args)

    monkeypatch.setattr(revenue, "_nlv_table", counted)
    folder = write_snapshot(demo, tmp_path / "snap", "demo")
    fresh = revenue.nlv_table(demo, "M", "2024-09-30")  # outside a build: counted
    with temporary_env(**{SNAPSHOT_ENV: str(folder)}):
        first = revenue.nlv_table(demo, "M", "2024-09-30")
        again = revenue.nlv_table(demo, "M", "2024-09-30", require_sales=True)
        weekly = revenue.nlv_table(demo, "W", "2024-09-30")
    assert len(calls) == 3  # fresh, the first monthly table and the weekly one
    for table in (first, again):
        pd.testing.assert_frame_equal(table, fresh, check_exact=True)
        assert table.index.freq == fresh.index.freq
    assert weekly.index.freqstr.startswith("W")


def test_start_report_opens_the_files_the_build_read_out_of_core(folder, tmp_path, monkeypatch):
    """A build that read a folder out of core leaves a marker, not a snapshot: the kernel opens
    the same files on the engine (nothing loaded) with the build's key and warnings, and the
    customer view is computed once under that key and read back equal."""
    from crm_models import features
    from crm_models.data.contract import Problem
    from crm_models.data.snapshot import out_of_core_marker, write_out_of_core_marker
    from crm_models.engine import Source, default_settings, open_source
    from crm_models.engine.sources import files_fingerprint
    from crm_models.reporting import start_report

    monkeypatch.setenv("CRM_MODELS_TRACKING", "off")
    monkeypatch.setenv("CRM_MODELS_ENGINE", "duckdb")
    key = files_fingerprint(open_source(folder, default_settings()).known_at("2025-03-31"))
    assert key.startswith("files:")
    assert key != files_fingerprint(open_source(folder, default_settings()))  # the day counts
    warning = Problem("campaigns", "campaign_id", "no control group", 12)
    marker = tmp_path / "snap"
    write_out_of_core_marker(marker, str(folder), "2025-03-31", folder.name, key, [warning])
    monkeypatch.setenv(SNAPSHOT_ENV, str(marker))
    assert snapshot_for(str(folder), "2025-03-31") is None  # nothing was loaded
    assert out_of_core_marker(str(folder)) is None  # another day: not the build's
    namespace = {
        "In": [f"dataset = {str(folder)!r}\nas_of = '2025-03-31'"],
        "dataset": str(folder),
        "as_of": "2025-03-31",
    }
    ds, as_of_day, run = start_report("customer_base", namespace)
    assert isinstance(ds, Source) and ds.engine == "duckdb"
    assert (ds.fingerprint, [str(w) for w in ds.warnings]) == (key, [str(warning)])
    assert as_of_day == pd.Timestamp("2025-03-31") and run.fingerprint == key
    assert run.table_rows == ds.table_rows() and run.table_rows["transactions"] > 0
    view = features.customer_view(ds, as_of=as_of_day)
    assert len(list((marker / "cache").glob("customer_view-*.arrow"))) == 1
    pd.testing.assert_frame_equal(features.customer_view(ds, as_of=as_of_day), view)
    run.finish()


def test_a_file_rewritten_changes_the_key_of_out_of_core_data(folder, tmp_path):
    import shutil

    from crm_models.engine import default_settings, open_source
    from crm_models.engine.sources import files_fingerprint

    copy = tmp_path / "shop"
    shutil.copytree(folder, copy)
    before = files_fingerprint(open_source(copy, default_settings("duckdb")))
    assert files_fingerprint(open_source(copy, default_settings("duckdb"))) == before
    part = sorted((copy / "transactions").glob("*.parquet"))[0]
    lines = pd.read_parquet(part)
    lines.iloc[:-1].to_parquet(part)  # one line fewer
    assert files_fingerprint(open_source(copy, default_settings("duckdb"))) != before


def test_a_period_index_comes_back_in_a_fresh_kernel(tmp_path):
    """A kernel that reads a cached table before it ever wrote a period index (the forecast
    reading the customer-base report's monthly table) gets the PeriodIndex back, not the
    integers Arrow stores it as."""
    import subprocess
    import sys

    from crm_models.data.snapshot import cached_frame, write_out_of_core_marker

    write_out_of_core_marker(tmp_path, "shop", None, "shop", "files:k", [])
    months = pd.period_range("2024-01", periods=3, freq="M", name="period")
    script = (
        "import sys, types\n"
        "from crm_models.data.snapshot import cached_frame\n"
        "ds = types.SimpleNamespace(fingerprint='files:k')\n"
        "frame = cached_frame(ds, 'nlv_table', {}, lambda: sys.exit('recomputed'))\n"
        "print(frame.index.dtype)\n"
    )
    with temporary_env(**{SNAPSHOT_ENV: str(tmp_path)}):
        ds = type("Keyed", (), {"fingerprint": "files:k"})()
        cached_frame(ds, "nlv_table", {}, lambda: pd.DataFrame({"revenue": [1.0, 2, 3]}, months))
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
    assert out.stdout.strip() == "period[M]"


def test_the_kernel_that_computes_a_cached_table_goes_on_with_the_mapped_file(tmp_path):
    """The first kernel gets the table back from the memory-mapped file it just wrote, equal
    to what it computed (values, index, attrs), so it holds no private copy: at 10M customers
    the view's 3.4 GB stayed in the computing kernel's own memory next to the file."""
    from crm_models.data.snapshot import cached_frame, write_out_of_core_marker

    if not Path("/proc/self/maps").is_file():
        pytest.skip("needs Linux's /proc/self/maps to see where the columns live")
    write_out_of_core_marker(tmp_path, "shop", None, "shop", "files:k", [])
    computed = pd.DataFrame(
        {"revenue": [1.5, 2.0, None], "region": ["north", None, "south"], "orders": [1, 2, 3]},
        index=pd.Index([7, 8, 9], name="customer_id"),
    )
    computed.attrs.update(as_of="2025-03-31")
    ds = type("Keyed", (), {"fingerprint": "files:k"})()
    with temporary_env(**{SNAPSHOT_ENV: str(tmp_path)}):
        frame = cached_frame(ds, "customer_view", {}, computed.copy)
    pd.testing.assert_frame_equal(frame, computed)
    assert frame.attrs == computed.attrs
    # the orders (no missing value, so not rewritten) point into the file's mapping
    (path,) = (tmp_path / "cache").glob("customer_view-*.arrow")
    address = frame["orders"].to_numpy().__array_interface__["data"][0]
    maps = Path("/proc/self/maps").read_text().splitlines()
    mapped = [m.split()[0].split("-") for m in maps if m.endswith(str(path))]
    assert any(int(lo, 16) <= address < int(hi, 16) for lo, hi in mapped)


def test_a_cached_tables_pages_are_handed_back_and_read_again(tmp_path):
    """drop_mapped_pages takes the pages a report read out of its resident memory (they stay
    in the page cache); the columns read the same afterwards."""
    from crm_models.data.snapshot import cached_frame, drop_mapped_pages, write_out_of_core_marker

    if not Path("/proc/self/status").is_file():
        pytest.skip("needs Linux's /proc/self/status to see the resident file pages")

    def file_pages_mb() -> float:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(s.split()[1]) for s in status if s.startswith("RssFile")) / 1024

    write_out_of_core_marker(tmp_path, "shop", None, "shop", "files:k", [])
    n = 12_000_000  # 96 MB of doubles: well above the noise of other mapped files
    computed = pd.DataFrame({"spend": np.arange(n, dtype=np.float64)})
    ds = type("Keyed", (), {"fingerprint": "files:k"})()
    with temporary_env(**{SNAPSHOT_ENV: str(tmp_path)}):
        frame = cached_frame(ds, "customer_view", {"n": n}, computed.copy)
    total = float(frame["spend"].sum())  # every page read
    touched = file_pages_mb()
    assert drop_mapped_pages() >= n * 8
    assert file_pages_mb() < touched - 80
    assert float(frame["spend"].sum()) == total == n * (n - 1) / 2
    assert file_pages_mb() > touched - 10  # read again: mapped back from the page cache


def test_targeting_features_are_never_the_cached_view_of_every_campaign(folder, tmp_path):
    """Inside a build the customer view (every campaign) is cached first by the customer-base
    report; the targeting features count only campaigns whose response window closed, so
    they must not be read back from that view (they were: the source kept its key)."""
    from crm_models import features
    from crm_models import targeting as tg
    from crm_models.data.snapshot import write_out_of_core_marker
    from crm_models.engine import default_settings, open_source
    from crm_models.engine.sources import files_fingerprint

    src = open_source(folder, default_settings("duckdb"))
    sent = src.table_frame("campaigns")["sent_date"].max().normalize()
    as_of = sent + pd.Timedelta(days=3)  # the last campaign's response window is still open
    src = src.known_at(as_of)
    src.fingerprint = files_fingerprint(src)
    expected = tg.customer_features(src, as_of)  # outside a build: nothing cached
    write_out_of_core_marker(
        tmp_path, str(folder), str(as_of.date()), folder.name, src.fingerprint, []
    )
    with temporary_env(**{SNAPSHOT_ENV: str(tmp_path)}):
        every = features.customer_view(src, as_of=as_of)  # the customer-base report's view
        got = tg.customer_features(src, as_of)
        before = every.copy()
        # the report's way: the shared view with only its campaign columns counted again
        shared = tg.customer_features(src, as_of, view=every)
    assert every["contacts"].sum() > expected["contacts"].sum()  # the open campaign counts
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(shared, expected)
    pd.testing.assert_frame_equal(every, before)  # the view given is left as it was


def test_a_source_cut_to_some_customers_is_never_the_whole_datas_cached_view(folder, tmp_path):
    """``only_customers`` keeps the lines of a few customers (a fitting sample's): inside a
    build its view must not be read back from the whole data's (the cut kept the data's key)."""
    from crm_models import features
    from crm_models.data.snapshot import write_out_of_core_marker
    from crm_models.engine import default_settings, open_source
    from crm_models.engine.sources import files_fingerprint

    src = open_source(folder, default_settings("duckdb"))
    src.fingerprint = files_fingerprint(src)
    write_out_of_core_marker(tmp_path, str(folder), None, folder.name, src.fingerprint, [])
    with temporary_env(**{SNAPSHOT_ENV: str(tmp_path)}):
        every = features.customer_view(src)
        some = every.index[:5]
        cut = src.only_customers(some)
        assert sorted(features.customer_view(cut).index) == sorted(some)
    assert cut.fingerprint == src.only_customers(some[::-1]).fingerprint  # order aside
    assert cut.fingerprint != src.only_customers(every.index[:6]).fingerprint

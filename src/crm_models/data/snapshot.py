"""A loaded dataset written once and read back fast: the report build's load-once snapshot.

Loading validates, conforms and fingerprints every line (27 s and 3.2 GB for 9M lines on a
2-core machine); six report kernels doing it again each cost minutes.  The build loads once,
writes the conformed tables as uncompressed Arrow IPC files with what loading found (cleaning
log, warnings, currency, as-of day), and every kernel reads that back (about 0.4 s per
million lines).  The content hash is checked on the way back in, so a snapshot that does not
hold exactly the tables that were loaded is refused rather than analysed.

Data read out of core (``--engine duckdb|spark``, or ``auto`` on large files) is neither loaded
nor copied: the build checks its contract in the engine and leaves a marker
(:func:`write_out_of_core_marker`); each kernel opens the same files on the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from crm_models.data.contract import Problem
from crm_models.data.dataset import CleaningNote, Dataset, fingerprint_tables

__all__ = [
    "SNAPSHOT_ENV",
    "SnapshotError",
    "cached_frame",
    "drop_mapped_pages",
    "read_snapshot",
    "out_of_core_marker",
    "snapshot_for",
    "write_out_of_core_marker",
    "write_snapshot",
]

SNAPSHOT_ENV = "CRM_MODELS_SNAPSHOT"  # the folder of the snapshot a build's kernels read
_META = "dataset.json"


class SnapshotError(RuntimeError):
    """A snapshot that cannot be trusted (its tables do not hash to the recorded fingerprint)."""


def write_snapshot(ds: Dataset, folder: Path, spec: str, as_of: Any = None) -> Path:
    """Write ``ds`` (loaded from ``spec`` as of ``as_of``) into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = ds.tables()
    for name, frame in tables.items():
        frame.reset_index(drop=True).to_feather(
            folder / f"{name}.arrow", compression="uncompressed"
        )
    meta = {
        "spec": spec,
        "as_of": None if as_of is None else str(as_of),
        "name": ds.name,
        "tables": sorted(tables),
        "source": ds.source,
        "cleaning_log": [asdict(note) for note in ds.cleaning_log],
        "info": ds.info,
        "currency": ds.currency,
        "fingerprint": ds.fingerprint,
        "dataset_as_of": None if ds.as_of is None else ds.as_of.isoformat(),
        "warnings": [w.to_dict() for w in ds.warnings],
    }
    (folder / _META).write_text(json.dumps(meta, indent=1))
    return folder


def write_out_of_core_marker(
    folder: Path, spec: str, as_of: Any, name: str, fingerprint: str, warnings: list[Problem]
) -> Path:
    """Tell the kernels that the build opened ``spec`` out of core (nothing is loaded or
    copied: each kernel opens the same files on the engine) after checking its contract:
    its name, key (:func:`crm_models.engine.sources.files_fingerprint`, under which
    :func:`cached_frame` shares results) and warnings."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "spec": spec,
        "as_of": None if as_of is None else str(as_of),
        "name": name,
        "out_of_core": True,
        "fingerprint": fingerprint,
        "warnings": [w.to_dict() for w in warnings],
    }
    (folder / _META).write_text(json.dumps(meta, indent=1))
    return folder


def _build_meta(spec: str, as_of: Any) -> dict[str, Any] | None:
    """What the build running this process wrote about ``spec`` as of ``as_of``, or None."""
    where = os.environ.get(SNAPSHOT_ENV)
    if not where or not (Path(where) / _META).is_file():
        return None
    meta = json.loads((Path(where) / _META).read_text())
    wanted = None if as_of is None else str(as_of)
    return meta if meta["spec"] == str(spec) and meta["as_of"] == wanted else None


def out_of_core_marker(spec: str, as_of: Any = None) -> dict[str, Any] | None:
    """The build's marker for ``spec`` as of ``as_of`` when it opened it out of core
    (:func:`write_out_of_core_marker`; its ``warnings`` as :class:`Problem`), else None."""
    meta = _build_meta(spec, as_of)
    if meta is None or not meta.get("out_of_core"):
        return None
    return {**meta, "warnings": [Problem(**w) for w in meta["warnings"]]}


def read_snapshot(folder: Path) -> Dataset:
    """The dataset in ``folder``, exactly as it was written (:class:`SnapshotError` if not)."""
    meta = json.loads((folder / _META).read_text())
    tables = {name: pd.read_feather(folder / f"{name}.arrow") for name in meta["tables"]}
    if fingerprint_tables(tables) != meta["fingerprint"]:
        raise SnapshotError(
            f"the build's snapshot of {meta['name']!r} in {folder} does not hold the data that "
            "was loaded (its content hash differs); rebuild the reports"
        )
    return Dataset(
        meta["name"],
        **tables,
        source=meta["source"],
        cleaning_log=[CleaningNote(**note) for note in meta["cleaning_log"]],
        info=meta["info"],
        currency=meta["currency"],
        fingerprint=meta["fingerprint"],
        as_of=None if meta["dataset_as_of"] is None else pd.Timestamp(meta["dataset_as_of"]),
        warnings=[Problem(**w) for w in meta["warnings"]],
    )


def snapshot_for(spec: str, as_of: Any = None) -> Dataset | None:
    """The build's snapshot of ``spec`` as of ``as_of`` when this process runs inside a build
    that wrote one (:data:`SNAPSHOT_ENV`), else None (the caller opens the dataset itself)."""
    meta = _build_meta(spec, as_of)
    if meta is None or meta.get("out_of_core"):
        return None
    return read_snapshot(Path(os.environ[SNAPSHOT_ENV]))


def cached_frame(
    ds: Any, what: str, key: dict[str, Any], compute: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """``compute()`` once per report build: inside a build whose snapshot (or out-of-core
    marker) holds exactly ``ds`` (a Dataset or engine Source with the same fingerprint), the
    first kernel that computes ``what`` for ``key`` stores it beside the snapshot and every
    kernel, that one included, reads it back memory-mapped (the customer view of 1M customers:
    0.5 s instead of 15-30 s).  Outside a build, or for other data, simply ``compute()``."""
    where = os.environ.get(SNAPSHOT_ENV)
    meta_file = Path(where) / _META if where else None
    if meta_file is None or not meta_file.is_file():
        return compute()
    if json.loads(meta_file.read_text())["fingerprint"] != ds.fingerprint:
        return compute()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()
    path = Path(where) / "cache" / f"{what}-{digest[:20]}.arrow"
    if path.is_file():
        return _read_cached(path)
    frame = compute()
    table = pa.Table.from_pandas(frame, preserve_index=True)
    attrs = {b"crm_models_attrs": json.dumps(frame.attrs, default=str).encode()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **attrs})
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    partial.replace(path)
    # the kernel that computed the table goes on with it read back like the others: its
    # columns then live on the memory-mapped file (only the pages a report touches are
    # resident) instead of in the kernel's own memory (10M customers: 3.4 GB)
    del frame, table
    return _read_cached(path)


# The maps of the cached tables this process read, kept for its life: their pages can then be
# dropped (drop_mapped_pages) with no risk of touching memory a closed map left to others.
_MAPS: list[pa.Buffer] = []
_MADV_DONTNEED = 4  # Linux and macOS


def drop_mapped_pages() -> int:
    """Drop the cached tables' pages from this process's resident memory; returns the bytes
    of maps advised.  The pages stay in the system's page cache (shared by the build's
    kernels, the first memory freed when it runs short), and the next read of a column maps
    them back without reading the disk.  Without this, every page a report had read stayed
    counted in its kernel: 3.1 GB of the customer view of 10M customers, from the first cells
    to the end.  Nothing where the C library has no ``madvise``."""
    import ctypes

    try:
        madvise = ctypes.CDLL(None).madvise
    except (AttributeError, OSError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for whole in _MAPS:
        madvise(whole.address, whole.size, _MADV_DONTNEED)
    return sum(whole.size for whole in _MAPS)


def _read_cached(path: Path) -> pd.DataFrame:
    """A cached table read back without a copy: the columns stay on the memory-mapped file
    (the page cache, shared by every kernel) instead of in each kernel's own memory; a read
    into memory held the customer view of 10M customers twice (3.2 GB as Arrow, kept by its
    memory pool, and 3.2 GB as pandas) and took the build past 8 GB."""
    # pandas registers its Arrow types (periods) on its first conversion of one: a kernel
    # that never wrote a period index would otherwise read one back as plain integers
    pa.array(pd.array([], dtype="period[D]"))
    with pa.memory_map(str(path)) as source:
        whole = source.read_buffer()  # the whole file, mapped: the columns are slices of it
    _MAPS.append(whole)
    table = pa.ipc.open_file(whole).read_all()
    attrs = json.loads(table.schema.metadata[b"crm_models_attrs"])
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    frame.attrs.update(attrs)
    return frame

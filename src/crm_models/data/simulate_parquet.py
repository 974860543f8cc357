"""The simulated retailer at scale: written chunk by chunk as partitioned Parquet.

:func:`simulate_retailer` holds a whole shop in memory (about 4 GB per million customers while
it runs), so 10 million customers are simulated in chunks of customers and each chunk is written
out before the next is drawn: peak memory depends on the chunk size, not on the total.

The chunks are one coherent retailer: customer and order ids are numbered after those of earlier
chunks (:class:`~crm_models.data.simulate.IdOffset`), every chunk sells the same catalogue (drawn
from its own seed) and follows the same campaign plan, and chunk seeds are spawned from the one
``seed`` with :class:`numpy.random.SeedSequence`, so the same arguments write identical files.
Customer ids follow sign-up order within a chunk, not across chunks.

Layout of the output folder (a table split into parts is a folder of ``part-NNNNN.parquet``
files with one schema, which pandas, DuckDB and Spark read as one table)::

    manifest.json                   customers, lines, chunks, seeds, simulator version
    products.parquet                the one catalogue
    transactions/part-00000.parquet ...
    customers/part-00000.parquet ...
    campaigns/part-00000.parquet ...
    truth/customers/part-*.parquet, truth/uplift/part-*.parquet   per-customer truth
    truth/{affinities,seasonality,campaigns,returns,attribute_effects}.parquet, truth/params.json

Timestamps are stored with microsecond precision (Spark 4 cannot read nanoseconds).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crm_models import __version__
from crm_models.data.simulate import (
    SIMULATED_MAPPING,
    IdOffset,
    SimulatedRetailer,
    simulate_retailer,
    simulator_version,
)
from crm_models.progress import track

__all__ = ["CHUNK_CUSTOMERS", "MANIFEST", "chunk_seeds", "write_partitioned"]

CHUNK_CUSTOMERS = 250_000  # about 1 GB peak per chunk while simulating
MANIFEST = "manifest.json"
GENERATOR = "crm-models simulate"
PARTITIONED = ("transactions", "customers", "campaigns")
PARTITIONED_TRUTH = ("customers", "uplift")


def chunk_seeds(seed: int, n_chunks: int) -> tuple[int, list[int]]:
    """The catalogue seed and one seed per chunk, spawned from ``seed``.

    Spawned children depend only on their position, so chunk *k* gets the same seed whatever
    the number of chunks.  Seeds are 63-bit, so they fit a signed 64-bit integer anywhere.
    """
    children = np.random.SeedSequence(seed).spawn(n_chunks + 1)
    ints = [int(c.generate_state(1, np.uint64)[0]) >> 1 for c in children]
    return ints[0], ints[1:]


def _next_offset(off: IdOffset, sim: SimulatedRetailer) -> IdOffset:
    """The ids taken once this chunk is written.

    A chunk numbers its orders offset + 1 .. offset + count per prefix (all of them appear in
    its log), so the highest id of a prefix is the next offset; cheaper than counting.
    """
    oid = pa.array(sim.transactions["order_id"])
    top = [pc.max(pc.filter(oid, pc.starts_with(oid, p))).as_py() for p in "KOR"]
    return IdOffset(
        customers=off.customers + len(sim.customers),
        orders=tuple(int(t[1:]) if t else o for t, o in zip(top, off.orders, strict=True)),
    )


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not an earlier output of this writer."""
    if out.exists() and any(out.iterdir()):
        try:
            ours = json.loads((out / MANIFEST).read_text()).get("generator") == GENERATOR
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise FileExistsError(
                f"{out} is not empty and is not an earlier `crm-models simulate` output; "
                "choose an empty or new folder"
            )


def write_partitioned(
    out: str | os.PathLike,
    n_customers: int,
    *,
    seed: int = 42,
    chunk_customers: int = CHUNK_CUSTOMERS,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Simulate ``n_customers`` in chunks into ``out`` (layout above); return the manifest.

    ``start``/``end`` default to those of :func:`simulate_retailer`.
    The folder is built beside ``out`` and moved into place at the end, so ``out`` never holds
    a half-written retailer; an earlier output of this writer in ``out`` is replaced.
    """
    n, size = int(n_customers), int(chunk_customers)
    if n < 1 or size < 1:
        raise ValueError("--customers and --chunk-customers must be at least 1")
    out = Path(out).resolve()
    _check_target(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    period = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    try:
        manifest = _write(tmp, n, size, int(seed), period)
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # left only if something failed
    return manifest


def _write(tmp: Path, n: int, size: int, seed: int, period: dict[str, str]) -> dict[str, Any]:
    """Write every chunk, the shared tables and the manifest into ``tmp``; return the manifest."""

    n_chunks = math.ceil(n / size)
    catalogue_seed, seeds = chunk_seeds(seed, n_chunks)
    for sub in (*PARTITIONED, *(f"truth/{t}" for t in PARTITIONED_TRUTH)):
        (tmp / sub).mkdir(parents=True)
    off, lines, rows = IdOffset(), 0, dict.fromkeys(PARTITIONED, 0)
    chunks, params = [], {}
    desc = f"simulating {n:,} customers in {n_chunks} chunk(s)"
    for k in track(range(n_chunks), desc=desc, total=n_chunks):
        m = min(size, n - k * size)
        sim = simulate_retailer(
            m, seed=seeds[k], id_offset=off, catalogue_seed=catalogue_seed, **period
        )
        part = f"part-{k:05d}.parquet"
        for table in PARTITIONED:
            getattr(sim, table).to_parquet(tmp / table / part, index=False)
            rows[table] += len(getattr(sim, table))
        for table in PARTITIONED_TRUTH:
            sim.truth[table].to_parquet(tmp / "truth" / table / part)
        if k == 0:  # the same in every chunk: written once
            sim.products.to_parquet(tmp / "products.parquet", index=False)
            for table, frame in sim.truth.items():
                if table not in PARTITIONED_TRUTH:
                    frame.to_parquet(tmp / "truth" / f"{table}.parquet")
            params = sim.params
        chunks.append(
            {
                "part": part,
                "customers": m,
                "lines": len(sim.transactions),
                "seed": seeds[k],
                "first_customer_id": off.customers + 1,
                "order_offsets": dict(zip("KOR", off.orders, strict=True)),
            }
        )
        lines += len(sim.transactions)
        off = _next_offset(off, sim)
        del sim  # free this chunk before drawing the next

    manifest = {
        "generator": GENERATOR,
        "customers": n,
        "lines": lines,
        "orders": dict(zip("KOR", off.orders, strict=True)),
        "campaign_rows": rows["campaigns"],
        "chunks": len(chunks),
        "chunk_customers": size,
        "seed": seed,
        "catalogue_seed": catalogue_seed,
        "start": params["start"],
        "end": params["end"],
        "simulator_version": simulator_version(),
        "crm_models_version": __version__,
        "parts": chunks,
    }
    params = {**params, "n_customers": n, "seed": seed, "chunking": manifest}
    (tmp / "truth" / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (tmp / "mapping.json").write_text(SIMULATED_MAPPING)
    return manifest

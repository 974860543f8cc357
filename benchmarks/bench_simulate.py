"""Benchmark ``crm-models simulate``: time, peak memory and disk size of the chunked writer.

    .venv/bin/python benchmarks/bench_simulate.py                      # 1M customers
    .venv/bin/python benchmarks/bench_simulate.py --sizes 1000000 10000000
    .venv/bin/python benchmarks/bench_simulate.py --sizes 10000000 --out /tmp/crm_sim_10m

Each size runs in its own process under a memory cap (so a runaway chunk cannot take the
machine down), and its peak resident memory is measured: it should depend on the chunk size,
not on the number of customers.  Output goes to a temporary folder that is deleted afterwards
unless ``--out`` is given (``{n}`` in it is replaced by the size when several sizes run).
Target (issue 9): 10M customers (about 90M lines) with peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import cap_memory, peak_gb

MEMORY_CAP_GB = 6  # address space, which runs well above resident memory with Arrow and numpy


def child(n: int, out: Path, chunk: int, seed: int) -> None:
    """Write one simulated retailer in this (capped) process and print JSON figures."""
    cap_memory(MEMORY_CAP_GB)
    from crm_models.data.simulate_parquet import write_partitioned

    t0 = time.perf_counter()
    manifest = write_partitioned(out, n, seed=seed, chunk_customers=chunk)
    seconds = time.perf_counter() - t0
    peak = peak_gb()
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    tx = sum(p.stat().st_size for p in (out / "transactions").iterdir())
    print(
        json.dumps(
            {
                "customers": n,
                "lines": manifest["lines"],
                "campaign_rows": manifest["campaign_rows"],
                "chunks": manifest["chunks"],
                "seconds": round(seconds, 1),
                "peak_gb": round(peak, 2),
                "disk_gb": round(disk / 1e9, 2),
                "transactions_gb": round(tx / 1e9, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="customers")
    parser.add_argument("--chunk-customers", type=int, default=None, help="default: writer's")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="keep the output here ({n} = size); default: deleted")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, out, chunk, seed = args.child
        return child(int(n), Path(out), int(chunk), int(seed))
    if args.out and len(args.sizes) > 1 and "{n}" not in args.out:
        parser.error("--out needs {n} in it when several sizes run")
    from crm_models.data.simulate_parquet import CHUNK_CUSTOMERS

    chunk = args.chunk_customers or CHUNK_CUSTOMERS
    scratch = Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    env = {**os.environ, "CRM_MODELS_QUIET": os.environ.get("CRM_MODELS_QUIET", "1")}
    try:
        for n in args.sizes:
            out = Path(args.out.format(n=n)) if args.out else scratch / f"sim_{n}"
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(n),
                str(out),
                str(chunk),
                str(args.seed),
            ]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
            if proc.returncode:
                print(f"{n:>12,} customers: failed (exit {proc.returncode})")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"{n:>12,} customers  {r['lines']:>13,} lines  {r['chunks']:>3} chunks  "
                f"{r['seconds']:7.1f} s  ({r['lines'] / r['seconds'] / 1e6:.2f}M lines/s)  "
                f"peak {r['peak_gb']:.2f} GB  disk {r['disk_gb']:.2f} GB "
                f"(transactions {r['transactions_gb']:.2f} GB)"
                + (f"  -> {out}" if args.out else "")
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

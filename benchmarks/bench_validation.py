"""Benchmark loading with every contract check against a plain script (on demand, prints figures).

    .venv/bin/python benchmarks/bench_validation.py                    # 0.5M, 1M and 5M lines
    .venv/bin/python benchmarks/bench_validation.py --sizes 5M --steps compare breakdown
    .venv/bin/python benchmarks/bench_validation.py --sizes 1M 5M 10M --steps engines

Each size is a folder written by ``crm-models simulate`` (about 9 lines per customer), made on
first use under ``benchmarks/results/`` (``--data 5M=/tmp/sim`` names one instead).  Steps:
  compare    side by side, each a fresh capped process, best of ``--repeat``:
             (a) ``crm-models view DIR --engine pandas --out view.parquet`` (load, every check,
                 fingerprint, customer view, write);
             (b) a plain script: ``pd.read_parquet`` of the transactions and lifetimes'
                 ``summary_data_from_transaction_data`` (no checks);
             and the ratio a/b (target, issue 14: at most 1.0 at 5M lines).
  breakdown  the same load and view in one capped process, timed step by step (read per table,
             each column's conform, the missing-value checks, personal-data scan, duplicate
             lines, keys and references, fingerprint, customer view, writing it), so the next
             person sees where the time goes; wall and CPU seconds (CPU above wall: threads),
             each the best of ``--repeat`` processes.
  engines    where ``auto`` should switch: the customer view of a dataset already in memory
             with the pandas path vs DuckDB (``customer_view(ds, engine=...)``), and of the
             folder as a whole command with ``--engine pandas`` vs ``--engine duckdb`` (out of
             core), with the size of the transaction files (``AUTO_FILE_BYTES``).
Every measurement runs in its own process under an address-space cap (``--cap-gb``; DuckDB
reserves far more address space than it uses, so its cap is ``DUCKDB_AS_FACTOR`` times more)
and prints its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _harness import cap_memory, peak_gb

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LINES_PER_CUSTOMER = 9.05  # the simulator's lines per customer (5.07M lines from 560,000)
DUCKDB_AS_FACTOR = 2.0
STEPS = ("compare", "breakdown", "engines")


def _lines(size: str) -> int:
    """'0.5M' -> 500,000 lines."""
    return int(float(size.upper().removesuffix("M")) * 1_000_000)


def dataset_folder(size: str, named: dict[str, str]) -> Path:
    """The simulated folder of ``size`` lines, written with ``crm-models simulate`` if absent."""
    if size in named:
        return Path(named[size])
    customers = round(_lines(size) / LINES_PER_CUSTOMER)
    folder = RESULTS / f"validation_{customers}"
    if not (folder / "manifest.json").exists():
        t0 = time.perf_counter()
        subprocess.run(
            [_cli(), "simulate", "--customers", str(customers), "--out", str(folder), "--json"],
            check=True,
            capture_output=True,
        )
        print(
            f"simulated {customers:,} customers into {folder} in {time.perf_counter() - t0:.1f} s"
        )
    return folder


def _cli() -> str:
    return str(Path(sys.executable).with_name("crm-models"))


def transaction_bytes(folder: Path) -> int:
    tx = folder / "transactions"
    files = list(tx.glob("*.parquet")) if tx.is_dir() else list(folder.glob("transactions.*"))
    return sum(p.stat().st_size for p in files)


# --------------------------------------------------------------------------- processes
def run_capped(cmd: list[str], cap_gb: float) -> dict[str, Any]:
    """Run ``cmd`` under an address-space cap: wall seconds, its peak resident GB, its stdout."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, preexec_fn=lambda: cap_memory(_within(cap_gb))
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.read().decode()[-2000:]}")
    return {"seconds": seconds, "peak_gb": usage.ru_maxrss / 1024**2, "stdout": out.decode()}


def _within(gb: float) -> float:
    """``gb``, or less when this shell already caps address space lower (``ulimit -v``)."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    return gb if hard == resource.RLIM_INFINITY else min(gb, hard / 1024**3)


def best(cmd: list[str], cap_gb: float, repeat: int) -> dict[str, Any]:
    runs = [run_capped(cmd, cap_gb) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r["seconds"])
    return {**fastest, "all_s": [round(r["seconds"], 2) for r in runs]}


def plain(folder: Path) -> None:
    """The yardstick: read the transactions and compute lifetimes' summary, nothing checked."""
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    df = pd.read_parquet(folder / "transactions")
    end = df["order_date"].max().normalize()
    summary = summary_data_from_transaction_data(
        df, "customer_id", "order_date", monetary_value_col="amount", observation_period_end=end
    )
    print(json.dumps({"customers": len(summary)}))


# --------------------------------------------------------------------------- breakdown
class Steps:
    """Wall and CPU seconds per step, by wrapping the functions that do the work (a wrapped
    call inside another is counted once, in its own step)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.stack: list[list[float]] = []

    def wrap(self, owner: Any, name: str, label: Any) -> None:
        """Time ``owner.name`` (if it exists) under ``label`` (a string, or a function of the
        call's arguments)."""
        inner = getattr(owner, name, None)
        if inner is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([time.perf_counter(), time.process_time(), 0.0, 0.0])
            try:
                return inner(*args, **kwargs)
            finally:
                wall0, cpu0, nested_wall, nested_cpu = self.stack.pop()
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                row = self.seconds[label(*args) if callable(label) else label]
                row[0] += wall - nested_wall
                row[1] += cpu - nested_cpu
                if self.stack:
                    self.stack[-1][2] += wall
                    self.stack[-1][3] += cpu

        setattr(owner, name, timed)


def breakdown(folder: Path, out: Path) -> None:
    """Import, load, check, build the view and write it once, step by step (prints JSON)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    import crm_models.cli  # noqa: F401  (what the command imports before it starts)

    imports = [time.perf_counter() - wall0, time.process_time() - cpu0]
    import pandas as pd

    from crm_models import features
    from crm_models.data import contract, dataset, loading

    steps = Steps()
    conformer = contract._Conformer
    for kind in ("id", "date", "number", "bool", "text"):
        steps.wrap(
            conformer,
            f"conform_{kind}",
            lambda self, table, raw, col, k=kind: f"conform {table}.{col} ({k})",
        )
    for name, label in (
        (
            "conform_table",
            lambda self, table, raw: f"missing values, rest of conform_table: {table}",
        ),
        ("drop_personal", lambda self, table, *a: f"personal-data scan: {table}"),
        ("check_duplicates", lambda self, table, *a: f"duplicate lines: {table}"),
        ("check_keys", "keys: order owners, duplicate keys, the rest of check_keys"),
        ("check_dates_and_money", "dates after today, amounts too large"),
        ("check_references", "references between tables"),
        ("point_in_time", "point in time (as-of)"),
    ):
        steps.wrap(conformer, name, label)
    steps.wrap(loading, "read_table", lambda path, spec, table: f"read {table}")
    steps.wrap(loading, "dataset_warnings", "quality warnings")
    steps.wrap(loading, "load_dataset", "load: the rest (mapping, conform glue, Dataset)")
    steps.wrap(dataset, "fingerprint_tables", "fingerprint")
    steps.wrap(features, "customer_view", "customer view: joins, stages, the rest")
    # the order codes and favourite labels are counted in threads beside these: not timed apart
    steps.wrap(features, "_transaction_sums", "customer view: order codes, labels, sums")
    steps.wrap(features, "_btyd_sums", "customer view: BTYD sums")
    steps.wrap(features, "transaction_features", "customer view: transaction features")
    steps.wrap(pd.DataFrame, "to_parquet", "write view.parquet")
    ds = loading.load_dataset(folder)
    view = features.customer_view(ds, engine="pandas")
    view.to_parquet(out)
    rows = {"import crm_models.cli": imports, **steps.seconds}
    lines = len(ds.transactions)
    print(
        json.dumps(
            {
                "lines": lines,
                "total_s": round(time.perf_counter() - wall0, 2),
                "total_cpu_s": round(time.process_time() - cpu0, 2),
                "steps": {k: [round(v, 3) for v in r] for k, r in rows.items()},
                "peak_gb": round(peak_gb(), 2),
            }
        )
    )


# --------------------------------------------------------------------------- engines
def in_memory(folder: Path, engine: str, repeat: int) -> None:
    """``customer_view`` of an already loaded dataset on one engine (DuckDB: memtables)."""
    from crm_models.data.loading import load_dataset
    from crm_models.features import customer_view

    ds = load_dataset(folder)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        view = customer_view(ds, engine=engine)
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "first_s": round(times[0], 2),  # DuckDB: with its start and set-up
                "seconds": round(min(times), 2),
                "all_s": [round(t, 2) for t in times],
                "customers": len(view),
                "lines": len(ds.transactions),
                "peak_gb": round(peak_gb(), 2),
            }
        )
    )


def child_cmd(*args: str, repeat: int = 1) -> list[str]:
    """This script as a child process (the parent caps its memory)."""
    return [sys.executable, __file__, "--repeat", str(repeat), "--child", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["0.5M", "1M", "5M"], help="lines, e.g. 5M")
    parser.add_argument("--steps", nargs="+", default=["compare", "breakdown"], choices=STEPS)
    parser.add_argument("--data", nargs="*", default=[], metavar="SIZE=DIR")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cap-gb", type=float, default=8.0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, *rest = args.child
        if kind == "plain":
            return plain(Path(folder))
        if kind == "breakdown":
            return breakdown(Path(folder), Path(rest[0]))
        return in_memory(Path(folder), rest[0], args.repeat)
    named = dict(pair.split("=", 1) for pair in args.data)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "validation_view.parquet"
    for size in args.sizes:
        folder = dataset_folder(size, named)
        tx_mb = transaction_bytes(folder) / 2**20
        print(f"\n== {size} lines: {folder} (transaction files {tx_mb:.0f} MiB)")
        view_cmd = [_cli(), "view", str(folder), "--out", str(out), "--json"]
        if "compare" in args.steps:
            a = best([*view_cmd, "--engine", "pandas"], args.cap_gb, args.repeat)
            b = best(child_cmd("plain", str(folder)), args.cap_gb, args.repeat)
            for label, r in (("(a) crm-models view --engine pandas", a), ("(b) plain script", b)):
                print(f"{label:40s} {r['seconds']:7.2f} s  runs {r['all_s']}")
            print(
                f"ratio a/b {a['seconds'] / b['seconds']:.2f}   peak (a) {a['peak_gb']:.2f} GB, (b) {b['peak_gb']:.2f} GB"
            )
        if "breakdown" in args.steps:
            cmd = child_cmd("breakdown", str(folder), str(out))
            runs = [json.loads(run_capped(cmd, args.cap_gb)["stdout"]) for _ in range(args.repeat)]
            r = min(runs, key=lambda r: r["total_cpu_s"])
            steps = {
                k: [min(run["steps"][k][i] for run in runs) for i in (0, 1)] for k in r["steps"]
            }
            print(
                f"in one process, {r['lines']:,} lines: {r['total_s']:.2f} s "
                f"({r['total_cpu_s']:.2f} s CPU), peak {r['peak_gb']:.2f} GB; "
                f"each step the best of {len(runs)} runs:\n     wall      CPU"
            )
            for step, (wall, cpu) in sorted(steps.items(), key=lambda kv: -kv[1][0]):
                if wall >= 0.01:
                    print(f"  {wall:7.3f}  {cpu:7.3f}  {step}")
        if "engines" in args.steps:
            for engine in ("pandas", "duckdb"):
                cap = args.cap_gb * (DUCKDB_AS_FACTOR if engine == "duckdb" else 1)
                cmd = child_cmd("memory", str(folder), engine, repeat=args.repeat)
                mem = json.loads(run_capped(cmd, cap)["stdout"])
                whole = best([*view_cmd, "--engine", engine], cap, args.repeat)
                print(
                    f"{engine:7s} in memory: view {mem['first_s']:6.2f} s first, "
                    f"{mem['seconds']:6.2f} s best (peak {mem['peak_gb']:.2f} GB)   "
                    f"folder: whole command {whole['seconds']:6.2f} s "
                    f"(runs {whole['all_s']}, peak {whole['peak_gb']:.2f} GB)"
                )


if __name__ == "__main__":
    main()

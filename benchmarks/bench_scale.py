"""Benchmark the customer view at scale: DuckDB out of core, pandas, Spark and the whole pipeline.

    .venv/bin/crm-models simulate --customers 1100000 --out /tmp/crm_sim_1m1   # ~10M lines
    .venv/bin/crm-models simulate --customers 11000000 --out /tmp/crm_sim_11m  # ~100M lines
    .venv/bin/python benchmarks/bench_scale.py                        # 10M: duckdb + pandas
    .venv/bin/python benchmarks/bench_scale.py --sizes 100M --steps duckdb profile --memory-limit 4GB
    .venv/bin/python benchmarks/bench_scale.py --sizes 10M --steps duckdb spark reports

Sizes name simulated folders (``--data 10M=/tmp/crm_sim_1m1``; 100M defaults to
/tmp/crm_sim_11m, else /tmp/crm_sim_10m).  Each measurement runs in its own process session;
the memory cap (``--cap-gb``, 8 GB for DuckDB) is enforced on *resident* memory by a watchdog
that samples the process tree and kills it past the cap (Spark's JVM and notebook kernels are
children), plus DuckDB's ``--memory-limit``.  RLIMIT_AS (address space, per process) is only a
runaway guard at ``AS_FACTOR`` x the cap: DuckDB reserves far more address space than it uses
and fails with "bad allocation" under an 8 GB RLIMIT_AS while its RSS is near 4 GB.  Steps:
  duckdb   ``customer_view`` on ``open_folder(..., "duckdb")`` (DuckDB ``--memory-limit``);
  pandas   ``load_dataset`` + ``customer_view(engine="pandas")``: load + view, and view alone;
  spark    ``customer_view`` on ``open_folder(..., "spark")`` (local[2]), session start apart;
  profile  the DuckDB view once, timed by phase: DuckDB query to Arrow, Arrow to pandas and
           ibis' conversion per query, ``aggregates.customers.customer_frame`` post-processing,
           the pandas ``transaction_features`` and ``customer_view`` joins (cProfile top on stderr);
  reports  ``crm-models reports build --engine duckdb`` as a subprocess (progress lines are
           time-stamped into ``--log``).
One JSON line per measurement on stdout: seconds (best of ``--repeat``), peak resident memory
of the process (``peak_gb``, ru_maxrss) and of its process tree (``tree_peak_gb``, sampled),
the 1-minute load average before/after (other jobs make timings noisy).
Targets (issue 9): 100M lines -> view under 3 minutes within an 8 GB cap; 10M no slower than
the pandas path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _harness import peak_gb, run_child

CAP_GB = {"duckdb": 8.0, "pandas": 14.0, "spark": 12.0, "profile": 12.0, "reports": 12.0}
AS_FACTOR = 2.0  # RLIMIT_AS = AS_FACTOR x the resident cap (a guard against runaways only)
STEPS = ("duckdb", "pandas", "spark", "profile", "reports")
DEFAULT_DATA = {"10M": "/tmp/crm_sim_1m1", "100M": "/tmp/crm_sim_11m|/tmp/crm_sim_10m"}


def _peak_gb() -> float:
    return round(peak_gb(), 2)


def _rss_gb() -> float:
    """Current resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024**2, 2)
    return float("nan")


def _view_stats(view: Any) -> dict[str, Any]:
    """Shape and a few totals, to see that the engines computed the same view."""
    return {
        "rows_out": len(view),
        "columns_out": view.shape[1],
        "revenue": round(float(view["revenue"].sum()), 2),
        "frequency": int(view["frequency"].sum()),
        "orders": int(view["orders"].sum()),
    }


# --------------------------------------------------------------------------- children
def measure_engine(engine: str, folder: Path, memory_limit: str, repeat: int) -> dict:
    """``customer_view`` through DuckDB or Spark on the files (opened once, timed apart)."""
    from crm_models.engine import EngineSettings, open_folder
    from crm_models.features import customer_view

    settings = EngineSettings(engine, memory_limit=memory_limit if engine == "duckdb" else None)
    t0 = time.perf_counter()
    src = open_folder(folder, settings, engine)
    open_s = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        view = None  # free the previous view before the next run
        t0 = time.perf_counter()
        view = customer_view(src)
        times.append(time.perf_counter() - t0)
    return {
        "open_s": round(open_s, 2),
        "seconds": round(min(times), 2),
        "all_s": [round(t, 2) for t in times],
        **_view_stats(view),
    }


def measure_pandas(folder: Path, repeat: int) -> dict:
    """Load into memory, then the NumPy/pandas view (timed alone and with the load)."""
    from crm_models.data.loading import load_dataset
    from crm_models.features import customer_view

    t0 = time.perf_counter()
    ds = load_dataset(folder)
    load_s = time.perf_counter() - t0
    after_load = _peak_gb()
    times = []
    for _ in range(repeat):
        view = None
        t0 = time.perf_counter()
        view = customer_view(ds, engine="pandas")
        times.append(time.perf_counter() - t0)
    return {
        "load_s": round(load_s, 2),
        "seconds": round(min(times), 2),
        "load_plus_view_s": round(load_s + min(times), 2),
        "all_s": [round(t, 2) for t in times],
        "after_load_gb": after_load,
        **_view_stats(view),
    }


class Phases:
    """Wall time accumulated per phase by wrapping functions in their modules."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.queries: list[dict[str, Any]] = []
        self.stack: list[str] = []  # labels of the wrapped calls in progress
        self.timeline: list[dict[str, Any]] = []  # per top-level call: end time and memory
        self.t0 = time.perf_counter()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            self.stack.append(label)
            try:
                return inner(*args, **kwargs)
            finally:
                self.stack.pop()
                self.seconds[label] += time.perf_counter() - t0
                if not self.stack or self.stack == ["customer_view"]:
                    self.timeline.append(
                        {
                            "call": label,
                            "end_s": round(time.perf_counter() - self.t0, 1),
                            "took_s": round(time.perf_counter() - t0, 1),
                            "rss_gb": _rss_gb(),
                            "peak_gb": _peak_gb(),
                        }
                    )

        setattr(owner, name, timed)

    def duckdb_execute(self, backend: Any, expr: Any, params: Any = None, **kwargs: Any) -> Any:
        """ibis' DuckDB ``Backend.execute`` (ibis 12) with its three parts timed apart."""
        import pandas as pd
        import pyarrow.types as pat
        from ibis.backends.duckdb.converter import DuckDBPandasData

        t00 = time.perf_counter()
        rel = backend._to_duckdb_relation(expr, params=params, **kwargs)  # ibis compile (lazy)
        t0 = time.perf_counter()
        table = rel.to_arrow_table()  # DuckDB runs the query
        t1 = time.perf_counter()
        rss_query = _rss_gb()
        as_python = [
            name
            for name, col in zip(table.column_names, table.columns, strict=True)
            if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
        ]
        df = pd.DataFrame(
            {
                name: col.to_pylist() if name in as_python else col.to_pandas()
                for name, col in zip(table.column_names, table.columns, strict=True)
            }
        )
        t2 = time.perf_counter()
        df = DuckDBPandasData.convert_table(df, expr.as_table().schema())
        out = expr.__pandas_result__(df)
        t3 = time.perf_counter()
        rss_pandas = _rss_gb()
        plain = time.perf_counter()
        if table.nbytes < 2**29:  # what a plain Arrow conversion would cost (small results)
            table.to_pandas()
        plain = time.perf_counter() - plain
        self.queries.append(
            {
                "in": self.stack[-2] if len(self.stack) > 1 else "-",
                "rows": table.num_rows,
                "columns": table.num_columns,
                "arrow_mb": round(table.nbytes / 2**20, 1),
                "compile_s": round(t0 - t00, 2),
                "query_s": round(t1 - t0, 2),
                "to_pandas_s": round(t2 - t1, 2),
                "convert_s": round(t3 - t2, 2),
                "plain_arrow_to_pandas_s": round(plain, 2),
                "via_python_objects": as_python,
                "rss_after_query_gb": rss_query,
                "rss_after_pandas_gb": rss_pandas,
            }
        )
        for key, dt in (
            ("compile", t0 - t00),
            ("query", t1 - t0),
            ("to_pandas", t2 - t1),
            ("convert", t3 - t2),
        ):
            self.seconds[f"execute.{key}"] += dt
        return out


def measure_profile(folder: Path, memory_limit: str) -> dict:
    """One DuckDB view with its phases timed (see module docstring)."""
    from ibis.backends.duckdb import Backend

    from crm_models import engine, features
    from crm_models.engine import EngineSettings, aggregates, open_folder
    from crm_models.engine.aggregates import customers

    phases = Phases()
    Backend.execute = lambda self, expr, /, *, params=None, **kw: phases.duckdb_execute(
        self, expr, params, **kw
    )
    for owner, name, label in (
        (features, "resolve_as_of", "resolve_as_of (max dates)"),
        (customers, "customer_sums_expr", "customer_sums_expr (incl. channel query)"),
        (customers, "customer_frame", "_frame (execute + set_index/sort)"),
        (customers, "_conform_sums", "_conform_sums"),
        (aggregates, "customer_sums", "aggregates.customer_sums"),
        (aggregates, "attributes_as_of", "aggregates.attributes_as_of"),
        (aggregates, "campaign_features", "aggregates.campaign_features"),
        (features, "transaction_features", "features.transaction_features"),
        (engine.Source, "execute", "Source.execute"),
        (features, "customer_view", "customer_view"),
    ):
        phases.wrap(owner, name, label)
    src = open_folder(folder, EngineSettings("duckdb", memory_limit=memory_limit), "duckdb")
    profiler = cProfile.Profile()
    t0 = phases.t0 = time.perf_counter()
    profiler.enable()
    view = features.customer_view(src)
    profiler.disable()
    total = time.perf_counter() - t0
    top = io.StringIO()
    pstats.Stats(profiler, stream=top).sort_stats("cumulative").print_stats(30)
    print(top.getvalue()[-8000:], file=sys.stderr)
    s = phases.seconds
    known = (
        s["aggregates.customer_sums"]
        + s["aggregates.attributes_as_of"]
        + s["aggregates.campaign_features"]
        + s["features.transaction_features"]
        + s["resolve_as_of (max dates)"]
    )
    frame_post = s["_frame (execute + set_index/sort)"] - sum(
        q["compile_s"] + q["query_s"] + q["to_pandas_s"] + q["convert_s"]
        for q in phases.queries
        if q["in"].startswith("_frame")
    )
    return {
        "seconds": round(total, 2),
        "phases_s": {k: round(v, 2) for k, v in sorted(s.items())},
        "frame_postprocess_s": round(frame_post, 2),
        "customer_view_joins_s": round(total - known, 2),
        "timeline": phases.timeline,
        "queries": [q for q in phases.queries if q["rows"] > 1000],
        "small_queries": sum(1 for q in phases.queries if q["rows"] <= 1000),
        "small_queries_s": round(sum(q["query_s"] for q in phases.queries if q["rows"] <= 1000), 2),
        **_view_stats(view),
    }


def _vm_peak_gb() -> float:
    """Peak address space of this process (VmPeak), to compare with RLIMIT_AS."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmPeak:"):
            return round(int(line.split()[1]) / 1024**2, 2)
    return float("nan")


def child(step: str, folder: Path, memory_limit: str, repeat: int) -> None:
    """Run one measurement in this (capped) process and print its JSON line."""
    if step == "pandas":
        out = measure_pandas(folder, repeat)
    elif step == "profile":
        out = measure_profile(folder, memory_limit)
    else:
        out = measure_engine(step, folder, memory_limit, repeat)
    print(json.dumps({**out, "peak_gb": _peak_gb(), "vm_peak_gb": _vm_peak_gb()}), flush=True)


# --------------------------------------------------------------------------- parent
def folder_lines(folder: Path) -> int:
    """Transaction lines of a simulated folder (its manifest, else the Parquet footers)."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        return int(json.loads(manifest.read_text())["lines"])
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in (folder / "transactions").iterdir())


def resolve_folder(size: str, data: dict[str, str]) -> Path | None:
    for candidate in data[size].split("|"):
        if (Path(candidate) / "transactions").is_dir():
            return Path(candidate)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10M"], help="10M and/or 100M")
    parser.add_argument("--steps", nargs="+", default=["duckdb", "pandas"], choices=STEPS)
    parser.add_argument("--data", nargs="*", default=[], metavar="SIZE=DIR")
    parser.add_argument("--memory-limit", default="5GB", help="DuckDB memory_limit")
    parser.add_argument("--cap-gb", type=float, help="resident-memory cap (default per step)")
    parser.add_argument("--as-gb", type=float, help="RLIMIT_AS (default AS_FACTOR x cap)")
    parser.add_argument("--repeat", type=int, default=1, help="views per process (best kept)")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds per measurement")
    parser.add_argument("--reports-out", default="/tmp/scale_reports")
    parser.add_argument("--log", default="/tmp/bench_scale_reports.log")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, folder, limit, repeat = args.child
        return child(step, Path(folder), limit, int(repeat))
    data = {**DEFAULT_DATA, **dict(d.split("=", 1) for d in args.data)}
    results: dict[tuple[str, str], dict] = {}
    for size in args.sizes:
        folder = resolve_folder(size, data)
        if folder is None:
            print(f"{size}: no simulated folder ({data.get(size)}); see the docstring")
            continue
        lines = folder_lines(folder)
        for step in args.steps:
            if step == "pandas" and lines > 30_000_000:
                print(json.dumps({"size": size, "step": step, "skipped": "needs > 24 GB"}))
                continue
            cap = args.cap_gb or CAP_GB[step]
            as_gb = args.as_gb or AS_FACTOR * cap
            if step == "reports":
                cmd = [
                    str(Path(sys.executable).parent / "crm-models"),
                    "reports",
                    "build",
                    "--dataset",
                    str(folder),
                    "--engine",
                    "duckdb",
                    "--memory-limit",
                    args.memory_limit,
                    "--out",
                    args.reports_out,
                ]
                r = run_child(cmd, cap, as_gb, args.timeout, log=Path(args.log))
                r["seconds"] = r["wall_s"]
                r["log"] = args.log
            else:
                cmd = [sys.executable, __file__, "--child", step, str(folder)]
                cmd += [args.memory_limit, str(args.repeat)]
                r = run_child(cmd, cap, as_gb, args.timeout)
            r = {"size": size, "step": step, "lines": lines, "cap_gb": cap, "as_gb": as_gb, **r}
            if step in ("duckdb", "profile", "reports"):
                r["duckdb_memory_limit"] = args.memory_limit
            results[(size, step)] = r
            print(json.dumps(r), flush=True)
        duck, pand = results.get((size, "duckdb")), results.get((size, "pandas"))
        spark = results.get((size, "spark"))
        summary: dict[str, Any] = {}
        if duck and "seconds" in duck:
            if pand and "seconds" in pand:
                summary["pandas_view_over_duckdb"] = round(pand["seconds"] / duck["seconds"], 2)
                summary["pandas_load_view_over_duckdb"] = round(
                    pand["load_plus_view_s"] / (duck["seconds"] + duck["open_s"]), 2
                )
            if spark and "seconds" in spark:
                summary["spark_over_duckdb"] = round(spark["seconds"] / duck["seconds"], 2)
        if summary:
            print(json.dumps({"size": size, "summary": summary}), flush=True)


if __name__ == "__main__":
    main()

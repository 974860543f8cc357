"""Benchmark ``crm-models clv fit`` on a simulated shop: DuckDB out of core vs. pandas.

    .venv/bin/crm-models simulate --customers 1000000 --out /tmp/clvbench/sim_1m   # ~9M lines
    .venv/bin/python benchmarks/bench_clv_engine.py --data /tmp/clvbench/sim_1m
    .venv/bin/python benchmarks/bench_clv_engine.py --data DIR --engines duckdb --memory-limit 2GB

Each engine runs the CLI in its own process under ``ulimit -v`` (``--ulimit-kb``, 8,000,000 KB
by default: the machine has no swap) and ``/usr/bin/time -v``; ``--memory-limit`` is DuckDB's
cap (pandas ignores it).  One JSON line per run on stdout: wall seconds, peak resident memory
(``peak_gb``, /usr/bin/time's maximum resident set size), the seconds of the CLI's own stages
(opening, fitting and scoring), customers, parameters; a last line compares the engines'
``--json`` outputs (the number that differs most, relative to its size).  With DuckDB the transaction
lines stay in the engine: only the per-customer calibration/holdout summary reaches pandas.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _harness import compare_engines, engine_arguments, timed_cli


def run(data: Path, engine: str, memory_limit: str, ulimit_kb: int) -> dict[str, Any]:
    """One ``clv fit --json`` run: its figures and what /usr/bin/time -v measured."""
    args = ["clv", "fit", str(data), "--engine", engine, "--json"]
    if engine == "duckdb":
        args += ["--memory-limit", memory_limit]
    result, measured = timed_cli(args, ulimit_kb)
    return {
        "engine": engine,
        "data": str(data),
        **measured,
        "memory_limit": memory_limit if engine == "duckdb" else None,
        "ulimit_kb": ulimit_kb,
        "customers": result["customers"],
        "params": result["params"],
        "holdout_predicted_total": result["holdout_predicted_total"],
        "holdout_actual_total": result["holdout_actual_total"],
        "_result": result,
    }


def main(argv: list[str] | None = None) -> None:
    parser = engine_arguments(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    compare_engines(
        args.engines, lambda engine: run(args.data, engine, args.memory_limit, args.ulimit_kb)
    )


if __name__ == "__main__":
    sys.exit(main())

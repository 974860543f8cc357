"""Benchmark ``crm-models forecast`` on a simulated shop: DuckDB out of core vs. pandas.

    .venv/bin/crm-models simulate --customers 1000000 --out /tmp/fcbench/sim_1m   # ~9M lines
    .venv/bin/python benchmarks/bench_forecast_engine.py --data /tmp/fcbench/sim_1m
    .venv/bin/python benchmarks/bench_forecast_engine.py --data DIR --by channel --quick

Each engine runs the CLI in its own process under ``ulimit -v`` (``--ulimit-kb``, 8,000,000 KB
by default: the machine has no swap) and ``/usr/bin/time -v``; ``--memory-limit`` is DuckDB's
cap (pandas ignores it).  One JSON line per run: wall seconds, peak resident memory
(``peak_gb``), the seconds of the CLI's stages (opening; backtesting and forecasting), the
chosen model and the next period's forecast; a last line compares the engines' ``--json``
outputs (the number that differs most, relative to its size).  With DuckDB the lines stay in the
engine: only period totals, per-level period totals, sends per day and the bottom-up model's
per-customer sums reach pandas.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _harness import compare_engines, engine_arguments, timed_cli


def run(data: Path, engine: str, options: list[str], memory_limit: str, ulimit_kb: int) -> dict:
    """One ``forecast --json`` run: its figures and what /usr/bin/time -v measured."""
    args = ["forecast", str(data), "--engine", engine, "--json", *options]
    if engine == "duckdb":
        args += ["--memory-limit", memory_limit]
    result, measured = timed_cli(args, ulimit_kb)
    return {
        "engine": engine,
        "data": str(data),
        "options": " ".join(options),
        **measured,
        "memory_limit": memory_limit if engine == "duckdb" else None,
        "ulimit_kb": ulimit_kb,
        "model": result["model"],
        "next_period": result["forecast"][0]["mean"],
        "levels": len(result.get("by", {})),
        "_result": result,
    }


def main(argv: list[str] | None = None) -> None:
    parser = engine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--by", help="also forecast every level of this column")
    parser.add_argument("--quick", action="store_true", help="forecast --quick")
    args = parser.parse_args(argv)
    options = (["--by", args.by] if args.by else []) + (["--quick"] if args.quick else [])
    compare_engines(
        args.engines,
        lambda engine: run(args.data, engine, options, args.memory_limit, args.ulimit_kb),
    )


if __name__ == "__main__":
    sys.exit(main())

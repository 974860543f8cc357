"""Benchmark the verbs that now run out of core: ``basket``, ``uplift``, ``target`` and
``clv fit --model auto``, DuckDB out of core vs. pandas, on a simulated shop.

    .venv/bin/crm-models simulate --customers 1000000 --out /tmp/sim_1m    # ~9M lines
    .venv/bin/python benchmarks/bench_verbs_engine.py --data /tmp/sim_1m
    .venv/bin/python benchmarks/bench_verbs_engine.py --data DIR --verbs basket target

Each run is the CLI in its own process under ``ulimit -v`` (``--ulimit-kb``) and
``/usr/bin/time -v`` (the harness of ``bench_clv_engine.py``).  Per verb: one JSON line per
engine (wall seconds, peak resident memory, the CLI's stages) and one line with the number
that differs most between the engines' ``--json`` (0 when they are the same).  Out of core
only the basket pairs, the campaign contacts and customers, per-customer sums and the
purchase days leave DuckDB; pandas loads and checks every line first.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from _harness import compare_engines, engine_arguments, timed_cli

VERBS = {  # verb -> (the command's words, its options after the dataset)
    "basket": (["basket"], []),
    "uplift": (["uplift"], []),
    "target": (["target"], ["--budget", "5000"]),
    "clv_auto": (["clv", "fit"], ["--model", "auto"]),
}


def run(verb: str, data: Path, engine: str, memory_limit: str, ulimit_kb: int) -> dict[str, Any]:
    """One ``--json`` run of a verb: what /usr/bin/time -v measured, and its output."""
    command, options = VERBS[verb]
    args = [*command, str(data), *options, "--engine", engine, "--json"]
    if engine == "duckdb":
        args += ["--memory-limit", memory_limit]
    with tempfile.TemporaryDirectory() as tmp:
        if verb == "target":  # the same file name for both engines: the --json names it
            args += ["--out", str(Path(tmp) / "contact_list.csv")]
        result, measured = timed_cli(args, ulimit_kb)
    result.pop("out", None)
    return {"verb": verb, "engine": engine, "data": str(data), **measured, "_result": result}


def main(argv: list[str] | None = None) -> None:
    parser = engine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--verbs", nargs="+", choices=list(VERBS), default=list(VERBS))
    args = parser.parse_args(argv)
    for verb in args.verbs:
        compare_engines(
            args.engines,
            lambda engine, verb=verb: run(
                verb, args.data, engine, args.memory_limit, args.ulimit_kb
            ),
        )


if __name__ == "__main__":
    sys.exit(main())

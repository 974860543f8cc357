"""Benchmark the main job at scale: all six reports on a simulated retailer, per report.

    .venv/bin/python benchmarks/bench_reports_scale.py                      # 1M customers
    .venv/bin/python benchmarks/bench_reports_scale.py --customers 100000   # quicker look
    .venv/bin/python benchmarks/bench_reports_scale.py --customers 10000000 --cap-gb 8

Simulates ``--customers`` customers into ``--data`` (default ``/tmp/crm_sim_reports_<n>``)
unless the folder exists, then runs ``crm-models reports build --dataset DIR --engine duckdb
--memory-limit 4GB`` in its own session.  A watchdog samples the resident memory of the whole
process tree (the build and its notebook kernels) every 0.25 s and kills the tree past
``--cap-gb``.  Prints one JSON line per report (seconds from the end of the previous report,
the kernel's execute seconds, the tree's peak memory meanwhile) and a summary line with the
issue's targets (issue 16: 1M customers, about 9M lines: all six reports under 6 minutes,
peak under 6 GB; 10M customers: under 45 minutes under an 8 GB cap).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from _harness import CLI, GB, TreeWatch, cap_memory, load_average

TARGETS = {1_000_000: (360.0, 6.0), 10_000_000: (2700.0, 8.0)}  # seconds, peak GB
DONE = re.compile(
    r"^(?P<ds>[^/\s]+)/(?P<slug>\w+): (?P<status>ok|not applicable|FAILED)(?P<rest>.*)"
)
EXECUTE = re.compile(r"execute ([\d.]+) s")


def simulate(customers: int, folder: Path) -> float | None:
    """Simulate the retailer unless ``folder`` holds it; the seconds it took (None: existed)."""
    if (folder / "transactions").is_dir():
        return None
    started = time.perf_counter()
    cmd = [str(CLI), "simulate", "--customers", str(customers), "--out", str(folder)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def build(args: argparse.Namespace, folder: Path) -> tuple[list[dict], dict]:
    """Run the build under the watchdog; per-report records and the whole run's figures."""
    cmd = [str(CLI), "reports", "build", "--dataset", str(folder), "--out", args.out]
    cmd += ["--engine", args.engine, "--memory-limit", args.memory_limit]
    for slug in args.only or []:
        cmd += ["--only", slug]
    load0, t0 = load_average(), time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CRM_MODELS_QUIET": "0"},
        start_new_session=True,
        preexec_fn=lambda: cap_memory(args.cap_gb * 3),  # a runaway guard; the watchdog caps RSS
    )
    watch = TreeWatch(proc.pid, args.cap_gb)
    watch.start()
    reports, last = [], t0
    with Path(args.log).open("w") as log:
        for line in proc.stdout:  # tqdm redraws with \r: each finished report is its own line
            now = time.perf_counter()
            log.write(f"[{now - t0:8.1f}s] {line}")
            log.flush()
            for part in line.split("\r"):
                m = DONE.match(part.strip())
                if not m:
                    continue
                window = [rss for t, rss in watch.samples if last <= t <= now]
                execute = EXECUTE.search(m["rest"])
                reports.append(
                    {
                        "report": m["slug"],
                        "status": m["status"],
                        "seconds": round(now - last, 1),
                        "execute_s": float(execute.group(1)) if execute else None,
                        "peak_gb": round(max(window, default=0) / GB, 2),
                    }
                )
                print(json.dumps(reports[-1]), flush=True)
                last = now
    try:
        proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    watch.done.set()
    watch.join()
    return reports, {
        "exit": proc.returncode,
        "killed_at_cap": watch.killed,
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_gb": round(watch.peak / GB, 2),
        "load_before": load0,
        "load_after": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", help="simulated folder (default /tmp/crm_sim_reports_<n>)")
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--cap-gb", type=float, default=12.0, help="tree RSS cap (watchdog)")
    parser.add_argument("--only", nargs="*", help="report slugs (default: all)")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument("--out", default="/tmp/bench_reports_scale")
    parser.add_argument("--log", default="/tmp/bench_reports_scale.log")
    args = parser.parse_args()
    folder = Path(args.data or f"/tmp/crm_sim_reports_{args.customers}")
    simulate_s = simulate(args.customers, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    reports, run = build(args, folder)
    target_s, target_gb = TARGETS.get(args.customers, (None, None))
    summary = {
        "customers": manifest["customers"],
        "lines": manifest["lines"],
        "campaign_rows": manifest.get("campaign_rows"),
        "engine": args.engine,
        "memory_limit": args.memory_limit,
        "simulate_s": simulate_s,
        "reports_ok": sum(r["status"] == "ok" for r in reports),
        **run,
        "log": args.log,
    }
    if target_s is not None:
        summary["target_s"], summary["target_gb"] = target_s, target_gb
        summary["meets_target"] = bool(
            run["exit"] == 0 and run["seconds"] < target_s and run["peak_gb"] < target_gb
        )
    print(json.dumps(summary), flush=True)
    sys.exit(0 if run["exit"] == 0 else 1)


if __name__ == "__main__":
    main()

"""Benchmark many-series forecasting (run on demand, prints figures).

    .venv/bin/python benchmarks/bench_forecast.py [--series 1000] [--years 3] [--jobs 2]

1,000 simulated weekly series of three years (level, trend, yearly seasonality, noise; some
intermittent), each backtested with ETS and the seasonal naive forecast over 4 rolling origins
(13-week horizon, step 4) and then forecast with the winner, via
``crm_models.forecast.forecast_many``: once sequentially and once on ``--jobs`` worker
processes.  Each run happens in its own process under a 12 GB address-space cap
(``resource.RLIMIT_AS``), with wall and CPU seconds and peak memory printed.  The machine may
be shared: the load average before and after each run is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from _harness import cap_memory, peak_gb

MEMORY_CAP_GB = 12
MODELS = ("seasonal_naive", "ets")


def make_series(n_series: int, years: int, seed: int = 0) -> pd.DataFrame:
    """Weekly series (columns) with known yearly seasonality, trend and noise."""
    rng = np.random.default_rng(seed)
    n = int(round(52.18 * years))
    index = pd.period_range("2021-01-04", periods=n, freq="W-SUN", name="period")
    t = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi, n_series)
    level = rng.lognormal(6, 1, n_series)
    amp = rng.uniform(0.05, 0.4, n_series)
    growth = rng.normal(0.0, 0.003, n_series)
    season = np.sin(2 * np.pi * t[:, None] / 52.18 + phase[None, :])
    mean = level * np.exp(growth * t[:, None]) * (1 + amp * season)
    values = rng.poisson(mean).astype(float)
    values[:, : n_series // 20] *= rng.random((n, n_series // 20)) < 0.3  # intermittent ones
    return pd.DataFrame(values, index=index, columns=[f"s{i:04d}" for i in range(n_series)])


def child(n_series: int, years: int, jobs: int) -> None:
    cap_memory(MEMORY_CAP_GB)
    os.environ.setdefault("CRM_MODELS_QUIET", "1")
    from crm_models.forecast import forecast_many

    values = make_series(n_series, years)
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    results = forecast_many(values, 13, 4, 4, MODELS, n_jobs=jobs, progress=None)
    wall = time.perf_counter() - t0
    cpu_self = time.process_time() - c0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    failed = sum(isinstance(r, str) for r in results.values())
    chosen = pd.Series([r.model for r in results.values() if not isinstance(r, str)])
    print(
        json.dumps(
            {
                "jobs": jobs,
                "series": n_series,
                "weeks": len(values),
                "seconds": round(wall, 1),
                "cpu_seconds_main": round(cpu_self, 1),
                "cpu_seconds_workers": round(children.ru_utime + children.ru_stime, 1),
                "peak_gb_main": round(peak_gb(), 2),
                "failed": failed,
                "chosen": chosen.value_counts().to_dict(),
                "load_before": round(load_before, 2),
                "load_after": round(os.getloadavg()[0], 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.series, args.years, args.child)
        return
    print(
        f"{os.cpu_count()} cores; {args.series:,} weekly series of {args.years} years; "
        f"backtest {', '.join(MODELS)} over 4 windows (horizon 13, step 4)"
    )
    out = {}
    for jobs in (1, args.jobs):
        cmd = [
            sys.executable,
            __file__,
            "--series",
            str(args.series),
            "--years",
            str(args.years),
            "--child",
            str(jobs),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            raise SystemExit(f"run with {jobs} job(s) failed")
        out[jobs] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(out[jobs]))
    seq, par = out[1]["seconds"], out[args.jobs]["seconds"]
    print(f"sequential {seq:.1f} s, {args.jobs} processes {par:.1f} s: speed-up {seq / par:.2f}x")


if __name__ == "__main__":
    main()

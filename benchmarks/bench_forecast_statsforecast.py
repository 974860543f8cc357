"""Benchmark our backtest against statsforecast's own cross-validation (prints figures).

    .venv/bin/python benchmarks/bench_forecast_statsforecast.py [--series 1000] [--years 3]

The same simulated weekly series as ``bench_forecast.py`` (three years, some intermittent),
a 4-window rolling-origin backtest (13-week horizon, step 4) of the same models on one core:

- ours: ``crm_models.forecast.backtest`` per series with ``seasonal_naive`` and ``ets`` (ETS
  fits no trend and damped trend and keeps the lower AICc), 80 % and 95 % intervals, scored
  (MASE, coverage, weighted interval score) and conformally calibrated;
- statsforecast: ``StatsForecast.cross_validation`` (n_jobs=1) with ``SeasonalNaive(52)``,
  ``AutoETS(model="ANN")`` and ``AutoETS(model="AAN", damped=True)`` (the same two ETS fits),
  80 % and 95 % intervals, no scoring.

Each side runs in its own process under an address-space cap, after one small warm-up run
(imports and first calls are not timed; ``warm_up_seconds`` shows them).  The ratio ours /
statsforecast is the figure issue 15 asks to keep within 1.2x; it is printed for wall and CPU
seconds, since on a shared machine (the load average is printed beside the figures) the CPU
ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _harness import cap_memory, peak_gb
from bench_forecast import make_series

MEMORY_CAP_GB = 7
HORIZON, WINDOWS, STEP = 13, 4, 4


def run_ours(values) -> None:
    from crm_models.forecast import backtest

    for col in values.columns:
        backtest(values[col], ("seasonal_naive", "ets"), HORIZON, WINDOWS, STEP)


def run_statsforecast(values) -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    long = values.stack().rename("y").reset_index()
    long.columns = ["ds", "unique_id", "y"]
    long["ds"] = long["ds"].dt.end_time.dt.normalize()
    models = [
        SeasonalNaive(52),
        AutoETS(model="ANN", alias="ets_n"),
        AutoETS(model="AAN", damped=True, alias="ets_ad"),
    ]
    sf = StatsForecast(models=models, freq="W-SUN", n_jobs=1)
    sf.cross_validation(
        df=long[["unique_id", "ds", "y"]],
        h=HORIZON,
        n_windows=WINDOWS,
        step_size=STEP,
        level=[80, 95],
    )


def child(side: str, n_series: int, years: int) -> None:
    cap_memory(MEMORY_CAP_GB)
    os.environ.setdefault("CRM_MODELS_QUIET", "1")
    run = {"ours": run_ours, "statsforecast": run_statsforecast}[side]
    values = make_series(n_series, years)
    t0 = time.perf_counter()
    run(values.iloc[:, :2])  # imports and first calls
    warm = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    run(values)
    print(
        json.dumps(
            {
                "side": side,
                "series": n_series,
                "weeks": len(values),
                "seconds": round(time.perf_counter() - t0, 2),
                "cpu_seconds": round(time.process_time() - c0, 2),
                "warm_up_seconds": round(warm, 2),
                "peak_gb": round(peak_gb(), 2),
                "load_before": round(load_before, 2),
                "load_after": round(os.getloadavg()[0], 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "statsforecast"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.series, args.years)
        return
    print(
        f"{args.series:,} weekly series of {args.years} years; {WINDOWS}-window backtest "
        f"(horizon {HORIZON}, step {STEP}) of seasonal naive and ETS (N, Ad), one core"
    )
    out = {}
    for side in ("statsforecast", "ours"):
        cmd = [sys.executable, __file__, "--series", str(args.series), "--years", str(args.years)]
        proc = subprocess.run([*cmd, "--child", side], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            raise SystemExit(f"{side} failed")
        out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(out[side]))
    ours, theirs = out["ours"]["seconds"], out["statsforecast"]["seconds"]
    print(f"wall: ours {ours:.1f} s, statsforecast {theirs:.1f} s: ratio {ours / theirs:.2f}x")
    ours, theirs = out["ours"]["cpu_seconds"], out["statsforecast"]["cpu_seconds"]
    print(f"CPU: ours {ours:.1f} s, statsforecast {theirs:.1f} s: ratio {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()

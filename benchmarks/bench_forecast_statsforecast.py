"""Benchmark our backtest against statsmodels used directly and statsforecast (prints figures).

    .venv/bin/python benchmarks/bench_forecast_statsforecast.py [--series 100 1000] [--years 3]

The same simulated weekly series as ``bench_forecast.py`` (three years, some intermittent),
a 4-window rolling-origin backtest (13-week horizon, step 4) of the same models on one core:

- ours: ``crm_models.forecast.backtest`` per series with ``seasonal_naive`` and ``ets`` (our
  NumPy/SciPy ETS fits no trend and damped trend and keeps the lower AICc), 80 % and 95 %
  intervals, scored (MASE, coverage, weighted interval score) and conformally calibrated;
- statsmodels: per series and window, ``ETSModel`` with no trend and with damped trend (the
  lower AICc kept), its analytic 80 % and 95 % intervals (the seasonal naive forecast, a copy of
  last year, is left out); no scoring.  This is what the backtest did before issue 15;
- statsforecast: ``StatsForecast.cross_validation`` (n_jobs=1) with ``SeasonalNaive(52)``,
  ``AutoETS(model="ANN")`` and ``AutoETS(model="AAN", damped=True)`` (the same two ETS fits),
  80 % and 95 % intervals, no scoring.  statsforecast is not a dependency: 2.1.x declares
  ``pandas<3`` and this project needs pandas 3 (install it in a separate environment or
  beside pandas 3 with ``pip install --no-deps statsforecast`` to get this column); without
  it the column is skipped and the reason printed.

Each side runs in its own process under an address-space cap, after one small warm-up run
(imports and first calls are not timed; ``warm_up_seconds`` shows them).  The ratios ours /
other are printed for wall and CPU seconds; on a shared machine (the load average is printed
beside the figures) the CPU ratio is the steadier one.  statsmodels is slow (about 1 s a
series): ``--statsmodels-max`` (default 100) skips it above that many series.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def run_statsmodels(values) -> None:
    import warnings

    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    warnings.simplefilter("ignore")
    n = len(values)
    origins = [n - HORIZON - STEP * (WINDOWS - 1 - w) for w in range(WINDOWS)]
    for col in values.columns:
        y = values[col].to_numpy(dtype=float)
        for origin in origins:
            train = pd.Series(y[:origin])
            fits = [
                ETSModel(train, error="add", trend=trend, damped_trend=trend is not None).fit(
                    disp=False, maxiter=200
                )
                for trend in (None, "add")
            ]
            best = min(fits, key=lambda r: r.aicc)
            pred = best.get_prediction(start=origin, end=origin + HORIZON - 1)
            for alpha in (0.20, 0.05):
                pred.summary_frame(alpha=alpha)


RUNS = {"ours": run_ours, "statsmodels": run_statsmodels, "statsforecast": run_statsforecast}


def child(side: str, n_series: int, years: int) -> None:
    cap_memory(MEMORY_CAP_GB)
    os.environ.setdefault("CRM_MODELS_QUIET", "1")
    run = RUNS[side]
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
    parser.add_argument("--series", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--statsmodels-max", type=int, default=100)
    parser.add_argument("--child", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.series[0], args.years)
        return
    has_sf = importlib.util.find_spec("statsforecast") is not None
    if not has_sf:
        print(
            "statsforecast column skipped: statsforecast is not installed (it is not a "
            "dependency: 2.1.x declares pandas<3; install it in a separate environment)"
        )
    for n_series in args.series:
        print(
            f"\n{n_series:,} weekly series of {args.years} years; {WINDOWS}-window backtest "
            f"(horizon {HORIZON}, step {STEP}) of seasonal naive and ETS (N, Ad), one core"
        )
        sides = ["ours"] + ["statsforecast"] * has_sf
        if n_series <= args.statsmodels_max:
            sides.append("statsmodels")
        else:
            print(f"statsmodels column skipped: more than --statsmodels-max {args.statsmodels_max}")
        out = {}
        for side in sides:
            cmd = [sys.executable, __file__, "--series", str(n_series), "--years", str(args.years)]
            proc = subprocess.run([*cmd, "--child", side], capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-2000:])
                raise SystemExit(f"{side} failed")
            out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(json.dumps(out[side]))
        for other in sides[1:]:
            for key, what in (("seconds", "wall"), ("cpu_seconds", "CPU")):
                ours, theirs = out["ours"][key], out[other][key]
                print(
                    f"{what}: ours {ours:.1f} s, {other} {theirs:.1f} s: ratio {ours / theirs:.2f}x"
                )


if __name__ == "__main__":
    main()

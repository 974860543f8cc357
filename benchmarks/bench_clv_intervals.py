"""Benchmark the value intervals (crm_models.value.uncertainty) on simulated customers.

    .venv/bin/python benchmarks/bench_clv_intervals.py [--customers 100000 1000000]
        [--steps intervals holdout] [--draws 200]

The input is the BTYD summary of :func:`bench_clv.generate` (BG/NBD + Gamma-Gamma customers,
day-level recency, so about 1.3 customers per distinct (x, t_x, T) row: the hard case for
compression), cached as Parquet under benchmarks/results/.  BG/NBD and Gamma-Gamma are fitted
outside the timing; each step runs in its own process under a 6 GB address-space cap, with its
peak resident memory measured:

  * ``intervals``: :func:`~crm_models.value.uncertainty.value_intervals` (per-customer
    intervals of expected purchases and CLV over 52 weeks, plus the totals' intervals);
  * ``holdout``: :func:`~crm_models.value.uncertainty.holdout_interval` (the total of a
    39-week holdout).

With ``--data cdnow`` the input is instead the real CDNOW master log (23,570 customers,
39-week calibration and holdout, :func:`crm_models.value.calibration_holdout`) tiled to the
size asked for: about 42 customers per distinct row at 1M, the compression a real base of
look-alike customers allows.

Targets (issue 16): each step under 30 s for 1M customers at 200 draws, peak under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _harness import cap_memory, peak_gb
from bench_clv import generate

RESULTS = Path(__file__).resolve().parent / "results"
MEMORY_CAP_GB = 6
HOLDOUT_WEEKS = 39.0


def tiled_cdnow(n: int) -> pd.DataFrame:
    """The CDNOW master calibration summary (with its holdout length) repeated to ``n`` rows."""
    from crm_models import value as clv
    from crm_models.data.loading import load_dataset

    cal = clv.calibration_holdout(load_dataset("cdnow"))
    cols = ["frequency", "recency", "T", "monetary_value", "duration_holdout"]
    reps = -(-n // len(cal))
    out = pd.concat([cal[cols]] * reps, ignore_index=True).iloc[:n]
    return out.set_axis(pd.RangeIndex(1, n + 1, name="customer_id"))


def child(step: str, path: Path, draws: int) -> None:
    """Fit, then time one step in this (capped) process and print JSON."""
    cap_memory(MEMORY_CAP_GB)
    from crm_models import value as clv

    data = pd.read_parquet(path)
    bg = clv.BetaGeoModel().fit(data)
    gg = clv.GammaGammaModel().fit(data)
    _ = bg.standard_errors_, gg.standard_errors_  # the Hessians, outside the timing
    base = peak_gb()
    t0 = time.perf_counter()
    if step == "intervals":
        ranges, totals = clv.value_intervals(bg, gg, data, horizon=52.0, n_draws=draws)
        result = {"clv_interval_80": totals["clv_interval_80"], "customers": len(ranges)}
    else:
        cal = data if "duration_holdout" in data else data.assign(duration_holdout=HOLDOUT_WEEKS)
        out = clv.holdout_interval(bg, cal, n_draws=draws)
        result = {"interval_80": out["holdout_predicted_interval_80"]}
    result.update(
        step=step,
        seconds=round(time.perf_counter() - t0, 2),
        peak_gb=round(peak_gb(), 2),
        after_fit_gb=round(base, 2),
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--steps", nargs="+", default=["intervals", "holdout"])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--data", choices=["simulated", "cdnow"], default="simulated")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), args.draws)
    RESULTS.mkdir(exist_ok=True)
    for n in args.customers:
        path = RESULTS / (f"clv_{n}.parquet" if args.data == "simulated" else f"cdnow_{n}.parquet")
        if not path.exists():
            (generate(n) if args.data == "simulated" else tiled_cdnow(n)).to_parquet(path)
        for step in args.steps:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", step, str(path), "--draws", str(args.draws)],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(f"{n:>9,} {step:9s} failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            low, high = r.get("clv_interval_80") or r["interval_80"]
            print(
                f"{n:>9,} {step:9s} {r['seconds']:7.2f} s   peak {r['peak_gb']:.2f} GB "
                f"(after fit {r['after_fit_gb']:.2f} GB)   80 % total [{low:,.0f}, {high:,.0f}]",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Benchmark the stacked value model: fit and score simulated customers (run on demand).

    ulimit -v 8000000; .venv/bin/python benchmarks/bench_value_auto.py [--customers 1000000]

Purchase days are drawn exactly from BG/NBD (r=0.75, alpha=4, a=0.8, b=2.5; given their count,
the purchase times of a Poisson process are uniform, and a customer drops out after each repeat
purchase with probability p) for customers whose first purchase is spread over the first year
of two, plus Gamma-Gamma day values (p=6, q=4, gamma=15); calibration ends at 78 weeks, horizon 26 weeks.
Timed (each size in its own process, memory capped): ``StackedModel.fit`` (two BG/NBD fits,
features at the inner and the real calibration end, the booster on up to 50,000 sampled
customers), the prediction for every customer (on the fit's calibration-end frame), and the
Gamma-Gamma fit with expected spend; printed with the peak resident memory.  Target (issue
18): 1M customers in under 5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from _harness import cap_memory, peak_gb

START = pd.Timestamp("2020-01-06")
CAL_WEEKS, HORIZON = 78, 26.0
MEMORY_CAP_GB = 7.5  # within the `ulimit -v 8000000` the run is started under


def generate(n: int, seed: int = 0) -> pd.DataFrame:
    """Purchase days (customer_id, day, amount) of ``n`` BG/NBD customers up to the calibration
    end, vectorised over customers."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.75, 1 / 4.0, n)
    p = rng.beta(0.8, 2.5, n)
    first = rng.uniform(0, 52, n)
    k = rng.poisson(lam * (CAL_WEEKS - first))
    cust = np.repeat(np.arange(n), k)
    week = rng.uniform(first[cust], CAL_WEEKS)
    order = np.lexsort((week, cust))
    cust, week = cust[order], week[order]
    rank = np.arange(len(cust)) - np.repeat(np.cumsum(k) - k, k)  # 0-based within customer
    keep = rank < rng.geometric(p)[cust]  # drops out after the G-th repeat purchase
    cust = np.concatenate([np.arange(n), cust[keep]])
    week = np.concatenate([first, week[keep]])
    days = START + pd.to_timedelta(np.floor(week * 7), unit="D")
    nu = rng.gamma(4.0, 1 / 15.0, n)  # Gamma-Gamma: p=6, q=4, gamma=15
    frame = pd.DataFrame({"customer_id": cust, "day": days, "amount": rng.gamma(6.0, 1 / nu[cust])})
    return frame.drop_duplicates(["customer_id", "day"], ignore_index=True)


def run(n: int) -> dict:
    """One size in this process: the timed fit and scoring, with peak memory."""
    from crm_models.value import GammaGammaModel, StackedModel

    cap_memory(MEMORY_CAP_GB)
    days = generate(n)
    cal_end = START + pd.Timedelta(weeks=CAL_WEEKS) - pd.Timedelta(days=1)
    base = peak_gb()
    t0 = time.perf_counter()
    model = StackedModel(time_unit="W").fit(days, cal_end, HORIZON)
    t1 = time.perf_counter()
    frame = model.calibration_frame_  # the customers as of the calibration end, from the fit
    t_features = time.perf_counter()
    purchases = model.predict(frame)
    t_predict = time.perf_counter()
    spend = GammaGammaModel().fit(frame).conditional_expected_spend(frame)
    value = purchases * spend
    t2 = time.perf_counter()
    assert len(value) == n and np.isfinite(value.to_numpy()).all()
    return {
        "customers": n,
        "purchase_days": len(days),
        "fit_s": round(t1 - t0, 2),
        "score_s": round(t2 - t1, 2),
        "features_s": round(t_features - t1, 2),
        "predict_s": round(t_predict - t_features, 2),
        "spend_s": round(t2 - t_predict, 2),
        "seconds": round(t2 - t0, 2),
        "peak_gb": round(peak_gb(), 2),
        "after_data_gb": round(base, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(args.one)))
        return
    sizes = [s for s in (100_000, 300_000, 1_000_000) if s < args.customers] + [args.customers]
    for n in sizes:  # grow step by step, each in its own process
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(f"{n:,} customers failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['customers']:>9,} customers ({r['purchase_days']:,} purchase days): "
            f"fit {r['fit_s']:.2f} s + score {r['score_s']:.2f} s = {r['seconds']:.2f} s, "
            f"peak {r['peak_gb']:.2f} GB (data {r['after_data_gb']:.2f} GB); score = features "
            f"{r['features_s']:.2f} s + predict {r['predict_s']:.2f} s + Gamma-Gamma "
            f"{r['spend_s']:.2f} s"
        )


if __name__ == "__main__":
    main()

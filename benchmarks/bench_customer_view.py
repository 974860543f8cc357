"""Benchmark the single customer view on a large simulated log (run on demand, prints figures).

    .venv/bin/python benchmarks/bench_customer_view.py [--customers 1000000] [--lines 10000000]

Steps, each in its own process under a memory cap (so a runaway step cannot take the machine
down) with its peak resident memory measured:
  1. generate a simulated transaction log (cached as Parquet under benchmarks/results/);
  2. the BTYD core (frequency, recency, T, monetary) with crm_models.features.btyd_summary;
  3. the same with lifetimes' summary_data_from_transaction_data (the reference);
  4. the whole customer view with crm_models.features.customer_view.
Each step is timed twice in its process and the best time is printed (same for every step).
Targets (issue 2): step 2 at least 8x faster than step 3; step 4 under 15 s and 4 GB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _harness import cap_memory, peak_gb

RESULTS = Path(__file__).resolve().parent / "results"
MEMORY_CAP_GB = 12
REPEAT = 2


def generate(n_customers: int, n_lines: int, seed: int = 0) -> pd.DataFrame:
    """A transaction log with repeat buyers, several lines per order, returns, categories."""
    rng = np.random.default_rng(seed)
    n_orders = n_lines // 2
    weights = rng.gamma(0.8, 1.0, n_customers)
    order_customer = rng.choice(n_customers, size=n_orders, p=weights / weights.sum()) + 1
    start = np.datetime64("2022-01-01T00:00:00")
    order_time = start + rng.integers(0, 3 * 365 * 86400, n_orders).astype("timedelta64[s]")
    lines_per_order = (
        np.bincount(rng.integers(0, n_orders, n_lines - n_orders), minlength=n_orders) + 1
    )
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    amount = np.round(rng.gamma(2.0, 15.0, n_lines), 2)
    returned = rng.random(n_lines) < 0.03
    amount[returned] *= -1
    categories = np.array(["books", "music", "home", "garden", "toys", "food", "beauty", "sport"])
    channels = np.array(["web", "store", "app"])
    return pd.DataFrame(
        {
            "customer_id": order_customer[line_order],
            "order_id": pd.array(np.char.add("O", line_order.astype(str)), dtype="string"),
            "order_date": order_time[line_order].astype("datetime64[ns]"),
            "amount": amount,
            "product_id": pd.array(
                np.char.add("P", rng.integers(0, 5000, n_lines).astype(str)), dtype="string"
            ),
            "category": pd.Categorical.from_codes(
                rng.integers(0, len(categories), n_lines), categories
            ),
            "quantity": rng.integers(1, 4, n_lines) * np.where(returned, -1, 1),
            "channel": pd.Categorical.from_codes(rng.integers(0, len(channels), n_lines), channels),
        }
    )


def run_step(step: str, tx: pd.DataFrame, as_of: pd.Timestamp):
    """One measured step on the loaded log."""
    if step == "btyd":
        from crm_models.features import btyd_summary

        buy = tx["amount"].to_numpy() >= 0
        return btyd_summary(
            tx["customer_id"].to_numpy()[buy],
            tx["order_date"].to_numpy()[buy],
            tx["amount"].to_numpy()[buy],
            as_of,
        )
    elif step == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        return summary_data_from_transaction_data(
            tx.loc[tx["amount"] >= 0],
            "customer_id",
            "order_date",
            "amount",
            observation_period_end=as_of,
            freq="D",
            freq_multiplier=7,
        )
    else:
        from crm_models.data.dataset import Dataset
        from crm_models.features import customer_view

        return customer_view(Dataset("bench", transactions=tx, fingerprint="-"), as_of=as_of)


def child(step: str, path: Path) -> None:
    """Run one timed step in this (capped) process and print JSON."""
    cap_memory(MEMORY_CAP_GB)
    tx = pd.read_parquet(path)
    as_of = tx["order_date"].max().normalize()
    base = peak_gb()
    times = []
    for _ in range(REPEAT):  # best of REPEAT: the first run also pays page faults and imports
        t0 = time.perf_counter()
        out = run_step(step, tx, as_of)
        times.append(time.perf_counter() - t0)
    seconds = min(times)
    peak = peak_gb()
    print(
        json.dumps(
            {
                "step": step,
                "seconds": round(seconds, 2),
                "rows_out": len(out),
                "peak_gb": round(peak, 2),
                "after_load_gb": round(base, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"tx_{args.customers}_{args.lines}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        generate(args.customers, args.lines).to_parquet(path)
        print(
            f"generated {args.lines:,} lines for {args.customers:,} customers in {time.perf_counter() - t0:.1f} s"
        )
    steps = ["btyd", "view"] + ([] if args.skip_lifetimes else ["lifetimes"])
    results = {}
    for step in steps:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True
        )
        if proc.returncode:
            print(f"{step}: failed\n{proc.stderr[-2000:]}")
            continue
        results[step] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[step]
        print(
            f"{step:10s} {r['seconds']:7.2f} s   peak {r['peak_gb']:.2f} GB (after loading {r['after_load_gb']:.2f} GB)"
        )
    if "lifetimes" in results:
        print(
            f"BTYD core speed-up over lifetimes: {results['lifetimes']['seconds'] / results['btyd']['seconds']:.1f}x"
        )


if __name__ == "__main__":
    main()

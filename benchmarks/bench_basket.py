"""Benchmark basket mining (run on demand, prints seconds and peak memory per step).

    .venv/bin/python benchmarks/bench_basket.py [--retail PATH] [--baskets 1000000]
                                                [--products 5000] [--skip-mlxtend]

Steps, each in its own process under a 12 GB address-space cap, with its peak resident memory
(``ru_maxrss``, imports and data included) and the memory right after loading:

  1. UCI Online Retail invoices of known customers at product level (about 18.5k baskets x
     3.9k stock codes): frequent itemsets and rules (confidence 0.5) at support 0.01 and 0.005,
     with crm_models' sparse Eclat and with plain mlxtend (``fpgrowth`` on a sparse DataFrame +
     ``association_rules``); then with the default memory budget (1 GB): the support chosen
     from the data (``basket_summary`` defaults, confidence 0.8) and a support far too low
     (0.001, which must stop with ``MemoryBudgetError`` well before the cap);
  2. simulated baskets over 5,000 products (popularity ~ 1/rank, 1 + Poisson(3) items, some
     planted pairs and triples), grown 100k -> 300k -> 1M baskets, at support 0.001, with our
     engine (target: 1M baskets under 4 GB) and mlxtend (stops at the first size that fails).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _harness import cap_memory, peak_gb

MEMORY_CAP_GB = 12
RETAIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail"
STEP_TIMEOUT_S = 900


def simulate_baskets(n_baskets: int, n_products: int, seed: int = 0):
    """Sparse baskets: Zipf-like popularity, 1 + Poisson(3) draws, planted pairs/triples."""
    import scipy.sparse as sp

    from crm_models.baskets import Baskets

    rng = np.random.default_rng(seed)
    sizes = 1 + rng.poisson(3.0, n_baskets)
    rows = np.repeat(np.arange(n_baskets), sizes)
    weights = 1.0 / np.arange(1, n_products + 1) ** 0.9
    cols = rng.choice(n_products, size=len(rows), p=weights / weights.sum())
    extra_r, extra_c = [], []
    for j in range(50):  # planted: product 100+j pulls in 200+j (and 300+j half of the time)
        has = np.unique(rows[cols == 100 + j])
        add = has[rng.random(len(has)) < 0.6]
        extra_r += [add, add[rng.random(len(add)) < 0.5]]
        extra_c += [np.full(len(add), 200 + j), np.full(len(extra_r[-1]), 300 + j)]
    rows = np.concatenate([rows, *extra_r])
    cols = np.concatenate([cols, *extra_c])
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n_baskets, n_products)
    )
    import pandas as pd

    return Baskets(m, pd.Index([f"P{i:05d}" for i in range(n_products)]), level="product")


def retail_baskets(path: Path):
    from crm_models.baskets import baskets_from_transactions
    from crm_models.data.loading import load_dataset

    ds = load_dataset(path)
    return baskets_from_transactions(ds.customer_transactions(), products=ds.products)


def child(step: str, engine: str, arg: str, support: float, n_products: int) -> None:
    cap_memory(MEMORY_CAP_GB)
    from crm_models import baskets as basket

    if step == "retail":
        b = retail_baskets(Path(arg))
    else:
        b = simulate_baskets(int(arg), n_products)
    base = peak_gb()
    t0 = time.perf_counter()
    label = ""  # what a budget step found
    if engine == "default":  # support chosen from the data within the default budget
        out = basket.basket_summary(b, None if support == 0 else support)
        t_itemsets, n_itemsets, n_rules = 0.0, out["itemsets"], out["rules"]
        label = f"chosen support {out['min_support']:g}"
    elif engine == "budget":  # a support too low for the budget: the error, not a crash
        try:
            basket.association_rules(b, support, 0.8)
            label = "not stopped by the budget"
        except basket.MemoryBudgetError as err:
            label = "stopped: " + str(err).split(": ")[1].split(";")[0]
        t_itemsets, n_itemsets, n_rules = 0.0, 0, 0
    elif engine == "ours":
        fi = basket.frequent_itemsets(b, support, max_len=10)
        t_itemsets = time.perf_counter() - t0
        rules = basket.association_rules(b, support, 0.5, min_len=2)
        n_itemsets, n_rules = len(fi), len(rules)
    else:
        from mlxtend.frequent_patterns import association_rules, fpgrowth

        df = b.to_frame()
        found = fpgrowth(df, min_support=support, use_colnames=False, max_len=10)
        t_itemsets = time.perf_counter() - t0
        rules = association_rules(found, num_itemsets=b.n_baskets, min_threshold=0.5)
        # mlxtend also makes rules with several consequents; arules has one: count those
        n_itemsets, n_rules = len(found), int((rules["consequents"].map(len) == 1).sum())
    seconds = time.perf_counter() - t0
    peak = peak_gb()
    print(
        json.dumps(
            {
                "baskets": b.n_baskets,
                "items": b.n_items,
                "nnz": int(b.matrix.nnz),
                "itemsets": n_itemsets,
                "rules": n_rules,
                "seconds_itemsets": round(t_itemsets, 2),
                "seconds": round(seconds, 2),
                "peak_gb": round(peak, 2),
                "after_load_gb": round(base, 2),
                "note": label,
            }
        )
    )


def run(step: str, engine: str, arg: str, support: float, n_products: int) -> dict | None:
    cmd = [sys.executable, __file__, "--child", step, engine, arg, str(support), str(n_products)]
    label = f"{step:6s} {engine:7s} {arg if step == 'sim' else '':>8s} support {support:<6g}"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"{label} timed out after {STEP_TIMEOUT_S} s")
        return None
    if proc.returncode:
        reason = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{label} failed: {reason[:160]}")
        return None
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{label} {r['baskets']:>9,} x {r['items']:>5,}  itemsets {r['itemsets']:>7,}  "
        f"rules {r['rules']:>7,}  {r['seconds_itemsets']:7.2f} s itemsets  "
        f"{r['seconds']:7.2f} s total  peak {r['peak_gb']:.2f} GB "
        f"(after loading {r['after_load_gb']:.2f} GB) {r['note']}",
        flush=True,
    )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retail", default=str(RETAIL / "online_retail.csv"))
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--skip-mlxtend", action="store_true")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, engine, arg, support, n_products = args.child
        return child(step, engine, arg, float(support), int(n_products))
    engines = ["ours"] + ([] if args.skip_mlxtend else ["mlxtend"])
    if Path(args.retail).exists():
        for support in (0.01, 0.005):
            for engine in engines:
                run("retail", engine, args.retail, support, args.products)
        run("retail", "default", args.retail, 0, args.products)
        run("retail", "budget", args.retail, 0.001, args.products)
    else:
        print(f"Online Retail not found at {args.retail}: skipped")
    sizes = [s for s in (100_000, 300_000) if s < args.baskets] + [args.baskets]
    for engine in engines:
        for n in sizes:
            if run("sim", engine, str(n), 0.001, args.products) is None:
                break  # do not grow a step that already failed


if __name__ == "__main__":
    main()

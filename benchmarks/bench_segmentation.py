"""Benchmark RFM scoring + behavioural clustering on a large customer base (run on demand).

    .venv/bin/python benchmarks/bench_segmentation.py [--customers 1000000] [--lines 10000000]

Uses the simulated log cached by ``benchmarks/bench_customer_view.py`` (generated there when
missing), builds the customer view once, then times, in one process under a 12 GB address-space
cap: RFM scoring + named segments (``RFMScorer``), the clustering model selection with
bootstrap stability (``BehaviourClustering.fit``, on its fixed-size sample) and the assignment
of every customer (``predict``).  Target (issue 5): RFM + clustering under 60 s for 1M
customers.  Prints one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _harness import cap_memory, peak_gb

MEMORY_CAP_GB = 12
RESULTS = Path(__file__).resolve().parent / "results"


def child(path: Path, quick: bool) -> None:
    cap_memory(MEMORY_CAP_GB)
    import pandas as pd

    from crm_models.data.dataset import Dataset
    from crm_models.features import customer_view
    from crm_models.segments import BehaviourClustering, RFMScorer

    tx = pd.read_parquet(path)
    as_of = tx["order_date"].max().normalize()
    t0 = time.perf_counter()
    view = customer_view(Dataset("bench", transactions=tx, fingerprint="-"), as_of=as_of)
    del tx
    t_view = time.perf_counter() - t0
    t0 = time.perf_counter()
    rfm = RFMScorer().fit_transform(view)
    t_rfm = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = BehaviourClustering(n_bootstrap=4 if quick else 8, sample_size=5000).fit(view)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = model.predict(view)
    t_predict = time.perf_counter() - t0
    peak = peak_gb()
    print(
        json.dumps(
            {
                "customers": len(view),
                "view_s": round(t_view, 2),
                "rfm_s": round(t_rfm, 2),
                "cluster_fit_s": round(t_fit, 2),
                "cluster_predict_s": round(t_predict, 2),
                "rfm_plus_clustering_s": round(t_rfm + t_fit + t_predict, 2),
                "k": model.k_,
                "method": model.method_,
                "stability": round(model.stability_, 3),
                "segments": rfm["segment"].value_counts().to_dict(),
                "assigned": int(labels.notna().sum()),
                "peak_gb": round(peak, 2),
            },
            default=str,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="fewer bootstrap refits")
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child), args.quick)
    path = RESULTS / f"tx_{args.customers}_{args.lines}.parquet"
    if not path.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_customer_view import generate

        RESULTS.mkdir(exist_ok=True)
        generate(args.customers, args.lines).to_parquet(path)
    cmd = [sys.executable, __file__, "--child", str(path)] + (["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        print(f"failed\n{proc.stderr[-2000:]}")
        sys.exit(1)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

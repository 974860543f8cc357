"""Benchmark targeting at scale: fit and score an uplift model on 1M simulated customer-campaign
rows and build the contact list (run on demand, prints figures).

    .venv/bin/python benchmarks/bench_targeting.py [--rows 1000000] [--threads 1]

Each step runs in its own process under a 12 GB address-space cap, measuring seconds and peak
resident memory:
  1. ``fit``   — the pooled multi-arm S-learner (gradient boosting) on 1M rows: 20 features,
                 two offers and a control group, a planted uplift;
  2. ``score`` — uplift of both offers and the control response for 1M customers;
  3. ``clv``   — the lifetime-value term of the contact list (``response_clv_gain``: BG/NBD and
                 Gamma-Gamma fitted on 1M customers' purchase summaries, CLV now and after a
                 purchase today);
  4. ``list``  — the contact list for 1M customers with permission data and a 3M-row contact
                 history (opt-outs, frequency cap, budgets of 100,000 contacts and 30,000 in
                 money, the lifetime-value term).
It also reports the rank correlation of the predicted with the planted uplift (a sanity check).
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

MEMORY_CAP_GB = 12


def simulate(n: int, seed: int = 0):
    """Features, arms, outcomes and the planted uplift of ``n`` customer-campaign rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20)).astype(np.float64)
    arm = rng.choice(
        np.array(["offer_a", "offer_b", "control"], dtype=object), n, p=[0.4, 0.4, 0.2]
    )
    base = 1 / (1 + np.exp(-(-2.8 + 0.8 * X[:, 0] + 0.4 * X[:, 1])))
    up_a = 0.04 * (X[:, 2] > 0) + 0.02 * (X[:, 0] > 0)
    up_b = 0.05 * (X[:, 3] > 0.5) - 0.02 * (X[:, 4] > 1.5)
    p = base + np.where(arm == "offer_a", up_a, 0) + np.where(arm == "offer_b", up_b, 0)
    y = (rng.random(n) < np.clip(p, 0, 1)).astype(float)
    return X, arm, y, up_a, up_b


def btyd_summaries(n: int, seed: int = 2) -> pd.DataFrame:
    """BG/NBD purchase summaries (weeks) of ``n`` customers for the lifetime-value step: rates
    Gamma(0.75, 4), drop-out after a repeat purchase Beta(0.8, 2.5), 1 to 130 weeks observed."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(1.0, 130.0, n)
    lam = rng.gamma(0.75, 1 / 4.0, n)
    p = rng.beta(0.8, 2.5, n)
    x, tx, now = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    while active.size:  # one repeat purchase per round for every customer still buying
        now[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[now[active] < T[active]]
        x[active] += 1
        tx[active] = now[active]
        active = active[rng.random(active.size) >= p[active]]
    mv = np.where(x > 0, rng.gamma(4.0, 25.0, n).round(2), 0.0)
    return pd.DataFrame(
        {"frequency": x, "recency": tx, "T": T, "monetary_value": mv},
        index=pd.Index(np.arange(1, n + 1), name="customer_id"),
    )


def child(step: str, n: int, threads: int) -> None:
    cap_memory(MEMORY_CAP_GB)
    from threadpoolctl import threadpool_limits

    from crm_models.targeting import (
        ContactPolicy,
        fit_outcome,
        make_estimator,
        make_multi_arm,
        select_contacts,
    )

    X, arm, y, up_a, up_b = simulate(n)
    base = peak_gb()
    extra: dict = {}
    with threadpool_limits(threads):
        if step == "clv":
            from crm_models.targeting import response_clv_gain

            view = btyd_summaries(n)
            t0 = time.perf_counter()
            gain = response_clv_gain(view)
            seconds = time.perf_counter() - t0
            extra["mean_clv_gain"] = round(float(gain.mean()), 2)
        elif step == "fit":
            t0 = time.perf_counter()
            make_multi_arm("pooled_s_learner_gbm").fit(X, arm, y)
            fit_outcome(make_estimator("gbm"), X[arm == "control"], y[arm == "control"])
            seconds = time.perf_counter() - t0
        else:
            model = make_multi_arm("pooled_s_learner_gbm").fit(X, arm, y)
            control = fit_outcome(make_estimator("gbm"), X[arm == "control"], y[arm == "control"])
            t0 = time.perf_counter()
            up = model.predict(X)
            p0 = control.predict(X)
            if step == "score":
                seconds = time.perf_counter() - t0
                from scipy.stats import spearmanr

                extra["rank_corr_offer_a"] = round(float(spearmanr(up[:, 0], up_a).statistic), 3)
                extra["rank_corr_offer_b"] = round(float(spearmanr(up[:, 1], up_b).statistic), 3)
            else:
                rng = np.random.default_rng(1)
                ids = np.arange(1, n + 1)
                send = pd.Timestamp("2025-06-30")
                customers = pd.DataFrame(
                    {
                        "customer_id": ids,
                        "opt_in": rng.random(n) < 0.8,
                        "opt_out_date": (
                            send - pd.to_timedelta(rng.integers(0, 700, n), unit="D")
                        ).where(rng.random(n) < 0.06),
                    }
                )
                m = 3 * n
                campaigns = pd.DataFrame(
                    {
                        "customer_id": rng.integers(1, n + 1, m),
                        "sent_date": send - pd.to_timedelta(rng.integers(0, 365, m), unit="D"),
                        "treated": rng.random(m) < 0.8,
                    }
                )
                scores = pd.DataFrame(
                    {
                        "uplift_offer_a": up[:, 0],
                        "uplift_offer_b": up[:, 1],
                        "p_control": p0,
                        "value": rng.gamma(3, 20, n),
                        "clv_gain": rng.gamma(1.5, 150, n),
                        "channel": np.where(rng.random(n) < 0.7, "email", "post"),
                    },
                    index=pd.Index(ids, name="customer_id"),
                )
                policy = ContactPolicy(
                    budget=100_000,
                    budget_money=30_000.0,
                    cost_per_contact={"email": 0.1, "post": 0.8},
                    margin=0.4,
                )
                t0 = time.perf_counter()
                d = select_contacts(
                    scores, ["offer_a", "offer_b"], policy, customers, campaigns, send
                )
                seconds = time.perf_counter() - t0
                extra["contacts"] = int(d["selected"].sum())
                extra["spent"] = round(float(d.loc[d["selected"], "cost"].sum()), 2)
                extra["excluded"] = d["exclusion"].value_counts().to_dict()
    peak = peak_gb()
    print(
        json.dumps(
            {
                "step": step,
                "rows": n,
                "seconds": round(seconds, 2),
                "peak_gb": round(peak, 2),
                "after_data_gb": round(base, 2),
                **extra,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads for the models")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.threads)
        return
    for step in ("fit", "score", "clv", "list"):
        cmd = [sys.executable, __file__, "--child", step, "--rows", str(args.rows)]
        cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(json.dumps({"step": step, "error": proc.stderr.strip().splitlines()[-1:]}))
            continue
        print(proc.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()

"""Money-budget contact list: exact knapsack vs the earlier greedy rule, time and profit.

Run: ``.venv/bin/python benchmarks/bench_contact_knapsack.py`` (prints one line per case).
Random candidates with three channel costs (e-mail, SMS, post) at 1k to 300k customers, with a
money budget of a fifth of the total cost, alone and with a count budget of a tenth; then the
demo shop's contact list at a money budget.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from crm_models.targeting.knapsack import solve_budget


def earlier_greedy(profit, cost, money, count=None) -> float:
    """The rule used before: best profit per unit of cost until the next would overspend, then
    the most profitable ``count`` of those."""
    order = np.argsort(-profit / np.maximum(cost, 1e-9), kind="stable")
    kept = order[np.cumsum(cost[order]) <= money]
    if count is not None:
        kept = kept[np.argsort(-profit[kept], kind="stable")][:count]
    return float(profit[kept].sum())


def random_cases() -> None:
    rng = np.random.default_rng(0)
    for n in (1_000, 10_000, 100_000, 300_000):
        cost = rng.choice([0.05, 0.1, 0.8], size=n)
        profit = rng.gamma(1.0, 0.5, n) * cost * 3 + rng.random(n) * 0.2
        money = cost.sum() * 0.2
        for count in (None, n // 10):
            start = time.perf_counter()
            s = solve_budget(profit, cost, money, count).summary()
            secs = time.perf_counter() - start
            print(
                f"n={n:>7,} count={count!s:>6} {secs:6.2f}s {s['method']:6} "
                f"profit {s['profit']:,.2f} (earlier greedy "
                f"{earlier_greedy(profit, cost, money, count):,.2f}, LP bound "
                f"{s['upper_bound']:,.2f}, gap {s['gap_share']:.2e}) {s['how']}"
            )


def demo_case(money: float = 150.0) -> None:
    from crm_models import targeting as tg
    from crm_models.data.loading import load_dataset
    from crm_models.features import resolve_as_of

    ds = load_dataset("demo")
    as_of = resolve_as_of(ds, None)
    model = tg.TargetingModel(tg.BASELINE).fit(ds)
    scores = model.score(ds, as_of)
    costs = {"email": 0.10, "sms": 0.05, "post": 0.80, "default": 0.10}
    policy = tg.ContactPolicy(budget_money=money, cost_per_contact=costs, margin=0.4)
    send = as_of + pd.Timedelta(days=1)
    d = tg.select_contacts(scores, model.arms_, policy, ds.customers, ds.campaigns, send)
    cand = d["exclusion"].isin(["", "OVER_BUDGET"]).to_numpy()
    profit, cost = d["expected_profit"].to_numpy()[cand], d["cost"].to_numpy()[cand]
    s = d.attrs["selection"]
    print(
        f"demo, money budget {money:g}: {cand.sum():,} profitable candidates; {s['method']} "
        f"profit {s['profit']:,.2f} vs earlier greedy {earlier_greedy(profit, cost, money):,.2f} "
        f"(LP bound {s['upper_bound']:,.2f}); {s['how']}"
    )


if __name__ == "__main__":
    random_cases()
    demo_case()

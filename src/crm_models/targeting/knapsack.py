"""Exact contact selection under a money budget (and a count budget): a 0/1 knapsack.

Maximise the total expected profit of the customers taken, subject to their total contact cost
staying within the money budget and, when given, their number within the count budget.  Each
customer's offer is chosen first (the most profitable arm): the cost of a contact and the count
do not depend on the offer, so the best offer per customer is also best in the joint problem
(the multiple-choice knapsack reduces exactly to this one).

The solution, in order:

1. everything fits: take everything; all costs equal: the top customers by profit (both exact);
2. the LP relaxation through its Lagrangian dual (prices of money and of a contact; for one
   budget Dantzig's bound): its value is an upper bound on any list's profit;
3. the greedy list: customers by profit net of the priced resources, best first, as long as they
   fit, then filled with the best remaining customers that still fit (for one money budget: best
   profit per unit of cost first);
4. reduced-cost fixing (Dembo & Hammer 1980): a customer whose LP reduced cost exceeds the gap
   between the bound and the greedy list's profit is in (or out of) every optimal list, so only
   the customers near the LP's cut-off (the *core*) are left open;
5. the core solved by ``scipy.optimize.milp`` (HiGHS branch and bound) under a time limit.

When the core is larger than ``max_core`` or the solver stops at its time limit, the greedy list
is used and reported with its gap to the bound (method ``"greedy"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_CORE", "KnapsackSolution", "solve_budget"]

MAX_CORE = 2_000  # customers left open after fixing, above which the exact solve is not tried
_TOL = 1e-9


@dataclass
class KnapsackSolution:
    """The customers taken (boolean mask over the candidates) and how they were found."""

    take: np.ndarray
    method: str  # "exact" or "greedy"
    how: str  # in words
    profit: float
    greedy_profit: float
    upper_bound: float  # the LP-relaxation bound (the exact profit when method is "exact")

    def summary(self) -> dict[str, object]:
        """The figures for ``target --json`` and the report."""
        gap = self.upper_bound - self.profit
        return {
            "method": self.method,
            "how": self.how,
            "profit": self.profit,
            "greedy_profit": self.greedy_profit,
            "upper_bound": self.upper_bound,
            "gap": max(gap, 0.0),
            "gap_share": max(gap, 0.0) / self.upper_bound if self.upper_bound > 0 else 0.0,
        }


def _fill(take: np.ndarray, order: np.ndarray, cost, money, count) -> np.ndarray:
    """Add customers in ``order`` that still fit, in a few vectorised rounds (each round takes
    the longest prefix of the remaining customers that individually fit)."""
    take = take.copy()
    while True:
        left_money = money - cost[take].sum()
        left_count = np.inf if count is None else count - take.sum()
        rest = order[~take[order] & (cost[order] <= left_money + _TOL)]
        if not len(rest) or left_count < 1:
            return take
        fits = (np.cumsum(cost[rest]) <= left_money + _TOL) & (
            np.arange(1, len(rest) + 1) <= left_count
        )
        if not fits[0]:
            return take
        take[rest[: int(np.argmin(fits)) if not fits.all() else len(rest)]] = True


def _lagrange(profit, cost, money, count) -> tuple[float, float, float]:
    """Prices ``u`` of money and ``v`` of a contact and the bound
    ``sum((profit - u·cost - v)+) + u·money + v·count``, minimised over ``v`` (golden-section search;
    the bound is convex in ``v``) with the best ``u`` for each ``v`` (the profit-per-cost ratio of
    the item where the budget runs out).  Any prices give an upper bound on every feasible
    list's profit; the minimum is the LP-relaxation bound (LP duality)."""

    def best_u(v):
        p = profit - v
        keep = p > 0
        ratio = np.where(cost[keep] > 0, p[keep] / np.maximum(cost[keep], _TOL), np.inf)
        order = np.argsort(-ratio, kind="stable")
        over = np.cumsum(cost[keep][order]) > money + _TOL
        return float(ratio[order][np.argmax(over)]) if over.any() else 0.0

    def value(v):
        u = best_u(v)
        k = 0.0 if count is None else v * count
        return u, float(np.maximum(profit - u * cost - v, 0).sum() + u * money + k)

    lo, hi = 0.0, (float(profit.max()) if count is not None else 0.0)
    g = (np.sqrt(5) - 1) / 2  # golden-section search: one new evaluation per step
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = value(a)[1], value(b)[1]
    for _ in range(50 if hi > 0 else 0):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = value(a)[1]
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = value(b)[1]
    v = a if fa <= fb else b
    u, bound = value(v)
    return u, v, bound


def _top(profit: np.ndarray, k: int) -> np.ndarray:
    take = np.zeros(len(profit), bool)
    take[np.argsort(-profit, kind="stable")[: max(int(k), 0)]] = True
    return take


def solve_budget(
    profit: np.ndarray,
    cost: np.ndarray,
    money: float,
    count: int | None = None,
    time_limit: float = 5.0,
    max_core: int = MAX_CORE,
) -> KnapsackSolution:
    """The most profitable set of candidates (``profit`` > 0) whose ``cost`` sums to at most
    ``money`` and, with ``count``, who number at most ``count`` (module docstring)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    profit = np.asarray(profit, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if (profit <= 0).any() or (cost < 0).any():
        raise ValueError("candidates need a positive profit and a cost >= 0")
    n = len(profit)
    cap = n if count is None else min(int(count), n)

    def done(take, method, how, greedy=None, bound=None):
        value = float(profit[take].sum())
        greedy = value if greedy is None else greedy
        return KnapsackSolution(take, method, how, value, greedy, value if bound is None else bound)

    if cost.sum() <= money + _TOL and n <= cap:
        return done(np.ones(n, bool), "exact", "every profitable customer fits the budget")
    if n and np.ptp(cost) <= _TOL * max(1.0, cost.max()):
        k = cap if cost[0] <= 0 else min(cap, int(np.floor(money / cost[0] + _TOL)))
        return done(_top(profit, k), "exact", "equal costs: the most profitable customers")

    u, v, bound = _lagrange(profit, cost, money, count)
    reduced = profit - u * cost - v  # profit net of the priced money and contacts
    take = _fill(np.zeros(n, bool), np.argsort(-reduced, kind="stable"), cost, money, count)
    greedy = float(profit[take].sum())
    gap = bound - greedy
    if gap <= _TOL * (1 + abs(bound)):
        return done(take, "exact", "the greedy list reaches the LP bound", greedy, bound)

    slack = gap + 1e-7 * (1 + abs(bound))
    ones, zeros = reduced > slack, reduced < -slack
    core = ~(ones | zeros)
    n_core = int(core.sum())
    A = np.vstack([cost] + ([np.ones(n)] if count is not None else []))
    b = np.array([money] + ([cap] if count is not None else []), dtype=float)
    fallback = f"{n_core:,} customers left open after fixing (limit {max_core:,})"
    if n_core <= max_core:
        res = milp(
            -profit[core],
            integrality=np.ones(n_core),
            bounds=Bounds(0, 1),
            constraints=LinearConstraint(A[:, core], -np.inf, b - A[:, ones].sum(axis=1)),
            options={"time_limit": time_limit, "mip_rel_gap": 0.0, "presolve": False},
        )
        if res.status == 0:
            exact = ones.copy()
            exact[np.flatnonzero(core)[res.x > 0.5]] = True
            fits = cost[exact].sum() <= money + _TOL and exact.sum() <= cap
            if fits and profit[exact].sum() >= greedy - _TOL * (1 + abs(greedy)):
                how = f"knapsack solved exactly (HiGHS, {n_core:,} customers left open)"
                return done(exact, "exact", how, greedy, bound)
        fallback = (
            f"the exact solver stopped without a proven optimum ({res.message.split('.')[0]})"
        )
    return done(take, "greedy", f"greedy list: {fallback}", greedy, bound)

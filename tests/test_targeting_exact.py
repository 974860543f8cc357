"""The money-budget contact list is the exact knapsack optimum (checked by brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import targeting as tg
from crm_models.targeting.knapsack import solve_budget


def _brute_force(profit, cost, money, count):
    """The best total profit over every subset that fits both budgets."""
    n = len(profit)
    subsets = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)
    fits = subsets @ cost <= money + 1e-9
    if count is not None:
        fits &= subsets.sum(axis=1) <= count
    return float((subsets[fits] @ profit).max())


@st.composite
def _case(draw):
    n = draw(st.integers(1, 12))
    profit = np.array(draw(st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n)))
    cost = np.array(
        draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.8, 1.3, 2.0]), min_size=n, max_size=n))
    )
    money = draw(st.floats(0.0, 6.0))
    count = draw(st.one_of(st.none(), st.integers(0, n)))
    return profit, cost, money, count


@settings(max_examples=150, deadline=None)
@given(_case())
def test_exact_list_equals_the_brute_force_optimum(case):
    profit, cost, money, count = case
    sol = solve_budget(profit, cost, money, count)
    assert cost[sol.take].sum() <= money + 1e-9
    if count is not None:
        assert sol.take.sum() <= count
    best = _brute_force(profit, cost, money, count)
    assert sol.method == "exact"
    assert sol.profit == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert sol.greedy_profit <= sol.profit + 1e-9 <= sol.upper_bound + 2e-9


def test_greedy_fallback_reports_its_gap_to_the_bound():
    rng = np.random.default_rng(0)
    cost = rng.choice([0.05, 0.1, 0.8], size=3000)
    profit = rng.gamma(1.0, 0.5, 3000) * cost * 3 + rng.random(3000) * 0.2
    sol = solve_budget(profit, cost, cost.sum() * 0.2, max_core=0)  # exact not tried
    s = sol.summary()
    assert s["method"] == "greedy" and "left open" in s["how"]
    assert cost[sol.take].sum() <= cost.sum() * 0.2 + 1e-9
    assert 0 < s["gap"] == pytest.approx(s["upper_bound"] - s["profit"])
    assert s["gap_share"] < 1e-3  # the greedy list is within 0.1% of the LP bound here


def test_equal_costs_take_the_most_profitable():
    profit = np.array([3.0, 1.0, 5.0, 2.0, 4.0])
    sol = solve_budget(profit, np.full(5, 0.5), money=1.6)  # room for three
    assert sol.method == "exact" and sol.take.tolist() == [True, False, True, False, True]


def test_contact_list_reports_the_method_and_beats_the_ratio_greedy():
    # ratio greedy takes customer 1 (best profit per cost) and then cannot afford customer 2
    scores = pd.DataFrame(
        {"uplift_a": [0.2, 0.1, 0.3], "p_control": 0.0, "value": [10.0, 8.4, 31.0]},
        index=pd.Index([1, 2, 3], name="customer_id"),
    )
    scores["channel"] = ["email", "email", "post"]
    policy = tg.ContactPolicy(budget_money=1.0, cost_per_contact={"email": 0.2, "post": 1.0})
    result = tg.contact_list(scores, ["a"], policy, send_date="2025-01-31")
    assert result.summary["method"] == "exact"
    assert result.contacts["customer_id"].tolist() == [3]  # 9.3 - 1.0 beats 1.8 + 0.64
    assert result.summary["spent"] <= 1.0
    assert result.summary["selection"]["profit"] == pytest.approx(8.3)

"""Basket mining within a memory budget: the support chosen from the data, the budget error.

The synthetic baskets below have a known answer: three blocks of items that are always bought
together (every subset of a block is a frequent itemset), in 500, 100 and 30 of 1,000 baskets.
Walking down the support ladder adds a whole block at once, so the itemsets (and their
estimated memory) at each support are known in closed form.
"""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from crm_models import baskets as B
from crm_models.baskets import mining
from crm_models.data.basket_files import read_basket_lines

N = 1000
BLOCKS = {"a": (4, 500), "b": (10, 100), "c": (13, 30)}  # name: (items, baskets holding them)


def block_rows() -> list[list[str]]:
    """Baskets of the three blocks, the rest single items bought once (never frequent)."""
    rows = []
    for name, (size, count) in BLOCKS.items():
        rows += [[f"{name}{i:02d}" for i in range(size)]] * count
    return rows + [[f"single{i:04d}"] for i in range(N - len(rows))]


def as_baskets(rows: list[list[str]]) -> B.Baskets:
    items = pd.Index(sorted({i for r in rows for i in r}), name="item")
    r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
    c = items.get_indexer([i for x in rows for i in x])
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), len(items)))
    return B.Baskets(m, items, level="item")


def load(*names: str) -> tuple[int, int]:
    """Itemsets and estimated bytes of every non-empty subset of these blocks."""
    sizes = [BLOCKS[n][0] for n in names]
    itemsets = sum(comb(s, k) for s in sizes for k in range(1, s + 1))
    est = sum(
        comb(s, k) * (mining.ITEMSET_BYTES + k * mining.RULE_BYTES)
        for s in sizes
        for k in range(1, s + 1)
    )
    return itemsets, est


@pytest.fixture(scope="module")
def blocks() -> B.Baskets:
    return as_baskets(block_rows())


def test_parse_and_format_bytes():
    assert B.parse_bytes("2GB") == 2 * 1024**3
    assert B.parse_bytes("500 mb") == 500 * 1024**2
    assert B.parse_bytes("1.5G") == int(1.5 * 1024**3)
    assert B.parse_bytes(4096) == 4096
    assert B.format_bytes(1024**3) == "1.0 GB" and B.format_bytes(300 * 1024**2) == "300 MB"
    for bad in ("lots", "-1GB", "0", "2 parsecs"):
        with pytest.raises(ValueError, match="is not a size.*e.g. 2GB"):
            B.parse_bytes(bad)


def test_itemset_load_matches_the_closed_form(blocks):
    assert mining.itemset_load(blocks, 500, 20, None) == load("a")
    assert mining.itemset_load(blocks, 100, 20, None) == load("a", "b")
    assert mining.itemset_load(blocks, 30, 20, None) == load("a", "b", "c")
    # over the budget mining stops and says so, instead of storing everything
    assert mining.itemset_load(blocks, 30, 20, load("a", "b")[1]) is None


def test_support_chosen_is_the_lowest_that_fits_the_budget(blocks):
    # room for blocks a and b but not c: c joins at 0.02 (30 baskets), so the answer is 0.05
    budget = load("a", "b")[1] + 1000
    choice = B.choose_support(blocks, budget, max_len=20)
    assert choice.min_support == 0.05 and choice.min_count == 50
    assert (choice.itemsets, choice.estimated_bytes) == load("a", "b")
    assert choice.memory_budget == budget
    assert "0.02 would need more than the memory budget" in choice.rule
    # the rules at the chosen support really fit: mining with the same budget succeeds
    rules = B.association_rules(blocks, choice.min_support, 0.8, max_len=20, memory_budget=budget)
    assert rules.attrs["estimated_bytes"] <= budget and len(rules)


def test_support_chosen_stops_at_the_basket_floor(blocks):
    # ample memory: the ladder stops at 0.02, the lowest support keeping rules on 20+ baskets
    choice = B.choose_support(blocks, 1024**3, max_len=20)
    assert choice.min_support == 0.02 and choice.min_count == 20
    assert choice.itemsets == load("a", "b", "c")[0]
    assert "lowest that keeps every rule on 20+ baskets" in choice.rule
    # a higher floor stops higher up
    assert B.choose_support(blocks, 1024**3, max_len=20, min_baskets=60).min_support == 0.1


def test_no_support_fits_a_tiny_budget(blocks):
    with pytest.raises(B.MemoryBudgetError, match="Even the highest support tried, 0.5"):
        B.choose_support(blocks, load("a")[1] - 1, max_len=20)


def test_given_support_is_held_to_the_budget_with_a_clear_error(blocks):
    budget = load("a", "b")[1] + 1000
    with pytest.raises(B.MemoryBudgetError) as err:
        B.association_rules(blocks, 0.02, 0.8, max_len=20, memory_budget=budget)
    message = str(err.value)
    assert "--min-support 0.02 (20 baskets)" in message  # the setting
    assert f"memory budget of {B.format_bytes(budget)}" in message  # the budget
    assert "an estimated" in message and "more remain" in message  # the estimate
    assert "raise --min-support to 0.05" in message  # what to do
    assert "\n" not in message  # one line for the command line
    with pytest.raises(B.MemoryBudgetError, match="raise --min-support to 0.05"):
        B.frequent_itemsets(blocks, 0.02, max_len=20, memory_budget=budget)
    # no budget, no bound: the same call mines everything
    everything = B.frequent_itemsets(blocks, 0.02, max_len=20, memory_budget=None)
    assert len(everything) == load("a", "b", "c")[0]


def test_mlxtend_engine_refuses_a_dense_table_over_the_budget(blocks):
    with pytest.raises(B.MemoryBudgetError, match="dense table.*use engine='eclat'"):
        B.association_rules(blocks, 0.5, 0.8, engine="mlxtend", memory_budget=1000)


@pytest.fixture
def basket_file(tmp_path):
    path = tmp_path / "blocks.csv"
    path.write_text("\n".join(",".join(r) for r in block_rows()) + "\n")
    assert len(read_basket_lines(path)) == N
    return path


def test_cli_basket_budget_error_exits_non_zero(basket_file, capsys):
    from crm_models.cli import main

    args = ["basket", str(basket_file), "--min-support", "0.02", "--max-len", "20"]
    assert main([*args, "--memory-budget", "8MB", "--json"]) == 1
    err = capsys.readouterr().err
    assert "error: Mining rules at --min-support 0.02 (20 baskets)" in err
    assert "memory budget of 8.0 MB (--memory-budget)" in err
    assert "raise --min-support to 0.05" in err
    with pytest.raises(SystemExit) as bad:
        main([*args, "--memory-budget", "lots"])
    assert bad.value.code == 2 and "is not a size" in capsys.readouterr().err


def test_cli_basket_default_support_is_chosen_and_explained(basket_file, capsys):
    from crm_models.cli import main

    assert (
        main(["basket", str(basket_file), "--max-len", "20", "--memory-budget", "8MB", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["min_support_chosen"] == out["min_support"] == 0.05
    assert out["memory_budget_bytes"] == 8 * 1024**2
    assert out["itemsets"] == load("a", "b")[0] and out["estimated_bytes"] <= 8 * 1024**2
    assert "chosen from the data" in out["support_rule"]
    assert out["rules"] > 0
    # a given support wins (and says so)
    assert main(["basket", str(basket_file), "--min-support", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["min_support"] == 0.1 and out["min_support_chosen"] is None
    assert out["memory_budget_bytes"] == B.DEFAULT_MEMORY_BUDGET  # --memory-budget default 1GB


def test_groceries_defaults_give_rules(shared_data):
    """Groceries (9,835 baskets): the lowest ladder support on 20+ baskets is 0.002."""
    path = shared_data / "groceries" / "groceries.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    b = B.baskets_from_lines(read_basket_lines(path))
    out = B.basket_summary(b)
    assert out["min_support_chosen"] == 0.002 and out["min_count"] == 20
    assert out["rules"] > 0 and out["estimated_bytes"] <= out["memory_budget_bytes"]


@pytest.mark.slow
def test_online_retail_defaults_give_rules(shared_data):
    """UCI Online Retail: arules' default support 0.1 gives no rule; the support chosen within
    the default budget gives rules of products sold as sets (lift far above 1)."""
    from crm_models.data.loading import load_dataset

    path = shared_data / "online_retail" / "online_retail.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    b = B.baskets_from_transactions(load_dataset(path))
    out = B.basket_summary(b)
    assert out["min_support_chosen"] in B.SUPPORT_LADDER and out["min_support_chosen"] < 0.1
    assert out["rules"] > 0 and out["estimated_bytes"] <= B.DEFAULT_MEMORY_BUDGET
    assert out["top_rules"][0]["lift"] > 10 and out["top_rules"][0]["confidence"] >= 0.8


def test_rules_found_by_the_support_choice_are_not_mined_again(blocks, monkeypatch):
    from crm_models.baskets import rules as R

    budget = load("a", "b")[1] + 1000  # the walk mines 0.5 .. 0.05, then 0.02 is over budget
    choice = B.choose_support(blocks, budget, max_len=20, min_confidence=0.8, target_rules=10**9)
    assert choice.min_support == 0.05 and choice.rules.attrs["min_support"] == 0.05
    expected = B.mine_rules(blocks, 0.05, 0.8, max_len=20, memory_budget=budget)
    real, calls = R.association_rules, []
    monkeypatch.setattr(R, "association_rules", lambda *a, **k: calls.append(a) or real(*a, **k))
    got = B.mine_rules(blocks, 0.05, 0.8, max_len=20, memory_budget=budget, mined=choice.rules)
    assert calls == []
    pd.testing.assert_frame_equal(got, expected)
    # rules mined with other settings are not taken: mined again, as without them
    other = B.mine_rules(blocks, 0.05, 0.9, max_len=20, memory_budget=budget, mined=choice.rules)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(
        other, B.mine_rules(blocks, 0.05, 0.9, max_len=20, memory_budget=budget)
    )
    # without a target the walk mines no rules
    assert B.choose_support(blocks, budget, max_len=20).rules is None

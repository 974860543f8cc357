"""Association rules as arules computes them, their significance and redundancy, rules in words.

Definitions (the same as R's arules, Hahsler, Gruen & Hornik 2005):

* **Rules** ``X -> {y}`` have one item on the right-hand side; rule *length* counts the items of
  both sides (``min_len=1`` admits ``{} -> {y}``, whose confidence is y's support).  Defaults as
  arules' ``apriori``: support 0.1, confidence 0.8, length 1 to 10.
* Thresholds are compared on exact integer counts (see :mod:`crm_models.baskets.mining`).
* ``confidence = count(X u y) / count(X)``, ``coverage = count(X) / N``, ``lift = confidence /
  supp(y)``, ``leverage = supp(X u y) - supp(X) supp(y)``, ``conviction = (1 - supp(y)) / (1 -
  confidence)`` (infinite when confidence is 1).
* **Significance** (:func:`add_significance`, as arules ``is.significant``): one-sided Fisher
  exact test of independence of X and y, p = P(C >= count(X u y)) for C hypergeometric with
  ``count(X)`` draws from N baskets of which ``count(y)`` hold y, adjusted for multiple testing
  (Bonferroni by default, as arules 1.6-1.7.6; arules >= 1.7.7 defaults to no adjustment);
  significant when the adjusted p <= alpha.
* **Redundancy** (:func:`is_redundant`, as arules ``is.redundant``): a rule is redundant when the
  rule set holds a more general rule (same consequent, antecedent a proper subset) with the
  same or a higher confidence (Bayardo et al.'s improvement <= 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from crm_models.baskets.mining import (
    DEFAULT_MEMORY_BUDGET,
    ITEMSET_BYTES,
    MIN_RULE_BASKETS,
    RULE_BYTES,
    SUPPORT_LADDER,
    Baskets,
    MemoryBudgetError,
    confidence_ok,
    format_bytes,
    itemset_load,
    min_count,
    mine,
)
from crm_models.data.conditions import few

__all__ = [
    "ADJUST",
    "RULE_COLUMNS",
    "SupportChoice",
    "add_significance",
    "association_rules",
    "basket_summary",
    "choose_min_support",
    "choose_support",
    "fisher_p_values",
    "is_redundant",
    "is_significant",
    "mine_rules",
    "rank_rules",
    "rule_hygiene",
    "rule_lift_grid",
    "rule_revenue",
    "rule_sentence",
    "rules_table",
    "strong_rules",
]

ADJUST = ("none", "bonferroni", "holm", "fdr", "BH")


RULE_COLUMNS = [
    "antecedents",
    "consequents",
    "antecedent_names",
    "consequent_names",
    "length",
    "count",
    "support",
    "confidence",
    "coverage",
    "lift",
    "leverage",
    "conviction",
    "antecedent_count",
    "consequent_count",
]


def association_rules(
    baskets: Baskets,
    min_support: float = 0.1,
    min_confidence: float = 0.8,
    *,
    min_len: int = 1,
    max_len: int = 10,
    lhs: Iterable[Any] | None = None,
    rhs: Iterable[Any] | None = None,
    exclude: Iterable[Any] | None = None,
    engine: str = "auto",
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
) -> pd.DataFrame:
    """Association rules ``X -> {y}`` exactly as arules' ``apriori`` (see the module docstring).

    Item constraints (arules' ``appearance``): ``rhs`` - the consequent must be one of these
    items (e.g. the products of a category); ``lhs`` - every antecedent item must be one of
    these; ``exclude`` - items left out entirely.  Returns one row per rule with the columns of
    :data:`RULE_COLUMNS`, sorted by lift; ``attrs`` hold ``n_baskets``, the parameters, the
    number of ``itemsets`` and their ``estimated_bytes``.  Raises
    :class:`~crm_models.baskets.mining.MemoryBudgetError` (naming the support that fits) when
    the itemsets and rules would need more than ``memory_budget`` bytes (None: no bound).
    """
    if min_len < 1 or max_len < min_len:
        raise ValueError("need 1 <= min_len <= max_len")
    n = baskets.n_baskets
    min_cnt = min_count(min_support, n)
    lhs_c, rhs_c, excl_c = baskets.codes(lhs), baskets.codes(rhs), baskets.codes(exclude)
    allowed = None
    if lhs_c is not None and rhs_c is not None:
        allowed = np.union1d(lhs_c, rhs_c)
    if excl_c is not None and len(excl_c):
        base = np.arange(baskets.n_items) if allowed is None else allowed
        allowed = np.setdiff1d(base, excl_c)
    sets, cnts = mine(baskets, min_cnt, max_len, engine, allowed, memory_budget, min_support)
    count_of = dict(zip(sets, cnts, strict=True))
    count_of[()] = n
    ante, cons, c_xy, c_x, c_y = [], [], [], [], []
    rhs_ok = None if rhs_c is None else set(rhs_c.tolist())
    lhs_ok = None if lhs_c is None else set(lhs_c.tolist())
    for s, c in zip(sets, cnts, strict=True):
        if not min_len <= len(s) <= max_len:
            continue
        for k, y in enumerate(s):
            if rhs_ok is not None and y not in rhs_ok:
                continue
            x = s[:k] + s[k + 1 :]
            if lhs_ok is not None and not lhs_ok.issuperset(x):
                continue
            ante.append(x)
            cons.append(y)
            c_xy.append(c)
            c_x.append(count_of[x])
            c_y.append(count_of[(y,)])
    c_xy_a = np.asarray(c_xy, dtype=np.int64)
    c_x_a = np.asarray(c_x, dtype=np.int64)
    c_y_a = np.asarray(c_y, dtype=np.int64)
    ok = confidence_ok(c_xy_a, c_x_a, min_confidence) if len(c_xy_a) else np.zeros(0, bool)
    ok = ok.astype(bool)
    idx = np.flatnonzero(ok)
    rules = _rule_frame(
        baskets, [ante[i] for i in idx], [cons[i] for i in idx], c_xy_a[idx], c_x_a[idx], c_y_a[idx]
    )
    rules.attrs.update(
        n_baskets=n,
        min_support=min_support,
        min_confidence=min_confidence,
        min_count=min_cnt,
        min_len=min_len,
        max_len=max_len,
        itemsets=sum(1 for s in sets if len(s) >= min_len),
        estimated_bytes=len(sets) * ITEMSET_BYTES + sum(map(len, sets)) * RULE_BYTES,
        level=baskets.level,
    )
    return rules


def _rule_frame(baskets, ante, cons, c_xy, c_x, c_y) -> pd.DataFrame:
    n = baskets.n_baskets
    keys = baskets.items.tolist()  # plain lists: indexing a pandas Index per rule is slow
    names = dict(zip(keys, baskets.name_of(keys), strict=True))
    supp = c_xy / n
    conf = np.divide(c_xy, c_x, out=np.zeros(len(c_xy)), where=c_x > 0)
    supp_y = c_y / n
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = conf / supp_y
        conviction = np.where(conf >= 1, np.inf, (1 - supp_y) / (1 - conf))
    antecedents = [tuple(keys[i] for i in a) for a in ante]
    consequents = [(keys[y],) for y in cons]
    rules = pd.DataFrame(
        {
            "antecedents": antecedents,
            "consequents": consequents,
            "antecedent_names": [tuple(names[k] for k in a) for a in antecedents],
            "consequent_names": [(names[c[0]],) for c in consequents],
            "length": np.array([len(a) + 1 for a in ante], dtype=np.int64),
            "count": np.asarray(c_xy, dtype=np.int64),
            "support": supp,
            "confidence": conf,
            "coverage": c_x / n,
            "lift": lift,
            "leverage": supp - (c_x / n) * supp_y,
            "conviction": conviction,
            "antecedent_count": np.asarray(c_x, dtype=np.int64),
            "consequent_count": np.asarray(c_y, dtype=np.int64),
        },
        columns=RULE_COLUMNS,
    )
    # ties broken by the rule's text, so the order does not depend on the mining engine
    rules["_key"] = [
        "\x1f".join(map(str, a)) + "\x1e" + str(c[0])
        for a, c in zip(antecedents, consequents, strict=True)
    ]
    rules = rules.sort_values(
        ["lift", "count", "length", "_key"], ascending=[False, False, True, True], kind="stable"
    )
    return rules.drop(columns="_key").reset_index(drop=True)


# =========================================================================== hygiene
# statsmodels' names for the methods of R's ``p.adjust`` that the ``adjust`` option accepts
_MULTIPLETESTS = {"bonferroni": "bonferroni", "holm": "holm", "fdr": "fdr_bh", "BH": "fdr_bh"}


def _p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Multiple-testing adjustment as R's ``p.adjust`` (none, bonferroni, holm, fdr/BH), by
    statsmodels' ``multipletests``."""
    from statsmodels.stats.multitest import multipletests

    if method not in ADJUST:
        raise ValueError(f"adjust must be one of {ADJUST}, not {method!r}")
    p = np.asarray(p, dtype=float)
    if method == "none" or not len(p):
        return p.copy()
    return multipletests(p, method=_MULTIPLETESTS[method])[1]


def fisher_p_values(rules: pd.DataFrame, n_baskets: int | None = None) -> np.ndarray:
    """One-sided Fisher exact test p-values of the rules (arules ``fishersExactTest``)."""
    from scipy.stats import hypergeom

    n = int(n_baskets or rules.attrs["n_baskets"])
    c_xy = rules["count"].to_numpy(np.int64)
    c_x = rules["antecedent_count"].to_numpy(np.int64)
    c_y = rules["consequent_count"].to_numpy(np.int64)
    return hypergeom.sf(c_xy - 1, n, c_y, c_x)


def add_significance(
    rules: pd.DataFrame,
    alpha: float = 0.01,
    adjust: str = "bonferroni",
    n_baskets: int | None = None,
) -> pd.DataFrame:
    """Copy of ``rules`` with ``p_value``, ``p_adjusted`` and ``significant`` (as arules)."""
    out = rules.copy()
    p = fisher_p_values(rules, n_baskets)
    out["p_value"] = p
    out["p_adjusted"] = _p_adjust(p, adjust)
    out["significant"] = out["p_adjusted"] <= alpha
    out.attrs.update(rules.attrs, alpha=alpha, adjust=adjust)
    return out


def is_significant(
    rules: pd.DataFrame, alpha: float = 0.01, adjust: str = "bonferroni", n_baskets=None
) -> pd.Series:
    """Boolean Series: rules whose adjusted Fisher p-value is <= alpha."""
    return add_significance(rules, alpha, adjust, n_baskets)["significant"]


def is_redundant(rules: pd.DataFrame, measure: str = "confidence") -> pd.Series:
    """Boolean Series: a more general rule in the set has the same or a higher ``measure``.

    More general = same consequent, antecedent a proper subset (the empty antecedent included
    when such a rule is in the set), exactly as arules ``is.redundant`` (improvement <= 0).
    """
    value = rules[measure].to_numpy(float)
    best: dict[tuple, float] = {}
    keys = [
        (cons, frozenset(ante))
        for ante, cons in zip(rules["antecedents"], rules["consequents"], strict=True)
    ]
    for key, v in zip(keys, value, strict=True):
        best[key] = max(v, best.get(key, -np.inf))
    flags = np.zeros(len(rules), dtype=bool)
    for i, (ante, cons) in enumerate(zip(rules["antecedents"], rules["consequents"], strict=True)):
        a = tuple(ante)
        for size in range(len(a)):
            if any(
                best.get((cons, frozenset(sub)), -np.inf) >= value[i]
                for sub in combinations(a, size)
            ):
                flags[i] = True
                break
    return pd.Series(flags, index=rules.index, name="redundant")


def rule_revenue(rules: pd.DataFrame, baskets: Baskets) -> pd.DataFrame:
    """Copy of ``rules`` with ``revenue`` (value of the baskets holding the whole rule) and
    ``revenue_share`` of all basket value: the money behind a rule."""
    out = rules.copy()
    if baskets.value is None:
        out["revenue"] = np.nan
        out["revenue_share"] = np.nan
        return out
    csc = baskets.matrix.tocsc()
    csc.sort_indices()
    col = {k: i for i, k in enumerate(baskets.items)}
    cache: dict[frozenset, float] = {}
    revenue = np.empty(len(rules))
    for i, (ante, cons) in enumerate(zip(rules["antecedents"], rules["consequents"], strict=True)):
        key = frozenset((*ante, *cons))
        if key not in cache:
            cols = sorted((col[k] for k in key), key=lambda c: csc.indptr[c + 1] - csc.indptr[c])
            rows = csc.indices[csc.indptr[cols[0]] : csc.indptr[cols[0] + 1]]
            for c in cols[1:]:
                rows = np.intersect1d(
                    rows, csc.indices[csc.indptr[c] : csc.indptr[c + 1]], assume_unique=True
                )
            cache[key] = float(baskets.value[rows].sum())
        revenue[i] = cache[key]
    out["revenue"] = revenue
    total = float(baskets.value.sum())
    out["revenue_share"] = revenue / total if total else np.nan
    return out


def rank_rules(rules: pd.DataFrame, by: str = "lift", top: int | None = None) -> pd.DataFrame:
    """Rules ranked by ``lift`` (ties: count) or by covered ``revenue`` (ties: lift)."""
    if by == "lift":
        order = ["lift", "count"]
    elif by == "revenue":
        if "revenue" not in rules.columns:
            raise ValueError("rank by revenue needs rule_revenue(rules, baskets) first")
        order = ["revenue", "lift"]
    else:
        order = [by, "lift"]
    ranked = rules.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)
    return ranked.head(top) if top else ranked


def _join(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def rule_sentence(rule: pd.Series | dict) -> str:
    """A rule in words: "Customers who buy X are 3.2 times as likely to buy Y"."""
    ante = list(rule["antecedent_names"])
    cons = _join(rule["consequent_names"])
    if not ante:
        return f"{rule['confidence']:.0%} of all baskets hold {cons}"
    lift = rule["lift"]
    strength = f"{lift:.1f} times as likely" if lift >= 1.05 else "about as likely"
    if lift < 0.95:
        strength = f"{1 / lift:.1f} times less likely"
    return (
        f"Customers who buy {_join(ante)} are {strength} to buy {cons} "
        f"({rule['confidence']:.0%} of their baskets hold it)"
    )


def basket_summary(
    baskets: Baskets,
    min_support: float | None = None,
    min_confidence: float = 0.8,
    min_len: int = 1,
    max_len: int = 10,
    top: int = 20,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> dict[str, Any]:
    """Counts and the strongest rules (by lift) as plain data (the CLI's ``--json``).

    ``min_support=None`` chooses it from the data (:func:`choose_support`); a given one is
    used as is.  Either way mining is held to ``memory_budget`` bytes; ``support_rule`` says in
    words where the support came from.
    """
    if min_support is None:
        choice = choose_support(baskets, memory_budget, max_len=max_len)
        support, chosen, why = choice.min_support, choice.min_support, choice.rule
    else:
        support, chosen, why = min_support, None, "given with --min-support"
    rules = association_rules(
        baskets,
        support,
        min_confidence,
        min_len=min_len,
        max_len=max_len,
        memory_budget=memory_budget,
    )
    ranked = rank_rules(rules, "lift", top)
    return {
        "baskets": baskets.n_baskets,
        "items": baskets.n_items,
        "level": baskets.level,
        "min_support": support,
        "min_support_chosen": chosen,
        "support_rule": why,
        "memory_budget_bytes": int(memory_budget),
        "estimated_bytes": int(rules.attrs["estimated_bytes"]),
        "min_confidence": min_confidence,
        "min_count": rules.attrs["min_count"],
        "itemsets": int(rules.attrs["itemsets"]),
        "rules": len(rules),
        "top_rules": [
            {
                "antecedents": list(r.antecedent_names),
                "consequents": list(r.consequent_names),
                "support": float(r.support),
                "confidence": float(r.confidence),
                "lift": float(r.lift),
                "count": int(r.count),
            }
            for r in ranked.itertuples()
        ],
    }


@dataclass(frozen=True)
class SupportChoice:
    """A support chosen from the data: what it gives and, in ``rule``, why (plain words)."""

    min_support: float
    min_count: int
    itemsets: int
    estimated_bytes: int
    memory_budget: int
    rule: str
    # the rules of 2+ items at the chosen support and confidence, when the walk mined them
    # (``target_rules``): :func:`mine_rules` takes them instead of mining again
    rules: pd.DataFrame | None = field(default=None, repr=False, compare=False)


def choose_support(
    baskets: Baskets,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    *,
    max_len: int = 10,
    min_confidence: float = 0.8,
    target_rules: int | None = None,
    ladder: Iterable[float] = SUPPORT_LADDER,
    min_baskets: int = MIN_RULE_BASKETS,
) -> SupportChoice:
    """The lowest support of ``ladder`` (walked down from the top) whose frequent itemsets of
    up to ``max_len`` items fit in ``memory_budget`` bytes, never letting a rule rest on fewer
    than ``min_baskets`` baskets.  With ``target_rules`` the walk stops earlier, at the first
    support giving that many rules of two or more items at ``min_confidence``.

    Why: the lower the support, the more (and the rarer) combinations are found, but on baskets
    of hundreds of items the itemsets grow combinatorially; the budget, not a fixed default,
    decides how low the data allows.  Raises ``UnsupportedData`` with fewer than
    ``min_baskets`` baskets, and :class:`~crm_models.baskets.mining.MemoryBudgetError` when not
    even the highest support fits.
    """
    n = baskets.n_baskets
    if n < min_baskets:
        raise few(
            n,
            "basket (order with purchases)",
            "baskets (orders with purchases)",
            "look for products bought together",
            min_baskets,
        )
    rungs = [s for s in sorted(ladder, reverse=True) if min_count(s, n) >= min_baskets]
    rungs = rungs or [min_baskets / n]
    steps = ", ".join(f"{s:g}" for s in sorted(ladder, reverse=True))
    budget = format_bytes(memory_budget)
    chosen, chosen_rules, stop = (
        None,
        None,
        f"{rungs[-1]:g} is the lowest that keeps every rule on {min_baskets}+ baskets",
    )
    for s in rungs:
        load = itemset_load(baskets, min_count(s, n), max_len, memory_budget)
        if load is None:
            stop = f"{s:g} would need more than the memory budget of {budget}"
            break
        chosen = (s, *load)
        if target_rules is not None:
            found = chosen_rules = association_rules(
                baskets, s, min_confidence, min_len=2, max_len=max_len, memory_budget=None
            )
            if len(found) >= target_rules:
                stop = f"it is the first to give {target_rules}+ rules at confidence {min_confidence:g}"
                break
    if chosen is None:
        raise MemoryBudgetError(
            f"Even the highest support tried, {rungs[0]:g}, needs more than the memory budget of "
            f"{budget} (--memory-budget) for itemsets of up to {max_len} items over {n:,} "
            "baskets: raise --memory-budget or lower --max-len."
        )
    s, itemsets, used = chosen
    return SupportChoice(
        min_support=s,
        min_count=min_count(s, n),
        itemsets=itemsets,
        estimated_bytes=used,
        memory_budget=memory_budget,
        rule=(
            f"support {s:g} (a combination must be in at least {min_count(s, n):,} of {n:,} "
            f"baskets), chosen from the data by walking down the supports {steps}: it gives "
            f"{itemsets:,} frequent combinations (itemsets) of up "
            f"to {max_len} items, about {format_bytes(used)} of the memory budget of {budget}; "
            f"{stop}"
        ),
        rules=chosen_rules,
    )


def choose_min_support(
    baskets: Baskets,
    min_confidence: float = 0.1,
    target_rules: int = 40,
    candidates: Iterable[float] = (0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005),
    min_baskets: int = 20,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> float:
    """The largest support among ``candidates`` giving at least ``target_rules`` rules of two
    or three items (never a threshold under ``min_baskets`` baskets, nor one whose itemsets
    pass ``memory_budget``); a report's default (:func:`choose_support` says why).
    Raises :class:`~crm_models.data.dataset.UnsupportedData` with fewer than ``min_baskets``
    baskets."""
    return choose_support(
        baskets,
        memory_budget,
        max_len=3,
        min_confidence=min_confidence,
        target_rules=target_rules,
        ladder=candidates,
        min_baskets=min_baskets,
    ).min_support


def mine_rules(
    baskets: Baskets,
    min_support: float,
    min_confidence: float,
    max_len: int = 4,
    alpha: float = 0.01,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    mined: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rules of 2 to ``max_len`` items with their significance (Fisher, Bonferroni-corrected at
    ``alpha``), ``redundant`` flag and the revenue of the baskets holding them.  ``mined``:
    rules already mined from these baskets (:attr:`SupportChoice.rules`), taken when mined with
    the same support, confidence and lengths (at 10M customers mining again took 30 s)."""
    settings = {
        "n_baskets": baskets.n_baskets,
        "min_support": min_support,
        "min_confidence": min_confidence,
        "min_len": 2,
        "max_len": max_len,
    }
    same = mined is not None and all(mined.attrs.get(k) == v for k, v in settings.items())
    rules = (
        mined
        if same
        else association_rules(
            baskets,
            min_support,
            min_confidence,
            min_len=2,
            max_len=max_len,
            memory_budget=memory_budget,
        )
    )
    rules = add_significance(rules, alpha=alpha, adjust="bonferroni")
    rules["redundant"] = is_redundant(rules)
    return rule_revenue(rules, baskets)


def strong_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """The rules worth reading: significant, not redundant and positive (lift above 1)."""
    return rules.loc[rules["significant"] & ~rules["redundant"] & (rules["lift"] > 1)]


def rules_table(rules: pd.DataFrame) -> pd.DataFrame:
    """Rules as a plain-words table: who buy, also buy, baskets, support, confidence, lift and
    the revenue of these baskets."""
    return pd.DataFrame(
        {
            "customers who buy": [", ".join(a) for a in rules["antecedent_names"]],
            "also buy": [", ".join(c) for c in rules["consequent_names"]],
            "baskets": rules["count"].to_numpy(),
            "support": rules["support"].to_numpy(),
            "confidence": rules["confidence"].to_numpy(),
            "lift": rules["lift"].to_numpy(),
            "revenue of these baskets": rules["revenue"].to_numpy(),
        }
    )


def rule_hygiene(rules: pd.DataFrame) -> pd.DataFrame:
    """How many rules are left after each hygiene step (mined, significant, not redundant,
    both, and lift above 1)."""
    sig, red = rules["significant"], rules["redundant"]
    steps = {
        "mined": len(rules),
        "significant": int(sig.sum()),
        "not redundant": int((~red).sum()),
        "significant and not redundant": int((sig & ~red).sum()),
        "… and lift above 1 (shown in this report)": len(strong_rules(rules)),
    }
    return pd.DataFrame({"rules": list(steps.values())}, index=pd.Index(list(steps), name=""))


def rule_lift_grid(rules: pd.DataFrame, max_rules: int = 40, max_items: int = 15) -> pd.DataFrame:
    """Lift of the first ``max_rules`` one-item rules as a grid: rows the item bought, columns
    the item also bought (at most ``max_items`` each, in rule order); NaN where no rule."""
    single = rules.loc[rules["antecedent_names"].map(len) == 1].head(max_rules)
    ante = list(dict.fromkeys(a[0] for a in single["antecedent_names"]))[:max_items]
    cons = list(dict.fromkeys(c[0] for c in single["consequent_names"]))[:max_items]
    grid = pd.DataFrame(np.nan, index=ante, columns=cons)
    for a, c, lift in zip(
        single["antecedent_names"], single["consequent_names"], single["lift"], strict=True
    ):
        if a[0] in grid.index and c[0] in grid.columns:
            grid.loc[a[0], c[0]] = lift
    return grid

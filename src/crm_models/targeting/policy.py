"""Contact policy and contact list: expected incremental profit per customer and offer, permissions.

**Expected incremental profit** of contacting customer *i* with arm *a*::

    uplift_ia × (value_i + clv_weight × ΔCLV_i) × margin
        -  offer_cost_a × p_treated_ia × value_i  -  contact cost

where ``uplift_ia`` is the modelled extra response probability, ``value_i`` the expected value of
a response order (the customer's own average order value shrunk towards the average, calibrated
to the response orders seen in past campaigns), ``offer_cost_a`` the share of a response order
the offer gives away (a discount is paid by every responder, not only the persuaded ones), and
``ΔCLV_i`` the gain in expected lifetime value when the customer buys today
(:func:`crm_models.targeting.clv_gain.response_clv_gain`): a response re-activates a customer
who may be drifting away, so it is worth more than the order itself.  ``clv_weight``
(:class:`ContactPolicy`, default 0.5, 0 switches the term off) discounts that model-based gain:
part of the re-activated purchases would have come anyway, and the order value already counts
today's purchase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.dataset import Dataset
from crm_models.engine import Source
from crm_models.engine.aggregates import table_columns
from crm_models.targeting.knapsack import solve_budget

__all__ = [
    "EXCLUSIONS",
    "PERMISSION_EXCLUSIONS",
    "ContactListResult",
    "ContactPolicy",
    "budgeted_contact_list",
    "contact_list",
    "eligible_customers",
    "permission_tables",
    "recent_contacts",
    "select_contacts",
]


@dataclass
class ContactPolicy:
    """The rules and economics of one send.

    ``budget``: maximum number of contacts; ``budget_money``: maximum total contact cost;
    ``cost_per_contact``: one amount or ``{channel: amount}``; ``max_contacts`` in
    ``window_days`` days (the new contact included) from the contact history; ``channels``: the
    channels this send may use (a customer is reached only through their preferred channel);
    ``margin``: share of a response order's value that is profit; ``offer_costs``: per arm, the
    share of a response order's value the offer gives away; ``clv_weight``: weight of the gain in
    expected lifetime value a response brings (``clv_gain`` in the scores, see
    :func:`response_clv_gain`; 0 switches the term off); ``send_date``: default the day after the
    as-of day.  Both budgets may be given; the list then respects both.  ``time_limit``: seconds
    the exact money-budget solver may take before the greedy list is used.
    """

    budget: int | None = None
    budget_money: float | None = None
    cost_per_contact: float | Mapping[str, float] = 0.5
    max_contacts: int = 2
    window_days: int = 30
    channels: tuple[str, ...] | None = None
    margin: float = 1.0
    offer_costs: Mapping[str, float] = field(default_factory=dict)
    clv_weight: float = 0.5
    send_date: Any = None
    time_limit: float = 5.0

    def __post_init__(self):
        if self.budget is not None and self.budget < 0:
            raise ValueError("budget (number of contacts) must be >= 0")
        if self.budget_money is not None and self.budget_money < 0:
            raise ValueError("budget_money must be >= 0")
        if self.clv_weight < 0:
            raise ValueError("clv_weight must be >= 0 (0 switches the lifetime-value term off)")

    def cost(self, channel: pd.Series) -> np.ndarray:
        """The cost of contacting each customer through their channel (the ``default`` cost
        for a missing or unknown channel); priced once per distinct channel."""
        if not isinstance(self.cost_per_contact, Mapping):
            return np.full(len(channel), float(self.cost_per_contact))
        default = float(self.cost_per_contact.get("default", 0.0))
        codes, channels = pd.factorize(channel)  # a missing channel: code -1, the default
        per = [float(self.cost_per_contact.get(c, default)) for c in channels]
        return np.array([*per, default])[codes]


EXCLUSIONS = {
    "NO_CONSENT": "never gave marketing consent",
    "OPTED_OUT": "opted out before the send date",
    "FREQUENCY_CAP": "would exceed the contact-frequency cap",
    "CHANNEL": "preferred channel not used in this send",
    "NEGATIVE_UPLIFT": "no offer raises their response (sleeping dog or lost cause)",
    "UNPROFITABLE": "expected incremental profit not above zero",
    "OVER_BUDGET": "profitable, but the budget ran out",
}


# the columns the permission rules read (select_contacts): consent, opt-out, contact history
PERMISSION_COLUMNS = {
    "customers": ["customer_id", "opt_in", "opt_out_date"],
    "campaigns": ["customer_id", "sent_date", "treated"],
}


def permission_tables(
    ds: Dataset | Source,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The customers and campaigns tables with only the columns the permission rules read
    (:data:`PERMISSION_COLUMNS` they have), from a loaded dataset or an engine source (where
    the other columns stay in the engine); None for a table the data lacks."""

    def columns(name: str) -> pd.DataFrame | None:
        if isinstance(ds, Source):
            return table_columns(ds, name, PERMISSION_COLUMNS[name])
        table = getattr(ds, name)
        if table is None:
            return None
        return table[[c for c in PERMISSION_COLUMNS[name] if c in table.columns]]

    return columns("customers"), columns("campaigns")


def recent_contacts(
    campaigns: pd.DataFrame | None, send_date: pd.Timestamp, window_days: int
) -> pd.Series:
    """Contacts (treated rows) per customer in the ``window_days`` days up to the send date."""
    if campaigns is None or not len(campaigns):
        return pd.Series(dtype="int64")
    start = send_date - pd.Timedelta(days=window_days)
    c = campaigns.loc[
        campaigns["treated"].astype(bool)
        & (campaigns["sent_date"] > start)
        & (campaigns["sent_date"] < send_date + pd.Timedelta(days=1))
    ]
    return c.groupby("customer_id").size()


def _profit(
    d: pd.DataFrame, uplift: np.ndarray, offer: np.ndarray, cost: np.ndarray, policy: ContactPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Expected incremental profit (module docstring) and its lifetime-value part, for uplift
    and offer-cost arrays that broadcast against the customers (rows of ``d``)."""
    value = d["value"].to_numpy(dtype=float)[:, None]
    p0 = d["p_control"].to_numpy(dtype=float)[:, None]
    gain = d["clv_gain"].fillna(0.0).to_numpy(dtype=float) if "clv_gain" in d else np.zeros(len(d))
    uplift = np.asarray(uplift, dtype=float)
    uplift = uplift[:, None] if uplift.ndim == 1 else uplift
    cost = np.asarray(cost, dtype=float)
    cost = cost[:, None] if cost.ndim == 1 else cost
    clv_part = uplift * policy.clv_weight * gain[:, None] * policy.margin
    profit = (
        uplift * value * policy.margin
        + clv_part
        - offer * np.clip(p0 + uplift, 0, 1) * value
        - cost
    )
    return profit, clv_part


def _channel(scores: pd.DataFrame) -> pd.Series:
    """Each customer's channel (empty when the scores have none)."""
    return scores["channel"] if "channel" in scores else pd.Series("", index=scores.index)


def _best_offers(
    d: pd.DataFrame, arms: Sequence[str], cost: np.ndarray, policy: ContactPolicy
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per customer: the position in ``arms`` of the offer with the highest expected profit
    (the first of equals, as ``argmax``), its uplift, profit and lifetime-value part.  An offer
    at a time with a running best: the temporaries are a few columns, not customers x offers."""
    for j, a in enumerate(arms):
        up = d[f"uplift_{a}"].to_numpy(dtype=float)
        profit, clv = _profit(d, up, float(policy.offer_costs.get(a, 0.0)), cost, policy)
        profit, clv = profit[:, 0], clv[:, 0]
        if j == 0:
            best, uplift = np.zeros(len(d), dtype=np.intp), up.copy()
            top, top_clv = profit, clv
            continue
        # a NaN profit wins as in argmax: the first NaN stays
        better = (profit > top) | (np.isnan(profit) & ~np.isnan(top))
        best[better], uplift[better] = j, up[better]
        top[better], top_clv[better] = profit[better], clv[better]
    return best, uplift, top, top_clv


def _mark(reason: np.ndarray, mask: Any, code: str) -> None:
    """Give ``code`` to the customers of ``mask`` with no reason yet (the first rule wins)."""
    mask = np.asarray(mask, dtype=bool) & (reason == "")
    reason[mask] = code


def _permission_reasons(
    index: pd.Index,
    channel: pd.Series,
    policy: ContactPolicy,
    customers: pd.DataFrame | None,
    campaigns: pd.DataFrame | None,
    send: pd.Timestamp,
) -> np.ndarray:
    """Per customer of ``index``: the first permission rule that forbids contacting them (a
    key of :data:`EXCLUSIONS`), or ``""``; no budget or profit can change these."""
    reason = np.full(len(index), "", dtype=object)
    if customers is not None and len(customers):
        cust = customers.set_index("customer_id").reindex(index)
        if "opt_out_date" in cust:
            out = cust["opt_out_date"]
            _mark(
                reason, (out.notna() & (out < send + pd.Timedelta(days=1))).to_numpy(), "OPTED_OUT"
            )
        if "opt_in" in cust:
            _mark(reason, ~cust["opt_in"].fillna(False).astype(bool).to_numpy(), "NO_CONSENT")
    contacts = recent_contacts(campaigns, send, policy.window_days)
    _mark(
        reason,
        index.map(contacts).to_series().fillna(0).to_numpy() >= policy.max_contacts,
        "FREQUENCY_CAP",
    )
    if policy.channels is not None:
        _mark(reason, ~channel.isin(list(policy.channels)).to_numpy(), "CHANNEL")
    return reason


def select_contacts(
    scores: pd.DataFrame,
    arms: Sequence[str],
    policy: ContactPolicy,
    customers: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    send_date: Any = None,
) -> pd.DataFrame:
    """Decide per customer: contact with which arm, or why not.

    ``scores`` is indexed by ``customer_id`` with ``uplift_<arm>``, ``p_control``, ``value``
    and optionally ``clv_gain`` and ``channel``.  Returns ``scores`` plus ``arm`` (best arm),
    ``expected_profit``, ``expected_incremental_response``, ``expected_incremental_clv`` (the
    lifetime-value part of the profit), ``cost``, ``selected`` and ``exclusion`` (a key of
    :data:`EXCLUSIONS`, empty when selected).  Opted-out, non-consenting and over-contacted
    customers are never selected, whatever the budget.  With ``budget_money`` the list is the
    most profitable set whose cost stays within it (and within ``budget`` contacts), solved as a
    knapsack (:func:`~crm_models.targeting.knapsack.solve_budget`: exact, or greedy with its
    gap to the LP bound when the exact solve is too large or too slow); with ``budget`` alone,
    the most profitable customers.  How the list was found is in ``attrs["selection"]``.
    """
    send = pd.Timestamp(send_date if send_date is not None else policy.send_date).normalize()
    d = scores.copy(deep=False)  # the decisions are new columns: the scores are not copied
    channel = _channel(d)
    cost = policy.cost(channel)
    best, uplift, profit, clv = _best_offers(d, arms, cost, policy)
    d["arm"] = np.asarray(arms, dtype=object)[best]
    d["expected_incremental_response"] = uplift
    d["expected_profit"] = profit
    d["expected_incremental_clv"] = clv
    d["cost"] = cost
    reason = _permission_reasons(d.index, channel, policy, customers, campaigns, send)
    _mark(reason, uplift <= 0, "NEGATIVE_UPLIFT")
    _mark(reason, profit <= 0, "UNPROFITABLE")
    candidates = np.flatnonzero(reason == "")
    profit = profit[candidates]
    if policy.budget_money is not None:
        solution = solve_budget(
            profit, cost[candidates], policy.budget_money, policy.budget, policy.time_limit
        )
        reason[candidates[~solution.take]] = "OVER_BUDGET"
        d.attrs["selection"] = solution.summary()
    else:
        order = candidates[np.argsort(-profit, kind="stable")]
        if policy.budget is not None:
            reason[order[int(policy.budget) :]] = "OVER_BUDGET"
        total = float(np.sort(profit)[::-1][: policy.budget].sum())
        d.attrs["selection"] = {
            "method": "exact",
            "how": "the most profitable customers (no money budget)",
            "profit": total,
            "greedy_profit": total,
            "upper_bound": total,
            "gap": 0.0,
            "gap_share": 0.0,
        }
    d["exclusion"] = reason
    d["selected"] = reason == ""
    return d


@dataclass
class ContactListResult:
    """The list to send, every customer's decision, totals and the comparison of strategies."""

    contacts: pd.DataFrame  # customer_id, arm, channel, expected figures, reason codes (the
    # selected customers; mailing_list adds campaign id, send date and the hold-out group)
    decisions: pd.DataFrame
    summary: dict[str, Any]
    comparison: pd.DataFrame
    exclusions: pd.DataFrame


def _reason_codes(d: pd.DataFrame, arms: Sequence[str]) -> pd.Series:
    """Why each selected customer is on the list, as ``;``-joined codes (vectorised)."""
    read = ["expected_incremental_response", "expected_incremental_clv", "value", "clv_gain"]
    read += ["p_control", "days_since_last", "arm"]
    sel = d.loc[d["selected"], [c for c in read if c in d]]  # not every decision column
    if not len(sel):
        return pd.Series(dtype=object)
    uplift = sel["expected_incremental_response"]
    flags = {
        "TOP_10PCT_UPLIFT": uplift >= uplift.quantile(0.9),
        "HIGH_ORDER_VALUE": sel["value"] > d["value"].quantile(0.75),  # never if all equal
        "REACTIVATION_VALUE": (
            sel["clv_gain"] > d["clv_gain"].quantile(0.75)
            if "clv_gain" in sel and sel["expected_incremental_clv"].gt(0).any()
            else pd.Series(False, index=sel.index)
        ),
        "UNLIKELY_TO_BUY_UNPROMPTED": sel["p_control"] <= d["p_control"].median(),
        "RECENT_BUYER": (
            sel["days_since_last"] <= 60
            if "days_since_last" in sel
            else pd.Series(False, index=sel.index)
        ),
    }
    codes = "BEST_OFFER_" + sel["arm"].astype(str).str.upper()
    for code, flag in flags.items():
        codes = codes.where(~flag.to_numpy(dtype=bool), codes + ";" + code)
    return codes


def _strategy_totals(name, d, mask, arm_col, policy, arms):
    idx = np.flatnonzero(mask)
    a_idx = pd.Index(list(arms)).get_indexer(arm_col[idx])
    u = np.full(len(idx), np.nan)  # each customer's uplift under their arm, an arm at a time
    for j, a in enumerate(arms):
        at = a_idx == j
        u[at] = d[f"uplift_{a}"].to_numpy(dtype=float)[idx[at]]
    offer = np.asarray([float(policy.offer_costs.get(a, 0.0)) for a in arms])[a_idx]
    # the columns _profit reads only: a copy of every decision column took 2 GB per strategy
    sub = d[[c for c in ("value", "p_control", "clv_gain") if c in d]].iloc[idx]
    cost = d["cost"].to_numpy()[idx]
    profit, clv_part = _profit(sub, u, offer[:, None], cost, policy)
    return {
        "strategy": name,
        "contacts": len(idx),
        "expected_incremental_responses": float(u.sum()),
        "expected_incremental_revenue": float((u * sub["value"].to_numpy(dtype=float)).sum()),
        "expected_incremental_clv": float(clv_part.sum()),
        "contact_cost": float(cost.sum()),
        "expected_incremental_profit": float(profit.sum()),
    }


def contact_list(
    scores: pd.DataFrame,
    arms: Sequence[str],
    policy: ContactPolicy,
    customers: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    send_date: Any = None,
) -> ContactListResult:
    """The contact list under ``policy`` and its comparison with simpler strategies.

    Strategies compared (expected figures from the models): this list; mailing every eligible
    customer (permission rules still apply) with the single offer that pays best on average;
    mailing as many customers as this list by the response score (probability of buying when
    contacted) with that offer; mailing nobody.
    """
    d = select_contacts(scores, arms, policy, customers, campaigns, send_date)
    permission = d["exclusion"].isin(["NO_CONSENT", "OPTED_OUT", "FREQUENCY_CAP", "CHANNEL"])
    eligible = ~permission.to_numpy()
    # the single best offer on average over the eligible customers
    sel = d["selected"].to_numpy()
    mean_profit = {}
    for a in arms:
        tmp = _strategy_totals(a, d, eligible, np.full(len(d), a, dtype=object), policy, arms)
        mean_profit[a] = tmp["expected_incremental_profit"]
    one_arm = max(mean_profit, key=mean_profit.get)
    same = np.full(len(d), one_arm, dtype=object)
    p_treated = d["p_control"].to_numpy() + d[f"uplift_{one_arm}"].to_numpy()
    n_list = int(sel.sum())
    by_response = np.zeros(len(d), bool)
    cand = np.flatnonzero(eligible)
    by_response[cand[np.argsort(-p_treated[cand], kind="stable")[:n_list]]] = True
    arm_col = d["arm"].to_numpy()
    comparison = pd.DataFrame(
        [
            _strategy_totals("uplift list (this list)", d, sel, arm_col, policy, arms),
            _strategy_totals(
                "uplift list without a budget (every profitable customer)",
                d,
                d["exclusion"].isin(["", "OVER_BUDGET"]).to_numpy(),
                arm_col,
                policy,
                arms,
            ),
            _strategy_totals(
                f"mail every eligible customer ({one_arm})", d, eligible, same, policy, arms
            ),
            _strategy_totals(
                f"top {n_list:,} by response score ({one_arm})", d, by_response, same, policy, arms
            ),
            _strategy_totals("mail nobody", d, np.zeros(len(d), bool), same, policy, arms),
        ]
    )
    cols = [
        "arm",
        "channel",
        "expected_incremental_response",
        "expected_incremental_clv",
        "expected_profit",
    ]
    out = d.loc[sel, [c for c in cols if c in d.columns]]  # the list's columns only
    out["reason_codes"] = _reason_codes(d, arms)
    contacts = (
        out.rename(columns={"expected_profit": "expected_incremental_profit"})
        .sort_values("expected_incremental_profit", ascending=False, kind="stable")
        .reset_index()
    )
    exclusions = (
        d["exclusion"]
        .replace("", "SELECTED")
        .value_counts()
        .rename_axis("decision")
        .reset_index(name="customers")
    )
    exclusions["meaning"] = exclusions["decision"].map({**EXCLUSIONS, "SELECTED": "on the list"})
    summary = {
        "customers_scored": len(d),
        "contacts": n_list,
        "excluded_by_permission_rules": int(permission.sum()),
        "excluded_no_consent": int((d["exclusion"] == "NO_CONSENT").sum()),
        "excluded_opted_out": int((d["exclusion"] == "OPTED_OUT").sum()),
        "excluded_frequency_cap": int((d["exclusion"] == "FREQUENCY_CAP").sum()),
        "excluded_channel": int((d["exclusion"] == "CHANNEL").sum()),
        "expected_incremental_responses": float(d.loc[sel, "expected_incremental_response"].sum()),
        "expected_incremental_profit": float(d.loc[sel, "expected_profit"].sum()),
        "expected_incremental_clv": float(d.loc[sel, "expected_incremental_clv"].sum()),
        "contact_cost": float(d.loc[sel, "cost"].sum()),
        "budget_contacts": policy.budget,
        "budget_amount": policy.budget_money,
        "spent": float(d.loc[sel, "cost"].sum()),
        "clv_weight": policy.clv_weight,
        "by_arm": {str(k): int(v) for k, v in d.loc[sel, "arm"].value_counts().items()},
        "single_best_offer": one_arm,
        "method": d.attrs["selection"]["method"],
        "selection": d.attrs["selection"],
    }
    return ContactListResult(contacts, d, summary, comparison, exclusions)


# Decisions that no budget can change: the customer may not be contacted at all.
PERMISSION_EXCLUSIONS = ("NO_CONSENT", "OPTED_OUT", "FREQUENCY_CAP", "CHANNEL")


def eligible_customers(decisions: pd.DataFrame) -> int:
    """Customers the permission rules allow to contact (whatever their expected profit)."""
    return int((~decisions["exclusion"].isin(PERMISSION_EXCLUSIONS)).sum())


def budgeted_contact_list(
    scores: pd.DataFrame,
    arms: Sequence[str],
    policy: ContactPolicy,
    customers: pd.DataFrame | None,
    campaigns: pd.DataFrame | None,
    send_date: pd.Timestamp,
    budget: int | None = None,
    share: float = 0.25,
) -> ContactListResult:
    """:func:`contact_list` under a budget of ``budget`` contacts, or by default ``share`` of
    the eligible customers (at least one); ``policy.budget`` is set to the budget used."""
    if budget is None:
        policy.budget = None
        # only the permission rules decide who is eligible: no offer is valued for the count
        # (a whole unbudgeted list was built and thrown away; 10M customers: +3 GB held)
        send = pd.Timestamp(send_date).normalize()
        reason = _permission_reasons(
            scores.index, _channel(scores), policy, customers, campaigns, send
        )
        eligible = int((reason == "").sum())
        budget = max(1, int(eligible * share))
    policy.budget = int(budget)
    return contact_list(scores, arms, policy, customers, campaigns, send_date)

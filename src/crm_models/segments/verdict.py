"""The verdict: which customer characteristics matter for spend and value, which are noise.

**Characteristics that matter** (:func:`characteristics`): permutation importance (drop in
held-out AUC when a characteristic is shuffled, bootstrap 95% CI) next to the spend
regression's joint tests; a characteristic that moves neither spend nor repeat buying
(CI includes zero, adjusted p ≥ 0.05) is "not worth attention".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_models.segments.lookalike_model import LookalikeResult
from crm_models.segments.spend import PurchasingPower


def characteristics(
    attributes: list[str],
    power: PurchasingPower | None = None,
    look: LookalikeResult | None = None,
    association: pd.DataFrame | None = None,
    alpha: float = 0.05,
    extra_power: list[PurchasingPower] | None = None,
) -> pd.DataFrame:
    """Which characteristics matter and which are not worth attention (one row each).

    A characteristic *matters* when it moves spend (joint test of the purchasing-power
    regression, Holm-adjusted p < ``alpha``) or repeat buying (permutation importance in the
    look-alike model with a 95% CI above zero); ``extra_power`` adds further regressions (e.g.
    orders per year, column ``rate_p_adjusted``); otherwise it is *not worth attention*.  The note
    says when such a characteristic is still associated with best customers (it then only
    stands in for others, e.g. contact channel for age).
    """
    rows = []
    tests = power.tests.set_index("attribute") if power is not None else None
    imp = look.importance.set_index("feature") if look is not None else None
    assoc = association.set_index("attribute") if association is not None else None
    extra = [x.tests.set_index("attribute") for x in (extra_power or [])]
    for a in attributes:
        row: dict[str, Any] = {"attribute": a}
        spend = repeat = rate = False
        if tests is not None and a in tests.index:
            row["spend_p_adjusted"] = float(tests.loc[a, "p_adjusted"])
            spend = row["spend_p_adjusted"] < alpha
        for t in extra:
            if a in t.index:
                row["rate_p_adjusted"] = float(t.loc[a, "p_adjusted"])
                rate = rate or row["rate_p_adjusted"] < alpha
        if imp is not None and a in imp.index:
            row["lookalike_importance"] = float(imp.loc[a, "importance"])
            row["lookalike_low"] = float(imp.loc[a, "low"])
            row["lookalike_high"] = float(imp.loc[a, "high"])
            repeat = bool(imp.loc[a, "matters"])
        if assoc is not None and a in assoc.index:
            row["best_customer_v"] = float(assoc.loc[a, "cramers_v"])
            row["best_customer_p_adjusted"] = float(assoc.loc[a, "p_adjusted"])
        drives = [
            w
            for w, flag in (
                ("spend per order", spend),
                ("purchase frequency", rate),
                ("becoming high-value", repeat),
            )
            if flag
        ]
        row["verdict"] = "matters" if drives else "not worth attention"
        if drives:
            row["note"] = "drives " + " and ".join(drives)
        elif row.get("best_customer_p_adjusted", 1.0) < alpha:
            row["note"] = "linked to best customers only through other characteristics"
        else:
            row["note"] = "indistinguishable from noise"
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["_order"] = out["verdict"].eq("matters")
    return (
        out.sort_values(["_order", "attribute"], ascending=[False, True])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def attributes_by_verdict(verdict: pd.DataFrame, label: str) -> list[str]:
    """The attributes of :func:`characteristics` whose verdict is ``label`` ("matters" or
    "not worth attention"), in table order."""
    return verdict.loc[verdict["verdict"] == label, "attribute"].tolist()

"""Best-customer profile: index of every characteristic level among the target vs. all buyers.

**Best-customer profile** (:func:`index_table`): for a target group (default the top value
decile of buyers; or repeat buyers; or any boolean column) and every known characteristic,
the share of each level among the target vs. among all buyers, their ratio (index, 100 =
average), and a two-proportion z-test of the level's target rate against the rest
(Benjamini-Hochberg adjusted).  :func:`attribute_association` gives one chi-square test and
Cramér's V per characteristic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models.segments.attributes import attribute_columns, attribute_levels


def define_target(view: pd.DataFrame, target: str = "top_decile") -> pd.Series:
    """Boolean target over the buyers: ``"top_decile"`` (top 10% by net revenue), ``"repeat"``
    (more than one order) or the name of a boolean column of the view."""
    if target not in ("top_decile", "repeat") and target not in view.columns:
        raise KeyError(f"unknown target {target!r}: use top_decile, repeat or a boolean column")
    column = {"top_decile": "revenue", "repeat": "orders"}.get(target, target)
    x = view[column]  # one column of the buyers, not a copy of the whole view
    if "days_since_last" in view:
        x = x.loc[view["days_since_last"].notna()]
    if target == "top_decile":
        rev = x.fillna(0.0)
        return (rev.rank(method="first", ascending=False) <= max(1, round(0.1 * len(rev)))).rename(
            "target"
        )
    if target == "repeat":
        return (x >= 2).rename("target")
    return x.fillna(False).astype(bool).rename("target")


def _target_and_base(
    view: pd.DataFrame, target: pd.Series | str, attributes: list[str] | None
) -> tuple[pd.Series, pd.DataFrame, list[str]]:
    """The boolean target, the characteristics of its customers and their names: only those
    columns are copied (a whole view of 10M customers is 3.4 GB)."""
    y = define_target(view, target) if isinstance(target, str) else target.astype(bool)
    if attributes is None:
        attributes = attribute_columns(view.loc[y.index])
    return y, view.loc[y.index, attributes], attributes


def index_table(
    view: pd.DataFrame,
    target: pd.Series | str = "top_decile",
    attributes: list[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per characteristic level: share among the target vs. the base, index, significance.

    Columns: attribute, level, customers, target_customers, share_of_target, share_of_base,
    index (100 × share_of_target / share_of_base), target_rate, p_value (two-proportion z-test
    of the level's target rate against all other buyers), p_adjusted (Benjamini-Hochberg over
    the whole table), significant.  Sorted: significant levels first, then by |log index|.
    """
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    y, base, attributes = _target_and_base(view, target, attributes)
    n, n_t = len(y), int(y.sum())
    parts = []
    for col in attributes:
        lv = attribute_levels(base[col])
        g = y.groupby(lv, observed=True)
        parts.append(
            pd.DataFrame({"customers": g.size(), "target_customers": g.sum()})
            .assign(attribute=col)
            .rename_axis("level")
            .reset_index()
        )
    if not parts:
        return pd.DataFrame(
            columns=["attribute", "level", "customers", "target_customers", "index", "p_value"]
        )
    t = pd.concat(parts, ignore_index=True)
    t["share_of_target"] = t["target_customers"] / max(n_t, 1)
    t["share_of_base"] = t["customers"] / n
    t["index"] = 100 * t["share_of_target"] / t["share_of_base"]
    t["target_rate"] = t["target_customers"] / t["customers"]
    rest_n = n - t["customers"]
    rest_rate = (n_t - t["target_customers"]) / rest_n.clip(lower=1)
    pooled = n_t / n
    se = np.sqrt(pooled * (1 - pooled) * (1 / t["customers"] + 1 / rest_n.clip(lower=1)))
    z = (t["target_rate"] - rest_rate) / se.replace(0, np.nan)
    t["p_value"] = np.nan_to_num(2 * norm.sf(np.abs(z.to_numpy(dtype=float))), nan=1.0)
    t["p_adjusted"] = multipletests(t["p_value"], method="fdr_bh")[1]
    t["significant"] = t["p_adjusted"] < alpha
    t["strength"] = np.abs(np.log(t["index"].clip(lower=1e-6) / 100))
    t = t.sort_values(["significant", "strength"], ascending=[False, False]).drop(
        columns="strength"
    )
    cols = [
        "attribute",
        "level",
        "customers",
        "target_customers",
        "share_of_target",
        "share_of_base",
        "index",
        "target_rate",
        "p_value",
        "p_adjusted",
        "significant",
    ]
    return t[cols].reset_index(drop=True)


def attribute_association(
    view: pd.DataFrame, target: pd.Series | str = "top_decile", attributes: list[str] | None = None
) -> pd.DataFrame:
    """One chi-square test per characteristic against the target, with Cramér's V (Holm)."""
    from scipy.stats import chi2_contingency
    from statsmodels.stats.multitest import multipletests

    y, base, attributes = _target_and_base(view, target, attributes)
    rows = []
    for col in attributes:
        tab = pd.crosstab(attribute_levels(base[col]), y)
        if tab.shape[0] < 2 or tab.shape[1] < 2:
            continue
        chi2, p, dof, _ = chi2_contingency(tab, correction=False)
        v = np.sqrt(chi2 / (tab.to_numpy().sum() * (min(tab.shape) - 1)))
        rows.append({"attribute": col, "chi2": chi2, "dof": dof, "p_value": p, "cramers_v": v})
    out = pd.DataFrame(rows, columns=["attribute", "chi2", "dof", "p_value", "cramers_v"])
    if len(out):
        out["p_adjusted"] = multipletests(out["p_value"], method="holm")[1]
    return out.sort_values("cramers_v", ascending=False).reset_index(drop=True)

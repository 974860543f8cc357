"""Purchasing power: how spend per order (or per year) differs with customer characteristics.

**Purchasing power** (:func:`purchasing_power`): an OLS regression of log spend (average order
value by default) on the known characteristics (statsmodels, HC3 robust errors), so every
coefficient reads "customers with level X spend N% more per order than those with the
reference level, 95% CI a..b", plus one joint Wald test per characteristic.  It is also fitted
on 70% of customers and judged on the other 30% against the naive "everybody spends the
average" prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.conditions import few
from crm_models.data.dataset import UnsupportedData
from crm_models.segments.attributes import attribute_columns, attribute_levels
from crm_models.segments.sampling import POWER_SAMPLE_CAP, SampleInfo, stratified_sample


@dataclass
class PurchasingPower:
    """Result of :func:`purchasing_power` (tables are plain DataFrames)."""

    outcome: str
    coefficients: pd.DataFrame  # attribute, level, reference, effect, low, high, p_value
    tests: pd.DataFrame  # attribute, statistic, df, p_value, p_adjusted
    n: int
    r2: float
    holdout: dict[str, float]  # r2_test, rmse_test, rmse_naive, n_test
    model: Any = field(repr=False, default=None)
    sample: SampleInfo | None = None  # the customers it was fitted on, of how many

    def sentences(self, top: int = 8, money_fmt=None) -> list[str]:
        """The significant effects in plain words, strongest first."""
        sig = self.coefficients.loc[self.coefficients["p_value"] < 0.05]
        sig = sig.reindex(sig["effect"].abs().sort_values(ascending=False).index).head(top)
        what = OUTCOMES.get(self.outcome, f"({self.outcome})")
        verb = "place" if self.outcome == "orders_per_year" else "spend"
        out = []
        for _, r in sig.iterrows():
            word = "more" if r["effect"] > 0 else "less"
            amount = f"**{abs(r['effect']):.0%} {word}**"
            phrase = f"{amount} {what}"
            out.append(
                f"Customers with {r['attribute']} = **{r['level']}** {verb} "
                f"{phrase} than those with {r['reference']} "
                f"(95% CI {r['low']:+.0%} to {r['high']:+.0%}), other characteristics equal."
            )
        return out


def _design(frame: pd.DataFrame, attributes: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    cols, refs = [], {}
    for col in attributes:
        lv = attribute_levels(frame[col])
        ref = lv.value_counts().idxmax()
        refs[col] = ref
        levels = sorted(set(lv.unique()) - {ref})
        dummies = pd.DataFrame(
            {f"{col}={lev}": (lv == lev).astype("float64") for lev in levels}, index=frame.index
        )
        cols.append(dummies)
    X = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=frame.index)
    X.insert(0, "const", 1.0)
    return X, refs


OUTCOMES = {
    "avg_order_value": "per order",
    "orders_per_year": "orders per year",
    "spend_per_year": "net spend per year",
}
MIN_TENURE_DAYS = 180  # rates per year need at least half a year of history
MIN_POWER_CUSTOMERS = 30  # customers with a positive outcome the regression needs
_WHO = {  # outcome: (what a customer needs to count, what the outcome is in words)
    "avg_order_value": ("an order of positive value", "spend per order"),
    "orders_per_year": (
        f"at least {MIN_TENURE_DAYS} days of history since their first purchase",
        "orders per year",
    ),
    "spend_per_year": (
        f"at least {MIN_TENURE_DAYS} days of history and a positive net spend",
        "net spend per year",
    ),
}


def _outcome(view: pd.DataFrame, outcome: str) -> pd.Series:
    """The spend measure: a view column, or a yearly rate for customers of at least
    :data:`MIN_TENURE_DAYS` days' standing (orders or net revenue per year since the first
    purchase)."""
    if outcome in ("orders_per_year", "spend_per_year"):
        years = view["tenure_days"].astype("float64") / 365.25
        value = view["orders" if outcome == "orders_per_year" else "revenue"].astype("float64")
        return (value / years).where(view["tenure_days"] >= MIN_TENURE_DAYS)
    return view[outcome].astype("float64")


def purchasing_power(
    view: pd.DataFrame,
    attributes: list[str] | None = None,
    outcome: str = "avg_order_value",
    test_size: float = 0.3,
    random_state: int = 0,
    sample_cap: int | None = POWER_SAMPLE_CAP,
) -> PurchasingPower:
    """Regress log(outcome) on the known characteristics (see module docstring).

    ``outcome``: ``"avg_order_value"`` (spend per order), ``"orders_per_year"`` or
    ``"spend_per_year"`` (customers with at least half a year since their first purchase), or
    any positive view column.

    ``effect`` is the multiplicative difference against the most common (reference) level minus
    one (0.2 = 20% more), with its 95% CI; ``tests`` holds one joint Wald test per
    characteristic (HC3 covariance, Holm-adjusted).

    Above ``sample_cap`` customers with the outcome (None: never) it is fitted on a seeded
    sample of that size stratified by the levels of the characteristics together (every
    combination keeps its share); ``sample`` says so, and the intervals are about
    ``sqrt(N / n)`` times as wide as on all ``N`` customers.
    """
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests

    y_raw = _outcome(view, outcome)
    ok = y_raw.notna() & (y_raw > 0)
    n_ok = int(ok.sum())
    if n_ok < MIN_POWER_CUSTOMERS:
        who, what = _WHO.get(outcome, (f"a positive {outcome}", outcome.replace("_", " ")))
        raise few(
            n_ok,
            f"customer has {who}",
            f"customers have {who}",
            f"relate {what} to customer characteristics",
            MIN_POWER_CUSTOMERS,
        )
    attributes = attribute_columns(view.loc[ok]) if attributes is None else attributes
    if not attributes:
        raise UnsupportedData(
            "The data has no customer characteristics (such as age or region) to relate spend to."
        )
    frame = view.loc[ok, attributes]  # only the columns it reads: no copy of the whole view
    if sample_cap is not None and n_ok > sample_cap:
        levels = {c: attribute_levels(frame[c]) for c in attributes}
        frame = frame.iloc[stratified_sample(pd.DataFrame(levels), sample_cap, random_state)]
    what = _WHO.get(outcome, ("", outcome.replace("_", " ")))[1]
    sample = SampleInfo(
        f"purchasing power ({what})", len(frame), n_ok, "combination of characteristics"
    )
    y = np.log(y_raw.loc[frame.index])
    X, refs = _design(frame, attributes)
    res = sm.OLS(y, X).fit(cov_type="HC3")
    ci = res.conf_int()
    rows = []
    for name in X.columns[1:]:
        attr, level = name.split("=", 1)
        rows.append(
            {
                "attribute": attr,
                "level": level,
                "reference": refs[attr],
                "effect": np.expm1(res.params[name]),
                "low": np.expm1(ci.loc[name, 0]),
                "high": np.expm1(ci.loc[name, 1]),
                "p_value": res.pvalues[name],
            }
        )
    coefs = pd.DataFrame(rows)
    tests = []
    names = list(X.columns)
    for attr in attributes:
        idx = [i for i, c in enumerate(names) if c.startswith(f"{attr}=")]
        if not idx:
            continue
        R = np.zeros((len(idx), len(names)))
        R[np.arange(len(idx)), idx] = 1.0
        w = res.wald_test(R, scalar=True, use_f=True)
        tests.append(
            {
                "attribute": attr,
                "statistic": float(w.statistic),
                "df": len(idx),
                "p_value": float(w.pvalue),
            }
        )
    tests = pd.DataFrame(tests)
    tests["p_adjusted"] = multipletests(tests["p_value"], method="holm")[1]
    # held-out check against the naive prediction (the training mean)
    rng = np.random.default_rng(random_state)
    test = rng.random(len(y)) < test_size
    fit = sm.OLS(y[~test], X.loc[~test]).fit()
    pred = fit.predict(X.loc[test])
    resid = y[test] - pred
    naive = y[test] - y[~test].mean()
    sse, sst = float((resid**2).sum()), float((naive**2).sum())
    holdout = {
        "r2_test": 1 - sse / sst if sst else np.nan,
        "rmse_test": float(np.sqrt((resid**2).mean())),
        "rmse_naive": float(np.sqrt((naive**2).mean())),
        "n_test": int(test.sum()),
    }
    return PurchasingPower(
        outcome=outcome,
        coefficients=coefs,
        tests=tests.sort_values("p_value").reset_index(drop=True),
        n=int(len(y)),
        r2=float(res.rsquared),
        holdout=holdout,
        model=res,
        sample=sample,
    )

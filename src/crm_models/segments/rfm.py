"""RFM scoring: recency, frequency and monetary quantile scores and the named RFM segments.

Recency (time since the last purchase, counted in whole periods of ``unit``: days, weeks or
months), frequency (orders) and monetary value (net revenue) are each scored 1..``q`` (5 = best)
by quantile *rank*: a value's score is ``1 + floor(q * (number of reference customers with a
strictly worse value) / n)``.  Equal values therefore always get the same score (ties are never
split at random), scores never fall as the value improves, and a heavily tied value (half the
base bought once) all lands in the score where the tie starts.  ``fm`` = ``(F + M + 1) // 2``
(the mean of F and M, halves rounded up).  Customers who never bought get no score and the
segment ``prospect``.

Named RFM segments: the first rule of :data:`RFM_RULES` whose R and FM ranges contain the
customer's scores names the segment (the 25 R × FM cells are all covered):

=====================  ========  ========  ============================================
segment                R score   FM score  who they are
=====================  ========  ========  ============================================
champions              4-5       4-5       bought recently, buy often, spend the most
loyal                  3-5       3-5       regular buyers of good value
new                    5         1         first purchase very recently
potential loyalists    4-5       1-2       recent buyers with few or small orders so far
can't lose             1         4-5       used to buy often and big, gone for long
at risk                1-2       3-5       good customers who have not come back for a while
hibernating            2-3       1-2       low-value customers, last seen some time ago
lost                   1         1-2       low value and long gone
=====================  ========  ========  ============================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from crm_models.data.conditions import no_sales
from crm_models.units import unit_days

PROSPECT = "prospect"

# (segment, R score range, FM score range, description, suggested treatment)
RFM_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int], str, str], ...] = (
    (
        "champions",
        (4, 5),
        (4, 5),
        "bought recently, buy often and spend the most",
        "reward; early access; ask for reviews and referrals",
    ),
    (
        "loyal",
        (3, 5),
        (3, 5),
        "regular buyers of good value",
        "loyalty programme, cross-sell, upsell",
    ),
    (
        "new",
        (5, 5),
        (1, 1),
        "first purchase very recently",
        "onboarding; make the second purchase easy",
    ),
    (
        "potential loyalists",
        (4, 5),
        (1, 2),
        "recent buyers with few or small orders so far",
        "membership offers, recommendations",
    ),
    (
        "can't lose",
        (1, 1),
        (4, 5),
        "used to buy often and big, but gone for long",
        "win back personally; find out why they left",
    ),
    (
        "at risk",
        (1, 2),
        (3, 5),
        "good customers who have not come back for a while",
        "reactivation offer before they lapse",
    ),
    (
        "hibernating",
        (2, 3),
        (1, 2),
        "low-value customers last seen some time ago",
        "occasional low-cost reminders only",
    ),
    (
        "lost",
        (1, 1),
        (1, 2),
        "low value and long gone",
        "do not spend on them; cheap channels only",
    ),
)
RFM_SEGMENTS = tuple(r[0] for r in RFM_RULES)


def quantile_scores(values: Any, reference: Any | None = None, q: int = 5) -> np.ndarray:
    """Quantile-rank scores ``1..q`` of ``values`` against ``reference`` (default: themselves).

    ``score = 1 + floor(q * (#reference values strictly below the value) / n_reference)``:
    ties share a score, the score never falls as the value grows, NaN gives NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    ref = np.asarray(values if reference is None else reference, dtype=np.float64)
    ref = np.sort(ref[~np.isnan(ref)])
    if len(ref) == 0:
        return np.full(len(values), np.nan)
    below = np.searchsorted(ref, values, side="left")
    scores = 1 + np.floor(q * below / len(ref))
    scores = np.clip(scores, 1, q)
    return np.where(np.isnan(values), np.nan, scores)


def rfm_rules_table() -> pd.DataFrame:
    """The segment rules as a table (for reports and documentation)."""
    rows = [
        {
            "segment": name,
            "R score": f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}",
            "FM score": f"{f[0]}" if f[0] == f[1] else f"{f[0]}-{f[1]}",
            "who they are": desc,
            "suggested treatment": action,
        }
        for name, r, f, desc, action in RFM_RULES
    ]
    return pd.DataFrame(rows)


def rfm_segment(r: np.ndarray, fm: np.ndarray) -> np.ndarray:
    """Segment names of R and FM scores on the 1..5 scale (first matching rule, else prospect)."""
    conditions = [
        (r >= rr[0]) & (r <= rr[1]) & (fm >= ff[0]) & (fm <= ff[1]) for _, rr, ff, _, _ in RFM_RULES
    ]
    return np.select(conditions, list(RFM_SEGMENTS), default=PROSPECT)


class RFMScorer(TransformerMixin, BaseEstimator):
    """Recency, frequency and monetary quantile scores and named RFM segments.

    A scikit-learn transformer: ``clone``, ``get_params``/``set_params`` and ``fit_transform``
    work.

    Parameters
    ----------
    q : number of score levels (5: quintile-like scores 1..5).
    unit : period in which recency is counted (``"D"``, ``"W"``, ``"M"``); customers whose last
        purchase falls in the same number of whole periods tie.
    recency, frequency, monetary : view columns (days since last purchase, orders, revenue).

    ``fit(view)`` keeps the buyers' values as the reference distribution (``reference_``), so
    ``transform`` scores any customers against the same base.  Output indexed by customer_id:
    ``recency`` (whole periods), ``frequency``, ``monetary``, ``r``, ``f``, ``m``, ``fm``,
    ``rfm`` (e.g. ``"545"``) and ``segment`` (categorical in :data:`RFM_RULES` order plus
    ``prospect``).
    """

    def __init__(
        self,
        q: int = 5,
        unit: str = "D",
        recency: str = "days_since_last",
        frequency: str = "orders",
        monetary: str = "revenue",
    ) -> None:
        self.q = q
        self.unit = unit
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary

    def _values(self, view: pd.DataFrame) -> pd.DataFrame:
        days = view[self.recency].astype("float64")
        per = unit_days(self.unit)
        bought = days.notna()  # customers with at least one purchase day
        out = pd.DataFrame(
            {
                "recency": np.floor(days / per),
                "frequency": view[self.frequency].astype("float64"),
                # to 1e-6: sums of the same amounts in another order must tie (any engine)
                "monetary": view[self.monetary].astype("float64").round(6),
            },
            index=view.index,
        )
        return out.where(bought)

    def fit(self, view: pd.DataFrame, y: Any = None) -> RFMScorer:
        if self.q < 2:
            raise ValueError("q must be at least 2")
        values = self._values(view).dropna()
        if values.empty or not (values["frequency"] > 0).any():
            raise no_sales("there are no customers to segment", view.attrs.get("as_of"))
        # recency: fewer periods is better, so score its negation
        self.reference_ = {
            "r": np.sort(-values["recency"].to_numpy()),
            "f": np.sort(values["frequency"].to_numpy()),
            "m": np.sort(values["monetary"].to_numpy()),
        }
        self.n_customers_ = len(values)
        return self

    def transform(self, view: pd.DataFrame) -> pd.DataFrame:
        values = self._values(view)
        ref = self.reference_
        r = quantile_scores(-values["recency"].to_numpy(), ref["r"], self.q)
        f = quantile_scores(values["frequency"].to_numpy(), ref["f"], self.q)
        m = quantile_scores(values["monetary"].to_numpy(), ref["m"], self.q)
        fm = np.floor((f + m + 1) / 2)
        scale = self.q / 5.0  # the rules are written for 5 levels
        r5 = np.ceil(r / scale)
        fm5 = np.ceil(fm / scale)
        segment = np.where(np.isnan(r), PROSPECT, rfm_segment(r5, fm5))
        out = values.copy()
        scored = ~np.isnan(r)
        for name, col in (("r", r), ("f", f), ("m", m), ("fm", fm)):
            out[name] = pd.arrays.IntegerArray(np.nan_to_num(col).astype(np.int64), ~scored)
        # "545": the three scores as digits (joined by "-" when q >= 10)
        if self.q < 10:
            code = np.nan_to_num(100 * r + 10 * f + m).astype(np.int64)
            text = pd.Series(code, index=out.index).astype("string")
        else:
            parts = [pd.Series(np.nan_to_num(x).astype(np.int64)).astype(str) for x in (r, f, m)]
            text = pd.Series(
                (parts[0] + "-" + parts[1] + "-" + parts[2]).to_numpy(), index=out.index
            ).astype("string")
        out["rfm"] = text.where(scored)
        out["segment"] = pd.Categorical(segment, categories=[*RFM_SEGMENTS, PROSPECT])
        out.index.name = "customer_id"
        return out

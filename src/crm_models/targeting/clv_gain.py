"""The lifetime value a response adds: gain in expected CLV when a customer buys today."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models.value import (
    SUMMARY_COLUMNS,
    BetaGeoModel,
    GammaGammaModel,
    buyers,
    customer_value,
)

__all__ = ["VALUE_BATCH", "clv_gain_raw", "response_clv_gain"]

VALUE_BATCH = 1_000_000  # buyers valued at a time: 10M at once held 2.7 GB of temporaries


def clv_gain_raw(
    view: pd.DataFrame,
    purchase_model,
    spend_model,
    horizon: float,
    annual_discount_rate: float,
    multiplier: pd.Series | None = None,
) -> np.ndarray:
    """ΔCLV of :func:`response_clv_gain` for buyers, unclipped (tests check it is >= 0)."""
    kw = dict(horizon=horizon, annual_discount_rate=annual_discount_rate, multiplier=multiplier)
    now = customer_value(purchase_model, spend_model, view, **kw)
    x, T = view["frequency"].to_numpy(dtype=float), view["T"].to_numpy(dtype=float)
    # a purchase today is a repeat purchase at T (on the day of the first purchase it is the
    # same purchase day, which changes nothing)
    after = pd.DataFrame(
        {
            "frequency": np.where(T > 0, x + 1, x),
            "recency": np.where(T > 0, T, view["recency"].to_numpy(dtype=float)),
            "T": T,
            "monetary_value": view["monetary_value"].to_numpy(dtype=float),
        },
        index=view.index,
    )
    then = customer_value(purchase_model, spend_model, after, **kw)
    alive_purchases = then["potential_value"] / then["expected_spend_per_purchase"]
    return (now["expected_spend_per_purchase"] * alive_purchases - now["clv"]).to_numpy()


def response_clv_gain(
    view: pd.DataFrame,
    purchase_model=None,
    spend_model=None,
    horizon: float = 52.0,
    annual_discount_rate: float = 0.10,
    multiplier: pd.Series | None = None,
) -> pd.Series:
    """Gain in expected lifetime value when a customer buys today (responds), per customer::

        ΔCLV_i = m_i × A(x_i + 1, T_i)  -  CLV_i,     CLV_i = m_i × P(alive)_i × A(x_i, T_i)

    ``A(x, T)``: purchases expected over ``horizon`` weeks from a customer known to be active
    with ``x`` repeat purchases in ``T`` weeks, each discounted at ``annual_discount_rate``
    (BG/NBD, as in :func:`crm_models.value.customer_value`, whose ``potential_value`` is
    ``m × A``); ``m_i``: Gamma-Gamma expected spend per purchase, held at its current value (the
    response order is valued separately); ``CLV_i``: the current CLV.  After buying today the
    customer is active for certain (P(alive) = 1: a response *re-activates*), with one more
    repeat purchase and the last purchase today.  (BG/NBD lets a customer drop out right after a
    purchase; counting that would make a purchase lower the value of a one-time buyer, whose
    P(alive) is 1 by construction.)

    ΔCLV >= 0: ``A`` grows with ``x`` (a higher posterior purchase rate and a lower posterior
    drop-out probability, both raising expected purchases at every horizon) and P(alive) <= 1.
    It is largest for valuable customers who are slipping away (low P(alive)).  Customers who
    never bought get 0.  Each customer's gain depends on that customer only, so buyers are
    valued :data:`VALUE_BATCH` at a time.  The models are fitted on ``view``'s buyers unless given (a
    :class:`crm_models.value.FitError` says why they cannot be).  ``multiplier``: the chosen
    value model's per-customer correction (:func:`crm_models.value.forecast_multiplier`),
    applied to the value before and after the response alike.
    """
    base = buyers(view, SUMMARY_COLUMNS)
    purchase_model = purchase_model or BetaGeoModel().fit(base)
    spend_model = spend_model or GammaGammaModel().fit(base)
    raw = np.concatenate(
        [np.empty(0)]
        + [
            clv_gain_raw(
                base.iloc[i : i + VALUE_BATCH],
                purchase_model,
                spend_model,
                horizon,
                annual_discount_rate,
                multiplier,
            )
            for i in range(0, len(base), VALUE_BATCH)
        ]
    )
    gain = pd.Series(np.maximum(raw, 0.0), index=base.index, name="clv_gain")  # clip: rounding
    return gain.reindex(view.index, fill_value=0.0)

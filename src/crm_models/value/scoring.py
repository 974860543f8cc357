"""Per-customer value: P(alive), expected purchases and spend, discounted CLV, value at risk."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crm_models.units import unit_days
from crm_models.value.common import btyd_arrays, compress, customer_index
from crm_models.value.gamma_gamma import GammaGammaModel
from crm_models.value.purchase import PurchaseModel


def month_ends(
    time_unit: str, horizon: float, annual_discount_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Month ends within ``horizon`` (in ``time_unit`` periods) and their discount factors:
    the purchases of month *k* are valued at its end, at ``(1 + rate) ** -(years)``."""
    month = 365.25 / 12 / unit_days(time_unit)
    n_steps = max(1, int(math.ceil(horizon / month - 1e-9)))
    ends = np.minimum(np.arange(1, n_steps + 1) * month, horizon)
    years = ends * unit_days(time_unit) / 365.25
    return ends, (1 + annual_discount_rate) ** -years


def customer_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    horizon: float = 52.0,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    multiplier: pd.Series | None = None,
) -> pd.DataFrame:
    """Per-customer value over ``horizon`` periods (the model's time unit), indexed like data.

    Columns: ``p_alive``, ``expected_purchases`` (in the horizon), ``expected_spend_per_purchase``,
    ``expected_spend`` (undiscounted), ``clv`` (discounted: purchases expected in month *k* are
    valued at the end of month *k* at ``(1 + annual_discount_rate) ** -(k / 12)``, times
    ``margin``), ``potential_value`` (the CLV if the customer is still active = ``clv /
    p_alive``), ``value_at_risk`` (``potential_value - clv``), ``value_rank`` (1 = most
    valuable) and ``value_decile`` (1 = top 10%).

    ``multiplier`` (by ``customer_id``; 1 for customers it lacks) corrects the purchase model's
    expected purchases when another forecaster was chosen
    (:func:`~crm_models.value.selection.forecast_multiplier`): purchases, spend and the value
    columns are multiplied by it, P(alive) stays the purchase model's.
    """
    pa, expected, spend, potential = point_value(
        purchase_model, spend_model, data, horizon, annual_discount_rate, margin, multiplier
    )
    clv = potential * pa
    x, tx, T = btyd_arrays(data)
    out = pd.DataFrame(
        {
            "frequency": x,
            "recency": tx,
            "T": T,
            "p_alive": pa,
            "expected_purchases": expected,
            "expected_spend_per_purchase": spend,
            "expected_spend": expected * spend,
            "clv": clv,
            "potential_value": potential,
            "value_at_risk": potential - clv,
        },
        index=customer_index(data),
    )
    order = np.argsort(-clv)
    rank = np.empty(len(clv), dtype=np.int64)
    rank[order] = np.arange(1, len(clv) + 1)
    out["value_rank"] = rank
    out["value_decile"] = np.minimum((rank - 1) * 10 // max(len(clv), 1) + 1, 10)
    out.attrs.update(horizon=horizon, annual_discount_rate=annual_discount_rate, margin=margin)
    return out


def point_value(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    horizon: float,
    annual_discount_rate: float,
    margin: float,
    multiplier: pd.Series | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays behind :func:`customer_value` (same arguments, checked here), in data's
    order: P(alive), expected purchases, expected spend per purchase and the potential value
    (the CLV if still active; the CLV is ``potential * p_alive``)."""
    purchase_model._check_fitted()
    spend_model._check_fitted()
    if horizon <= 0:
        raise ValueError("horizon must be positive")
    if annual_discount_rate < 0:
        raise ValueError("annual_discount_rate must be >= 0")
    x, tx, T = btyd_arrays(data)
    ends, disc = month_ends(purchase_model.time_unit, horizon, annual_discount_rate)
    (ux, utx, uT), _, inv = compress(x, tx, T)  # everything once per distinct (x, t_x, T)
    grid, inv2 = purchase_model._alive_grid(ux, uT, ends)  # cumulative, given alive
    steps = np.diff(np.column_stack([np.zeros(len(grid)), grid]), axis=1)
    alive_value = (steps * disc).sum(axis=1)[inv2][inv]  # discounted purchases given alive
    pa = purchase_model._p_alive_rows(ux, utx, uT)[inv]
    spend = spend_model.conditional_expected_spend(data).to_numpy()
    factor = forecast_factor(multiplier, data)
    expected = grid[:, -1][inv2][inv] * pa * factor
    return pa, expected, spend, alive_value * spend * margin * factor


def forecast_factor(multiplier: pd.Series | None, data: pd.DataFrame) -> np.ndarray:
    """The per-customer ``multiplier`` aligned with ``data`` (1 where it has no entry)."""
    if multiplier is None:
        return np.ones(len(data))
    return multiplier.reindex(customer_index(data)).fillna(1.0).to_numpy(dtype=float)


def p_alive_change(model: PurchaseModel, data: pd.DataFrame, periods: float = 4.0) -> pd.Series:
    """How P(alive) moved over the last ``periods`` (time units) for customers who did not buy
    in that window: P(alive | x, t_x, T) - P(alive | x, t_x, T - periods).  NaN for customers
    who bought in the window or are younger than it (their P(alive) went up or is undefined)."""
    x, tx, T = btyd_arrays(data)
    earlier = T - periods
    ok = earlier >= tx
    past = pd.DataFrame(
        {"frequency": x, "recency": tx, "T": np.where(ok, earlier, T)}, index=customer_index(data)
    )
    now = model.p_alive(data).to_numpy()
    before = model.p_alive(past).to_numpy()
    return pd.Series(
        np.where(ok, now - before, np.nan), index=customer_index(data), name="p_alive_change"
    )


def base_figures(values: pd.DataFrame) -> dict[str, float]:
    """Totals of a :func:`customer_value` table: customers, expected purchases, one-time buyers
    (``frequency == 0``) and the expected number of repeat buyers still active (sum of their
    P(alive))."""
    return {
        "customers": int(len(values)),
        "expected_purchases": float(values["expected_purchases"].sum()),
        "one_timers": int((values["frequency"] == 0).sum()),
        "expected_active_repeat_buyers": float(
            values.loc[values["frequency"] > 0, "p_alive"].sum()
        ),
    }


def value_deciles(values: pd.DataFrame) -> pd.DataFrame:
    """One row per value decile (1 = most valuable): customers, expected value (sum), mean
    P(alive), mean expected purchases, potential value (sum) and share of expected value."""
    deciles = values.groupby("value_decile").agg(
        customers=("clv", "size"),
        expected_value=("clv", "sum"),
        mean_p_alive=("p_alive", "mean"),
        expected_purchases=("expected_purchases", "mean"),
        potential_value=("potential_value", "sum"),
    )
    deciles["share_of_value"] = deciles["expected_value"] / deciles["expected_value"].sum()
    return deciles


def parameter_table(
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel,
    truth: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Fitted parameters of a purchase model (BG/NBD or Pareto/NBD) and a Gamma-Gamma model
    (index: model, parameter; standard errors NaN where the data do not identify them), with a
    ``simulated truth`` column for the BG/NBD parameters when ``truth`` (name -> value) is given.
    """
    params = pd.concat(
        {purchase_model.label: purchase_model.summary(), "Gamma-Gamma": spend_model.summary()},
        names=["model"],
    )
    if truth is not None:
        params["simulated truth"] = [
            truth.get(p, np.nan) if m == "BG/NBD" else np.nan for m, p in params.index
        ]
    return params


def average_customer(
    purchase_model: PurchaseModel, spend_model: GammaGammaModel, periods_per_year: float = 52
) -> dict[str, float]:
    """The average customer of fitted purchase and Gamma-Gamma models: purchases a year while
    active (``r / alpha`` per period), mean spend per purchase and the chance of leaving: after a
    repeat purchase (BG/NBD, ``a / (a + b)``, key ``leave_probability``) or within a year
    (Pareto/NBD, 1 - (beta / (beta + year))^s, key ``leave_probability_year``)."""
    p = purchase_model.params_
    out = {
        "purchases_per_year": p["r"] / p["alpha"] * periods_per_year,
        "spend_per_purchase": float(spend_model.population_mean()),
    }
    if "a" in p:
        out["leave_probability"] = p["a"] / (p["a"] + p["b"])
    else:
        out["leave_probability_year"] = 1 - (p["beta"] / (p["beta"] + periods_per_year)) ** p["s"]
    return out


P_ALIVE_BANDS = (0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def p_alive_vs_truth(
    p_alive: pd.Series, alive: pd.Series, bands: Sequence[float] = P_ALIVE_BANDS
) -> pd.DataFrame:
    """Predicted P(alive) against known activity (simulated data): customers grouped in P(alive)
    bands, with the band's size, mean P(alive) and share truly active (``alive``, aligned on
    ``p_alive``'s index)."""
    band = pd.cut(p_alive, list(bands), include_lowest=True)
    frame = pd.DataFrame(
        {
            "band": band.astype(str),
            "alive": alive.reindex(p_alive.index).astype(float),
            "p": p_alive,
        }
    )
    return frame.groupby("band", sort=True).agg(
        customers=("p", "size"), mean_p_alive=("p", "mean"), truly_active=("alive", "mean")
    )

"""Segment profiles: size and value per segment, indicators with confidence intervals, mixes.

Works for any segmentation (RFM segments, behavioural clusters, ...) given as a Series over the
customer view; :func:`clv_if_available` adds predicted CLV to the profiles when it can be fitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models import value as clv
from crm_models.data.dataset import Dataset, UnsupportedData
from crm_models.engine import Source
from crm_models.segments.common import buyers


def _weighted_value(view: pd.DataFrame) -> pd.Series:
    return view["revenue"].fillna(0.0) if "revenue" in view.columns else pd.Series(0.0, view.index)


def segment_summary(
    view: pd.DataFrame, segment: pd.Series, value: pd.Series | None = None
) -> pd.DataFrame:
    """Per segment: customers, share of customers, revenue, revenue share, revenue per customer.

    ``value`` (e.g. CLV per customer) adds ``value`` and ``value_share`` columns.
    """
    seg = segment.reindex(view.index)
    revenue = _weighted_value(view)
    g = revenue.groupby(seg, observed=True)
    out = pd.DataFrame({"customers": g.size(), "revenue": g.sum()})
    out = out.loc[out["customers"] > 0]
    total_rev = out["revenue"].clip(lower=0).sum()
    out.insert(1, "customer_share", out["customers"] / out["customers"].sum())
    out["revenue_share"] = out["revenue"].clip(lower=0) / total_rev if total_rev else np.nan
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    if value is not None:
        v = value.reindex(view.index)
        gv = v.groupby(seg, observed=True)
        out["value"] = gv.sum().reindex(out.index)
        out["value_share"] = out["value"].clip(lower=0) / out["value"].clip(lower=0).sum()
    out.index.name = "segment"
    return out


def _mean_ci(x: pd.Series, by: pd.Series, z: float = 1.96) -> pd.DataFrame:
    g = x.groupby(by, observed=True)
    n, mean, sd = g.count(), g.mean(), g.std(ddof=1)
    half = z * sd / np.sqrt(n.clip(lower=1))
    return pd.DataFrame({"n": n, "mean": mean, "low": mean - half, "high": mean + half})


def _share_ci(x: pd.Series, by: pd.Series, z: float = 1.96) -> pd.DataFrame:
    """Wilson score interval of a share per group."""
    g = x.astype("float64").groupby(by, observed=True)
    n, p = g.count(), g.mean()
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low, high = np.minimum(centre - half, p), np.maximum(centre + half, p)  # rounding at 0 / 1
    return pd.DataFrame({"n": n, "mean": p, "low": low, "high": high})


# indicator -> (how it is computed, label)
INDICATORS = {
    "revenue": ("mean", "net revenue per customer"),
    "orders": ("mean", "orders per customer"),
    "avg_order_value": ("mean", "average order value"),
    "repeat": ("share", "share who bought more than once"),
    "retained": ("share", "share who bought in the last 180 days"),
    "clv": ("mean", "predicted customer lifetime value"),
}


def indicator_intervals(
    view: pd.DataFrame, segment: pd.Series, clv: pd.Series | None = None
) -> pd.DataFrame:
    """Key indicators per segment with 95% confidence intervals (long table).

    Means get a normal-theory interval (mean ± 1.96 s/√n), shares a Wilson interval.  Columns:
    segment, indicator, label, n, mean, low, high.
    """
    seg = segment.reindex(view.index)
    bought = buyers(view)
    series = {}
    for col in ("revenue", "orders", "avg_order_value"):
        if col in view.columns:
            series[col] = view[col].where(bought)
    if "orders" in view.columns:
        series["repeat"] = (view["orders"] >= 2).where(bought)
    if "days_since_last" in view.columns:
        series["retained"] = (view["days_since_last"] <= 180).where(bought)
    if clv is not None:
        series["clv"] = clv.reindex(view.index)
    parts = []
    for key, x in series.items():
        kind, label = INDICATORS[key]
        ok = x.notna() & seg.notna()
        table = (_share_ci if kind == "share" else _mean_ci)(x[ok], seg[ok])
        table = table.loc[table["n"] > 0]
        parts.append(table.assign(indicator=key, label=label).rename_axis("segment").reset_index())
    out = pd.concat(parts, ignore_index=True)
    return out[["segment", "indicator", "label", "n", "mean", "low", "high"]]


def mix_table(view: pd.DataFrame, segment: pd.Series, column: str) -> pd.DataFrame:
    """Share of each level of ``column`` within each segment (rows: segments, sum to 1).

    For ``column="channel"`` the mean ``channel_share_*`` columns (spend mix) are returned.
    """
    seg = segment.reindex(view.index)
    if column == "channel":
        cols = [c for c in view.columns if c.startswith("channel_share_")]
        if not cols:
            raise KeyError("the view has no channel_share_* columns")
        mix = view[cols].groupby(seg, observed=True).mean()
        mix.columns = [c.removeprefix("channel_share_") for c in cols]
        return mix.rename_axis("segment")
    if column not in view.columns:
        raise KeyError(f"the view has no column {column!r}")
    level = view[column].astype("object").where(view[column].notna(), "unknown").astype(str)
    return pd.crosstab(seg, level, normalize="index").rename_axis("segment")


def segment_profile(
    view: pd.DataFrame,
    segment: pd.Series,
    rfm: pd.DataFrame | None = None,
    clv: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per segment: size and value shares, typical behaviour, RFM, CLV, top levels.

    Adds the mean R/F/M scores when ``rfm`` is given, mean CLV and CLV share when ``clv`` is
    given, the most common favourite category and main channel, and for every categorical
    attribute the most over-represented level.
    """
    seg = segment.reindex(view.index)
    out = segment_summary(view, seg, value=clv)
    g = view.groupby(seg, observed=True)
    for col in ("orders", "avg_order_value", "days_since_last", "tenure_days", "return_rate"):
        if col in view.columns:
            out[col] = g[col].median()
    if "orders" in view.columns:
        out["repeat_share"] = (view["orders"] >= 2).groupby(seg, observed=True).mean()
    if rfm is not None:
        scores = rfm[["r", "f", "m"]].astype("float64").reindex(view.index)
        out[["mean_r", "mean_f", "mean_m"]] = scores.groupby(seg, observed=True).mean()
    if clv is not None:
        out = out.rename(columns={"value": "clv", "value_share": "clv_share"})
        out["clv_per_customer"] = out["clv"] / out["customers"]
    if "favourite_category" in view.columns:
        mix = mix_table(view, seg, "favourite_category")
        out["top_category"] = mix.idxmax(axis=1)
    chan = [c for c in view.columns if c.startswith("channel_share_")]
    if chan:
        out["main_channel"] = mix_table(view, seg, "channel").idxmax(axis=1)
    return out


def clv_if_available(
    view: pd.DataFrame,
    horizon_weeks: float = 52.0,
    ds: Dataset | Source | None = None,
    value_model: str = "bgnbd",
) -> pd.Series | None:
    """Predicted CLV over ``horizon_weeks`` per buyer from :mod:`crm_models.value` (the
    ``value_model``'s purchase model, corrected by its forecast where it is the naive rate or
    the stacked model, which learns from ``ds``, a dataset or an engine source, as of the
    view's day; Gamma-Gamma), or None.

    Optional: when the models cannot be fitted on this data (too few repeat buyers, a
    degenerate fit) the segment profiles simply go without CLV.
    """
    try:
        data = clv.buyers(view, clv.SUMMARY_COLUMNS)
        purchase = clv.make_purchase_model(clv.purchase_model_for(value_model)).fit(data)
        spend = clv.GammaGammaModel().fit(data)
        factor = clv.forecast_multiplier(
            value_model, ds, view.attrs.get("as_of"), horizon_weeks, purchase, data
        )
        value = clv.customer_value(purchase, spend, data, horizon=horizon_weeks, multiplier=factor)
    except (clv.FitError, UnsupportedData):  # CLV is an optional extra column here
        return None
    # a copy: the column alone would keep the value table's whole float block alive (10M: 0.9 GB)
    out = value["clv"].rename("clv").copy()
    return out if np.isfinite(out).all() else None


def segment_mixes(
    view: pd.DataFrame, segment: pd.Series, columns: list[str]
) -> list[tuple[str, pd.DataFrame]]:
    """``(column, mix_table)`` for each of ``columns`` in order, leaving out the columns the
    view cannot provide."""
    mixes = []
    for column in columns:
        try:
            mixes.append((column, mix_table(view, segment, column)))
        except KeyError:
            continue
    return mixes

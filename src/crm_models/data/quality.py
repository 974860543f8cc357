"""Warnings: data that loads but is suspicious, said before anyone trusts a number built on it.

A *problem* (:class:`~crm_models.data.contract.Problem`) stops the load; a *warning* has the
same shape (file, column, issue, rows, examples) but the data is still analysed.  Each rule is
documented with its threshold, and the same rules run on a dataset in memory and, as engine
queries, on an out-of-core source (:func:`crm_models.engine.aggregates.source_warnings`).

Rules:

* dates far before the bulk of the data (more than five interquartile ranges, and at least two
  years, before the lower quartile): typically a default date such as 1900-01-01;
* amounts extreme for the column: more than :data:`EXTREME_FACTOR` times the 99th percentile of
  the absolute amounts (a robust rule: one wrong value cannot hide itself by moving the mean);
* a transactions table of only returns (no positive amount) or of only zero amounts;
* a campaign without a control group (no untreated rows: no effect can be measured) or without
  any response;
* too few customers for the models (fewer than :data:`MIN_MODEL_CUSTOMERS` with an order);
* sign-up dates after today.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_models.data.contract import MONEY_COLUMNS, Problem, examples
from crm_models.data.dataset import Dataset

EXTREME_FACTOR = 1_000  # x the 99th percentile of |amount|
MIN_MODEL_CUSTOMERS = 30  # customers with an order below which models are unreliable
MIN_EARLY_GAP = pd.Timedelta(days=730)  # far-past dates: at least this far before the bulk
FAR_PAST_IQRS = 5  # ... and this many interquartile ranges below the lower quartile


NO_SALES = "no sale with a positive amount, so there is no revenue, order or buyer to analyse"
NO_CONTROL = (
    "campaigns without a control group: their effect cannot be measured (keep an untreated "
    "hold-out)"
)
NO_RESPONSE = "campaigns without any response"


def too_few_buyers(buyers: int) -> str:
    return (
        f"only {buyers:,} customers with an order: too few for the value, segment and forecast "
        f"models (at least {MIN_MODEL_CUSTOMERS} are needed)"
    )


def far_past_cutoff(dates: pd.Series) -> pd.Timestamp | None:
    """Dates before this are far before the bulk of the data (None: too few dates to say):
    the lower quartile minus five interquartile ranges, and at least :data:`MIN_EARLY_GAP`."""
    dates = dates.dropna()
    if len(dates) < 20:
        return None
    q1, q3 = dates.quantile([0.25, 0.75])
    return q1 - max(FAR_PAST_IQRS * (q3 - q1), MIN_EARLY_GAP)


def extreme_cutoff(amounts: pd.Series) -> float | None:
    """Absolute amounts above this are extreme for the column (None: nothing to compare)."""
    size = amounts.abs().dropna()
    if len(size) < 20:
        return None
    p99 = float(size.quantile(0.99))
    return EXTREME_FACTOR * p99 if p99 > 0 else None


def _file(df: pd.DataFrame, table: str) -> str:
    return df.attrs.get("file", table)


def dataset_warnings(ds: Dataset) -> list[Problem]:
    """Every warning about a loaded dataset (see the module docstring for the rules)."""
    out: list[Problem] = []

    def warn(table: str, column: str | None, issue: str, mask, cols: list[str] | None = None):
        df = getattr(ds, table)
        n = int(np.asarray(mask).sum())
        if n:
            found = examples(df, mask, cols or ([column] if column else []))
            out.append(Problem(_file(df, table), column, issue, n, found))

    tx = ds.transactions
    if tx is not None and len(tx):
        cutoff = far_past_cutoff(tx["order_date"])
        if cutoff is not None:
            warn(
                "transactions",
                "order_date",
                f"dates far before the bulk of the data (before {cutoff.date()}): "
                "a default or mistyped date? Remove or fix these lines",
                (tx["order_date"] < cutoff).fillna(False),
            )
        amounts = tx["amount"]
        if not (amounts > 0).any():
            what = "all amounts are zero" if (amounts == 0).all() else "only returns"
            out.append(Problem(_file(tx, "transactions"), "amount", f"{what}: {NO_SALES}", len(tx)))
        known = tx["customer_id"].notna() & (amounts > 0)
        buyers = tx.loc[known.to_numpy(), "customer_id"].nunique()
        if 0 < buyers < MIN_MODEL_CUSTOMERS:
            out.append(
                Problem(_file(tx, "transactions"), "customer_id", too_few_buyers(buyers), len(tx))
            )
    for table, col in MONEY_COLUMNS.items():
        df = getattr(ds, table)
        if df is None or col not in df.columns:
            continue
        cutoff = extreme_cutoff(df[col])
        if cutoff is not None:
            warn(
                table,
                col,
                f"amounts extreme for this column (beyond {cutoff:,.0f}, {EXTREME_FACTOR:,}x its "
                "99th percentile): check units and decimal separators",
                (df[col].abs() > cutoff).fillna(False),
            )
    camp = ds.campaigns
    if camp is not None and len(camp):
        per = camp.groupby("campaign_id", sort=True, observed=True).agg(
            treated=("treated", "min"), responded=("responded", "max")
        )
        for flag, issue in (
            (per["treated"].astype(bool), NO_CONTROL),
            (~per["responded"].astype(bool), NO_RESPONSE),
        ):
            ids = per.index[flag.to_numpy()]
            warn("campaigns", "campaign_id", issue, camp["campaign_id"].isin(ids), ["campaign_id"])
    cust = ds.customers
    if cust is not None and "signup_date" in cust.columns:
        tomorrow = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
        warn(
            "customers",
            "signup_date",
            "sign-up dates after today",
            (cust["signup_date"] >= tomorrow).fillna(False),
        )
    return out

"""Customer characteristics: which view columns describe who a customer is, and their levels."""

from __future__ import annotations

import pandas as pd

# columns of the customer view that describe behaviour, not who the customer is
BEHAVIOUR_COLUMNS = frozenset(
    {
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "first_purchase",
        "last_purchase",
        "revenue",
        "gross_sales",
        "returns",
        "orders",
        "return_orders",
        "items",
        "favourite_category",
        "n_categories",
        "avg_order_value",
        "return_rate",
        "mean_interpurchase",
        "contacts",
        "measured_contacts",
        "responses",
        "response_amount",
        "last_contact",
        "response_rate",
        "tenure_days",
        "days_since_last",
        "lifecycle_stage",
    }
)
# known after the fact or bookkeeping: never a characteristic to target on
_NOT_CHARACTERISTICS = frozenset({"opt_out_reason", "opt_out_date", "signup_date", "customer_id"})
MAX_LEVELS = 30


def attribute_columns(view: pd.DataFrame, max_levels: int = MAX_LEVELS) -> list[str]:
    """The known characteristics of customers in a view (customer attributes and region).

    Dates, behaviour, after-the-fact columns (opt-out reason) and columns with one level or more
    than ``max_levels`` levels are left out; a numeric column ``x`` is left out when ``x_band``
    exists (age and age_band describe the same thing).
    """
    out = []
    for col in view.columns:
        if (
            col in BEHAVIOUR_COLUMNS
            or col in _NOT_CHARACTERISTICS
            or col.startswith("channel_share_")
            or pd.api.types.is_datetime64_any_dtype(view[col])
            or f"{col}_band" in view.columns
        ):
            continue
        x = view[col]
        n_levels = x.nunique(dropna=True)
        numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
        if n_levels < 2 or (not numeric and n_levels > max_levels):
            continue
        out.append(col)
    return out


def attribute_levels(x: pd.Series, bins: int = 5) -> pd.Series:
    """A characteristic as text levels: numbers with many values binned into quantile ranges."""
    numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    if numeric and x.nunique() > bins:
        cut = pd.qcut(x, bins, duplicates="drop")
        labels = cut.cat.categories
        names = [f"{iv.left:,.0f}-{iv.right:,.0f}" for iv in labels]
        return pd.Series(
            pd.Categorical.from_codes(cut.cat.codes, categories=names).astype(object),
            index=x.index,
        ).where(cut.notna(), "unknown")
    return x.astype(object).where(x.notna(), "unknown").astype(str)

"""Campaign data: one row per customer and campaign, leakage-free features, arms and effects.

**No leakage.**  Features for a campaign come from :func:`crm_models.features.customer_view` as
of the day *before* the send date, and the campaign history in them counts only campaigns whose
response window (``response_window_days``) had closed by then, so no outcome of the campaign
being modelled (or of one still running) can reach its features.  Post-send attributes
(``opt_out_date``, ``opt_out_reason``) are never features.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.dataset import Dataset, UnsupportedData
from crm_models.engine import Source
from crm_models.engine.aggregates import table_columns
from crm_models.features import customer_view, recount_campaigns, resolve_as_of, significant

__all__ = [
    "ARM_LABELS",
    "CONTROL",
    "DATE_FEATURES",
    "MAX_LEVELS",
    "MONEY_OUTCOMES",
    "NEVER_FEATURES",
    "NO_CONTROL",
    "OUTCOME_WORDS",
    "RESPONSE_WINDOW_DAYS",
    "CampaignData",
    "FeatureEncoder",
    "arm_label",
    "arm_rows",
    "arm_summary",
    "average_effects",
    "campaign_data",
    "campaign_features",
    "customer_features",
    "distinct_outcomes",
    "is_rate_outcome",
    "mean_ci",
]


CONTROL = "control"
RESPONSE_WINDOW_DAYS = 14
# Arm names as the source file spells them (the Hillstrom loader renames the segment values).
ARM_LABELS = {
    "hillstrom": {
        "mens_email": "Mens E-Mail",
        "womens_email": "Womens E-Mail",
        "control": "No E-Mail",
    }
}
NEVER_FEATURES = {"opt_out_date", "opt_out_reason", "opt_in"}  # post-send or constant
DATE_FEATURES = {"signup_date": "days_since_signup", "last_contact": "days_since_contact"}
MAX_LEVELS = 30
NO_CONTROL = (
    "The campaigns have no control group (every customer was mailed), so the effect of mailing "
    "cannot be measured; keep a random 10-20 % of each campaign unmailed."
)
# what a customer did when the outcome is positive, in words
OUTCOME_WORDS = {
    "responded": "responded",
    "response_amount": "spent anything in response",
    "visit": "visited",
    "conversion": "bought",
    "spend": "spent anything",
}
# the campaign columns the models read (from an engine, only these come into pandas)
CAMPAIGN_COLUMNS = ["campaign_id", "customer_id", "sent_date", "channel", "arm", "treated"]


def arm_label(ds_or_name: Dataset | str, arm: str) -> str:
    """The arm as the data's source names it (``Mens E-Mail`` on Hillstrom), else unchanged."""
    name = ds_or_name if isinstance(ds_or_name, str) else ds_or_name.name
    return ARM_LABELS.get(name, {}).get(arm, arm)


class FeatureEncoder:
    """Customer-view columns to a numeric matrix: numbers rounded to
    :data:`~crm_models.features.SIGNIFICANT_DIGITS` significant digits (so that every engine,
    which adds money up in its own order, fits the same model), dates as days before the as-of
    day, text columns with few levels one-hot; the columns seen in ``fit`` are kept."""

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        self.numeric_: list[str] = []
        self.levels_: dict[str, list[str]] = {}
        for col in frame.columns:
            s = frame[col]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                self.numeric_.append(col)
            elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s):
                levels = sorted(map(str, s.dropna().unique()))
                if 1 < len(levels) <= MAX_LEVELS:
                    self.levels_[col] = levels
        self.columns_ = list(self.numeric_) + [
            f"{c}={lv}" for c, levels in self.levels_.items() for lv in levels
        ]
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col in self.numeric_:
            out[col] = (
                significant(frame[col].astype(float).to_numpy())
                if col in frame
                else np.full(len(frame), np.nan)
            )
        for col, levels in self.levels_.items():
            values = frame[col].astype(object).to_numpy() if col in frame else None
            for lv in levels:
                out[f"{col}={lv}"] = (
                    np.zeros(len(frame)) if values is None else (values == lv).astype(float)
                )
        return pd.DataFrame(out, index=frame.index, columns=self.columns_)

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.fit(frame).transform(frame)


def _closed_campaigns(ds: Dataset | Source, as_of: pd.Timestamp, window_days: int) -> Any:
    """The campaign rows whose response window closed by the as-of day (a frame, or an
    engine expression for a source); None without campaigns."""
    c = ds.table("campaigns") if isinstance(ds, Source) else ds.campaigns
    if c is None:
        return None
    cut = as_of + pd.Timedelta(days=1) - pd.Timedelta(days=window_days)
    if isinstance(ds, Source):
        import ibis

        return c.filter(c.sent_date < ibis.timestamp(cut))
    return c.loc[c["sent_date"] < cut]


def customer_features(
    ds: Dataset | Source,
    as_of,
    response_window_days: int = RESPONSE_WINDOW_DAYS,
    view: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Model inputs per customer as of a day (raw types; encode with :class:`FeatureEncoder`);
    from an engine source the view is summed by the engine, with the same values.

    Campaign history counts only campaigns whose response window closed by ``as_of``.
    ``view``: the day's :func:`~crm_models.features.customer_view` when already computed (a
    build's shared view); only its campaign columns are then counted again.
    """
    as_of = resolve_as_of(ds, as_of)
    closed = _closed_campaigns(ds, as_of, response_window_days)
    if isinstance(ds, Source):
        # its own key for a build's cache: the view of every campaign is another table
        cut = f"{ds.fingerprint} campaigns closed by {as_of.date()} ({response_window_days} days)"
        sub = (
            ds
            if closed is None
            else dataclasses.replace(
                ds,
                tables={**ds.tables, "campaigns": closed},
                fingerprint=hashlib.sha256(cut.encode()).hexdigest(),
            )
        )
    else:
        sub = Dataset(
            ds.name,
            transactions=ds.transactions,
            customers=ds.customers,
            campaigns=closed,
            fingerprint="-",
        )
    view = (
        customer_view(sub, as_of=as_of, response_window_days=response_window_days)
        if view is None
        else recount_campaigns(view, sub, as_of, response_window_days)
    )
    for col, new in DATE_FEATURES.items():
        if col in view.columns:
            view[new] = (as_of - view[col]).dt.days.astype(float)
    drop = NEVER_FEATURES | set(DATE_FEATURES) | {"first_purchase", "last_purchase"}
    return view.drop(columns=[c for c in view.columns if c in drop])


@dataclasses.dataclass
class CampaignData:
    """Campaign rows with their leakage-free features.

    ``rows``: campaign_id, customer_id, sent_date, arm, treated and the outcome columns, in
    order of send day, campaign and customer; ``features``: raw customer features as of the day
    before each send (same row order); ``X``: the encoded numeric matrix; ``encoder``: the :class:`FeatureEncoder`
    fitted on ``features``.  Features are built on first use, for these rows only: the measured
    effects need only the rows, and a fitting sample (:mod:`crm_models.targeting.sampling`)
    builds the features of its own rows, so a million campaign rows never all get features.
    """

    dataset: str
    rows: pd.DataFrame
    outcomes: list[str]
    control: str = CONTROL
    notes: list[str] = dataclasses.field(default_factory=list)  # campaigns left out, and why
    sampled_from: int | None = None  # rows before a fitting sample (targeting.sampling), or None
    # where features come from (an engine source: its engine sums the views)
    source: Dataset | Source | None = dataclasses.field(default=None, repr=False)
    response_window_days: int = RESPONSE_WINDOW_DAYS
    _built: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def features(self) -> pd.DataFrame:
        if "features" not in self._built:
            self._built["features"] = campaign_features(
                self.source, self.rows, self.response_window_days, self.sampled_from is not None
            )
        return self._built["features"]

    @property
    def encoder(self) -> FeatureEncoder:
        if "encoder" not in self._built:
            self._built["encoder"] = FeatureEncoder().fit(self.features)
        return self._built["encoder"]

    @property
    def X(self) -> pd.DataFrame:
        if "X" not in self._built:
            self._built["X"] = self.encoder.transform(self.features)
        return self._built["X"]

    @property
    def arms(self) -> list[str]:
        return sorted(a for a in self.rows["arm"].unique() if a != self.control)

    @property
    def campaigns(self) -> list[str]:
        order = self.rows.groupby("campaign_id", observed=True)["sent_date"].min().sort_values()
        return [str(c) for c in order.index]

    def label(self, arm: str) -> str:
        return arm_label(self.dataset, arm)

    def with_rows(self, rows: pd.DataFrame) -> CampaignData:
        """The same campaign data with ``rows`` (some of these rows, by index label, possibly
        with other outcome values); features already built are cut to them."""
        built = {}
        if "features" in self._built:
            built = {k: v.loc[rows.index] for k, v in self._built.items() if k != "encoder"}
            built["encoder"] = self.encoder
        return dataclasses.replace(self, rows=rows, _built=built)


def campaign_features(
    ds: Dataset | Source, rows: pd.DataFrame, response_window_days: int, only_these: bool = False
) -> pd.DataFrame:
    """Each row's customer features as of the day before its send (rows in send-day order), one
    customer view per send day.  ``only_these``: build each day's view from the rows'
    customers only (their lines, attributes and campaigns) - the same values, as every feature
    is the customer's own, at a fraction of the cost for a sample of a large base."""
    day = rows["sent_date"].dt.normalize()
    if only_these:  # the lines of all the rows' customers, cut once from the whole dataset
        ds = _customers_only(ds, rows["customer_id"].unique())
    feats = []
    for send_day, positions in day.groupby(day, sort=True).indices.items():
        customers = rows["customer_id"].to_numpy()[positions]
        sub = _customers_only(ds, customers) if only_these else ds
        f = customer_features(sub, send_day - pd.Timedelta(days=1), response_window_days)
        feats.append(f.reindex(customers).reset_index(drop=True))
    out = pd.concat(feats, ignore_index=True).set_axis(rows.index)
    return out.drop(columns=[c for c in out.columns if c == "customer_id"])


def _customers_only(ds: Dataset | Source, customers: np.ndarray) -> Dataset | Source:
    """``ds`` with only the rows of ``customers`` in its transactions, customers and campaigns."""
    if isinstance(ds, Source):
        return ds.only_customers(customers)

    def keep(table: pd.DataFrame | None) -> pd.DataFrame | None:
        if table is None:
            return None
        return table.loc[table["customer_id"].isin(customers).to_numpy()]

    return Dataset(
        ds.name,
        transactions=keep(ds.transactions),
        customers=keep(ds.customers),
        campaigns=keep(ds.campaigns),
        fingerprint="-",
    )


def campaign_data(
    ds: Dataset | Source,
    campaigns: Sequence[str] | None = None,
    response_window_days: int = RESPONSE_WINDOW_DAYS,
) -> CampaignData:
    """One row per customer and campaign; features as of the day before the send (built when
    first used, see :class:`CampaignData`).

    Only randomised campaigns can show what a contact does: a campaign without a control group
    (or without anybody mailed) is left out (said in ``notes``).  Raises
    :class:`~crm_models.data.dataset.UnsupportedData` when no campaign has both, or nobody responded
    to any campaign.
    """
    columns = [*CAMPAIGN_COLUMNS, *OUTCOME_WORDS]
    c = table_columns(ds, "campaigns", columns) if isinstance(ds, Source) else ds.campaigns
    if c is None or not len(c):
        raise UnsupportedData(
            "The data has no campaigns (no campaigns table, or an empty one), so there is no "
            "campaign response to analyse."
        )
    if campaigns is not None:
        c = c.loc[c["campaign_id"].isin(list(campaigns))]
        if not len(c):
            raise ValueError(f"no rows for campaigns {list(campaigns)}")
    c = c.copy()
    if "arm" not in c.columns:
        c["arm"] = np.where(c["treated"], "treated", CONTROL)
    c["arm"] = c["arm"].astype(str).where(c["treated"].astype(bool), CONTROL)
    c, notes = _randomised(c)
    # by send day, then campaign and customer: the same rows in the same order (so the same
    # samples, splits and models) whatever order a file or an engine's scan gives them in
    day = c["sent_date"].dt.normalize().rename("_day")
    order = pd.concat([day, c[["campaign_id", "customer_id"]]], axis=1).reset_index(drop=True)
    order = order.sort_values(["_day", "campaign_id", "customer_id"], kind="stable").index
    rows_df = c.iloc[order].reset_index(drop=True)
    outcomes = [col for col in OUTCOME_WORDS if col in rows_df.columns]
    for col in outcomes:
        rows_df[col] = rows_df[col].astype(float)
    if outcomes and not (rows_df[outcomes].fillna(0.0).to_numpy() > 0).any():
        raise UnsupportedData(
            f"No customer responded to any campaign (none of the {len(rows_df):,} customer "
            "contacts), so response and uplift cannot be modelled."
        )
    keep = [*CAMPAIGN_COLUMNS, *outcomes]
    return CampaignData(
        ds.name,
        rows_df[[k for k in keep if k in rows_df.columns]],
        outcomes,
        notes=notes,
        source=ds,
        response_window_days=response_window_days,
    )


def _randomised(c: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of campaigns with both mailed customers and a control group, and a note for
    each campaign left out."""
    treated = c["treated"].astype(bool)
    if not treated.any():
        raise UnsupportedData(
            "Nobody in the campaigns was mailed (every customer is in a control group), so "
            "there is no effect of mailing to measure."
        )
    if treated.all():
        raise UnsupportedData(NO_CONTROL)
    per = treated.groupby(c["campaign_id"], observed=True).agg(["any", "all"])
    if not (per["any"] & ~per["all"]).any():
        raise UnsupportedData(
            "No campaign has both mailed customers and a control group, so the effect of "
            "mailing cannot be measured; keep a random 10-20 % of each campaign unmailed."
        )
    notes = [
        f"Campaign {cid} is left out: "
        + (
            "it has no control group (every customer was mailed)."
            if row["all"]
            else "nobody in it was mailed (everybody is in the control group)."
        )
        for cid, row in per.iterrows()
        if row["all"] or not row["any"]
    ]
    keep = c["campaign_id"].isin(per.index[per["any"] & ~per["all"]])
    return c.loc[keep.to_numpy()], notes


def arm_rows(data: CampaignData, arm: str, mask=None) -> np.ndarray:
    """Rows of ``arm`` plus the control rows of the campaigns that tested it."""
    r = data.rows
    is_arm = (r["arm"] == arm).to_numpy()
    tested = r["campaign_id"].isin(r.loc[is_arm, "campaign_id"].unique()).to_numpy()
    rows = is_arm | ((r["arm"] == data.control).to_numpy() & tested)
    return rows if mask is None else rows & mask


def mean_ci(treated: np.ndarray, control: np.ndarray) -> tuple[float, float, float]:
    """Difference of the means of ``treated`` and ``control`` with its 95% interval."""
    diff = treated.mean() - control.mean()
    se = math.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    return diff, diff - 1.96 * se, diff + 1.96 * se


def arm_summary(data: CampaignData, outcome: str = "responded") -> pd.DataFrame:
    """Per campaign and arm: customers, mean outcome with a 95% interval, and the difference
    from the campaign's control group (the measured effect, with a 95% interval)."""
    out = []
    r = data.rows
    for cid in data.campaigns:
        rc = r.loc[r["campaign_id"] == cid]
        ctrl = rc.loc[rc["arm"] == data.control, outcome].to_numpy()
        for arm, g in rc.groupby("arm", sort=True):
            y = g[outcome].to_numpy()
            se = y.std(ddof=1) / math.sqrt(len(y)) if len(y) > 1 else np.nan
            row = {
                "campaign_id": cid,
                "arm": arm,
                "label": data.label(arm),
                "customers": len(y),
                "mean": y.mean(),
                "mean_low": y.mean() - 1.96 * se,
                "mean_high": y.mean() + 1.96 * se,
            }
            if arm != data.control and len(ctrl) > 1 and len(y) > 1:
                row["effect"], row["effect_low"], row["effect_high"] = mean_ci(y, ctrl)
            out.append(row)
    return pd.DataFrame(out)


MONEY_OUTCOMES = ("spend", "response_amount")  # outcomes in money; the others are 0/1 rates
# the same outcome under two names (Hillstrom: "responded" is "conversion", "response_amount"
# is "spend"): the first is left out when the second is there
_SAME_OUTCOME = {"responded": "conversion", "response_amount": "spend"}


def is_rate_outcome(outcome: str) -> bool:
    """Whether ``outcome`` is a 0/1 outcome (a rate) rather than an amount of money."""
    return outcome not in MONEY_OUTCOMES


def distinct_outcomes(data: CampaignData) -> list[str]:
    """The campaign outcomes, each once (a duplicate under another name is left out)."""
    return [o for o in data.outcomes if _SAME_OUTCOME.get(o) not in data.outcomes]


def average_effects(data: CampaignData, outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """Per outcome and offer over all campaigns: customers, mean outcome of the offer and of
    its control groups, and the effect (difference) with a 95% interval."""
    rows = []
    for o in distinct_outcomes(data) if outcomes is None else outcomes:
        y = data.rows[o].to_numpy(dtype=float)
        for arm in data.arms:
            tested = arm_rows(data, arm)
            is_arm = (data.rows["arm"] == arm).to_numpy()
            diff, lo, hi = mean_ci(y[is_arm], y[tested & ~is_arm])
            rows.append(
                {
                    "outcome": o,
                    "offer": data.label(arm),
                    "customers": int(is_arm.sum()),
                    "rate or mean": y[is_arm].mean(),
                    "control": y[tested & ~is_arm].mean(),
                    "effect": diff,
                    "95% low": lo,
                    "95% high": hi,
                }
            )
    return pd.DataFrame(rows)

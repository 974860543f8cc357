"""The contact list as a mail tool takes it: campaign id, send date, channel and a hold-out group.

:func:`mailing_list` turns the selected customers of :func:`~crm_models.targeting.contact_list`
into the file to hand over: one row per customer (``customer_id`` only, never names, e-mails or
phones), the campaign id and planned send date on every row, the channel, and a random
**hold-out** group — a share of the selected customers who are *not* mailed, so that the
campaign's effect can be measured afterwards by comparing them with the mailed customers
(the only unbiased measure: both groups were chosen by the same model, only chance decides
who is mailed).  The hold-out is drawn with a seed, stratified by offer and decile of predicted
uplift so that the two groups are alike, and holds exactly ``round(share × n)`` customers.
:func:`write_contact_list` writes ``.csv``, ``.parquet`` or ``.xlsx`` by the file's extension,
atomically (a temporary file in the same folder, then a rename), so a failed write never
leaves a half file.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_models.data.privacy import check_no_personal_data
from crm_models.table_files import write_csv

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_HOLDOUT",
    "LIST_COLUMNS",
    "LIST_FORMATS",
    "check_holdout",
    "check_list_path",
    "default_campaign_id",
    "holdout_flags",
    "holdout_summary",
    "mailing_list",
    "write_contact_list",
]

LIST_FORMATS = (".csv", ".parquet", ".xlsx")
DEFAULT_HOLDOUT = 0.1  # a tenth kept back: enough to measure a typical response uplift
DEFAULT_CHANNEL = "email"  # when the data says nothing about how customers are contacted
HOLDOUT_STRATA = 10  # deciles of predicted uplift within each offer
EXCEL_MAX_ROWS = 1_048_575  # an Excel sheet's rows minus the header
LIST_COLUMNS = (
    "campaign_id",
    "send_date",
    "customer_id",
    "channel",
    "arm",
    "action",
    "holdout",
    "uplift_decile",
    "expected_incremental_response",
    "expected_incremental_clv",
    "expected_incremental_profit",
    "reason_codes",
)
MAIL, HOLD_OUT = "mail", "hold out"


def check_list_path(path: str | Path) -> Path:
    """``path`` when its extension is one the list can be written as, else ValueError."""
    path = Path(path)
    if path.suffix.lower() not in LIST_FORMATS:
        raise ValueError(
            f"cannot write the contact list to {str(path)!r}: its extension "
            f"{path.suffix or '(none)'!r} is not one of {', '.join(LIST_FORMATS)}; "
            "name the file with one of them"
        )
    return path


def check_holdout(share: float) -> float:
    """``share`` when it is a valid hold-out share (0 or more, below 1), else ValueError."""
    if not 0 <= share < 1:
        raise ValueError(
            f"hold-out share {share:g} must be at least 0 and below 1 (0.1 keeps a tenth of "
            "the selected customers as a control group; 0 mails everyone)"
        )
    return float(share)


def default_campaign_id(dataset: str, send_date: Any) -> str:
    """``<dataset>-<YYYYMMDD of the send date>``: the same run on the same data gets the same
    id; the offer of each row is in the list's ``arm`` column."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(dataset).lower()).strip("-") or "campaign"
    return f"{slug}-{pd.Timestamp(send_date):%Y%m%d}"


def holdout_flags(
    score: np.ndarray, share: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which customers to hold out, and each customer's uplift decile (1 = lowest).

    Exactly ``round(share * n)`` customers are held out.  Strata are the deciles of ``score``
    within each of ``groups`` (e.g. the offer); each stratum gives its proportional share,
    the rounding remainders going to the strata with the largest fractions (ties by the seed),
    and within a stratum the customers are drawn at random with ``seed``.
    """
    share = check_holdout(share)
    score = np.asarray(score, dtype=float)
    n = len(score)
    groups = np.zeros(n, dtype=np.int64) if groups is None else pd.factorize(groups)[0]
    rng = np.random.default_rng(seed)
    key = rng.random(n)
    # deciles by rank within the group: ties split by the random key, not by position
    decile = _position_within(groups, score, key) * HOLDOUT_STRATA // np.bincount(groups)[groups]
    codes, stratum = np.unique(
        groups.astype(np.int64) * HOLDOUT_STRATA + decile, return_inverse=True
    )
    exact = share * np.bincount(stratum, minlength=len(codes))
    quota = np.floor(exact).astype(np.int64)
    left = int(round(share * n)) - int(quota.sum())
    if left > 0:  # largest remainders first, ties broken at random
        tie = rng.random(len(codes))
        quota[np.lexsort((tie, -(exact - quota)))[:left]] += 1
    held = _position_within(stratum, key, key) < quota[stratum]
    return held, decile + 1


def _position_within(groups: np.ndarray, score: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """0-based position of each element in its group when sorted by ``score``, then ``tie``."""
    order = np.lexsort((tie, score, groups))
    sorted_groups = groups[order]
    position = np.empty(len(groups), dtype=np.int64)
    position[order] = np.arange(len(groups)) - np.searchsorted(sorted_groups, sorted_groups)
    return position


def mailing_list(
    contacts: pd.DataFrame,
    send_date: Any,
    campaign_id: str,
    holdout: float = DEFAULT_HOLDOUT,
    seed: int = 42,
    default_channel: str = DEFAULT_CHANNEL,
) -> pd.DataFrame:
    """The file to hand to the mail tool (columns :data:`LIST_COLUMNS`).

    ``contacts`` is :attr:`ContactListResult.contacts` (offers possibly put in words).
    ``holdout`` of them are flagged ``holdout`` / ``action = "hold out"`` (not to be mailed;
    :func:`holdout_flags`); the rest ``action = "mail"``.  ``channel`` is the customer's channel
    from the data, else ``default_channel``.  ``send_date`` is a date (no time of day).
    """
    out = contacts.copy()
    channel = out["channel"] if "channel" in out else pd.Series(pd.NA, index=out.index)
    channel = channel.astype(object)
    out["channel"] = channel.where(channel.notna() & (channel != ""), default_channel)
    held, decile = holdout_flags(
        out["expected_incremental_response"].to_numpy(dtype=float),
        holdout,
        seed,
        out["arm"].astype(str).to_numpy(),
    )
    out["holdout"] = held
    out["action"] = np.where(held, HOLD_OUT, MAIL)
    out["uplift_decile"] = decile
    out["campaign_id"] = str(campaign_id)
    out["send_date"] = pd.Timestamp(send_date).date()
    cols = [c for c in LIST_COLUMNS if c in out.columns]
    out = out[cols]
    check_no_personal_data(out, "contact list")
    return out


def holdout_summary(mailing: pd.DataFrame) -> dict[str, Any]:
    """Mailed and held-out customers and the expected gain of the mailed part (the held-out
    customers cost nothing and bring no incremental response)."""
    mailed = ~mailing["holdout"].to_numpy(dtype=bool)
    return {
        "mailed": int(mailed.sum()),
        "held_out": int((~mailed).sum()),
        "holdout_share": float((~mailed).mean()) if len(mailing) else 0.0,
        "expected_incremental_responses_mailed": float(
            mailing.loc[mailed, "expected_incremental_response"].sum()
        ),
        "expected_incremental_profit_mailed": float(
            mailing.loc[mailed, "expected_incremental_profit"].sum()
        ),
    }


def write_contact_list(mailing: pd.DataFrame, path: str | Path) -> Path:
    """Write ``mailing`` as ``.csv``, ``.parquet`` or ``.xlsx`` (by ``path``'s extension),
    through a temporary file in the same folder renamed into place: a failed write leaves no
    file (and an earlier list of the same name untouched)."""
    path = check_list_path(path)
    ext = path.suffix.lower()
    if ext == ".xlsx" and len(mailing) > EXCEL_MAX_ROWS:
        raise ValueError(
            f"cannot write the contact list to {str(path)!r}: {len(mailing):,} rows do not fit "
            f"an Excel sheet ({EXCEL_MAX_ROWS:,} at most); write .csv or .parquet instead"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        if ext == ".csv":
            write_csv(mailing, tmp)
        elif ext == ".parquet":
            mailing.to_parquet(tmp, index=False)
        else:
            mailing.to_excel(tmp, index=False, sheet_name="contact list")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

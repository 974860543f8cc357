"""Time units shared by every analysis: BTYD quantities are in weeks by default, days on request."""

from __future__ import annotations

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}


def unit_days(unit: str) -> float:
    """Length of a time unit in days ("D", "W" or "M")."""
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise ValueError(f"unknown time unit {unit!r}; use one of {', '.join(UNIT_DAYS)}") from None

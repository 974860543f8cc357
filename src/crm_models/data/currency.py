"""The currency a dataset's amounts are in: ISO 4217 codes and how amounts in them are written.

A dataset states its currency in ``mapping.json`` (``"options": {"currency": "EUR"}``) or with
``--currency``; the recognised public files know theirs.  A dataset that states none has
currency ``None`` and its amounts are shown without a sign: never a made-up ``$``.
"""

from __future__ import annotations

import json
from typing import Any

# Common ISO 4217 codes -> the sign written before an amount ("£1,234"); ``None``: the code is
# written after it ("1,234 CHF"), as for every currency whose sign is shared or unfamiliar.
CURRENCIES: dict[str, str | None] = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "AED": None,
    "ARS": None,
    "AUD": None,
    "BGN": None,
    "BRL": None,
    "CAD": None,
    "CHF": None,
    "CLP": None,
    "CNY": None,
    "COP": None,
    "CZK": None,
    "DKK": None,
    "HKD": None,
    "HUF": None,
    "IDR": None,
    "ILS": None,
    "ISK": None,
    "KRW": None,
    "MXN": None,
    "MYR": None,
    "NOK": None,
    "NZD": None,
    "PHP": None,
    "PLN": None,
    "RON": None,
    "SAR": None,
    "SEK": None,
    "SGD": None,
    "THB": None,
    "TRY": None,
    "TWD": None,
    "UAH": None,
    "ZAR": None,
}


def currency_issue(value: Any) -> str | None:
    """Why ``value`` is not a known currency code (``None`` when it is one), for a message
    that names where the value came from."""
    if isinstance(value, str) and value in CURRENCIES:
        return None
    shown = repr(value[:20]) if isinstance(value, str) else json.dumps(value, default=str)[:20]
    near = value.strip().upper() if isinstance(value, str) else ""
    hint = f" (write it in capitals: {near})" if near in CURRENCIES else ""
    return (
        f"{shown} is not a known ISO 4217 currency code{hint}; use one of {', '.join(CURRENCIES)}"
    )


def check_currency(value: Any, where: str) -> str:
    """``value`` when it is a known currency code; else a ``ValueError`` naming ``where``."""
    issue = currency_issue(value)
    if issue is not None:
        raise ValueError(f"{where}: {issue}")
    return value

"""Data conditions an analysis cannot handle, said in plain words.

Every analysis raises :class:`crm_models.data.dataset.UnsupportedData` (a ``ValueError``) at the
earliest point where it knows the data cannot support it: no sales, no control group, too few
customers.  The message is one sentence for a marketing reader, shown on the report's card when
the build publishes the report as "not applicable"; it never carries Python noise (no
exception names, brackets or ``nan``).  The helpers here keep the wording of the conditions
that several analyses share the same everywhere.
"""

from __future__ import annotations

import pandas as pd

from crm_models.data.dataset import UnsupportedData, no_transactions

__all__ = ["UnsupportedData", "few", "no_sales", "no_transactions", "plural"]


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 customer"``, ``"1,234 customers"`` (``words`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def no_sales(purpose: str, as_of=None) -> UnsupportedData:
    """The transactions hold no sale (no positive amount) up to ``as_of``: ``purpose`` says
    what therefore cannot be done, e.g. ``"there is no revenue to report"``."""
    when = f" up to {pd.Timestamp(as_of).date()}" if as_of is not None else ""
    return UnsupportedData(
        f"The transactions hold no sales{when} (every amount is zero or a return), so {purpose}."
    )


def few(
    n: int, one: str, many: str, purpose: str, needed: int, cls: type = UnsupportedData
) -> UnsupportedData:
    """``"Only <n> <many>, too few to <purpose>; at least <needed> are needed."`` (``one`` for
    a single one; "Not a single <one>: ..." for none) as ``cls`` (:class:`UnsupportedData` or a
    subclass of it).  ``one``/``many``: e.g. ``"customer has bought"``/``"customers have
    bought"``."""
    if n == 0:
        return cls(f"Not a single {one}: at least {needed:,} are needed to {purpose}.")
    return cls(
        f"Only {n:,} {one if n == 1 else many}, too few to {purpose}; at least {needed:,} are needed."
    )

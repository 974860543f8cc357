"""Basket files (one basket per line, comma-separated) and what the ``basket`` verb opens."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "BASKET_SUFFIXES",
    "basket_file_summary",
    "basket_table",
    "has_ragged_lines",
    "read_basket_lines",
]

BASKET_SUFFIXES = (".csv", ".txt", ".basket", ".tsv")

_SNIFF_LINES = 1_000  # lines read to tell baskets from a table


def read_basket_lines(path: str | Path) -> list[list[str]]:
    """A basket file: one basket per line, items separated by commas, no header.

    This is the format of arules' Groceries export (``groceries.csv``: 9,835 baskets over 169
    items, per its SOURCE.md and arules ``summary(Groceries)``).  Items are trimmed, empty items
    ignored; empty lines are skipped.  Returns the items of each basket in file order (an item
    repeated within a line is kept here; :func:`crm_models.baskets.baskets_from_lines` counts
    it once).
    """
    lines: list[list[str]] = []
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            found = [s.strip() for s in line.rstrip("\r\n").split(",")]
            found = [s for s in found if s]
            if not found:
                continue
            lines.append(found)
    if not lines:
        raise ValueError(f"{path}: no baskets found (one basket per line, comma-separated)")
    return lines


def has_ragged_lines(path: Path) -> bool:
    """True for a ``.csv``/``.txt``/``.basket``/``.tsv`` file whose lines hold different
    numbers of comma-separated items, as baskets do.  A file whose lines all hold the same
    number of fields is a table with a header (e.g. an export missing a column), never mined
    as baskets of its cells; a file without commas (CDNOW's logs) is no basket file either.
    :func:`crm_models.data.loading.is_basket_file` adds that no known format matches."""
    if path.is_dir() or path.suffix.lower() not in BASKET_SUFFIXES:
        return False
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        head = [len(row) for row in itertools.islice(csv.reader(fh), _SNIFF_LINES) if row]
    return bool(head) and max(head) > 1 and len(set(head)) > 1


def basket_table(lines: list[list[str]]) -> pd.DataFrame:
    """Basket lines as rows of (``basket_id`` from 1 in file order, ``item``), an item
    repeated within a basket kept once."""
    table = pd.DataFrame(
        {
            "basket_id": np.repeat(np.arange(1, len(lines) + 1), [len(line) for line in lines]),
            "item": pd.Series(list(itertools.chain.from_iterable(lines)), dtype=object),
        }
    )
    return table.drop_duplicates(ignore_index=True)


def basket_file_summary(path: Path) -> dict:
    """Headline counts of a basket file (``crm-models data summary`` on e.g. Groceries)."""
    lines = read_basket_lines(path)
    items = {item for line in lines for item in line}
    sizes = [len(set(line)) for line in lines]
    return {
        "name": path.stem,
        "source": str(path),
        "kind": "basket file (one basket per line)",
        "baskets": len(lines),
        "items": len(items),
        "mean_basket_size": round(sum(sizes) / len(sizes), 3),
        "largest_basket": max(sizes),
    }

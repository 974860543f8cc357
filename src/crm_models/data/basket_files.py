"""Basket files (one basket per line, comma-separated) and what the ``basket`` verb opens."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from crm_models.data.contract import DataError
from crm_models.data.loading import recognise

__all__ = ["basket_file_summary", "is_basket_file", "read_basket_lines"]

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


def is_basket_file(path: Path) -> bool:
    """True for a ``.csv``/``.txt``/``.basket``/``.tsv`` file that is no recognised dataset and
    whose lines hold different numbers of items (as baskets do).  A file whose lines all hold
    the same number of fields is a table with a header (e.g. an export missing a column), never
    mined as baskets of its cells."""
    if path.is_dir() or path.suffix.lower() not in (".csv", ".txt", ".basket", ".tsv"):
        return False
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        head = [len(row) for row in itertools.islice(csv.reader(fh), _SNIFF_LINES) if row]
    if not head or max(head) == 1 or len(set(head)) == 1:
        return False  # no commas (CDNOW logs) or a rectangular table
    if path.suffix.lower() == ".txt":
        return True
    try:
        recognise(path)
    except DataError:
        return True
    return False


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

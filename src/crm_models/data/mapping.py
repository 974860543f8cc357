"""How a user's files map onto the contract: ``mapping.json`` and the paths it may name.

:class:`Mapping` is the content of a dataset folder's ``mapping.json`` (or ``--map`` pairs);
:func:`resolve_inside` keeps every path it names inside the dataset's folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_models.data.contract import DataError, Problem
from crm_models.data.currency import currency_issue
from crm_models.data.dataset import TABLES
from crm_models.data.dates import date_format_issue
from crm_models.data.privacy import shorten


def quote_path(value: Any, limit: int = 60) -> str:
    """A path (or any value) quoted for a message, cut to about ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(shorten(text, limit)) if isinstance(value, str) else shorten(text, limit)


@dataclass
class Mapping:
    """How a user's files map onto the contract (the content of ``mapping.json``).

    ``tables``: per contract table, an optional ``file`` name, ``columns`` renaming
    (contract name -> the user's column name), ``date_format`` and ``encoding``.
    ``options``: ``allow_anonymous`` (bool), ``duplicates`` (error | drop | keep),
    ``currency`` (the ISO 4217 code of the amounts, e.g. ``"EUR"``) and ``date_format`` (the
    strftime pattern of every date column whose table sets none, as ``--date-format``).
    ``database``: ``{"url": "postgresql://...", "schema": "public"}`` when the tables live in
    PostgreSQL (tables then name a ``table`` instead of a ``file``; see :mod:`.database`).
    """

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    database: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, path: Path) -> Mapping:
        """Read and check ``mapping.json``: every problem is a :class:`DataError` naming the
        file and key.  Paths it names are confined to its folder by the loaders
        (:func:`resolve_inside`), before anything is opened."""
        path = Path(path)
        label = path.name
        resolve_inside(path.parent, label, label)  # a mapping.json linking outside is refused
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(
                [Problem(label, None, f"not UTF-8 text (byte {exc.start})", 0)]
            ) from None
        except json.JSONDecodeError as exc:
            issue = f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            raise DataError([Problem(label, None, issue, 0)]) from None
        if not isinstance(raw, dict):
            issue = 'must hold a JSON object like {"transactions": {"file": "sales.csv"}}'
            raise DataError([Problem(label, None, issue, 0)])
        options = raw.pop("options", {})
        database = raw.pop("database", None)
        problems: list[Problem] = []
        unknown = set(raw) - set(TABLES)
        if unknown:
            problems.append(
                Problem(label, None, f"unknown table(s) {sorted(unknown)} in mapping", 0)
            )
        if not isinstance(options, dict):
            problems.append(Problem(f"{label}, key options", None, "must be an object", 0))
        elif "currency" in options and (issue := currency_issue(options["currency"])):
            problems.append(Problem(f"{label}, key options.currency", None, issue, 0))
        if isinstance(options, dict) and (issue := _date_format_issue(options)):
            problems.append(Problem(f"{label}, key options.date_format", None, issue, 0))
        for table, spec in raw.items():
            if table in unknown:
                continue
            where = f"{label}, key {table}"
            if not isinstance(spec, dict):
                issue = f'must be an object like {{"file": "{table}.csv"}}, not {quote_path(spec)}'
                problems.append(Problem(where, None, issue, 0))
                continue
            for key in ("file", "table"):
                if key in spec and not (isinstance(spec[key], str) and spec[key].strip()):
                    issue = f"must be a {key} name (text), not {quote_path(spec[key])}"
                    problems.append(Problem(f"{where}.{key}", None, issue, 0))
            columns = spec.get("columns", {})
            if not (
                isinstance(columns, dict) and all(isinstance(v, str) for v in columns.values())
            ):
                issue = 'must map contract columns to your column names ({"amount": "Betrag"})'
                problems.append(Problem(f"{where}.columns", None, issue, 0))
            if issue := _date_format_issue(spec):
                problems.append(Problem(f"{where}.date_format", None, issue, 0))
        if problems:
            raise DataError(problems)
        return cls(tables=raw, options=options, database=database)

    def merge(self, other: Mapping | None) -> Mapping:
        """This mapping with ``other``'s entries taking precedence (CLI over file)."""
        if other is None:
            return self
        tables = {t: dict(v) for t, v in self.tables.items()}
        for t, spec in other.tables.items():
            merged = tables.setdefault(t, {})
            merged.update({k: v for k, v in spec.items() if k != "columns"})
            merged["columns"] = {**merged.get("columns", {}), **spec.get("columns", {})}
        return Mapping(tables, {**self.options, **other.options}, other.database or self.database)

    @classmethod
    def from_pairs(cls, pairs: list[str], date_format: str | None = None) -> Mapping:
        """Parse CLI ``table.column=source_column`` pairs (and ``--date-format``)."""
        if date_format and (issue := date_format_issue(date_format)):
            raise ValueError(f"bad --date-format {date_format!r}: {issue}")
        tables: dict[str, dict[str, Any]] = {}
        for pair in pairs:
            target, _, source = pair.partition("=")
            table, _, column = target.partition(".")
            if not (source and column and table in TABLES):
                raise ValueError(
                    f"bad mapping {pair!r}: use table.column=source_column, table in {TABLES}"
                )
            tables.setdefault(table, {}).setdefault("columns", {})[column] = source
        return cls(tables, {"date_format": date_format} if date_format else {})


def _date_format_issue(spec: dict[str, Any]) -> str | None:
    """Why a mapping entry's ``date_format`` cannot read dates (None when absent or fine)."""
    return date_format_issue(spec["date_format"]) if "date_format" in spec else None


def resolve_inside(folder: Path, relative: str | os.PathLike, what: str) -> Path:
    """``folder / relative``, refused unless it stays inside ``folder``.

    The path is resolved (symbolic links and ``..`` followed, as opening it would) and must
    lie inside the resolved dataset folder; absolute paths are refused outright.  A folder
    (of Parquet parts) is checked entry by entry, as readers open every file in it.  Nothing
    is opened here; the refusal is a :class:`DataError` naming ``what`` (e.g.
    ``"mapping.json, key transactions.file"``) and quoting the path only, truncated.
    """
    folder = Path(folder)
    root = folder.resolve()
    name = root.name or str(root)
    shown = quote_path(os.fspath(relative))

    def refuse(issue: str) -> DataError:
        return DataError([Problem(what, None, f"{issue}; name a file inside {name}", 0)])

    if Path(relative).is_absolute():
        raise refuse(f"the path {shown} is absolute")
    path = folder / relative
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError):  # null bytes, symbolic link loops
        raise refuse(f"the path {shown} is not a valid path") from None
    if resolved == root:
        raise refuse(f"the path {shown} names the dataset folder itself")
    if not resolved.is_relative_to(root):
        lexical = Path(os.path.normpath(folder.absolute() / relative))
        how = "" if not lexical.is_relative_to(folder.absolute()) else " (through a link)"
        raise refuse(f"the path {shown} leaves the dataset folder{how}")
    if resolved.is_dir():  # readers open every file below it, through links to folders too
        seen: set[Path] = set()
        pending = [path]
        while pending:
            current = pending.pop()
            real = current.resolve()
            if real in seen:
                continue
            seen.add(real)
            for entry in sorted(current.iterdir()):
                try:
                    target = entry.resolve()
                except (OSError, RuntimeError):
                    target = None
                if target is None or not target.is_relative_to(root):
                    part = entry.relative_to(path).as_posix()
                    issue = (
                        f"the part {quote_path(part)} leaves the dataset folder (through a link)"
                    )
                    raise DataError([Problem(what, None, f"{issue}; name a file inside {name}", 0)])
                if target.is_dir():
                    pending.append(entry)
    return path

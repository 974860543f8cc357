"""Dates from text: one format per column, never a guess per value.

:func:`read_dates` looks at every distinct value of a column, sorts each into a *family* of
layouts (ISO 8601, ``YYYYMMDD``, ``d/m/Y`` or ``m/d/Y`` with ``/``, ``.`` or ``-``, month
names, Excel serial days, Unix epoch seconds or milliseconds) and reads the whole column with
the one family most of its rows follow.  Rows in another family are a problem (an export that
mixes formats), and so is a slashed column that cannot tell day-first from month-first: pandas'
per-value guessing (``format="mixed"``) once read 226 of 2,441 dates with day and month
swapped.  Dates with time-zone offsets are converted to UTC.  An explicit ``date_format``
(``mapping.json`` or ``--date-format``) replaces the inference.

The result says what to note and what is wrong (:class:`ParsedDates`); the contract's
conformer records them with file and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_models.data.privacy import quote_value

FIX = "fix the export or set date_format in mapping.json (or --date-format)"
# Patterns spell digits [0-9] and spaces " ", never \d or \s: pandas then runs them in
# pyarrow's RE2 rather than value by value in Python's re (10x slower on a million values).
_TIME = r"(?:[ T](?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?(?: *(?P<p>[AaPp][Mm]))?)?"
_OFFSET = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)? ?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_ISO = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?: ?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?)?"
)
_MONTHS = {
    name: i
    for i, full in enumerate(
        (
            "january february march april may june july august september october november december"
        ).split(),
        start=1,
    )
    for name in (full, full[:3])
} | {"sept": 9}
_EXCEL_DAY0 = pd.Timestamp("1899-12-30")  # Excel's serial day 0 (after its 1900 leap-year bug)
_EXCEL_RANGE = (20_000, 80_000)  # 1954-10-03 .. 2119-01-10
_EPOCH_RANGE = (pd.Timestamp("1980-01-01").timestamp(), pd.Timestamp("2100-01-01").timestamp())
_NAT = np.datetime64("NaT", "ns")


@dataclass(frozen=True)
class DateProblem:
    """Rows of a date column that cannot be read; ``of_values`` when the values themselves are
    unreadable, not when the column's format is mixed or undecidable."""

    issue: str
    rows: np.ndarray  # boolean mask over the column's rows
    of_values: bool


@dataclass
class ParsedDates:
    """A date column read with one format, and what to record about it."""

    dates: pd.Series  # datetime64[ns], NaT where missing or unreadable
    layout: str | None = None  # the layout read, e.g. "day/month/year (%d/%m/%Y)"
    family: str | None = None  # "iso", "/4", "names_dmy", "excel", ... (None: none found)
    aware: bool = False  # read from values with time-zone offsets
    notes: list[tuple[int, str]] = field(default_factory=list)  # (rows, action)
    problems: list[DateProblem] = field(default_factory=list)


# --- one family of layouts: its shape and how it reads (one or two readings) ----------------
@dataclass(frozen=True)
class Layout:
    """How dates are written: in words and as a strftime pattern (or a unit)."""

    words: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.words} ({self.pattern})"


Readings = dict[Layout, np.ndarray]  # layout -> datetime64[ns] of each value (NaT: unreadable)
Reader = Callable[[pd.Series, pd.DataFrame | None], Readings]


@dataclass(frozen=True)
class _Family:
    key: str
    pattern: str
    read: Reader  # text and regex groups of the matching values -> their readings


def _ns(values) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("ns").to_numpy()


def _numbers(text: pd.Series | pa.Array) -> np.ndarray:
    """Digits (checked by a pattern) as float64, NaN where missing; in pyarrow, not per value."""
    return pc.cast(pa.array(text, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)


_TEXT_GROUPS = {"mon", "p"}  # the other groups are digits


def _groups(text: pd.Series, pattern: str) -> pd.DataFrame:
    """The named groups of ``pattern`` in each value (RE2 in pyarrow, one pass): digits as
    numbers, month names and AM/PM as text, NaN where a group is absent."""
    found = pc.extract_regex(pa.array(text, pa.string()), f"^(?:{pattern})$")
    columns = {}
    for i in range(found.type.num_fields):
        group = found.field(i)
        group = pc.if_else(pc.equal(group, ""), pa.scalar(None, pa.string()), group)
        name = found.type.field(i).name
        columns[name] = group.to_pandas() if name in _TEXT_GROUPS else _numbers(group)
    return pd.DataFrame(columns).set_axis(text.index)


def _assemble(parts: pd.DataFrame, year, month, day) -> np.ndarray:
    """Datetimes from their fields (NaT where a field is out of range); 12-hour clocks read."""
    hour, minute, second = (parts[c].fillna(0.0) for c in ("H", "M", "S"))
    half = parts["p"].str.lower()
    twelve = half.notna().to_numpy()
    pm = (half == "pm").fillna(False).to_numpy(dtype=bool)
    hour = hour.where(~twelve | hour.between(1, 12))
    hour = hour.where(~twelve, hour % 12 + 12 * pm)
    ok = (hour.between(0, 23) & minute.between(0, 59) & second.between(0, 59)).to_numpy()
    frame = pd.DataFrame(
        {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}
    )
    return np.where(ok, _ns(pd.to_datetime(frame, errors="coerce")), _NAT)


def _year(parts: pd.DataFrame) -> pd.Series:
    """Four-digit years as written; two-digit ones as strptime's ``%y`` (69-99 -> 19xx)."""
    y = parts["y"]
    return y.where(y >= 100, y + np.where(y < 69, 2000, 1900))


def _time_format(parts: pd.DataFrame) -> str:
    """The time part of a layout, as the values write it (e.g. `` %H:%M``)."""
    if parts["H"].isna().all():
        return ""
    clock = " %I:%M" if parts["p"].notna().any() else " %H:%M"
    return clock + (":%S" if parts["S"].notna().any() else "") + (" %p" if "%I" in clock else "")


def _read_iso(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
    aware = text.str.contains(_OFFSET).to_numpy()
    out = np.full(len(text), _NAT)
    out[~aware] = _ns(pd.to_datetime(text[~aware], format="ISO8601", errors="coerce"))
    utc = pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True)
    out[aware] = _ns(utc.dt.tz_localize(None))
    return {Layout("ISO 8601", "YYYY-MM-DD[THH:MM:SS]"): out}


def _read_compact(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
    dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    return {Layout("year, month, day without separators", "%Y%m%d"): _ns(dates)}


def _read_year_first(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
    dates = _assemble(parts, parts["y"], parts["a"], parts["b"])
    return {Layout("year/month/day", f"%Y/%m/%d{_time_format(parts)}"): dates}


def _day_month(sep: str, year: str) -> Reader:
    """The two readings of ``a{sep}b{sep}y``: day first and month first."""

    def read(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
        a, b, y, clock = parts["a"], parts["b"], _year(parts), _time_format(parts)
        day_first = Layout(f"day{sep}month{sep}year", f"%d{sep}%m{sep}%{year}{clock}")
        month_first = Layout(f"month{sep}day{sep}year", f"%m{sep}%d{sep}%{year}{clock}")
        return {day_first: _assemble(parts, y, b, a), month_first: _assemble(parts, y, a, b)}

    return read


def _month_name(words: str, pattern: str) -> Reader:
    def read(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
        month = parts["mon"].str.lower().map(_MONTHS).astype("float64")
        dates = _assemble(parts, _year(parts), month, parts["d"])
        return {Layout(words, pattern + _time_format(parts)): dates}

    return read


def _read_excel(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
    days = pd.Series(_numbers(text))
    days = days.where(days.between(*_EXCEL_RANGE, inclusive="left"))
    dates = (_EXCEL_DAY0 + pd.to_timedelta(days, unit="D")).dt.round("s")
    return {Layout("Excel serial day numbers", "days since 1899-12-30"): _ns(dates)}


def _epoch(unit: str, per_second: int) -> Reader:
    def read(text: pd.Series, parts: pd.DataFrame | None) -> Readings:
        number = pd.Series(_numbers(text))
        number = number.where((number / per_second).between(*_EPOCH_RANGE, inclusive="left"))
        dates = pd.to_datetime(number, unit=unit).dt.round("us")
        return {Layout("Unix epoch times", f"{unit} since 1970-01-01 UTC"): _ns(dates)}

    return read


_MONTH_WORD = r"(?P<mon>[A-Za-z]{3,9})\.?"
_FAMILIES = (
    _Family("iso", _ISO, _read_iso),
    _Family(
        "ymd/", r"(?P<y>[0-9]{4})/(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})" + _TIME, _read_year_first
    ),
    _Family("compact", r"[0-9]{8}", _read_compact),
    *(
        _Family(
            f"{sep}{width}",
            rf"(?P<a>[0-9]{{1,2}}){re_sep}(?P<b>[0-9]{{1,2}}){re_sep}(?P<y>[0-9]{{{width}}})"
            + _TIME,
            _day_month(sep, "Y" if width == 4 else "y"),
        )
        for sep, re_sep in (("/", "/"), (".", r"\."), ("-", "-"))
        for width in (4, 2)
    ),
    _Family(
        "names_dmy",
        r"(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?[ -]"
        + _MONTH_WORD
        + r",?[ -](?P<y>[0-9]{4}|[0-9]{2})"
        + _TIME,
        _month_name("day, month name, year", "%d %B %Y"),
    ),
    _Family(
        "names_mdy",
        _MONTH_WORD + r" (?P<d>[0-9]{1,2})(?:st|nd|rd|th)?,? (?P<y>[0-9]{4})" + _TIME,
        _month_name("month name, day, year", "%B %d, %Y"),
    ),
    _Family("excel", r"[0-9]{5}(?:\.[0-9]+)?", _read_excel),
    _Family("epoch_s", r"[0-9]{9,10}(?:\.[0-9]+)?", _epoch("s", 1)),
    _Family("epoch_ms", r"[0-9]{12,13}", _epoch("ms", 1000)),
)


# --- the column: distinct values, and rows counted through them ----------------------------
class _Column:
    """A column as its distinct values (``text``) and each row's value number (``codes``)."""

    def __init__(self, values: pd.Series, quote: bool):
        codes, uniques = pd.factorize(values)
        whole = pd.api.types.is_float_dtype(uniques) and np.all(np.mod(uniques, 1) == 0)
        if whole and np.all(np.abs(uniques) < 2**53):
            uniques = uniques.astype("int64")  # 19970101.0 (a float column with gaps)
        self.text = pd.Series(uniques).astype("string[pyarrow]").str.strip()
        self.text.index = pd.RangeIndex(len(self.text))
        self.codes = codes
        self.present = (self.text != "").to_numpy(dtype=bool)
        self.counts = np.bincount(codes[codes >= 0], minlength=len(self.text))
        self.quote = quote

    def rows(self, which: np.ndarray) -> np.ndarray:
        """Row mask of the distinct values in ``which``."""
        return np.append(which, False)[self.codes]

    def n(self, which: np.ndarray) -> int:
        return int(self.counts[which].sum())

    def like(self, which: np.ndarray) -> str:
        """`` like '07/02/2023'``: the first such value in the file (nothing for personal data)."""
        first = np.flatnonzero(which)
        return f" like {quote_value(self.text.iat[first[0]])}" if self.quote and first.size else ""

    def series(self, dates: np.ndarray, values: pd.Series) -> pd.Series:
        return pd.Series(np.append(dates, _NAT)[self.codes], index=values.index, name=values.name)


def read_dates(
    values: pd.Series, date_format: str | None = None, *, quote: bool = True
) -> ParsedDates:
    """Read a column of date text (or numbers) with one format for the whole column.

    ``date_format`` (a strftime pattern) is used when given; otherwise the format is inferred
    from all distinct values (module docstring).  ``quote=False`` keeps values out of messages
    (personal data such as birth dates)."""
    col = _Column(values, quote)
    if date_format:
        return _read_with_format(col, values, date_format)
    family = np.full(len(col.text), -1)
    readings: list[Readings] = []
    valid = np.zeros(len(col.text), dtype=bool)
    for i, fam in enumerate(_FAMILIES):
        free = col.present & (family == -1)
        hit = np.zeros_like(free)
        hit[free] = col.text[free].str.fullmatch(fam.pattern).to_numpy(dtype=bool)
        readings.append({})
        if not hit.any():
            continue
        family[hit] = i
        text = col.text[hit]
        parts = _groups(text, fam.pattern) if "(?P<" in fam.pattern else None
        for layout, dates in fam.read(text, parts).items():
            readings[i][layout] = np.full(len(col.text), _NAT)
            readings[i][layout][hit] = dates
            valid |= hit & ~np.isnat(readings[i][layout])
    rows = np.array([col.n((family == i) & valid) for i in range(len(_FAMILIES))])
    out = ParsedDates(col.series(np.full(len(col.text), _NAT), values))
    if rows.sum() == 0:
        _unreadable(out, col, col.present, None)
        return out
    main = int(np.argmax(rows))  # the family most rows follow
    members = (family == main) & valid
    out.family = _FAMILIES[main].key
    for other in np.flatnonzero(rows):
        if other != main:
            theirs = (family == other) & valid
            out.problems.append(
                DateProblem(
                    f"dates in more than one format: {col.n(theirs):,} rows are "
                    f"{_family_name(readings[other])}{col.like(theirs)} while {rows[main]:,} "
                    f"are {_family_name(readings[main])}{col.like(members)}; {FIX}",
                    col.rows(theirs),
                    False,
                )
            )
    dates, out.layout = _choose(out, col, readings[main], members)
    if out.family == "iso":
        _time_zones(out, col, members)
    _unreadable(out, col, col.present & ~valid, out.layout)
    out.dates = col.series(np.where(members, dates, _NAT), values)
    read = members & ~np.isnat(dates)
    out.notes.insert(0, (col.n(read), f"dates read as {out.layout} from text"))
    return out


def _family_name(readings: Readings) -> str:
    """A family's layout, or its two readings (``day/month/year or month/day/year``)."""
    layouts = list(readings)
    return str(layouts[0]) if len(layouts) == 1 else " or ".join(x.words for x in layouts)


def _choose(
    out: ParsedDates, col: _Column, readings: Readings, members: np.ndarray
) -> tuple[np.ndarray, str]:
    """The one reading of the family, and its name.  Of two readings (day or month first) the
    one that alone reads some value wins (a first field over 12 is a day); when neither or both
    do, values that read two ways stay unread, and that is a problem."""
    (first, a), *rest = readings.items()
    if not rest:
        return a, str(first)
    second, b = rest[0]
    only_a = members & ~np.isnat(a) & np.isnat(b)
    only_b = members & ~np.isnat(b) & np.isnat(a)
    differ = members & ~np.isnat(a) & ~np.isnat(b) & (a != b)
    certain = np.where(only_b, b, np.where(differ, _NAT, a))
    either = _family_name(readings)
    if only_a.any() and only_b.any():
        minority = only_a if col.n(only_a) < col.n(only_b) else only_b
        out.problems.append(
            DateProblem(
                f"dates in two orders: {col.n(only_a):,} rows can only be {first.words}"
                f"{col.like(only_a)} and {col.n(only_b):,} only {second.words}"
                f"{col.like(only_b)}; {FIX}",
                col.rows(minority),
                False,
            )
        )
        return certain, either
    if differ.any() and not only_a.any() and not only_b.any():
        out.problems.append(
            DateProblem(
                f"cannot tell day-first from month-first: {col.n(differ):,} dates"
                f"{col.like(differ)} read either way; set date_format in mapping.json "
                f'(e.g. "{first.pattern}") or --date-format',
                col.rows(differ),
                False,
            )
        )
        return certain, either
    return (b, str(second)) if only_b.any() else (a, str(first))


def _time_zones(out: ParsedDates, col: _Column, members: np.ndarray) -> None:
    """Offsets (``Z``, ``+01:00``) were converted to UTC: noted; a column mixing dates with
    and without an offset is a problem (the zone of the others is unknown)."""
    aware = np.zeros_like(members)
    aware[members] = col.text[members].str.contains(_OFFSET).to_numpy(dtype=bool)
    naive = members & ~aware
    if not aware.any():
        return
    out.aware = True
    if naive.any():
        minority = aware if col.n(aware) < col.n(naive) else naive
        out.problems.append(
            DateProblem(
                f"{col.n(aware):,} dates have a time-zone offset{col.like(aware)} and "
                f"{col.n(naive):,} have none{col.like(naive)}: the zone of those is unknown; "
                "write every date with its offset (or every date in one zone) in the export",
                col.rows(minority),
                False,
            )
        )
    else:
        out.notes.append((col.n(aware), "time-zone aware dates converted to UTC"))


def _unreadable(out: ParsedDates, col: _Column, bad: np.ndarray, layout: str | None) -> None:
    rest = f"; the others are {layout}" if layout else ""
    if bad.any():
        out.problems.append(DateProblem(f"unparseable date{rest}", col.rows(bad), True))


def _read_with_format(col: _Column, values: pd.Series, date_format: str) -> ParsedDates:
    """Every value read with ``date_format``; values that do not match it are a problem."""
    zoned = "%z" in date_format or "%Z" in date_format
    dates = np.full(len(col.text), _NAT)
    text = col.text[col.present]
    parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=zoned)
    dates[col.present] = _ns(parsed.dt.tz_localize(None) if zoned else parsed)
    out = ParsedDates(col.series(dates, values), layout=date_format, aware=zoned)
    bad = col.present & np.isnat(dates)
    read = col.present & ~bad
    out.notes.append((col.n(read), f"dates read with date_format '{date_format}' from text"))
    if zoned:
        out.notes.append((col.n(read), "time-zone aware dates converted to UTC"))
    if bad.any():
        out.problems.append(
            DateProblem(f"does not match date_format '{date_format}'", col.rows(bad), True)
        )
    return out


def date_format_issue(date_format: object) -> str | None:
    """Why ``date_format`` cannot be used to read dates (None when it can): it must be a
    strftime pattern that writes and reads back a full date."""
    if not isinstance(date_format, str) or "%" not in date_format:
        return "must be a strftime pattern like '%d/%m/%Y'"
    sample = pd.Timestamp("2023-02-07 08:26:09", tz="UTC")
    try:
        back = pd.to_datetime(sample.strftime(date_format), format=date_format, utc=True)
    except (ValueError, TypeError) as exc:
        return f"{date_format!r} is not a pattern pandas can read dates with ({exc})"
    if back.date() != sample.date():
        return f"{date_format!r} does not hold a full date (day, month and year)"
    return None

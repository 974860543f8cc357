"""Sources: the contract tables as ibis expressions on one backend, from a loaded dataset, an
out-of-core folder of files, or a PostgreSQL database."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_models.data.contract import SCHEMAS, DataError, Problem
from crm_models.data.database import DatabaseSource, is_database_url
from crm_models.data.dataset import TABLES, Dataset
from crm_models.data.dates import read_dates
from crm_models.data.loading import load_dataset
from crm_models.data.mapping import Mapping, resolve_inside
from crm_models.data.privacy import (
    AGE_BANDS,
    AGE_EDGES,
    MAX_AGE,
    find_personal_columns,
    personal_column_kind,
    quote_value,
)
from crm_models.engine.settings import (
    EngineSettings,
    backend,
    default_settings,
    release_duckdb_memory,
    spark_session,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


@dataclass
class Source:
    """Contract tables as ibis expressions on one backend: what the aggregations read.

    Built from a :class:`Dataset` in memory (:meth:`from_dataset`), from a folder of Parquet/CSV
    files read out of core (:func:`open_source`) or from a database.
    """

    name: str
    tables: dict[str, ir.Table]
    con: Any
    engine: str
    location: str = ""
    notes: list[str] = field(default_factory=list)
    raw: dict[str, ir.Table] = field(default_factory=dict)  # before casts (for validation)
    files: dict[str, str] = field(default_factory=dict)  # table -> file label in messages
    fingerprint: str | None = None  # known when built from a loaded Dataset
    currency: str | None = None  # ISO 4217 code of the amounts (Dataset.currency)
    as_of: pd.Timestamp | None = None  # a point-in-time view: later events set aside
    warnings: list[Any] = field(default_factory=list)  # suspicious but usable (Problem shape)
    info: dict[str, Any] = field(default_factory=dict)  # as Dataset.info (e.g. the truth folder)

    @property
    def cleaning_log(self) -> list[str]:
        """What was cleaned or set aside on the way in (as :attr:`Dataset.cleaning_log`)."""
        return self.notes

    @property
    def anonymous_lines(self) -> int:
        """Transaction lines without a customer (left out of customer analyses), counted by
        the engine."""
        if "transactions" not in self.tables:
            return 0
        tx = self.tables["transactions"]
        return int(self.execute(tx.filter(tx.customer_id.isnull()).count()))

    def table_rows(self) -> dict[str, int]:
        """Rows per table, counted by the engine."""
        return {name: int(self.execute(t.count())) for name, t in self.tables.items()}

    def table(self, name: str) -> ir.Table | None:
        return self.tables.get(name)

    def has(self, name: str) -> bool:
        return name in self.tables

    def columns(self, table: str) -> list[str]:
        """The columns of a table that is present."""
        return list(self.tables[table].columns)

    def customer_lines(self) -> ir.Table:
        """Transaction lines of known customers (anonymous lines left out, as in pandas)."""
        tx = self.tables["transactions"]
        return tx.filter(tx.customer_id.notnull())

    def execute(self, expr: Any) -> Any:
        return self.con.execute(expr)

    def frame(self, expr: ir.Table) -> pd.DataFrame:
        """A table result as pandas straight from Arrow: ibis' own conversion copies each
        column several times (12 s and +2.6 GB for 11M customers vs 0.04 s here)."""
        import pyarrow as pa

        arrow = self.con.to_pyarrow(expr)
        frame = arrow.to_pandas(split_blocks=True, self_destruct=True)
        del arrow
        # the allocators keep freed memory for reuse: a customer view of 10M customers left
        # 1.05 GB in DuckDB's and 0.15 GB in Arrow's beyond its 3.4 GB frame; at no measurable
        # cost (0.4 ms) it goes back to the system after each result
        pa.default_memory_pool().release_unused()
        if self.engine == "duckdb":
            release_duckdb_memory(self.con)
        return frame

    def table_frame(self, name: str) -> pd.DataFrame | None:
        """A whole table as pandas (None when absent), rows in the engine's scan order (file
        order for files and loaded data), dates in nanoseconds as loading gives them: for the
        tables models read row by row (campaign contacts, customers), never the lines."""
        if name not in self.tables:
            return None
        df = self.frame(self.tables[name])
        for col in df.columns:
            if df[col].dtype.kind == "M" and df[col].dtype != "datetime64[ns]":
                df[col] = df[col].astype("datetime64[ns]")
        return df

    def only_customers(self, customers: Any) -> Source:
        """The source with only the rows of ``customers`` in each table that has customers,
        under a key of its own: a build never takes what it computes for the whole data
        (:func:`crm_models.data.snapshot.cached_frame`)."""
        import hashlib

        import ibis

        kept = pd.Series(pd.unique(pd.Series(customers)), name="customer_id")
        ids = ibis.memtable(kept.to_frame())
        tables = {
            name: t.semi_join(ids, "customer_id") if "customer_id" in t.columns else t
            for name, t in self.tables.items()
        }
        fingerprint = None
        if self.fingerprint is not None:
            digest = hashlib.sha256(self.fingerprint.encode())
            digest.update(pd.util.hash_pandas_object(kept.sort_values(), index=False).to_numpy())
            fingerprint = digest.hexdigest()
        return replace(self, tables=tables, fingerprint=fingerprint)

    def known_at(self, as_of: str | pd.Timestamp | None) -> Source:
        """The source as known at the end of the ``as_of`` day (the engine twin of the
        point-in-time load, :meth:`crm_models.data.contract.ConformOptions.as_of`): later
        orders, campaigns sent later, customers who signed up later without earlier activity
        set aside and later opt-outs ignored, each counted in ``notes``."""
        if as_of is None:
            return self
        import ibis

        day = pd.Timestamp(as_of).normalize()
        cut = ibis.timestamp(day + pd.Timedelta(days=1))
        tables, notes = dict(self.tables), list(self.notes)

        def set_aside(table: str, later: Any, what: str) -> None:
            n = int(self.execute(tables[table].filter(later).count()))
            if n:
                notes.append(
                    f"{table}: {what} after the as-of date {day.date()} set aside ({n:,} rows)"
                )
            tables[table] = tables[table].filter(~later)

        if "transactions" in tables:
            set_aside("transactions", tables["transactions"].order_date >= cut, "lines")
        if "campaigns" in tables:
            set_aside("campaigns", tables["campaigns"].sent_date >= cut, "contacts")
        cust = tables.get("customers")
        if cust is not None and "signup_date" in cust.columns:
            later = (cust.signup_date >= cut).fill_null(False)
            for t in ("transactions", "campaigns"):
                if t in tables:
                    later &= ~cust.customer_id.isin(tables[t].customer_id)
            set_aside("customers", later, "customers who signed up")
            cust = tables["customers"]
        if cust is not None and "opt_out_date" in cust.columns:
            later = (cust.opt_out_date >= cut).fill_null(False)
            n = int(self.execute(cust.filter(later).count()))
            if n:
                notes.append(
                    f"customers: opt-outs after the as-of date {day.date()} ignored "
                    f"(still opted in on that day) ({n:,} rows)"
                )
                changes = {"opt_out_date": ibis.ifelse(later, None, cust.opt_out_date)}
                if "opt_in" in cust.columns:
                    changes["opt_in"] = ibis.ifelse(later, True, cust.opt_in)
                tables["customers"] = cust.mutate(**changes)
        return replace(self, tables=tables, notes=notes, as_of=day)

    def last_date(self) -> pd.Timestamp | None:
        """Latest event date (the default as-of date), computed in the engine."""
        dates = []
        if "transactions" in self.tables:
            dates.append(self.execute(self.tables["transactions"].order_date.max()))
        if "campaigns" in self.tables:
            dates.append(self.execute(self.tables["campaigns"].sent_date.max()))
        dates = [pd.Timestamp(d) for d in dates if d is not None and not pd.isna(d)]
        return max(dates) if dates else None

    @classmethod
    def from_dataset(cls, ds: Dataset, settings: EngineSettings, engine: str) -> Source:
        """The dataset's in-memory tables registered on the engine (no copy on DuckDB)."""
        import ibis

        con = backend(settings, engine)
        notes = [str(n) for n in ds.cleaning_log]
        if engine != "spark":
            tables = {name: ibis.memtable(df) for name, df in ds.tables().items()}
        else:
            import pyarrow as pa

            session = spark_session(settings.spark_master)
            tables = {}
            for name, df in ds.tables().items():
                # via Arrow: Spark's own pandas conversion cannot read pandas 3's Arrow strings
                view = f"crm_{name}_{ds.fingerprint[:12]}"
                arrow = pa.Table.from_pandas(df, preserve_index=False)
                session.createDataFrame(arrow).createOrReplaceTempView(view)
                tables[name] = con.table(view)
        return cls(
            ds.name,
            tables,
            con,
            engine,
            ds.source,
            notes,
            fingerprint=ds.fingerprint,
            currency=ds.currency,
            as_of=ds.as_of,
            warnings=list(ds.warnings),
            info=dict(ds.info),
        )


def table_files(folder: Path, table: str) -> list[Path] | None:
    """The files of one contract table in a folder: ``table.parquet``/``.csv``, or a
    ``table/`` directory of Parquet parts; None when absent.  A file or part whose path leads
    outside the folder (a symbolic link) is refused with a
    :class:`~crm_models.data.contract.DataError` (:func:`crm_models.data.loading.resolve_inside`)."""

    part_dir = folder / table
    if part_dir.is_dir():
        parts = sorted(part_dir.glob("*.parquet")) or sorted(part_dir.glob("*.csv"))
        where = f"{table}/"
        return [resolve_inside(folder, p.relative_to(folder), where) for p in parts] or None
    for suffix in FILE_SUFFIXES:
        path = folder / f"{table}{suffix}"
        if path.exists() or path.is_symlink():
            return [resolve_inside(folder, path.name, path.name)]
    return None


_TYPES = {"id": None, "date": "timestamp", "number": "float64", "bool": "boolean", "text": "string"}


def contract_types(name: str, raw: ir.Table, trim: bool = True) -> ir.Table:
    """A table with its contract columns cast to the contract types (text trimmed, blanks
    missing); values that do not cast become NULL and are counted by
    :func:`crm_models.engine.aggregates.validation_problems`.  ``trim=False`` for typed files
    (Parquet): trimming every line's text costs a third of the customer view's time at 100M
    lines, and typed files hold values as written."""

    casts = {}
    for col in SCHEMAS[name]:
        if col.name not in raw.columns:
            continue
        target, value = _TYPES[col.kind], raw[col.name]
        if target == "string" and not trim:
            continue
        if target and value.type().is_string():
            casts[col.name] = value.strip().nullif("").try_cast(target)
        elif target and str(value.type()).lstrip("!") != target:
            casts[col.name] = value.cast(target)
        elif col.kind == "id" and value.type().is_string() and trim:
            casts[col.name] = value.strip().nullif("")
    return raw.mutate(**casts) if casts else raw


DATE_SAMPLE = 2000  # text date values looked at before an engine casts a column


def text_date_problems(name: str, raw: ir.Table, con: Any, label: str) -> list[Problem]:
    """Text date columns an engine would misread, refused: engines cast ISO 8601 text only
    (DuckDB drops a time-zone offset, PostgreSQL reads ``07/02/2023`` by its DateStyle), so a
    column whose first :data:`DATE_SAMPLE` values are in another format, carry offsets or mix
    formats (:func:`crm_models.data.dates.read_dates`) is a problem, not empty or shifted dates."""

    problems = []
    for spec in SCHEMAS[name]:
        if spec.kind != "date" or spec.name not in raw.columns:
            continue
        if not raw[spec.name].type().is_string():
            continue
        value = raw[spec.name].strip().nullif("").name(spec.name)
        sample = con.to_pyarrow(raw.select(value).filter(value.notnull()).limit(DATE_SAMPLE))
        reading = read_dates(sample.to_pandas()[spec.name])
        unclear = [p.issue for p in reading.problems if not p.of_values]
        if reading.family in (None, "iso") and not reading.aware and not unclear:
            continue  # ISO 8601, or values that parse in no format (counted on validation)
        why = reading.layout if reading.family != "iso" else "more than one format"
        why = "time-zone offsets" if reading.aware else why
        issue = (
            f"text dates in a form the engine cannot read ({why}, in the first "
            f"{sample.num_rows:,} values): it reads ISO 8601 dates without "
            "time-zone offsets (YYYY-MM-DD[ HH:MM:SS]) only; convert the column in the export "
            "or use --engine pandas"
        )
        examples = [f"{spec.name}={quote_value(v)}" for v in sample.column(0).to_pylist()[:2]]
        problems.append(Problem(label, spec.name, issue, sample.num_rows, examples))
    return problems


def open_database(spec: Any, mapping: Any = None) -> Source:
    """A PostgreSQL dataset as a :class:`Source`: the aggregations run inside the database.

    The contract checks of :meth:`crm_models.data.database.DatabaseSource.check` run first (every
    problem at once, as for files)."""

    db = DatabaseSource.from_spec(spec, mapping)
    con = db.connect()
    problems = db.check(con)
    if problems:
        raise DataError(problems)
    raw = db.tables(con)
    problems = [p for n, t in raw.items() for p in text_date_problems(n, t, con, db.label(n))]
    if problems:
        raise DataError(problems)
    notes = []
    full = db.tables(con, keep_personal=True)
    for name, t in full.items():
        dropped = [c for c in t.columns if c not in raw[name].columns]
        if dropped:
            what = ", ".join(dropped)
            notes.append(f"{name}: personal identifiers dropped in the database query ({what})")
    if "customers" in full:
        raw["customers"] = _birth_dates_banded(full, raw, con, notes)
    tables = {name: contract_types(name, t) for name, t in raw.items()}
    labels = {name: db.label(name) for name in raw}
    name = db.database or "database"
    return Source(
        name,
        tables,
        con,
        "postgres",
        db.redacted_url,
        notes,
        raw,
        labels,
        currency=db.options.get("currency"),
    )


def _birth_dates_banded(
    full: dict[str, ir.Table], kept: dict[str, ir.Table], con: Any, notes: list[str]
) -> ir.Table:
    """The database's customers table as queried (personal columns dropped), with an
    ``age_band`` from its birth date when it has one and no ``age_band`` (as on load)."""

    customers = full["customers"]
    births = [c for c in customers.columns if personal_column_kind(c, "customers") == "birth_date"]
    if not births or "age_band" in customers.columns:
        return kept["customers"]
    typed = {n: contract_types(n, t) for n, t in kept.items() if n != "customers"}
    as_of = _last_event(typed, con)
    notes.append(f"customers: birth dates turned into age bands at {as_of.date()}, then dropped")
    banded = customers.mutate(age_band=_age_band_expr(customers[births[0]], as_of))
    return banded.select(*kept["customers"].columns, "age_band")


def is_database(spec: Any) -> bool:
    """A PostgreSQL URL, or a folder whose mapping.json names a database."""

    if is_database_url(spec):
        return True
    mapping = Path(str(spec)) / "mapping.json"
    if not mapping.is_file():
        return False
    import json

    try:
        return "database" in json.loads(mapping.read_text(encoding="utf-8"))
    except ValueError:
        return False


def open_folder(folder: Path, settings: EngineSettings, engine: str) -> Source:
    """A contract folder read out of core: files are scanned by the engine, never loaded into
    pandas.  Columns are renamed by ``mapping.json`` and cast to the contract types; rows whose
    values cannot be cast are counted by :func:`crm_models.engine.aggregates.validation_problems`.

    Personal data follows the one rule of :mod:`crm_models.data.privacy`: columns named like it are
    dropped, and so are text (and integer) columns outside the contract whose first 2,000
    values look like it; a customers' birth date first becomes an ``age_band``
    (:func:`_age_band_expr`)."""

    con = backend(settings, engine)
    mapping = (
        Mapping.from_json(folder / "mapping.json") if (folder / "mapping.json").exists() else None
    )
    tables: dict[str, ir.Table] = {}
    raws: dict[str, ir.Table] = {}
    labels: dict[str, str] = {}
    notes: list[str] = []
    problems: list[Problem] = []
    # customers last: a birth date becomes an age band at the latest order or send date
    for name in sorted(TABLES, key=lambda t: t == "customers"):
        spec = (mapping.tables.get(name, {}) if mapping else {}) or {}
        files = (
            [resolve_inside(folder, spec["file"], f"mapping.json, key {name}.file")]
            if "file" in spec
            else table_files(folder, name)
        )
        if not files:
            continue
        paths: Any = [str(p) for p in files]
        if engine == "spark":  # one path or glob (ibis' PySpark reader takes no lists)
            paths = str(files[0].parent / f"*{files[0].suffix}") if len(files) > 1 else paths[0]
        if files[0].suffix == ".parquet":
            raw = con.read_parquet(paths)
        else:  # text as read: values that do not parse are counted, not fatal
            raw = con.read_csv(paths, **({"all_varchar": True} if engine == "duckdb" else {}))
        renames = {dst: src for dst, src in spec.get("columns", {}).items() if src in raw.columns}
        raw = raw.rename(renames) if renames else raw
        raw = _drop_personal(name, raw, con, notes, tables)
        raws[name] = raw
        labels[name] = files[0].parent.name + "/" if len(files) > 1 else files[0].name
        problems += text_date_problems(name, raw, con, labels[name])
        tables[name] = contract_types(name, raw, trim=files[0].suffix != ".parquet")
    if problems:
        raise DataError(problems)
    if not tables:
        raise FileNotFoundError(
            f"{folder}: no contract tables (transactions.parquet/.csv or a transactions/ folder)"
        )
    tables = {t: tables[t] for t in TABLES if t in tables}  # back in contract order
    raws = {t: raws[t] for t in TABLES if t in raws}
    currency = mapping.options.get("currency") if mapping else None
    return Source(
        folder.name, tables, con, engine, str(folder), notes, raws, labels, currency=currency
    )


def files_fingerprint(src: Source) -> str:
    """A key for an out-of-core folder source as opened: its contract files (paths, sizes,
    modification times), its ``mapping.json`` and its as-of day.  It names the files read,
    not their content (hashing 90M lines would take minutes): the key under which a report
    build's kernels share results (:func:`crm_models.data.snapshot.cached_frame`)."""
    import hashlib
    import json

    folder = Path(src.location)
    files = [p for t in TABLES for p in table_files(folder, t) or []]
    files += [folder / "mapping.json"] if (folder / "mapping.json").is_file() else []
    stats = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = {"files": stats, "as_of": None if src.as_of is None else str(src.as_of)}
    return "files:" + hashlib.sha256(json.dumps(key).encode()).hexdigest()


def _drop_personal(
    name: str, raw: ir.Table, con: Any, notes: list[str], done: dict[str, ir.Table]
) -> ir.Table:
    """``raw`` without its personal columns (the rule of :mod:`crm_models.data.privacy`: every
    column by name, text and integer columns outside the contract by their first 2,000
    values)."""

    protected = {c.name for c in SCHEMAS[name]}
    personal = {c: k for c in raw.columns if (k := personal_column_kind(c, name)) is not None}
    text = [
        c
        for c in raw.columns
        if c not in personal
        and c not in protected
        and (raw[c].type().is_string() or raw[c].type().is_integer())  # integers: card numbers
    ]
    if text:
        sample = con.to_pyarrow(raw.select(*text).limit(2000)).to_pandas()
        personal.update(find_personal_columns(sample, name, protected))
    if not personal:
        return raw
    births = [c for c, kind in personal.items() if kind == "birth_date"]
    if name == "customers" and births and "age_band" not in raw.columns:
        as_of = _last_event(done, con)
        raw = raw.mutate(age_band=_age_band_expr(raw[births[0]], as_of))
        notes.append(f"{name}: birth dates turned into age bands at {as_of.date()}, then dropped")
    listed = ", ".join(f"{c} ({k})" for c, k in personal.items())
    notes.append(f"{name}: personal identifiers dropped on load ({listed})")
    return raw.drop(*personal)


def _last_event(tables: dict[str, ir.Table], con: Any) -> pd.Timestamp:
    """The latest order or send date of the tables read so far (today when none)."""
    dates = [
        con.execute(tables[t][col].max())
        for t, col in (("transactions", "order_date"), ("campaigns", "sent_date"))
        if t in tables and col in tables[t].columns
    ]
    dates = [pd.Timestamp(d) for d in dates if d is not None and not pd.isna(d)]
    return (max(dates) if dates else pd.Timestamp.today()).normalize()


def _age_band_expr(born: Any, as_of: pd.Timestamp) -> Any:
    """The age bands of :func:`crm_models.data.privacy.age_band` as an ibis expression.  Text is
    read as ``YYYY-MM-DD`` (from its parts, so no engine fails on a bad value); other text, a
    date after ``as_of`` or an age over 120 gets no band."""
    import ibis

    if born.type().is_string():
        iso = r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
        year, month, day = (born.re_extract(iso, i).nullif("").cast("int64") for i in (1, 2, 3))
    else:
        year, month, day = born.year(), born.month(), born.day()
    later = (month > as_of.month) | ((month == as_of.month) & (day > as_of.day))
    age = as_of.year - year - ibis.ifelse(later, 1, 0)
    cases = [(age < hi, band) for hi, band in zip(AGE_EDGES, AGE_BANDS[:-1], strict=True)]
    valid = age.notnull() & month.between(1, 12) & day.between(1, 31)
    valid &= (age >= 0) & (age <= MAX_AGE)
    return ibis.ifelse(valid, ibis.cases(*cases, else_=AGE_BANDS[-1]), ibis.null("string"))


def table_of(ds: Dataset | Source, name: str) -> pd.DataFrame | None:
    """A table as pandas from a loaded dataset or an engine source (:meth:`Source.table_frame`)."""
    return ds.table_frame(name) if isinstance(ds, Source) else getattr(ds, name)


def is_file_folder(spec: Any) -> bool:
    """True for a folder of contract files (read out of core by DuckDB/Spark)."""
    path = Path(str(spec))
    return path.is_dir() and table_files(path, "transactions") is not None


def as_source(ds: Dataset | Source, engine: str | EngineSettings = "auto") -> Source | None:
    """The :class:`Source` an aggregation should read, or None for the in-memory NumPy path.

    A Source is used as is; a Dataset goes to the engine ``auto`` picks for its size (pandas
    below :data:`AUTO_PANDAS_LINES` lines; the process default set by ``--engine`` first) or to
    the one named."""
    if isinstance(ds, Source):
        return ds
    if isinstance(engine, EngineSettings):
        settings = engine
    else:
        settings = default_settings(None if engine == "auto" else engine)
    lines = len(ds.transactions) if ds.transactions is not None else 0
    concrete = settings.resolved(lines)
    if concrete == "pandas":
        return None
    return Source.from_dataset(ds, settings, concrete)


# transaction files above this are read out of core by `auto`: about 9.5M lines of Parquet, where
# loading (every contract check) peaks at 3.2 GB; beyond, DuckDB is faster and lighter (engine/)
AUTO_FILE_BYTES = 128 * 2**20


def open_source(spec: Any, settings: EngineSettings | None = None) -> Source | None:
    """An out-of-core :class:`Source` for a folder of contract files when the engine (or, for
    ``auto``, the size of its transaction files) calls for one, or for a PostgreSQL database
    (aggregated inside it unless the engine is ``pandas``); None to load into memory."""
    settings = settings or default_settings()
    if is_database(spec):
        return None if settings.name == "pandas" else open_database(spec)
    if not is_file_folder(spec):
        return None
    folder = Path(str(spec))
    engine = settings.name
    if engine == "auto":
        size = sum(p.stat().st_size for p in table_files(folder, "transactions") or [])
        engine = "duckdb" if size > AUTO_FILE_BYTES else "pandas"
    if engine == "pandas":
        return None
    return open_folder(folder, settings, engine)


def open_dataset(
    spec: Any,
    *,
    mapping: Mapping | None = None,
    as_of: str | pd.Timestamp | None = None,
    settings: EngineSettings | None = None,
) -> Dataset | Source:
    """The one way in: open what the user named (built-in name, folder, file, database).

    This is the single place that decides between the in-memory and the engine paths: a
    folder of files or a database is opened out of core when the engine settings (``--engine``,
    or ``auto`` by size) call for it; anything else is loaded, validated and cleaned into a
    :class:`Dataset`, handed to the engine when one is named.  A column ``mapping``
    (``--map``) always loads.  ``as_of`` opens the data as known at the end of
    that day (later events set aside and counted in the cleaning log).
    """
    if mapping is None:
        source = open_source(spec, settings)
        if source is not None:
            return source.known_at(as_of)
    ds = load_dataset(spec, mapping=mapping, as_of=as_of)
    return as_source(ds, settings or "auto") or ds

"""Where the heavy aggregation runs: NumPy/pandas in memory, DuckDB out of core, Spark on a
cluster, or inside a PostgreSQL database.

The analyses of crm-models split in two: *aggregation* (per-customer sums, RFM ranks, cohort
counts, basket counts, period totals) touches every transaction line; *models* then fit on the
compact results.  The aggregations live once, as ibis expressions (:mod:`crm_models.aggregates`);
ibis compiles the same expression to DuckDB, Spark SQL or PostgreSQL.  ibis was chosen over
hand-written SQL dialects because one tested expression then serves every backend, and over
Spark-only or DuckDB-only APIs because a small shop and a national retailer run the same code.

Engines (``--engine`` on every command):

* ``pandas``: the NumPy code paths on a dataset held in memory (small data, no set-up);
* ``duckdb``: out of core on Parquet/CSV folders, memory capped by ``--memory-limit`` (or
  ``CRM_MODELS_MEMORY_LIMIT``), spilling to a temporary folder;
* ``spark``: PySpark (``pip install 'crm-models[spark]'``), ``local[2]`` unless
  ``--spark-master URL`` or ``SPARK_MASTER`` names a cluster; any other Spark setting comes from
  the usual Spark configuration (``spark-defaults.conf``, ``SPARK_CONF_DIR``);
* ``auto`` (default): pandas for a dataset already in memory with fewer than
  :data:`AUTO_PANDAS_LINES` lines, DuckDB otherwise, so a user with small data never needs to
  know engines exist.  A PostgreSQL source always aggregates inside the database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_models.dataset import TABLES, Dataset

if TYPE_CHECKING:
    import ibis.expr.types as ir

ENGINES = ("auto", "pandas", "duckdb", "spark")
AUTO_PANDAS_LINES = 2_000_000
FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


class MissingExtra(RuntimeError):
    """An optional dependency of the chosen engine is not installed."""


@dataclass(frozen=True)
class EngineSettings:
    """Which engine and its limits (``memory_limit`` e.g. ``"8GB"`` for DuckDB)."""

    name: str = "auto"
    memory_limit: str | None = None
    spark_master: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}; use one of {', '.join(ENGINES)}")

    def resolved(self, lines: int | None) -> str:
        """The concrete engine for a dataset of ``lines`` transaction lines (None: unknown,
        i.e. files not yet read)."""
        if self.name != "auto":
            return self.name
        return "pandas" if lines is not None and lines < AUTO_PANDAS_LINES else "duckdb"


def _require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"the {extra} engine needs {module!r}: pip install 'crm-models[{extra}]'"
        )


@cache
def duckdb_backend(memory_limit: str | None = None) -> Any:
    """An in-process DuckDB (one per memory limit), spilling to a temporary folder."""
    import ibis

    limit = memory_limit or os.environ.get("CRM_MODELS_MEMORY_LIMIT")
    spill = tempfile.mkdtemp(prefix="crm-models-duckdb-")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    config: dict[str, Any] = {
        "temp_directory": spill,
        "preserve_insertion_order": False,
    }
    if limit:
        config["memory_limit"] = limit
    return ibis.duckdb.connect(**config)


@cache
def spark_session(master: str | None = None) -> Any:
    """A Spark session (``local[2]`` by default) set up for crm-models: UTC timestamps, the
    current interpreter for workers, loopback networking for local mode, quiet logs."""
    _require("pyspark", "spark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = master or os.environ.get("SPARK_MASTER") or "local[2]"
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("crm-models")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("CRM_MODELS_SPARK_PARTITIONS", "8"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def backend(settings: EngineSettings, engine: str) -> Any:
    """The ibis backend of a concrete engine (``duckdb`` or ``spark``)."""
    import ibis

    if engine == "duckdb":
        return duckdb_backend(settings.memory_limit)
    if engine == "spark":
        return ibis.pyspark.connect(spark_session(settings.spark_master))
    raise ValueError(f"engine {engine!r} has no relational backend")


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

    def table(self, name: str) -> ir.Table | None:
        return self.tables.get(name)

    def has(self, name: str) -> bool:
        return name in self.tables

    def customer_lines(self) -> ir.Table:
        """Transaction lines of known customers (anonymous lines left out, as in pandas)."""
        tx = self.tables["transactions"]
        return tx.filter(tx.customer_id.notnull())

    def execute(self, expr: Any) -> Any:
        return self.con.execute(expr)

    def frame(self, expr: ir.Table) -> pd.DataFrame:
        """A table result as pandas straight from Arrow: ibis' own conversion copies each
        column several times (12 s and +2.6 GB for 11M customers vs 0.04 s here)."""
        arrow = self.con.to_pyarrow(expr)
        return arrow.to_pandas(split_blocks=True, self_destruct=True)

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
            return cls(ds.name, tables, con, engine, ds.source, notes, fingerprint=ds.fingerprint)
        import pyarrow as pa

        session = spark_session(settings.spark_master)
        tables = {}
        for name, df in ds.tables().items():
            # via Arrow: Spark's own pandas conversion cannot read pandas 3's Arrow strings
            view = f"crm_{name}_{ds.fingerprint[:12]}"
            arrow = pa.Table.from_pandas(df, preserve_index=False)
            session.createDataFrame(arrow).createOrReplaceTempView(view)
            tables[name] = con.table(view)
        return cls(ds.name, tables, con, engine, ds.source, notes, fingerprint=ds.fingerprint)


def table_files(folder: Path, table: str) -> list[Path] | None:
    """The files of one contract table in a folder: ``table.parquet``/``.csv``, or a
    ``table/`` directory of Parquet parts; None when absent.  A file or part whose path leads
    outside the folder (a symbolic link) is refused with a
    :class:`~crm_models.contract.DataError` (:func:`crm_models.datasets.resolve_inside`)."""
    from crm_models.datasets import resolve_inside

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
    :func:`crm_models.aggregates.validation_problems`.  ``trim=False`` for typed files
    (Parquet): trimming every line's text costs a third of the customer view's time at 100M
    lines, and typed files hold values as written."""
    from crm_models.contract import SCHEMAS

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


def open_database(spec: Any, mapping: Any = None) -> Source:
    """A PostgreSQL dataset as a :class:`Source`: the aggregations run inside the database.

    The contract checks of :meth:`crm_models.database.DatabaseSource.check` run first (every
    problem at once, as for files)."""
    from crm_models.contract import DataError
    from crm_models.database import DatabaseSource

    db = DatabaseSource.from_spec(spec, mapping)
    con = db.connect()
    problems = db.check(con)
    if problems:
        raise DataError(problems)
    raw = db.tables(con)
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
    return Source(name, tables, con, "postgres", db.redacted_url, notes, raw, labels)


def _birth_dates_banded(
    full: dict[str, ir.Table], kept: dict[str, ir.Table], con: Any, notes: list[str]
) -> ir.Table:
    """The database's customers table as queried (personal columns dropped), with an
    ``age_band`` from its birth date when it has one and no ``age_band`` (as on load)."""
    from crm_models.privacy import personal_column_kind

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
    from crm_models.database import is_database_url

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
    values cannot be cast are counted by :func:`crm_models.aggregates.validation_problems`.

    Personal data follows the one rule of :mod:`crm_models.privacy`: columns named like it are
    dropped, and so are text (and integer) columns outside the contract whose first 2,000
    values look like it; a customers' birth date first becomes an ``age_band``
    (:func:`_age_band_expr`)."""
    from crm_models.datasets import Mapping, resolve_inside

    con = backend(settings, engine)
    mapping = (
        Mapping.from_json(folder / "mapping.json") if (folder / "mapping.json").exists() else None
    )
    tables: dict[str, ir.Table] = {}
    raws: dict[str, ir.Table] = {}
    labels: dict[str, str] = {}
    notes: list[str] = []
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
        tables[name] = contract_types(name, raw, trim=files[0].suffix != ".parquet")
    if not tables:
        raise FileNotFoundError(
            f"{folder}: no contract tables (transactions.parquet/.csv or a transactions/ folder)"
        )
    tables = {t: tables[t] for t in TABLES if t in tables}  # back in contract order
    raws = {t: raws[t] for t in TABLES if t in raws}
    return Source(folder.name, tables, con, engine, str(folder), notes, raws, labels)


def _drop_personal(
    name: str, raw: ir.Table, con: Any, notes: list[str], done: dict[str, ir.Table]
) -> ir.Table:
    """``raw`` without its personal columns (the rule of :mod:`crm_models.privacy`: every
    column by name, text and integer columns outside the contract by their first 2,000
    values)."""
    from crm_models.contract import SCHEMAS
    from crm_models.privacy import find_personal_columns, personal_column_kind

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
    """The age bands of :func:`crm_models.privacy.age_band` as an ibis expression.  Text is
    read as ``YYYY-MM-DD`` (from its parts, so no engine fails on a bad value); other text, a
    date after ``as_of`` or an age over 120 gets no band."""
    import ibis

    from crm_models.privacy import AGE_BANDS, AGE_EDGES, MAX_AGE

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


def is_file_folder(spec: Any) -> bool:
    """True for a folder of contract files (read out of core by DuckDB/Spark)."""
    path = Path(str(spec))
    return path.is_dir() and table_files(path, "transactions") is not None


def default_settings(name: str | None = None) -> EngineSettings:
    """Settings from the environment (``CRM_MODELS_ENGINE``, ``CRM_MODELS_MEMORY_LIMIT``,
    ``SPARK_MASTER``), which the command line sets from ``--engine`` and friends so that every
    step of a command, and every notebook kernel of a report build, uses the same engine."""
    return EngineSettings(
        name or os.environ.get("CRM_MODELS_ENGINE") or "auto",
        os.environ.get("CRM_MODELS_MEMORY_LIMIT") or None,
        os.environ.get("SPARK_MASTER") or None,
    )


@contextmanager
def configured(
    name: str | None, memory_limit: str | None, spark_master: str | None
) -> Iterator[EngineSettings]:
    """These settings as the process default while a command runs (notebook kernels started
    meanwhile inherit them); the environment is restored afterwards."""
    wanted = {
        "CRM_MODELS_ENGINE": name,
        "CRM_MODELS_MEMORY_LIMIT": memory_limit,
        "SPARK_MASTER": spark_master,
    }
    saved = {var: os.environ.get(var) for var in wanted}
    os.environ.update({var: value for var, value in wanted.items() if value})
    try:
        yield default_settings()  # validates the engine name
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


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


AUTO_FILE_BYTES = 256 * 2**20  # transaction files above this are read out of core by `auto`


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

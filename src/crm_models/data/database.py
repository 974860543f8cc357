"""A PostgreSQL database as a dataset.

Two ways to name one wherever a dataset is named:

* a URL ``postgresql://user[:password]@host:port/database[/schema]``: the contract tables
  ``transactions``, ``customers``, ``campaigns``, ``products`` of the schema (default
  ``public``) are used where present (the password may also come from ``PGPASSWORD`` or
  ``~/.pgpass``, as for any libpq client);
* a folder whose ``mapping.json`` has a ``"database"`` entry::

      {"database": {"url": "postgresql://crm@db.example:5432/shop", "schema": "sales"},
       "transactions": {"table": "order_lines", "columns": {"customer_id": "cust_no"}}}

  ``${VAR}`` in the URL is taken from the environment, so no password needs to sit in a file.

:class:`DatabaseSource` checks the database against the contract *in the database* (missing
tables and columns, wrong column types, numbers stored as text that are not numbers), gives the
tables as lazy ibis expressions renamed to contract names (:meth:`DatabaseSource.tables`, for
aggregations pushed into the database) and reads them into pandas for the usual
:func:`~crm_models.data.contract.conform` (:func:`load_database`), so a database gets the same
checks, cleaning and :class:`~crm_models.data.dataset.Dataset` as files.  Passwords never appear in
messages, dataset sources or logs (:attr:`DatabaseSource.redacted_url`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from crm_models.data.contract import SCHEMAS, ConformOptions, DataError, Problem, RawTable, conform
from crm_models.data.dataset import TABLES, Dataset
from crm_models.data.mapping import Mapping
from crm_models.data.privacy import personal_column_kind, quote_value

if TYPE_CHECKING:
    import ibis
    import ibis.expr.datatypes as dt
    from ibis.backends.postgres import Backend

SCHEMES = ("postgresql://", "postgres://")
INSTALL_HINT = "pip install 'crm-models[postgres]'"
_CONNECT_TIMEOUT = 10  # seconds; libpq would otherwise wait minutes for an unreachable host
# A number as pandas.to_numeric reads it (after trimming); text numbers are checked in-database.
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_YES_NO = ("true", "t", "yes", "y", "1", "1.0", "false", "f", "no", "n", "0", "0.0")


class DatabaseConnectionError(ConnectionError):
    """The database cannot be reached (one line, with host/port/database, never the password)."""


class MissingDriverError(ImportError):
    """The optional PostgreSQL dependencies (ibis' postgres backend, psycopg) are missing."""


def is_database_url(spec: object) -> bool:
    """True when a dataset spec is a PostgreSQL URL rather than a name or a path."""
    return isinstance(spec, str) and spec.lower().startswith(SCHEMES)


@dataclass
class DatabaseSource:
    """Where a dataset lives in PostgreSQL and how its tables map onto the contract.

    ``tables_spec`` holds per contract table ``{"table": db_table, "columns": {contract: db_col}}``
    (both optional: contract names by default).  ``options`` are the mapping's conform options
    (``allow_anonymous``, ``duplicates``).  The password is kept only in ``url`` (hidden from
    ``repr``); show :attr:`redacted_url`.
    """

    url: str = field(repr=False)
    schema: str = "public"
    tables_spec: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    host: str | None = None
    port: int = 5432
    user: str | None = None
    database: str = ""
    params: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # where the spec came from (URL or mapping.json), for messages

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: str | os.PathLike, mapping: Mapping | None = None) -> DatabaseSource:
        """From a URL, or a folder whose ``mapping.json`` has a ``database`` entry.

        ``mapping`` (e.g. CLI ``--map`` pairs) takes precedence over the folder's file.
        """
        if is_database_url(spec):
            m = Mapping().merge(mapping)
            return cls._from_url(str(spec), None, m, origin="")
        folder = Path(spec)
        path = folder / "mapping.json"
        if not path.exists():
            raise ValueError(f"{spec}: neither a postgresql:// URL nor a folder with mapping.json")
        m = Mapping.from_json(path).merge(mapping)
        return cls.from_mapping(m, str(path))

    @classmethod
    def from_mapping(cls, mapping: Mapping, origin: str) -> DatabaseSource:
        """From a mapping whose ``database`` entry is ``{"url": ..., "schema": ...}``."""
        entry = mapping.database
        if not isinstance(entry, MappingABC) or not isinstance(entry.get("url"), str):
            raise DataError(
                [Problem(origin, None, 'the "database" entry needs a "url" (postgresql://...)', 0)]
            )
        unknown = set(entry) - {"url", "schema"}
        if unknown:
            raise DataError(
                [Problem(origin, None, f'unknown key(s) {sorted(unknown)} in "database"', 0)]
            )
        url = os.path.expandvars(entry["url"])
        unset = re.findall(r"\$\{(\w+)\}", url)
        if unset:
            raise ValueError(
                f"{origin}: environment variable {unset[0]} used in the database url is not set"
            )
        return cls._from_url(url, entry.get("schema"), mapping, origin)

    @classmethod
    def _from_url(
        cls, url: str, schema: str | None, mapping: Mapping, origin: str
    ) -> DatabaseSource:
        if not is_database_url(url):
            raise ValueError(f"{origin or 'database URL'}: not a postgresql:// URL")
        parts = urlsplit(url)
        shown = redact_url(url)
        try:
            port = parts.port or 5432
        except ValueError:
            raise ValueError(f"bad database URL {shown}: the port is not a number") from None
        database, _, url_schema = unquote(parts.path.lstrip("/")).partition("/")
        if not database:
            raise ValueError(
                f"bad database URL {shown}: no database name (postgresql://user@host:port/db)"
            )
        params = dict(parse_qsl(parts.query))
        return cls(
            url=url,
            schema=schema or url_schema or params.pop("schema", None) or "public",
            tables_spec={t: dict(s) for t, s in mapping.tables.items()},
            options=dict(mapping.options),
            host=parts.hostname,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            database=database,
            params={k: v for k, v in params.items() if k != "schema"},
            origin=origin,
        )

    # --- naming ----------------------------------------------------------------------------
    @property
    def redacted_url(self) -> str:
        """The URL with the password replaced by ``***`` (safe to print and log)."""
        return redact_url(self.url)

    @property
    def where(self) -> str:
        """``host:port/database`` for messages."""
        return f"{self.host or 'localhost'}:{self.port}/{self.database}"

    def db_table(self, table: str) -> str:
        """Database table name of a contract table (``"table"`` in the mapping, else the same)."""
        return self.tables_spec.get(table, {}).get("table", table)

    def label(self, table: str) -> str:
        """How problems name a table: ``schema.table`` (the counterpart of a file name)."""
        return f"{self.schema}.{self.db_table(table)}"

    def renames(self, table: str) -> dict[str, str]:
        """Contract column name -> database column name, for the mapped columns."""
        return dict(self.tables_spec.get(table, {}).get("columns", {}))

    # --- database access -------------------------------------------------------------------
    def connect(self) -> Backend:
        """An ibis PostgreSQL backend on the database; a one-line error when it cannot connect."""
        try:
            import ibis
            import psycopg
        except ImportError as exc:
            raise MissingDriverError(
                f"PostgreSQL support is not installed ({exc.name} missing): {INSTALL_HINT}"
            ) from None
        kwargs: dict[str, Any] = {"connect_timeout": _CONNECT_TIMEOUT, **self.params}
        password = urlsplit(self.url).password
        try:
            return ibis.postgres.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=unquote(password) if password else None,
                database=self.database,
                **kwargs,
            )
        except ImportError as exc:  # ibis without its postgres backend dependencies
            raise MissingDriverError(
                f"PostgreSQL support is not installed ({exc}): {INSTALL_HINT}"
            ) from None
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            if password:
                reason = reason.replace(password, "***").replace(unquote(password), "***")
            user = f" as {self.user}" if self.user else ""
            raise DatabaseConnectionError(
                f"cannot connect to PostgreSQL at {self.where}{user}: {reason}"
            ) from None

    def present_tables(self, con: Backend) -> list[str]:
        """Contract tables whose database table exists in the schema."""
        existing = set(con.list_tables(database=self.schema))
        return [t for t in TABLES if self.db_table(t) in existing]

    def tables(self, con: Backend, *, keep_personal: bool = False) -> dict[str, ibis.Table]:
        """The contract tables present in the database, as lazy ibis expressions.

        Columns are renamed to contract names per the mapping; other columns are kept (customer
        attributes, extra campaign outcomes) except columns named like personal data
        (:func:`crm_models.data.privacy.personal_column_kind`), which are dropped here as on load
        (``keep_personal=True`` keeps them, for :func:`conform` to drop and log).  Nothing is
        read and nothing is cleaned: values are as stored (run :meth:`check` first; e.g.
        ``order_date`` may be a timestamp, a date or text, ids integer or text).
        """

        out: dict[str, ibis.Table] = {}
        for table in self.present_tables(con):
            t = con.table(self.db_table(table), database=self.schema)
            renames = {c: d for c, d in self.renames(table).items() if d in t.columns and c != d}
            if renames:
                t = t.rename(renames)
            if not keep_personal:
                pii = [c for c in t.columns if personal_column_kind(c, table) is not None]
                if pii:
                    t = t.drop(*pii)
            out[table] = t
        return out

    def check(self, con: Backend | None = None) -> list[Problem]:
        """Every contract problem found in the database, at once (empty: fine to load).

        Covers: cannot connect, unknown schema, tables named in the mapping that do not exist,
        no usable table, empty tables, missing required columns, column types that cannot
        hold the contract's kind, and text columns holding numbers or yes/no values that are
        not (counted, with examples, in the database).
        """
        if con is None:
            try:
                con = self.connect()
            except DatabaseConnectionError as exc:
                return [Problem(self.redacted_url, None, str(exc), 0)]
        return self._check(con)[0]

    def _check(self, con: Backend) -> tuple[list[Problem], bool]:
        """Problems, and whether they are structural (no point reading the data)."""
        problems: list[Problem] = []
        if self.schema not in con.list_databases():
            problems.append(
                Problem(self.where, None, f"no schema {self.schema!r} in the database", 0)
            )
            return problems, True
        existing = set(con.list_tables(database=self.schema))
        for table, spec in self.tables_spec.items():
            if "table" in spec and spec["table"] not in existing:
                problems.append(
                    Problem(
                        self.label(table),
                        None,
                        f"table named in the mapping does not exist in schema {self.schema!r} "
                        f"(tables: {', '.join(sorted(existing)) or 'none'})",
                        0,
                    )
                )
        present = self.present_tables(con)
        if not present and not problems:
            problems.append(
                Problem(
                    f"{self.where} schema {self.schema}",
                    None,
                    "no contract tables found (expected transactions, customers, campaigns or "
                    f"products; found: {', '.join(sorted(existing)) or 'no tables'})",
                    0,
                )
            )
        elif present and not {"transactions", "campaigns"} & set(present):
            problems.append(
                Problem(
                    ", ".join(self.label(t) for t in present),
                    None,
                    "neither a transactions nor a campaigns table: nothing to analyse",
                    0,
                )
            )
        structural = bool(problems)
        exprs = self.tables(con, keep_personal=True)
        for table, t in exprs.items():
            db_columns = con.get_schema(self.db_table(table), database=self.schema).names
            found, fatal = self._check_table(table, t, list(db_columns))
            problems += found
            structural = structural or fatal
        return problems, structural

    def _check_table(
        self, table: str, t: ibis.Table, db_columns: list[str]
    ) -> tuple[list[Problem], bool]:
        label = self.label(table)
        rows = int(t.count().execute())
        if rows == 0:
            return [Problem(label, None, f"the {table} table is empty", 0)], True
        problems: list[Problem] = []
        fatal = False
        renames = self.renames(table)
        schema = t.schema()
        for spec in SCHEMAS[table]:
            shown = spec.name + (
                f" ({renames[spec.name]})" if renames.get(spec.name, spec.name) != spec.name else ""
            )
            if spec.name not in schema:
                if spec.required:
                    fatal = True
                    where = f"mapped to {renames[spec.name]!r}, " if spec.name in renames else ""
                    problems.append(
                        Problem(
                            label,
                            spec.name,
                            f"required column missing ({where}found: {', '.join(db_columns)})",
                            rows,
                        )
                    )
                continue
            dtype = schema[spec.name]
            if not _type_fits(spec.kind, dtype):
                fatal = True
                problems.append(
                    Problem(
                        label,
                        shown,
                        f"column type {dtype} cannot hold {_KIND_WORDS[spec.kind]}",
                        int(t[spec.name].notnull().sum().execute() or 0),
                        [f"database type {dtype}"],
                    )
                )
            elif dtype.is_string() and spec.kind in ("number", "bool"):
                problems += self._check_text_values(table, t, spec.name, spec.kind, shown)
        return problems, fatal

    def _check_text_values(
        self, table: str, t: ibis.Table, col: str, kind: str, shown: str
    ) -> list[Problem]:
        """Count (in the database) text values that are not numbers / not yes-no values."""
        text = t[col].strip()
        if kind == "number":
            bad = text.notnull() & (text != "") & ~text.re_search(_NUMBER)
            issue = "not a number"
        else:
            bad = text.notnull() & ~text.lower().isin(_YES_NO)
            issue = "not a yes/no value (expected true/false, 1/0, yes/no)"
        n = int(t.filter(bad).count().execute())
        if not n:
            return []
        keys = [c.name for c in SCHEMAS[table] if c.kind == "id" and c.name in t.columns][:1]
        sample = t.filter(bad).select(*keys, col).limit(3).execute()
        examples = [
            ", ".join(f"{c}={quote_value(row[c])}" for c in [*keys, col])
            for _, row in sample.iterrows()
        ]
        return [Problem(self.label(table), shown, issue, n, examples)]

    def read_raw(self, con: Backend | None = None) -> dict[str, RawTable]:
        """The present tables read into pandas, renamed to contract names, for ``conform``.

        Rows come in storage order (``ORDER BY ctid``; views sorted by all their columns), so
        an unchanged table gives the same Dataset fingerprint on every load.  A table created
        and filled by one ``COPY`` transaction is stored in load order, so one loaded from a
        file gives the file's fingerprint (SQL has no row order otherwise).
        """
        import pandas as pd
        from ibis.backends.postgres.converter import PostgresPandasData
        from psycopg import sql

        con = con or self.connect()
        out: dict[str, RawTable] = {}
        for table in self.present_tables(con):
            name = self.db_table(table)
            schema = con.get_schema(name, database=self.schema)
            kind = _relkind(con, self.schema, name)
            order = (
                sql.SQL("ctid")
                if kind in ("r", "m")
                else sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(schema)))
            )
            query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                sql.Identifier(self.schema, name), order
            )
            with con.con.cursor() as cur, con.con.transaction():
                rows = cur.execute(query).fetchall()
            df = pd.DataFrame.from_records(rows, columns=schema.names, coerce_float=True)
            df = PostgresPandasData.convert_table(df, schema)
            df = df.rename(columns={d: c for c, d in self.renames(table).items()})
            date_format = self.tables_spec.get(table, {}).get("date_format")
            out[table] = RawTable(
                df, self.label(table), date_format or self.options.get("date_format")
            )
        return out


def load_database(source: DatabaseSource, options: ConformOptions) -> Dataset:
    """Check, read and conform a database's tables into a :class:`Dataset` named after it.

    Cannot connect: :class:`DatabaseConnectionError` (one line).  Contract problems:
    :class:`DataError` with every problem found (database checks plus, when the tables are
    readable, those of :func:`conform`).
    """
    con = source.connect()
    try:
        problems, structural = source._check(con)
        opts = ConformOptions(
            as_of=options.as_of,
            allow_anonymous=bool(source.options.get("allow_anonymous", options.allow_anonymous)),
            duplicates=source.options.get("duplicates", options.duplicates),
        )
        if problems and structural:
            raise DataError(problems)
        raws = source.read_raw(con)
    finally:
        con.disconnect()
    try:
        tables, notes = conform(raws, opts)
    except DataError as err:
        seen = {(p.file, p.column, p.issue) for p in problems}
        seen |= {(p.file, p.column.split(" (")[0], p.issue) for p in problems if p.column}
        raise DataError(
            problems + [p for p in err.problems if (p.file, p.column, p.issue) not in seen]
        ) from None
    if problems:
        raise DataError(problems)
    ds = Dataset(
        source.database,
        source=source.redacted_url,
        cleaning_log=notes,
        **tables,
    )
    ds.info["database"] = {"url": source.redacted_url, "schema": source.schema}
    return ds


# --- helpers -------------------------------------------------------------------------------

_KIND_WORDS = {
    "id": "ids (integer or text)",
    "date": "dates (date, timestamp or text)",
    "number": "numbers (numeric or text)",
    "bool": "yes/no values (boolean, integer or text)",
    "text": "text",
}


def _type_fits(kind: str, dtype: dt.DataType) -> bool:
    """Whether a database column type can hold a contract kind (text is checked by value)."""
    if dtype.is_string():
        return True
    if kind == "id":
        return dtype.is_integer() or dtype.is_decimal() or dtype.is_uuid() or dtype.is_floating()
    if kind == "date":
        return dtype.is_date() or dtype.is_timestamp()
    if kind == "number":
        return dtype.is_numeric() or dtype.is_boolean()
    if kind == "bool":
        return dtype.is_boolean() or dtype.is_integer()
    return not (dtype.is_nested() or dtype.is_json() or dtype.is_binary())


def _relkind(con: Backend, schema: str, name: str) -> str:
    """pg_class.relkind: r table, v view, m materialised view, p partitioned, f foreign."""
    query = (
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s"
    )
    with con.con.cursor() as cur, con.con.transaction():
        row = cur.execute(query, (schema, name)).fetchone()
    return str(row[0]) if row else ""


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (anything else unchanged)."""
    if not is_database_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

"""A throwaway PostgreSQL server for the tests, and helpers that load datasets into it.

Registered from ``conftest.py`` (``pytest_plugins``), so any test file can ask for

* ``postgres_url`` (session): URL of an empty database ``crm`` on a private server
  (``initdb`` in a temp dir, loopback only, a free port, password authentication, fsync off).
  Each xdist worker starts its own server, so workers never share state or ports.
  Skipped with the reason when the PostgreSQL server binaries are not installed.
* ``pg_demo`` / ``pg_cdnow_sample`` (session): URL of a database named after the dataset holding
  its tables in schema ``public`` (``demo`` as its files hold it, fake personal columns
  included, so loading it back gives the very Dataset of ``load_dataset("demo")``).

and call :func:`load_into_postgres` / :func:`create_database` for their own tables.
``CRM_MODELS_TEST_POSTGRES_URL`` (a superuser URL) uses an existing server instead.

Postgres refuses to run as root: as root the server runs as the ``postgres`` system user
(Debian's package creates it); as anyone else it runs as that user.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
import pytest

USER = "crm"
PASSWORD = "s3cret-" + secrets.token_hex(4)  # tests check that it never shows up in errors


def server_bin_dir() -> Path | None:
    """Folder of ``initdb``/``pg_ctl``: ``CRM_MODELS_PG_BIN``, Debian's newest, or the PATH."""
    if env := os.environ.get("CRM_MODELS_PG_BIN"):
        return Path(env)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One private cluster: ``start()`` initdb's and starts it, ``stop()`` stops and deletes it."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: use its system user
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                pytest.skip("running as root and there is no 'postgres' system user")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, *args], capture_output=True, text=True, timeout=120, cwd=self.root
        )

    def start(self) -> str:
        """Create and start the cluster; return a superuser URL of database ``postgres``."""
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.run_as:
            shutil.chown(pwfile, "postgres")
        done = self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        for _attempt in range(5):  # another process may grab the free port first
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                return f"postgresql://{USER}:{quote(PASSWORD)}@127.0.0.1:{self.port}/postgres"
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()}\n{log}")

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_database(url: str, name: str) -> str:
    """Create database ``name`` (dropped first if it exists); return its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def _sql_type(s: pd.Series) -> str:
    """PostgreSQL column type that keeps the pandas column's meaning."""
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "bigint"
    if pd.api.types.is_float_dtype(s):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "timestamptz" if getattr(s.dt, "tz", None) is not None else "timestamp"
    if s.dtype == object:
        kinds = {type(v) for v in s.dropna()}
        if kinds and kinds <= {bool}:
            return "boolean"
    return "text"


def load_into_postgres(
    url: str,
    tables: Mapping[str, pd.DataFrame],
    schema: str = "public",
    types: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write frames as tables of ``schema`` (replaced if present) with COPY, in row order.

    Column types follow the pandas dtypes (datetime64 -> timestamp, so dates stay dates);
    ``types`` overrides some, e.g. ``{"transactions": {"amount": "text"}}``.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for name, df in tables.items():
            target = sql.Identifier(schema, name)
            given = (types or {}).get(name, {})
            cols = sql.SQL(", ").join(
                sql.SQL("{} {}").format(
                    sql.Identifier(str(c)), sql.SQL(given.get(str(c)) or _sql_type(df[c]))
                )
                for c in df.columns
            )
            buf = io.StringIO()
            df.to_csv(
                buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f"
            )
            copy = sql.SQL("COPY {} FROM STDIN (FORMAT csv, NULL '\\N')").format(target)
            # Created and filled in one transaction, COPY skips the free-space map: rows are
            # stored in frame order, so reading in storage order (ctid) gives the frame back.
            with con.transaction(), con.cursor() as cur:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(target))
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(target, cols))
                with cur.copy(copy) as out:
                    out.write(buf.getvalue())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (with password) of an empty database ``crm`` on this worker's private server."""
    if external := os.environ.get("CRM_MODELS_TEST_POSTGRES_URL"):
        yield create_database(external, f"crm_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
        return
    pytest.importorskip("psycopg", reason="psycopg missing: pip install 'crm-models[postgres]'")
    bin_dir = server_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
            "'postgresql' package (make test does it as root) or set CRM_MODELS_PG_BIN"
        )
    server = PostgresServer(bin_dir)
    try:
        admin = server.start()
        yield create_database(admin, "crm")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_demo(postgres_url: str) -> str:
    """URL of database ``demo`` holding the demo retailer's tables as its files hold them."""
    from crm_models.data.loading import load_dataset

    folder = Path(load_dataset("demo").source)
    url = create_database(postgres_url, "demo")
    load_into_postgres(url, {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))})
    return url


@pytest.fixture(scope="session")
def pg_cdnow_sample(postgres_url: str) -> str:
    """URL of database ``cdnow_sample`` holding the conformed CDNOW sample (dates typed)."""
    from crm_models.data.loading import load_dataset

    url = create_database(postgres_url, "cdnow_sample")
    load_into_postgres(url, load_dataset("cdnow_sample").tables())
    return url

"""Engine settings: which engine aggregates (``--engine``), its memory cap, the Spark master,
and the DuckDB and Spark connections."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from crm_models.environment import temporary_env

if TYPE_CHECKING:
    pass

ENGINES = ("auto", "pandas", "duckdb", "spark")
# `auto` keeps a dataset already in memory on pandas up to here: DuckDB on in-memory tables was
# 1.4-2.9x slower, with a higher peak, at every size measured (0.5M-10M lines; see engine/)
AUTO_PANDAS_LINES = 10_000_000


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


def require_extra(module: str, extra: str) -> None:
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
    con = ibis.duckdb.connect(**config)
    if not limit:  # DuckDB's default, as it shows it (rounded): re-applied exactly from now on
        ((limit,),) = con.con.execute("SELECT current_setting('memory_limit')").fetchall()
        con.con.execute(f"SET memory_limit = '{limit}'")
    con.crm_memory_limit = limit  # what release_duckdb_memory re-applies
    return con


def release_freed_memory() -> None:
    """Hand the memory the allocators keep after frees back to the system: Arrow's pool and,
    on glibc, malloc's free pages.  pandas work on text columns frees through Arrow's pool,
    which keeps it: the 14M campaign rows of 10M customers left 0.9 GB held for the rest of
    the targeting report.  Takes milliseconds."""
    import ctypes

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc: its malloc keeps what it keeps
        pass


def release_duckdb_memory(con: Any) -> None:
    """Hand back the memory DuckDB's allocator keeps cached after a query: setting the memory
    limit (to the value it has: the one :func:`duckdb_backend` set) flushes it.  An
    aggregation over 90M lines left 1.05 GB in the kernel after its result had been read;
    nothing a later query needs is lost, and no query running meanwhile is limited further."""
    limit = getattr(con, "crm_memory_limit", None)
    if limit is not None:  # a connection duckdb_backend made
        con.con.execute(f"SET memory_limit = '{limit}'")


@cache
def spark_session(master: str | None = None) -> Any:
    """A Spark session (``local[2]`` by default) set up for crm-models: UTC timestamps, the
    current interpreter for workers, loopback networking for local mode, quiet logs."""
    require_extra("pyspark", "spark")
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
    with temporary_env(
        CRM_MODELS_ENGINE=name or None,
        CRM_MODELS_MEMORY_LIMIT=memory_limit or None,
        SPARK_MASTER=spark_master or None,
    ):
        yield default_settings()  # validates the engine name

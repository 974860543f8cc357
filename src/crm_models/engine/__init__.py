"""Where the heavy aggregation runs: NumPy/pandas in memory, DuckDB out of core, Spark on a
cluster, or inside a PostgreSQL database.

The analyses of crm-models split in two: *aggregation* (per-customer sums, RFM ranks, cohort
counts, basket counts, period totals) touches every transaction line; *models* then fit on the
compact results.  The aggregations live once, as ibis expressions (:mod:`crm_models.engine.aggregates`);
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
* ``auto`` (default): a folder whose transaction files exceed :data:`AUTO_FILE_BYTES`
  (128 MiB, about 9.5M lines of Parquet) is read out of core by DuckDB; smaller data is loaded
  into memory with every contract check and stays on pandas below :data:`AUTO_PANDAS_LINES`
  (10M) lines, so a user with small data never needs to know engines exist.  A PostgreSQL
  source always aggregates inside the database.

Where ``auto`` switches, measured with ``benchmarks/bench_validation.py --steps engines`` on the
simulated retailer (2 shared cores; seconds: in memory the first call, DuckDB's start-up
included, folders the best of 2 commands; peak resident memory in brackets):

============= ==================================== ==========================================
lines (file)  in memory: ``customer_view``         folder: whole ``crm-models view``
              pandas / DuckDB on the loaded tables pandas (load, checks) / DuckDB out of core
============= ==================================== ==========================================
0.5M (7 MiB)  0.50 / 1.43 (0.40 / 0.52 GB)         1.97 / 2.40
1M (13 MiB)   0.72 / 2.00 (0.53 / 0.73 GB)         3.22 / 2.90
2M (27 MiB)   1.62 / 2.32 (0.93 / 1.08 GB)         4.30 / 4.33
5M (69 MiB)   3.93 / 5.39 (1.71 / 2.24 GB)         11.5 / 8.1 (1.64 / 0.87 GB)
10M (137 MiB) 6.49 / 10.0 (3.51 / 3.92 GB)         17.7 / 14.0 (3.25 / 1.39 GB)
============= ==================================== ==========================================

In memory DuckDB never won (1.4-2.9x slower, 1.4-1.6x warm) and peaked higher, so data
already loaded stays on pandas.  From files DuckDB out of core ties at 2M lines and is 20-30%
faster from 5M with half the memory, but it checks the contract only when asked (``data
validate``), while loading runs every check; so ``auto`` loads files up to the size where
loading peaks at about 3.2 GB and reads larger ones out of core.

- :mod:`~crm_models.engine.settings` — engine choice, memory cap, connections;
- :mod:`~crm_models.engine.sources` — contract tables as ibis expressions (in memory, folders, databases);
- :mod:`~crm_models.engine.aggregates` — the heavy aggregations, written once as ibis expressions.
"""

from crm_models.engine import aggregates
from crm_models.engine.settings import (
    AUTO_PANDAS_LINES,
    ENGINES,
    EngineSettings,
    MissingExtra,
    backend,
    configured,
    default_settings,
    duckdb_backend,
    require_extra,
    spark_session,
)
from crm_models.engine.sources import (
    AUTO_FILE_BYTES,
    FILE_SUFFIXES,
    Source,
    as_source,
    contract_types,
    is_database,
    is_file_folder,
    open_database,
    open_dataset,
    open_folder,
    open_source,
    table_files,
    table_of,
)

__all__ = [
    "AUTO_FILE_BYTES",
    "AUTO_PANDAS_LINES",
    "ENGINES",
    "FILE_SUFFIXES",
    "EngineSettings",
    "MissingExtra",
    "Source",
    "aggregates",
    "as_source",
    "backend",
    "configured",
    "contract_types",
    "default_settings",
    "duckdb_backend",
    "is_database",
    "is_file_folder",
    "open_database",
    "open_dataset",
    "open_folder",
    "open_source",
    "require_extra",
    "spark_session",
    "table_files",
    "table_of",
]

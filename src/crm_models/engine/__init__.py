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
* ``auto`` (default): pandas for a dataset already in memory with fewer than
  :data:`AUTO_PANDAS_LINES` lines, DuckDB otherwise, so a user with small data never needs to
  know engines exist.  A PostgreSQL source always aggregates inside the database.

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
]

"""MLflow tracking for report runs: one experiment per dataset, one run per report.

A notebook makes one :class:`ReportRun` and calls it for everything it records::

    run = ReportRun(report="customer_base", dataset=ds, params=dict(dataset=dataset, as_of=as_of,
                    quick=quick), output_dir=output_dir, experiment=mlflow_experiment)
    run.headline("revenue", 1234567.0, label="Net revenue", fmt=money)  # crm_models.plotting
    run.metric("gini", 0.61)
    run.table("revenue_by_month", df)
    run.model("segmentation_model", clustering.predict, view[columns])  # a pyfunc model
    run.finish()

``ReportRun`` records into ``<output_dir>/run.json`` (plus ``tables/*.csv`` and ``models/``) and writes the
MLflow run when the notebook calls :meth:`ReportRun.finish`.  Under ``reports build`` the
notebook does not touch MLflow at all (importing it and opening the store costs ~5 s per
kernel): the build marks ``output_dir`` with :data:`DEFER_MARKER` and logs the run itself with
:func:`log_run`, adding the HTML page, or the failed notebook with status ``FAILED``.

The store is ``$MLFLOW_TRACKING_URI`` or a SQLite database ``<project>/mlruns/mlflow.db`` with
artifacts under ``<project>/mlruns/artifacts/<experiment>/`` (MLflow 3 refuses a plain file
store).  ``mlflow ui --backend-store-uri sqlite:///<project>/mlruns/mlflow.db`` shows the runs.
MLflow keeps absolute artifact locations in the database; when a SQLite store's folder has been
moved or copied, the first opening of it here points them to ``artifacts/`` beside the database
again (:func:`relocate_store`), so the folder can move with the checkout.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pickle
import re
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_models import __version__
from crm_models.data.privacy import PersonalDataError, check_no_personal_data
from crm_models.paths import mlruns_dir, project_root
from crm_models.reporting.kernels import pid_alive
from crm_models.reporting.models import (
    log_scorer,
    register_models,
    registered_name,
    stage_scorer,
)
from crm_models.table_files import write_csv

if TYPE_CHECKING:
    import pandas as pd

    from crm_models.data.dataset import Dataset

__all__ = [
    "PIIError",
    "ReportRun",
    "artifact_root",
    "build_tags",
    "check_no_pii",
    "end_abandoned_runs",
    "end_runs",
    "ensure_experiment",
    "experiment_name",
    "git_commit",
    "log_run",
    "package_version",
    "relocate_store",
    "tracking_enabled",
    "tracking_uri",
]

TRACKING_ENV = (
    "CRM_MODELS_TRACKING"  # "off" / "0" / "false" switches MLflow off (run.json still written)
)
RUN_FILE = "run.json"
PYFUNC_SUFFIX = ".pyfunc"  # models/<name>.pyfunc/: logged as an MLflow pyfunc model
DEFER_MARKER = ".tracking-deferred"  # in output_dir: the build logs the MLflow run itself
EXPERIMENT_PREFIX = "crm-models/"
# Parameters that describe where a build put its files, not what the analysis did.
_UNLOGGED_PARAMS = frozenset({"output_dir"})


# --------------------------------------------------------------------------- store and names
def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else ``sqlite:///<project>/mlruns/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{mlruns_dir() / 'mlflow.db'}"


def artifact_root(uri: str | None = None) -> Path | None:
    """Folder for run artifacts of a SQLite store: ``artifacts/`` beside the database.

    ``None`` for other stores (a tracking server decides itself).
    """
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).parent / "artifacts"
    return None


def experiment_name(dataset: str) -> str:
    """The MLflow experiment of a dataset's report runs."""
    return f"{EXPERIMENT_PREFIX}{dataset}"


@lru_cache(maxsize=8)
def _client(uri: str):
    """A client of the store; a new SQLite store is created (schema migrations) under an
    exclusive lock, so two processes starting on a fresh store do not race."""
    from mlflow import MlflowClient

    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    db = Path(uri[len("sqlite:///") :])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)  # creates / migrates the schema
            relocate_store(uri)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def prepare_store(uri: str | None = None) -> str:
    """The store's URI, after creating or migrating it and pointing a moved store's artifact
    locations at its own ``artifacts/`` folder (what ``make mlflow-ui`` runs before serving)."""
    uri = uri or tracking_uri()
    _client(uri)
    return uri


# Columns of an MLflow 3 SQLite store that hold artifact locations (absolute URIs).
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


def relocate_store(uri: str | None = None) -> int:
    """Point a moved SQLite store's artifact locations at ``artifacts/`` beside its database.

    MLflow records absolute ``file://`` locations.  This module gives each ``crm-models/``
    experiment the location ``<artifacts>/<experiment>``; when those recorded locations start
    with another folder than the store's own ``artifacts/`` (the store was moved or copied),
    every location under the old folder is rewritten, in one transaction.  Returns the number of
    rewritten values (0 for a store in place, or not SQLite).  Call it under the store's lock
    (:func:`_client` does).
    """
    uri = uri or tracking_uri()
    root = artifact_root(uri)
    if root is None or not Path(uri[len("sqlite:///") :]).exists():
        return 0
    new = root.resolve().as_uri() + "/"
    with sqlite3.connect(uri[len("sqlite:///") :]) as con:
        rows = con.execute(
            "SELECT artifact_location FROM experiments WHERE name LIKE ?",
            (EXPERIMENT_PREFIX + "%",),
        ).fetchall()
        old = {loc.rsplit("/", 1)[0] + "/" for (loc,) in rows if loc and loc.startswith("file://")}
        old = {o for o in old if o.endswith("/artifacts/") and o != new}
        changed = 0
        for prefix in old:
            for table, column in _LOCATION_COLUMNS:
                changed += con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                    f"WHERE substr({column}, 1, ?) = ?",
                    (new, len(prefix) + 1, len(prefix), prefix),
                ).rowcount
    con.close()
    return changed


def ensure_experiment(name: str, uri: str | None = None) -> str:
    """Id of the experiment ``name``, created (with an explicit artifact location) if needed."""
    from mlflow.exceptions import MlflowException

    uri = uri or tracking_uri()
    client = _client(uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        root = artifact_root(uri)
        location = None
        if root is not None:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
            location = (root / safe).resolve().as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


@lru_cache(maxsize=1)
def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("crm-models")
    except Exception:  # pragma: no cover - not installed
        return __version__


@lru_cache(maxsize=4)
def git_commit(root: Path | None = None) -> str | None:
    """The checked-out commit of the project (``+dirty`` if tracked files changed), or None."""
    root = root or project_root()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


# --------------------------------------------------------------------------- PII guard
# One rule for personal data, in crm_models.data.privacy; these names are kept for callers.
PIIError = PersonalDataError  # a table about to be logged or shown holds personal data
check_no_pii = check_no_personal_data  # refuses columns named like it or text values like it


# --------------------------------------------------------------------------- helpers
def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _safe_key(key: str) -> str:
    """A valid MLflow metric/param/artifact key (letters, digits, ``_ - . /`` and spaces)."""
    key = re.sub(r"[^A-Za-z0-9_\-./ ]+", "_", str(key)).strip()
    if not key:
        raise ValueError("empty key")
    return key[:250]


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metric value must be a number, got {value!r}") from exc


def _default_format(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_value(value: float, fmt: str | Callable[[float], str] | None = None) -> str:
    """Text of a headline figure: ``fmt`` is a format string (``"{:,.0f}"``) or a callable."""
    if fmt is None:
        return _default_format(value)
    if callable(fmt):
        return str(fmt(value))
    return fmt.format(value)


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _as_of_text(value: Any, dataset: Any) -> str | None:
    if value in (None, "", "None"):
        last = dataset.last_date() if hasattr(dataset, "last_date") else None
        value = last
    if value is None:
        return None
    import pandas as pd

    return str(pd.Timestamp(value).date())


def tracking_enabled(track: bool | None) -> bool:
    if track is not None:
        return track
    return os.environ.get(TRACKING_ENV, "on").strip().lower() not in {"off", "0", "false", "no"}


def _same(a: float, b: float) -> bool:
    """Equal numbers (NaN equals NaN)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _ms(iso: str | None) -> int | None:
    return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None


# --------------------------------------------------------------------------- writing a run
LARGE_TABLE_BYTES = 64 * 2**20  # a table above this goes to MLflow gzip-compressed
COMPRESSED_TAG = "crm_models.tables_compressed"


def _log_tables(client: Any, run_id: str, tables: Path) -> list[str]:
    """Log the files of ``tables/`` under the run's ``tables`` artifacts; a CSV above
    :data:`LARGE_TABLE_BYTES` as ``<name>.csv.gz`` (gzip level 1, read as it is by
    ``pandas.read_csv``).  The cross-sell list of 10M customers is 50M rows and 3 GB of CSV:
    copied into the store by every build, a few builds filled the disk.  The report folder
    keeps the plain CSV to download.  Returns the names of the compressed tables."""
    import gzip
    import shutil

    if not tables.is_dir():
        return []
    compressed = []
    with tempfile.TemporaryDirectory(prefix="crm-tables-") as tmp:
        for path in sorted(tables.iterdir()):
            if path.is_dir():
                client.log_artifacts(run_id, str(path), f"tables/{path.name}")
                continue
            if path.suffix != ".csv" or path.stat().st_size <= LARGE_TABLE_BYTES:
                client.log_artifact(run_id, str(path), "tables")
                continue
            packed = Path(tmp) / f"{path.name}.gz"
            with open(path, "rb") as src, open(packed, "wb") as raw:
                with gzip.GzipFile(path.name, "wb", compresslevel=1, fileobj=raw, mtime=0) as out:
                    shutil.copyfileobj(src, out, 16 * 2**20)
            client.log_artifact(run_id, str(packed), "tables")
            packed.unlink()
            compressed.append(path.name)
    return compressed


def log_run(
    run_dir: str | os.PathLike[str],
    status: str | None = None,
    extra_artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    uri: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Write the MLflow run recorded in ``<run_dir>/run.json``; return its run id.

    Logs the parameters (plus data fingerprint, currency, package version, git commit), metrics
    (headlines included), ``tables/*.csv`` under ``run_dir`` (large ones compressed:
    :func:`_log_tables`), each ``models/<name>.pyfunc/``
    as an MLflow pyfunc model ``<name>`` (registered as ``crm-models.<dataset>.<name>`` when
    ``$CRM_MODELS_REGISTER_MODELS=1``), other ``models/*.pkl`` as artifacts, and
    ``extra_artifacts`` ({artifact folder or "": file}).  ``status`` overrides the recorded one
    (``FAILED`` for a notebook that raised); ``status="RUNNING"`` leaves the run open, for a
    build that ends it only once the report is published (:func:`end_runs`).  ``run.json`` is
    updated with the run id.
    """
    from mlflow.entities import Metric, Param

    run_dir = Path(run_dir)
    record = json.loads((run_dir / RUN_FILE).read_text())
    uri = uri or tracking_uri()
    status = status or (
        "FINISHED" if record.get("status") in (None, "RUNNING") else record["status"]
    )
    client = _client(uri)
    experiment_id = ensure_experiment(record["experiment"], uri)
    commit = git_commit()
    extra_tags = tags
    tags = {
        "mlflow.runName": record["report"],
        "crm_models.report": record["report"],
        "crm_models.data.dataset": record["dataset"],
        "crm_models.as_of": str(record.get("as_of")),
    }
    if commit:
        tags["mlflow.source.git.commit"] = commit
    tags.update(extra_tags or {})
    run = client.create_run(
        experiment_id,
        start_time=_ms(record.get("started_at")),
        tags=tags,
        run_name=record["report"],
    )
    run_id = run.info.run_id
    params = {k: v for k, v in record.get("params", {}).items() if k not in _UNLOGGED_PARAMS}
    params.update(
        report=record["report"],
        dataset_name=record["dataset"],
        data_fingerprint=record.get("fingerprint", ""),
        currency=record.get("currency") or "not stated",
        dataset_tables=", ".join(f"{k}={v}" for k, v in record.get("table_rows", {}).items()),
        as_of_effective=record.get("as_of"),
        package_version=record.get("package_version") or package_version(),
        git_commit=commit or "unknown",
        engine=record.get("engine", "auto"),
    )
    param_list = [Param(_safe_key(k), str(v)[:6000]) for k, v in params.items()]
    now = int(time.time() * 1000)
    metric_list = [
        Metric(_safe_key(k), float(v), int(ts or now), int(step or 0))
        for k, v, step, ts in record.get("metric_log", [])
    ]
    for start in range(0, max(len(param_list), len(metric_list)), 100):
        client.log_batch(
            run_id,
            params=param_list[start : start + 100],
            metrics=metric_list[start : start + 100],
        )
    compressed = _log_tables(client, run_id, run_dir / "tables")
    if compressed:
        client.set_tag(run_id, COMPRESSED_TAG, ", ".join(compressed))
    for path in sorted((run_dir / "models").glob("*.pkl")):
        client.log_artifact(run_id, str(path), "models")
    model_uris = {}
    register = register_models()
    for folder in sorted((run_dir / "models").glob(f"*{PYFUNC_SUFFIX}")):
        name = folder.name.removesuffix(PYFUNC_SUFFIX)
        model_uris[name] = log_scorer(
            client,
            run_id,
            experiment_id,
            name,
            folder,
            requirement=f"crm-models=={params['package_version']}",
            register_as=registered_name(record["dataset"], name) if register else None,
        )
    for folder, path in (extra_artifacts or {}).items():
        client.log_artifact(run_id, str(path), folder or None)
    if status != "RUNNING":
        client.set_terminated(run_id, status, end_time=_ms(record.get("finished_at")))
    record.update(
        run_id=run_id,
        experiment_id=experiment_id,
        tracking_uri=uri,
        tracking="logged",
        status=status,
        model_uris=model_uris,
    )
    _write_json(run_dir / RUN_FILE, record)
    return run_id


BUILD_PID_TAG = "crm_models.build_pid"
BUILD_HOST_TAG = "crm_models.build_host"
PUBLISHED_TAG = "crm_models.published"
OUTCOME_TAG = "crm_models.outcome"


def build_tags() -> dict[str, str]:
    """Tags of a run logged by a build before its report is published (see :func:`end_runs`)."""
    return {
        BUILD_PID_TAG: str(os.getpid()),
        BUILD_HOST_TAG: socket.gethostname(),
        PUBLISHED_TAG: "no",
    }


def end_runs(run_ids: Mapping[str, str], uri: str | None = None, outcome: str = "") -> None:
    """End open build runs: ``{run_id: status}``; FINISHED runs are marked published."""
    if not run_ids:
        return
    client = _client(uri or tracking_uri())
    for run_id, status in run_ids.items():
        if status == "FINISHED":
            client.set_tag(run_id, PUBLISHED_TAG, "yes")
        if outcome:
            client.set_tag(run_id, OUTCOME_TAG, outcome)
        client.set_terminated(run_id, status)


def end_abandoned_runs(uri: str | None = None) -> list[str]:
    """Mark KILLED the runs that a build on this machine left open when it died (killed
    before it published their reports); return their ids.  Runs of live builds stay open."""
    uri = uri or tracking_uri()
    client = _client(uri)
    experiments = [
        e.experiment_id
        for e in client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")
    ]
    if not experiments:
        return []
    host = socket.gethostname()
    dead = {}
    for run in client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=5000):
        pid, run_host = run.data.tags.get(BUILD_PID_TAG), run.data.tags.get(BUILD_HOST_TAG)
        if pid and pid.isdigit() and run_host == host and not pid_alive(int(pid)):
            dead[run.info.run_id] = "KILLED"
    end_runs(dead, uri, outcome="the build stopped before this report was published")
    return list(dead)


def log_artifact(
    record: Mapping[str, Any], path: str | os.PathLike[str], folder: str | None = None
) -> None:
    """Add a file to the run of a logged ``run.json`` record (the HTML page, for instance)."""
    _client(record["tracking_uri"]).log_artifact(record["run_id"], str(path), folder)


# --------------------------------------------------------------------------- the run
class ReportRun:
    """The one tracking helper a report notebook calls: records a report run for MLflow.

    ``dataset`` is a :class:`~crm_models.data.dataset.Dataset` (name, fingerprint, currency, table
    sizes and last date are recorded) or a dataset name.  ``params`` are the notebook's parameters;
    ``as_of=None`` means the dataset's last date.  ``output_dir`` (the notebook parameter)
    receives ``run.json`` and the logged tables; when empty (an analyst running the notebook by
    hand) a temporary folder is used.  ``experiment`` defaults to ``crm-models/<dataset name>``.
    :meth:`finish` writes the MLflow run (``run_id`` is set then), unless the build logs it
    (``output_dir`` holds :data:`DEFER_MARKER`) or tracking is off (``track=False`` or
    ``CRM_MODELS_TRACKING=off``).
    """

    def __init__(
        self,
        report: str,
        dataset: Dataset | str,
        params: Mapping[str, Any] | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        experiment: str | None = None,
        *,
        track: bool | None = None,
    ) -> None:
        self.report = report
        self.dataset_name = dataset if isinstance(dataset, str) else dataset.name
        self.fingerprint = "" if isinstance(dataset, str) else dataset.fingerprint or ""
        self.currency = None if isinstance(dataset, str) else dataset.currency
        self.params = dict(params or {})
        self.experiment = experiment or experiment_name(self.dataset_name)
        self.as_of = _as_of_text(self.params.get("as_of"), dataset)
        self.table_rows = {} if isinstance(dataset, str) else dataset.table_rows()
        self.headlines: list[dict[str, Any]] = []
        self.metrics: dict[str, float] = {}
        self.metric_log: list[list[Any]] = []
        self.tables: list[str] = []
        self.models: list[str] = []
        self.started_at = _now()
        self.finished_at: str | None = None
        self.status = "RUNNING"
        self.run_id: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if output_dir in (None, "", "None"):
            self._tmp = tempfile.TemporaryDirectory(prefix="crm-report-run-")
            self.output_dir = Path(self._tmp.name)
        else:
            self.output_dir = Path(output_dir)
            self.output_dir.mkdir(parents=True, exist_ok=True)
        self.deferred = (self.output_dir / DEFER_MARKER).exists()
        self.track = tracking_enabled(track)
        self._write_run_file()

    # -- recording ---------------------------------------------------------------------------
    def headline(
        self,
        key: str,
        value: float,
        label: str | None = None,
        fmt: str | Callable[[float], str] | None = None,
    ) -> None:
        """A headline figure: an MLflow metric, shown (formatted with ``fmt``) on the index.

        ``fmt`` is a format string (``"{:,.0f}"``, ``"{:.1%}"``) or a callable such as
        ``crm_models.plotting.money``.
        """
        number = _as_float(value)
        key = _safe_key(key)
        self.metric(key, number)
        entry = {
            "key": key,
            "label": label or key.replace("_", " ").capitalize(),
            "value": None if math.isnan(number) else number,
            "display": format_value(number, fmt),
        }
        self.headlines = [h for h in self.headlines if h["key"] != key] + [entry]
        self._write_run_file()

    def metric(self, key: str, value: float, step: int | None = None) -> None:
        """An extra metric (model scores, counts, ...); ``step`` for a series.

        A key means one thing in a run: logging it again at the same step with another value
        raises ``ValueError`` (two figures under one name would overwrite each other in MLflow).
        """
        key = _safe_key(key)
        number = _as_float(value)
        for k, v, s, _ in self.metric_log:
            if k == key and s == (step or 0) and not _same(v, number):
                raise ValueError(
                    f"metric {key!r} (step {step or 0}) is already logged in the "
                    f"{self.report!r} run with the value {v!r}, now {number!r}: give the second "
                    "figure its own name"
                )
        self.metrics[key] = number
        self.metric_log.append([key, number, step or 0, int(time.time() * 1000)])
        self._write_run_file()

    def table(self, name: str, df: pd.DataFrame, *, index: bool | None = None) -> Path:
        """Record a key table as ``tables/<name>.csv`` (refuses columns that look like PII).

        The index is written when it is not a plain row number (``index=`` forces it).
        """
        import pandas as pd

        check_no_pii(df, f"table {name!r}")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        if index is None:
            index = not isinstance(df.index, pd.RangeIndex)
        path = self.output_dir / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(df, path, index=index)
        if name not in self.tables:
            self.tables.append(name)
        self._write_run_file()
        return path

    def model(
        self,
        name: str,
        obj: Any,
        example: pd.DataFrame | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a fitted model.

        With ``example`` (customers indexed by ``customer_id``, holding the columns the model
        reads), ``obj`` is a scoring function of such a frame (a fitted model's ``predict``, or
        ``functools.partial`` of a package function over fitted models) and is logged as an
        MLflow pyfunc model ``name`` with a signature and ``metadata`` (time unit, horizon...):
        ``mlflow.pyfunc.load_model(uri).predict(view)`` scores new customers (see
        :mod:`crm_models.reporting.models`).  Without ``example``, ``obj`` is kept as a pickled
        artifact ``models/<name>.pkl`` (keep it small).
        """
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        if example is not None:
            stage_scorer(
                self.output_dir / "models" / f"{name}{PYFUNC_SUFFIX}", obj, example, metadata
            )
        elif metadata:
            raise ValueError("metadata describes a pyfunc model: pass its example input too")
        else:
            path = self.output_dir / "models" / f"{name}.pkl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        if name not in self.models:
            self.models.append(name)
        self._write_run_file()

    # -- closing -----------------------------------------------------------------------------
    def finish(self, status: str = "FINISHED") -> str | None:
        """Close the run: write ``run.json`` and (unless deferred/off) the MLflow run.

        Returns the MLflow run id when this call logged it (``None`` under a build, whose run id
        appears in ``run.json`` and on the index).  Safe to call twice.
        """
        if self.status != "RUNNING":
            return None
        self.status = status
        self.finished_at = _now()
        self._write_run_file()
        if self.track and not self.deferred:
            self.run_id = log_run(self.output_dir)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return self.run_id

    def __enter__(self) -> ReportRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("FAILED" if exc_type else "FINISHED")

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "dataset": self.dataset_name,
            "fingerprint": self.fingerprint,
            "currency": self.currency,
            "as_of": self.as_of,
            "status": self.status,
            "tracking": "deferred" if self.deferred else ("on" if self.track else "off"),
            "run_id": self.run_id,
            "experiment": self.experiment,
            "params": {k: v for k, v in self.params.items() if k not in _UNLOGGED_PARAMS},
            "headlines": self.headlines,
            "metrics": self.metrics,
            "metric_log": self.metric_log,
            "tables": self.tables,
            "models": self.models,
            "table_rows": self.table_rows,
            "package_version": package_version(),
            "engine": os.environ.get("CRM_MODELS_ENGINE") or "auto",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def _write_run_file(self) -> None:
        _write_json(self.output_dir / RUN_FILE, self.to_dict())

    def __repr__(self) -> str:
        return f"ReportRun({self.report!r}, dataset={self.dataset_name!r}, status={self.status})"

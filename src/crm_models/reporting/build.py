"""Regenerate the HTML reports: execute notebooks with Papermill, export, publish atomically.

``build_reports`` is what ``crm-models reports build`` calls.  For every dataset × report it
executes the jupytext notebook with Papermill (parameters ``dataset``, ``as_of``, ``quick``,
``output_dir``, ``mlflow_experiment`` plus ``-p`` overrides of the analysis parameters), exports
reader-facing HTML and logs it into the notebook's MLflow run.  Each report stands alone: one
that fails is shown as failed on the index (with its last good version, if any) while every
other report is published, and the build then raises :class:`ReportsFailed`.

Everything is built in a staging folder inside ``out`` and swapped into place per dataset; an
exclusive lock on ``out/.crm-models-build.lock`` serialises concurrent builds.  The build
writes, replaces and deletes only what its ownership record lists
(:mod:`~crm_models.reporting.ownership`).  Layout::

    reports/index.html                      every published report of every dataset
    reports/.crm-models-owned.json          what the build wrote here (and nothing else is touched)
    reports/<dataset>/<slug>.html           one report
    reports/assets/plotly-<v>.min.js        plotly.js shared by the pages (+ the JupyterLab style)
    reports/<dataset>/<slug>/run.json       MLflow run id, headlines, metrics (+ tables/*.csv)
    reports/<dataset>/manifest.json         what the index shows for the dataset, runs included
    reports/<dataset>/_notebooks/*.ipynb    executed notebooks, for analysts (customer data!)
    reports/<dataset>/_failed/*.ipynb       executed notebook of a report that failed
"""

from __future__ import annotations

import ast
import fcntl
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crm_models.data.database import is_database_url, redact_url
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.data.snapshot import SNAPSHOT_ENV, write_out_of_core_marker, write_snapshot
from crm_models.engine import Source, aggregates, default_settings, is_file_folder, open_source
from crm_models.engine.settings import release_freed_memory
from crm_models.engine.sources import files_fingerprint
from crm_models.environment import temporary_env
from crm_models.paths import notebooks_dir, reports_dir
from crm_models.reporting.catalog import Report, discover_reports
from crm_models.reporting.kernels import (
    Kernel,
    clean_stale_kernel_dirs,
    follow_progress,
    start_kernel,
    stop_kernel,
    warm_up_code,
)
from crm_models.reporting.ownership import (
    LOCK_FILE,
    Ownership,
    OwnershipError,
    check_out_dir,
)
from crm_models.reporting.publish import (
    ASSETS_DIR,
    INDEX,
    MANIFEST,
    STATUS_FAILED,
    STATUS_NA,
    STATUS_OK,
    export_html,
    publish_assets,
    stale_assets,
    when,
    write_index,
    write_json_atomic,
    write_standalone,
)
from crm_models.reporting.tracking import (
    DEFER_MARKER,
    RUN_FILE,
    build_tags,
    end_abandoned_runs,
    end_runs,
    experiment_name,
    log_artifact,
    log_run,
    package_version,
    tracking_enabled,
)

__all__ = [
    "BUILD_OWNED_PARAMS",
    "BuildError",
    "BuildResult",
    "ReportEntry",
    "ReportsFailed",
    "build_lock",
    "build_reports",
    "parse_params",
]

log = logging.getLogger("crm_models.reporting")

FAILED_DIR = "_failed"
NOTEBOOKS_DIR = "_notebooks"
DEFAULT_DATASETS = ("demo", "cdnow")
DEFAULT_LOCK_TIMEOUT = 3600.0
# Parameters the build sets itself: a `-p` override would publish one dataset's numbers under
# another's name, or write outside --out and lose the MLflow run.
BUILD_OWNED_PARAMS = {
    "dataset": "--dataset",
    "output_dir": "--out",
    "mlflow_experiment": "the dataset name",
    "quick": "--quick",
}


class BuildError(RuntimeError):
    """A build failed; the message is one line naming what failed and where."""


class ReportsFailed(BuildError):
    """Some reports (or datasets) failed; every other report was published (``result``)."""

    def __init__(self, message: str, result: BuildResult):
        super().__init__(message)
        self.result = result


class _NotApplicable(Exception):
    """The notebook said, in plain words, that the data cannot support the report."""


class _ReportFailed(Exception):
    """A report failed: ``reason`` for readers (the index card), ``detail`` for analysts."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class ReportEntry:
    """One report of one dataset, as written to the manifest (paths relative to ``out``)."""

    dataset: str
    slug: str
    title: str
    description: str
    notebook: str
    status: str
    reason: str = ""
    as_of: str | None = None
    generated_at: str | None = None
    headlines: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    mlflow_experiment: str | None = None
    html: str | None = None
    executed_notebook: str | None = None
    tables: list[str] = field(default_factory=list)
    last_good: dict[str, Any] | None = None  # a failed report's last published version
    execute_seconds: float | None = None
    track_seconds: float | None = None
    export_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportEntry:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class BuildResult:
    """What a build published, and what failed (``failed`` reports, ``problems`` of datasets
    that could not be loaded)."""

    index_path: Path
    published: list[ReportEntry]
    not_applicable: list[ReportEntry]
    elapsed: float
    out: Path
    datasets: list[str] = field(default_factory=list)
    failed: list[ReportEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_path": str(self.index_path),
            "out": str(self.out),
            "datasets": self.datasets,
            "elapsed": round(self.elapsed, 2),
            "published": [e.to_dict() for e in self.published],
            "not_applicable": [e.to_dict() for e in self.not_applicable],
            "failed": [e.to_dict() for e in self.failed],
            "problems": self.problems,
        }


# --------------------------------------------------------------------------- small helpers
def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``["horizon=26", "quick=true", "as_of=2024-01-31"]`` -> typed notebook parameters.

    Values are Python/JSON literals when they parse as one (numbers, ``true``/``false``,
    ``none``/``null``, lists), else strings.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"parameter {item!r} is not key=value")
        text = raw.strip()
        lowered = text.lower()
        if lowered in {"true", "false"}:
            value: Any = lowered == "true"
        elif lowered in {"none", "null"}:
            value = None
        else:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
        params[key] = value
    return params


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _one_line(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _folder_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip("._-")
    return safe or "dataset"


def _date_text(value: Any) -> str | None:
    if value in (None, "", "None"):
        return None
    try:
        import pandas as pd

        return str(pd.Timestamp(value).date())
    except (TypeError, ValueError):
        return str(value)


def _spec_arg(spec: str) -> str:
    """The dataset as the notebooks' ``dataset`` parameter names it."""
    return str(Path(spec).resolve()) if Path(spec).exists() else _without_password(spec)


def _without_password(spec: str) -> str:
    """A database URL without its password, which goes to the kernels as ``PGPASSWORD``
    instead: notebook parameters end up in executed notebooks and MLflow, secrets must not."""
    if not is_database_url(spec):
        return spec
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    os.environ["PGPASSWORD"] = parts.password
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


@contextmanager
def build_lock(
    out: Path, timeout: float = DEFAULT_LOCK_TIMEOUT, poll: float = 0.2
) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``<out>/.crm-models-build.lock``; wait up to ``timeout`` s."""
    path = Path(out) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OwnershipError(f"{path} is not a lock file crm-models wrote; move it away")
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    print(f"waiting for another build… (lock {path})", file=sys.stderr, flush=True)
                    waiting = True
                if time.monotonic() >= deadline:
                    raise BuildError(
                        f"another build still holds {path} after {timeout:.0f} s; "
                        "not building (try again later)"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        previous = fh.read()
        if previous and not previous.startswith("pid "):
            raise OwnershipError(f"{path} is not a lock file crm-models wrote; move it away")
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {_now()}\n")
        fh.flush()
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def _select(catalog: Sequence[Report], only: Sequence[str] | None) -> list[Report]:
    if not only:
        return list(catalog)
    known = {r.slug: r for r in catalog}
    unknown = [s for s in only if s not in known]
    if unknown:
        raise BuildError(
            f"unknown report(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
        )
    return [r for r in catalog if r.slug in set(only)]


def _declared_parameters(nb_path: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    import jupytext

    for cell in jupytext.read(nb_path).cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return set()
            return {
                t.id
                for node in tree.body
                if isinstance(node, ast.Assign | ast.AnnAssign)
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)
            }
    return set()


def check_params(params: Mapping[str, Any], nb_dir: Path, reports: Sequence[Report]) -> None:
    """Refuse ``-p`` keys the build sets itself, and keys no selected notebook declares."""
    owned = [k for k in params if k in BUILD_OWNED_PARAMS]
    if owned:
        raise BuildError(
            "; ".join(
                f"-p {k}: set by the build itself (use {BUILD_OWNED_PARAMS[k]})" for k in owned
            )
        )
    declared = set().union(*(_declared_parameters(nb_dir / r.notebook) for r in reports))
    unknown = [k for k in params if k not in declared]
    if unknown:
        known = ", ".join(sorted(declared - set(BUILD_OWNED_PARAMS))) or "none"
        raise BuildError(
            f"-p {', '.join(unknown)}: no report being built has such a parameter "
            f"(they take: {known})"
        )


def _failed_cell(exc: Any, nb_path: Path, injected_at: int) -> str:
    """``cell 4 (line 23 of x.py)``: the failing cell as the analyst finds it in the source.

    ``injected_at`` is the index of the cell papermill inserted (its index is not counted).
    """
    index = getattr(exc, "cell_index", None)
    if index is None:
        return "an unknown cell"
    try:
        import jupytext

        source_cells = jupytext.read(nb_path).cells
    except Exception:  # pragma: no cover - unreadable source
        return f"cell {index + 1}"
    executed_index = index - 1 if injected_at <= index else index
    text = f"cell {executed_index + 1}"
    try:
        lines = nb_path.read_text().splitlines()
        markers = [i for i, line in enumerate(lines) if re.match(r"^#\s*%%", line)]
        if len(markers) == len(source_cells) and 0 <= executed_index < len(markers):
            text += f" (line {markers[executed_index] + 2} of {nb_path.name})"
        else:
            first = next((s for s in (exc.source or "").splitlines() if s.strip()), None)
            if first is not None and first in lines:
                text += f" (line {lines.index(first) + 1} of {nb_path.name})"
    except OSError:  # pragma: no cover
        pass
    return text


def _read_run_file(report_dir: Path) -> dict[str, Any]:
    path = report_dir / RUN_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def _log_run(
    report_dir: Path, status: str, extra: Mapping[str, Path] | None = None
) -> dict[str, Any]:
    """Write the MLflow run a notebook recorded (deferred) and return its updated record.

    A report that ran is logged ``RUNNING`` and ended only once it is published, so that a build
    killed in between leaves no FINISHED run of an unpublished report."""
    info = _read_run_file(report_dir)
    if not info or info.get("tracking") != "deferred" or not tracking_enabled(None):
        return info
    log_run(report_dir, status=status, extra_artifacts=extra, tags=build_tags())
    return _read_run_file(report_dir)


def _close_failed_run(report_dir: Path, failed_notebook: Path | None) -> None:
    """Record the failed notebook as a FAILED MLflow run (best effort)."""
    extra = {"failed": failed_notebook} if failed_notebook and failed_notebook.is_file() else None
    try:
        _log_run(report_dir, status="FAILED", extra=extra)
    except Exception as exc:  # pragma: no cover - tracking must not hide the real failure
        log.warning("could not record the failed run in MLflow: %s", exc)


def _failure_reason(ename: str, where: str) -> str:
    """The index card's one line for a report that stopped with an unexpected error (no
    exception text: it may quote data)."""
    return (
        f"the analysis stopped with an unexpected error ({ename} at {where}); the previous "
        "version is shown if there is one, and analysts have the executed notebook"
    )


SNAPSHOT_DIR = ".snapshot"  # in the staging folder: the loaded dataset the kernels read


@dataclass
class _Facts:
    """What the build needs of a loaded dataset once its tables are released (the kernels
    read the build's snapshot): name, fingerprint, last day, rows per table, and why each
    selected report does not apply (None when it does)."""

    name: str
    fingerprint: str
    last_day: Any
    rows: dict[str, int]
    missing: dict[str, str | None]

    @classmethod
    def of(cls, dataset: Any, reports: Sequence[Report]) -> _Facts:
        return cls(
            name=dataset.name,
            fingerprint=getattr(dataset, "fingerprint", "") or "",
            last_day=dataset.last_date() if hasattr(dataset, "last_date") else None,
            rows=dataset.table_rows() if hasattr(dataset, "table_rows") else {},
            missing={r.slug: r.missing(dataset) for r in reports},
        )

    def last_date(self) -> Any:
        return self.last_day


def _open_for_build(spec: str, as_of: Any, loader: Callable[..., Any] | None) -> Any:
    """The dataset the build reports on: a folder the engine settings read out of core
    (``--engine duckdb|spark``, or ``auto`` on large files) is opened and its contract checked
    in the engine, never loaded (the kernels open the same files); anything else is loaded
    (by ``loader`` when given)."""
    if loader is None and is_file_folder(spec):
        source = open_source(spec, default_settings())
        if source is not None:
            source = aggregates.checked(source.known_at(as_of))
            source.fingerprint = files_fingerprint(source)
            return source
    load = loader or load_dataset
    return load(spec, as_of=as_of) if as_of else load(spec)


def _snapshot(dataset: Any, folder: Path, spec: str, as_of: Any, say: Callable) -> None:
    """Write the loaded dataset for the kernels (on failure they load it themselves), or for
    data read out of core the marker that has them open the same files."""
    if isinstance(dataset, Source):
        write_out_of_core_marker(
            folder, _spec_arg(spec), as_of, dataset.name, dataset.fingerprint, dataset.warnings
        )
        return
    if not isinstance(dataset, Dataset):
        return
    try:
        write_snapshot(dataset, folder, _spec_arg(spec), as_of)
    except (OSError, TypeError, ValueError) as exc:  # a full disk, info that is not JSON
        shutil.rmtree(folder, ignore_errors=True)
        say(f"{dataset.name}: each report loads the data itself ({type(exc).__name__}: {exc})")


def _release_memory() -> None:
    """Hand the freed tables' memory back to the system before the kernels start."""
    import gc

    gc.collect()
    release_freed_memory()


SLOW_STEP_S = 10.0  # a notebook step that took longer is named in the build's log
_CELL_DONE = re.compile(r"^cell (\d+) done \(([\d.]+) s\)$")


def _sections(nb: Any, param_index: int) -> list[str]:
    """The section heading above each code cell as the kernel numbers them (Papermill's
    injected parameters cell included)."""
    heading, sections = "start", [] if param_index >= 0 else ["parameters"]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            titles = [
                ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")
            ]
            heading = titles[0] if titles else heading
        elif cell.cell_type == "code":
            sections.append(heading)
            if i == param_index:
                sections.append("parameters")
    return sections


def _progress_teller(say: Callable[[str], None], where: str, sections: list[str]):
    """What the build's log says of a kernel's progress line: slow steps by their section
    (``step k of n``), everything else (stages, loops with time left) as the kernel said it."""

    def tell(line: str) -> None:
        done = _CELL_DONE.match(line)
        if not done:
            say(f"{where}: {line}")
            return
        count, took = int(done.group(1)), float(done.group(2))
        if took >= SLOW_STEP_S:
            section = sections[count - 1] if 0 < count <= len(sections) else "a step"
            say(f"{where}: step {count} of {len(sections)} ({section}) took {took:.0f} s")

    return tell


# --------------------------------------------------------------------------- the build
class _Builder:
    def __init__(
        self,
        out: Path,
        staging: Path,
        nb_dir: Path,
        quick: bool,
        params: Mapping[str, Any],
        kernel_name: str,
        cell_timeout: float | None,
        say: Callable[[str], None],
    ) -> None:
        self.say = say
        self.out = out
        self.staging = staging
        self.nb_dir = nb_dir
        self.quick = quick
        self.params = dict(params)
        self.kernel_name = kernel_name
        self.cell_timeout = cell_timeout
        self.spare: Kernel | None = None  # started ahead for the next report (kernels module)

    def prepare(self, report: Report | None, env: Mapping[str, str] | None = None) -> None:
        """Start the kernel the next report will run in, importing what ``report``'s notebook
        imports while the current report runs (``env``: settings the build has not set yet)."""
        self.discard()
        if report is None:
            return
        import jupytext

        try:
            nb = jupytext.read(self.nb_dir / report.notebook)
            warm_up = warm_up_code([c.source for c in nb.cells if c.cell_type == "code"])
            self.spare = start_kernel(self.kernel_name, self.nb_dir, env, warm_up)
        except Exception as exc:  # the report starts its own kernel and reports what fails
            log.warning("no kernel started ahead for %s: %s", report.slug, _one_line(exc))

    def discard(self) -> None:
        """Stop the kernel started ahead, if any (no report will use it)."""
        if self.spare is not None:
            kernel, self.spare = self.spare, None
            stop_kernel(kernel)

    def run(
        self, spec: str, name: str, dataset: _Facts, report: Report, then: Report | None = None
    ) -> ReportEntry:
        """Execute, log and export one report into the staging folder, in the kernel started
        ahead for it (or a new one); ``then``: the report after it, whose kernel starts now.

        Raises :class:`_NotApplicable` (the notebook raised ``UnsupportedData``) or
        :class:`_ReportFailed` (anything else went wrong; the executed notebook is kept under
        ``<dataset>/_failed/`` and its MLflow run ends FAILED)."""
        import jupytext
        import papermill
        from papermill.exceptions import PapermillExecutionError

        ds_stage = self.staging / name
        report_dir = ds_stage / report.slug
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / DEFER_MARKER).touch()  # the notebook records, this process logs to MLflow
        stem = Path(report.notebook).stem
        nb_path = self.nb_dir / report.notebook
        nb_out = ds_stage / NOTEBOOKS_DIR / f"{stem}.ipynb"
        nb_out.parent.mkdir(parents=True, exist_ok=True)

        spec_arg = _spec_arg(spec)
        parameters = {"as_of": None, **self.params}
        parameters.update(
            dataset=spec_arg,
            quick=self.quick,
            output_dir=str(report_dir),
            mlflow_experiment=experiment_name(name),
        )

        nb = jupytext.read(nb_path)
        nb.metadata.setdefault(
            "kernelspec",
            {"name": self.kernel_name, "display_name": "Python 3", "language": "python"},
        )
        param_index = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if "parameters" in c.get("metadata", {}).get("tags", [])
            ),
            -1,
        )
        started = time.perf_counter()
        tell = _progress_teller(self.say, f"{name}/{report.slug}", _sections(nb, param_index))
        kernel, self.spare = self.spare, None
        try:
            kernel = kernel or start_kernel(self.kernel_name, self.nb_dir)
            self.prepare(then)
            with follow_progress(kernel.progress, tell):
                executed = papermill.execute_notebook(
                    nb,
                    str(nb_out),
                    parameters=parameters,
                    kernel_name=self.kernel_name,
                    language="python",
                    progress_bar=False,
                    log_output=False,
                    request_save_on_cell_execute=False,
                    cwd=str(self.nb_dir),
                    execution_timeout=self.cell_timeout,
                    km=kernel.manager,  # stopped below, at once: all cells ran
                )
        except PapermillExecutionError as exc:
            if exc.ename == "UnsupportedData":
                shutil.rmtree(report_dir, ignore_errors=True)
                nb_out.unlink(missing_ok=True)
                raise _NotApplicable(_one_line(exc.evalue)) from exc
            kept = self._keep_failed(ds_stage, nb_out, stem)
            _close_failed_run(report_dir, kept)
            # papermill puts its injected-parameters cell after the parameters cell (or first)
            where = _failed_cell(exc, nb_path, injected_at=param_index + 1)
            raise _ReportFailed(
                _failure_reason(exc.ename, where),
                f"dataset {name}: notebook {report.notebook} failed at {where}: "
                f"{exc.ename}: {_one_line(exc.evalue)[:300]} "
                f"(executed notebook kept at {self._shown(kept)})",
            ) from exc
        except Exception as exc:
            kept = self._keep_failed(ds_stage, nb_out, stem)
            _close_failed_run(report_dir, kept)
            kept_note = f" (executed notebook kept at {self._shown(kept)})" if kept else ""
            raise _ReportFailed(
                f"the notebook could not run ({type(exc).__name__}); analysts: see the build log",
                f"dataset {name}: notebook {report.notebook} could not run: "
                f"{type(exc).__name__}: {_one_line(exc)[:300]}{kept_note}",
            ) from exc
        finally:
            if kernel is not None:
                stop_kernel(kernel)
        execute_seconds = time.perf_counter() - started

        started = time.perf_counter()
        info = _log_run(report_dir, status="RUNNING")
        if info.get("status") == "RUNNING":  # the staged record: it is read only once published
            info["status"] = "FINISHED"
            write_json_atomic(report_dir / RUN_FILE, info)
        track_seconds = time.perf_counter() - started
        (report_dir / DEFER_MARKER).unlink(missing_ok=True)
        shutil.rmtree(report_dir / "models", ignore_errors=True)  # models live in MLflow only
        as_of = info.get("as_of") or _date_text(parameters.get("as_of"))
        if as_of is None:
            as_of = _date_text(dataset.last_date())
        generated_at = _now()
        html_path = ds_stage / f"{report.slug}.html"
        started = time.perf_counter()
        try:
            self._export(executed, html_path, report, name, dataset, as_of, generated_at, info)
        except Exception as exc:
            if info.get("run_id"):
                end_runs({info["run_id"]: "FAILED"}, info.get("tracking_uri"), "export failed")
            raise _ReportFailed(
                f"the report ran but its page could not be written ({type(exc).__name__})",
                f"dataset {name}: notebook {report.notebook} ran but its HTML export failed: "
                f"{type(exc).__name__}: {_one_line(exc)[:300]}",
            ) from exc
        export_seconds = time.perf_counter() - started
        tables = sorted(p.relative_to(ds_stage) for p in (report_dir / "tables").glob("*.csv"))
        return ReportEntry(
            dataset=name,
            slug=report.slug,
            title=report.title,
            description=report.description,
            notebook=report.notebook,
            status=STATUS_OK,
            as_of=as_of,
            generated_at=generated_at,
            headlines=info.get("headlines", []),
            metrics=info.get("metrics", {}),
            mlflow_run_id=info.get("run_id"),
            mlflow_experiment=info.get("experiment"),
            html=f"{name}/{report.slug}.html",
            executed_notebook=f"{name}/{NOTEBOOKS_DIR}/{stem}.ipynb",
            tables=[f"{name}/{p.as_posix()}" for p in tables],
            execute_seconds=round(execute_seconds, 2),
            track_seconds=round(track_seconds, 2),
            export_seconds=round(export_seconds, 2),
        )

    def _export(self, executed, html_path, report, name, dataset, as_of, generated_at, info):
        export_html(
            executed,
            html_path,
            {
                "title": report.title,
                "description": report.description,
                "dataset": name,
                "as_of": as_of,
                "generated_at": when(generated_at, zone=True),
                "run_id": info.get("run_id"),
                "fingerprint": dataset.fingerprint,
                "package_version": package_version(),
                "index_href": "../index.html",
                "assets_href": f"../{ASSETS_DIR}",
            },
        )
        if info.get("run_id") and info.get("tracking_uri"):
            # MLflow shows the page alone: log a copy with the shared files inlined
            with tempfile.TemporaryDirectory(dir=self.staging) as tmp:
                log_artifact(info, write_standalone(html_path, Path(tmp)))

    def _keep_failed(self, ds_stage: Path, nb_out: Path, stem: str) -> Path | None:
        """Move a failed executed notebook to ``<dataset>/_failed/`` (published with the
        dataset, so the analyst finds it beside the reports)."""
        if not nb_out.is_file():
            return None
        target = ds_stage / FAILED_DIR / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(nb_out), target)
        return target

    def _shown(self, kept: Path | None) -> str:
        """Where a kept notebook will be once the dataset is published."""
        if kept is None:
            return "nowhere"
        return str(self.out / kept.relative_to(self.staging))


def _copy_published(out: Path, ds_stage: Path, name: str, report: Report) -> None:
    """Copy a report's published files (page, run folder, executed notebook) into staging."""
    src = out / name
    for rel in (
        f"{report.slug}.html",
        report.slug,
        f"{NOTEBOOKS_DIR}/{Path(report.notebook).stem}.ipynb",
    ):
        if (src / rel).is_symlink():
            continue
        if (src / rel).is_dir():
            shutil.copytree(src / rel, ds_stage / rel, dirs_exist_ok=True, symlinks=True)
        elif (src / rel).is_file():
            (ds_stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, ds_stage / rel)


def _published_entries(out: Path, name: str) -> dict[str, dict[str, Any]]:
    manifest_path = out / name / MANIFEST
    if not manifest_path.is_file():
        return {}
    try:
        return {e["slug"]: e for e in json.loads(manifest_path.read_text()).get("reports", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _last_good(previous: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The last published version of a report, from its previous manifest entry."""
    if not previous:
        return None
    if previous.get("status") == STATUS_OK and previous.get("html"):
        keys = ("html", "generated_at", "as_of", "mlflow_run_id")
        return {k: previous.get(k) for k in keys}
    return previous.get("last_good")


def _carry_over(
    out: Path,
    ds_stage: Path,
    name: str,
    entries: list[ReportEntry],
    catalog: Sequence[Report],
    rebuilt_only: bool,
) -> list[ReportEntry]:
    """Keep what this build did not replace: for a failed report its last good version, and
    with ``--only`` the dataset's other published reports."""
    old = _published_entries(out, name)
    rebuilt = {e.slug: e for e in entries}
    merged: list[ReportEntry] = []
    for report in catalog:
        entry, previous = rebuilt.get(report.slug), old.get(report.slug)
        if entry is not None and entry.status == STATUS_FAILED:
            entry.last_good = _last_good(previous)
            if entry.last_good:
                _copy_published(out, ds_stage, name, report)
        elif entry is None and rebuilt_only and previous is not None:
            _copy_published(out, ds_stage, name, report)
            entry = ReportEntry.from_dict(previous)
        if entry is not None:
            merged.append(entry)
    return merged


def _swap_in(out: Path, staging: Path, names: Sequence[str], ownership: Ownership) -> None:
    """Replace each published ``out/<name>`` by ``staging/<name>`` (two renames per dataset);
    the replaced folder held only files the build wrote (checked before)."""
    for name in names:
        new, target = staging / name, out / name
        old = staging / f".previous-{name}"
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(new, target)
        except OSError:
            if old.exists():
                os.replace(old, target)
            raise
        ownership.record_tree(target)
        ownership.save()


def _housekeeping(ownership: Ownership, say: Callable[[str], None]) -> None:
    """Remove what killed builds left: their staging folders, kernel folders, open runs."""
    for name in ownership.clean_leftovers():
        say(f"removed the staging folder {name} of an earlier build that did not finish")
    for name in clean_stale_kernel_dirs():
        log.info("removed kernel files of a stopped build: %s", name)
    if tracking_enabled(None):
        try:
            killed = end_abandoned_runs()
        except Exception as exc:  # pragma: no cover - tracking must not stop the reports
            log.warning("could not check MLflow for runs of stopped builds: %s", exc)
            return
        if killed:
            say(f"marked {len(killed)} MLflow run(s) of a stopped build as KILLED")


def _owned_datasets(ownership: Ownership) -> list[str]:
    """Dataset folders the build published (each holds a manifest it wrote)."""
    return sorted({f.split("/", 1)[0] for f in ownership.files if f.endswith(f"/{MANIFEST}")})


def _end_open_runs(open_runs: Mapping[str, str]) -> None:
    """End this build's runs: FINISHED when published, FAILED when the build stopped first."""
    if not open_runs or not tracking_enabled(None):
        return
    finished = {r: s for r, s in open_runs.items() if s == "FINISHED"}
    stopped = {r: "FAILED" for r, s in open_runs.items() if s != "FINISHED"}
    try:
        end_runs(finished)
        end_runs(stopped, outcome="the build stopped before this report was published")
    except Exception as exc:  # pragma: no cover - tracking must not hide the build's result
        log.warning("could not end the build's MLflow runs: %s", exc)


def _build_one(
    builder: _Builder,
    spec: str,
    name: str,
    dataset: _Facts,
    report: Report,
    say: Callable,
    then: Report | None = None,
) -> tuple[ReportEntry, str | None]:
    """One report of one dataset: published, not applicable, or failed (with the technical
    detail for the build log); ``then``: the report that runs next (its kernel starts now)."""
    entry = ReportEntry(
        dataset=name,
        slug=report.slug,
        title=report.title,
        description=report.description,
        notebook=report.notebook,
        status=STATUS_NA,
        reason=dataset.missing.get(report.slug) or "",
        as_of=_date_text(builder.params.get("as_of")) or _date_text(dataset.last_date()),
        generated_at=_now(),
    )
    if entry.reason:
        say(f"{name}/{report.slug}: not applicable ({entry.reason})")
        return entry, None
    took = _published_entries(builder.out, name).get(report.slug, {}).get("execute_seconds")
    say(f"{name}/{report.slug}: running" + (f" (it took {took:.0f} s last time)" if took else ""))
    try:
        entry = builder.run(str(spec), name, dataset, report, then)
    except _NotApplicable as na:
        entry.reason = str(na)
        say(f"{name}/{report.slug}: not applicable ({entry.reason})")
        return entry, None
    except _ReportFailed as failure:
        entry.status, entry.reason = STATUS_FAILED, failure.reason
        say(f"{name}/{report.slug}: FAILED: {failure.detail}")
        return entry, failure.detail
    say(
        f"{name}/{report.slug}: ok (execute {entry.execute_seconds:.1f} s, "
        f"mlflow {entry.track_seconds:.1f} s, export {entry.export_seconds:.1f} s)"
    )
    return entry, None


def _write_manifest(
    ds_stage: Path,
    name: str,
    shown_spec: str,
    dataset: _Facts,
    entries: Sequence[ReportEntry],
    params: Mapping[str, Any] | None,
) -> None:
    """The dataset's manifest: what the index shows, and the MLflow runs behind it."""
    as_of = _date_text((params or {}).get("as_of")) or _date_text(dataset.last_date())
    write_json_atomic(
        ds_stage / MANIFEST,
        {
            "dataset": name,
            "spec": shown_spec,
            "fingerprint": dataset.fingerprint,
            "tables": dataset.rows,
            "as_of": as_of,
            "built_at": _now(),
            "package_version": package_version(),
            "experiment": experiment_name(name),
            "runs": [e.mlflow_run_id for e in entries if e.mlflow_run_id],
            "reports": [e.to_dict() for e in entries],
        },
    )


def build_reports(
    datasets: Sequence[str] = DEFAULT_DATASETS,
    only: Sequence[str] | None = None,
    quick: bool = False,
    params: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    notebooks: str | os.PathLike[str] | None = None,
    reports: Sequence[Report] | None = None,
    progress: bool = True,
    *,
    loader: Callable[[str], Any] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    kernel_name: str = "python3",
    cell_timeout: float | None = None,
) -> BuildResult:
    """Execute, export and publish the reports of ``datasets``; return what was published.

    ``only`` restricts to some report slugs (the dataset's other published reports are kept);
    ``params`` overrides analysis parameters of the notebooks (``-p key=value``; ``as_of``
    among them; the build's own parameters are refused); ``loader`` maps a dataset spec to a
    :class:`~crm_models.data.dataset.Dataset` (default ``crm_models.data.loading.load_dataset``).

    Each report stands alone: every report that succeeded is published even when others fail;
    then :class:`ReportsFailed` (one line per failure, ``.result`` the published set) is
    raised.  :class:`BuildError` before anything is published (a foreign file in the way, a
    refused ``out``, a build-owned parameter) leaves the output folder untouched.
    """
    started = time.perf_counter()
    # Kernels inherit this: the models fit small dense problems, where BLAS threads only fight
    # each other (and the other kernel) for two cores.  Set it yourself to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if isinstance(datasets, str):
        datasets = [datasets]
    if not datasets:
        raise BuildError("no dataset given")
    try:
        out_dir = check_out_dir(Path(out) if out is not None else reports_dir())
    except OwnershipError as exc:
        raise BuildError(str(exc)) from None
    nb_dir = Path(notebooks).expanduser().resolve() if notebooks is not None else notebooks_dir()
    catalog = list(discover_reports() if reports is None else reports)
    selected = _select(catalog, only)
    if not selected:
        raise BuildError("no report to build")
    missing = [r.notebook for r in selected if not (nb_dir / r.notebook).is_file()]
    if missing:
        raise BuildError(f"notebook(s) not found in {nb_dir}: {', '.join(missing)}")
    check_params(params or {}, nb_dir, selected)
    out_dir.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(datasets) * len(selected),
        disable=not progress,
        unit="report",
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def say(text: str) -> None:
        log.info(text)
        if progress:
            bar.write(text, file=sys.stderr)

    built_now = {r.slug for r in selected}
    result = BuildResult(out_dir / INDEX, [], [], 0.0, out_dir)
    details: list[str] = []
    open_runs: dict[str, str] = {}  # run id -> "FINISHED" once published (RUNNING until then)
    try:
        with build_lock(out_dir, timeout=lock_timeout):
            ownership = Ownership.load(out_dir)
            ownership.require_free([out_dir / INDEX, *stale_assets(out_dir)])
            _housekeeping(ownership, say)
            staging = ownership.new_staging()
            builder = _Builder(
                out_dir, staging, nb_dir, quick, params or {}, kernel_name, cell_timeout, say
            )
            try:
                for spec in datasets:
                    shown_spec = redact_url(str(spec))
                    bar.set_description(shown_spec)
                    snapshot = staging / SNAPSHOT_DIR
                    try:
                        as_of = (params or {}).get("as_of")
                        dataset = _open_for_build(spec, as_of, loader)
                        for warning in getattr(dataset, "warnings", []):
                            say(f"{redact_url(str(spec))}: warning: {warning}")
                    except Exception as exc:
                        reason = f"{type(exc).__name__}: {_one_line(exc)[:300]}"
                        result.problems.append(
                            f"dataset {shown_spec} could not be loaded ({reason})"
                        )
                        say(f"{shown_spec}: could not load: {reason}")
                        bar.update(len(selected))
                        continue
                    name = _folder_name(dataset.name)
                    if name in result.datasets:
                        raise BuildError(f"dataset {shown_spec}: name {name!r} given twice")
                    if name == ASSETS_DIR:
                        raise BuildError(
                            f"dataset {shown_spec}: the name {name!r} is the folder of the "
                            "pages' shared files; give the dataset another name"
                        )
                    ownership.require_free([out_dir / name])
                    result.datasets.append(name)
                    # the first report's kernel starts while the snapshot is written (not while
                    # the dataset loads: loading keeps both cores busy)
                    builder.prepare(selected[0], {SNAPSHOT_ENV: str(snapshot)})
                    _snapshot(dataset, snapshot, str(spec), as_of, say)
                    dataset = _Facts.of(dataset, selected)  # the build holds no tables from here
                    _release_memory()
                    entries = []
                    runnable = [r for r in selected if not dataset.missing.get(r.slug)]
                    after = dict(zip(runnable, runnable[1:], strict=False))  # last: none
                    with temporary_env(**{SNAPSHOT_ENV: str(snapshot)}):
                        for report in selected:
                            bar.set_description(f"{name}/{report.slug}")
                            entry, detail = _build_one(
                                builder, spec, name, dataset, report, say, after.get(report)
                            )
                            entries.append(entry)
                            if detail:
                                details.append(detail)
                            if entry.mlflow_run_id:
                                open_runs[entry.mlflow_run_id] = "RUNNING"
                            bar.update()
                    shutil.rmtree(snapshot, ignore_errors=True)
                    entries = _carry_over(
                        out_dir, staging / name, name, entries, catalog, bool(only)
                    )
                    _write_manifest(staging / name, name, shown_spec, dataset, entries, params)
                    for entry in entries:
                        if entry.slug not in built_now:
                            continue
                        {
                            STATUS_OK: result.published,
                            STATUS_FAILED: result.failed,
                        }.get(entry.status, result.not_applicable).append(entry)
                ownership.require_free(
                    [out_dir / n for n in result.datasets]
                    + [out_dir / INDEX]
                    + stale_assets(out_dir)
                )
                ownership.files |= set(publish_assets(out_dir, staging))  # before pages link it
                _swap_in(out_dir, staging, result.datasets, ownership)
                ownership.last_build = {"at": _now(), "problems": result.problems}
                write_index(out_dir, _owned_datasets(ownership), result.problems, tmp_dir=staging)
                ownership.files.add(INDEX)
                ownership.save()
                for entry in result.published:
                    if entry.mlflow_run_id:
                        open_runs[entry.mlflow_run_id] = "FINISHED"
            finally:
                builder.discard()
                ownership.drop_staging(staging)
    except OwnershipError as exc:
        raise BuildError(str(exc)) from None
    finally:
        bar.close()
        _end_open_runs(open_runs)
    result.elapsed = time.perf_counter() - started
    if result.failed or result.problems:
        lines = result.problems + details
        raise ReportsFailed(
            f"{len(lines)} failure(s), {len(result.published)} report(s) published: "
            + "; ".join(lines),
            result,
        )
    return result

"""Regenerate the HTML reports: execute notebooks with Papermill, export, publish atomically.

``build_reports`` is what ``crm-models reports build`` calls.  For every dataset × report it
executes the jupytext notebook with Papermill (parameters ``dataset``, ``as_of``, ``quick``,
``output_dir``, ``mlflow_experiment`` plus ``-p`` overrides), exports reader-facing HTML and logs
it into the notebook's MLflow run.  Everything is built in a staging folder inside ``out`` and
swapped into place only when every notebook succeeded; an exclusive lock on
``out/.build.lock`` serialises concurrent builds.  Layout::

    reports/index.html                      every published report of every dataset
    reports/<dataset>/<slug>.html           one report
    reports/<dataset>/<slug>/run.json       MLflow run id, headlines, metrics (+ tables/*.csv)
    reports/<dataset>/manifest.json         what the index shows for the dataset
    reports/<dataset>/_notebooks/*.ipynb    executed notebooks, for debugging
    reports/_failed/<dataset>/*.ipynb       executed notebook of the last failure
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

from crm_models.paths import notebooks_dir, reports_dir
from crm_models.reporting.catalog import Report, discover_reports
from crm_models.reporting.publish import (
    MANIFEST,
    STATUS_NA,
    STATUS_OK,
    export_html,
    when,
    write_index,
    write_json_atomic,
)
from crm_models.reporting.tracking import (
    DEFER_MARKER,
    RUN_FILE,
    experiment_name,
    log_artifact,
    log_run,
    package_version,
    tracking_enabled,
)

__all__ = [
    "BuildError",
    "BuildResult",
    "ReportEntry",
    "build_lock",
    "build_reports",
    "parse_params",
]

log = logging.getLogger("crm_models.reporting")

LOCK_FILE = ".build.lock"
FAILED_DIR = "_failed"
NOTEBOOKS_DIR = "_notebooks"
DEFAULT_DATASETS = ("demo", "cdnow")
DEFAULT_LOCK_TIMEOUT = 3600.0


class BuildError(RuntimeError):
    """A build failed; the message is one line naming what failed and where."""


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
    """What a build published."""

    index_path: Path
    published: list[ReportEntry]
    not_applicable: list[ReportEntry]
    elapsed: float
    out: Path
    datasets: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_path": str(self.index_path),
            "out": str(self.out),
            "datasets": self.datasets,
            "elapsed": round(self.elapsed, 2),
            "published": [e.to_dict() for e in self.published],
            "not_applicable": [e.to_dict() for e in self.not_applicable],
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


def redact_url(spec: str) -> str:
    from crm_models.database import redact_url as redact

    return redact(spec)


def _without_password(spec: str) -> str:
    """A database URL without its password, which goes to the kernels as ``PGPASSWORD``
    instead: notebook parameters end up in executed notebooks and MLflow, secrets must not."""
    from urllib.parse import urlsplit, urlunsplit

    from crm_models.database import is_database_url

    if not is_database_url(spec):
        return spec
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    os.environ["PGPASSWORD"] = parts.password
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


def _default_loader() -> Callable[[str], Any]:
    try:
        from crm_models.datasets import load_dataset
    except ImportError as exc:  # pragma: no cover - the loader module is part of the package
        raise BuildError(f"cannot load datasets: {exc}") from exc
    return load_dataset


@contextmanager
def build_lock(
    out: Path, timeout: float = DEFAULT_LOCK_TIMEOUT, poll: float = 0.2
) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``<out>/.build.lock``; wait up to ``timeout`` seconds."""
    path = Path(out) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
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
    report_dir: Path, status: str | None = None, extra: Mapping[str, Path] | None = None
) -> dict[str, Any]:
    """Write the MLflow run a notebook recorded (deferred) and return its updated record."""
    info = _read_run_file(report_dir)
    if not info or info.get("tracking") != "deferred" or not tracking_enabled(None):
        return info
    log_run(report_dir, status=status, extra_artifacts=extra)
    return _read_run_file(report_dir)


def _close_failed_run(report_dir: Path, failed_notebook: Path | None) -> None:
    """Record the failed notebook as a FAILED MLflow run (best effort)."""
    extra = {"failed": failed_notebook} if failed_notebook and failed_notebook.is_file() else None
    try:
        _log_run(report_dir, status="FAILED", extra=extra)
    except Exception as exc:  # pragma: no cover - tracking must not hide the real failure
        log.warning("could not record the failed run in MLflow: %s", exc)


def _kernel_manager_class(socket_dir: str) -> type:
    """A kernel manager talking over Unix sockets in ``socket_dir`` (no TCP ports, no warning
    about unencrypted TCP in the logs); nbclient creates, owns and shuts it down."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            self.ip = os.path.join(socket_dir, "kernel")

    return IPCKernelManager


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
    ) -> None:
        self.out = out
        self.staging = staging
        self.nb_dir = nb_dir
        self.quick = quick
        self.params = dict(params)
        self.kernel_name = kernel_name
        self.cell_timeout = cell_timeout

    def run(self, spec: str, name: str, dataset: Any, report: Report) -> ReportEntry:
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

        spec_arg = str(Path(spec).resolve()) if Path(spec).exists() else _without_password(spec)
        parameters = {
            "dataset": spec_arg,
            "as_of": None,
            "quick": self.quick,
            "output_dir": str(report_dir),
            "mlflow_experiment": experiment_name(name),
        }
        parameters.update(self.params)

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
        sockets = tempfile.mkdtemp(prefix="crm-kernel-")
        try:
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
                kernel_manager_class=_kernel_manager_class(sockets),
                shutdown_kernel="immediate",  # all cells ran; no need to wait for a clean exit
            )
        except PapermillExecutionError as exc:
            kept = self._keep_failed(name, nb_out, stem)
            _close_failed_run(report_dir, kept)
            # papermill puts its injected-parameters cell after the parameters cell (or first)
            where = _failed_cell(exc, nb_path, injected_at=param_index + 1)
            raise BuildError(
                f"dataset {name}: notebook {report.notebook} failed at {where}: "
                f"{exc.ename}: {_one_line(exc.evalue)} (executed notebook kept at {kept})"
            ) from exc
        except Exception as exc:
            kept = self._keep_failed(name, nb_out, stem)
            _close_failed_run(report_dir, kept)
            kept_note = f" (executed notebook kept at {kept})" if kept else ""
            raise BuildError(
                f"dataset {name}: notebook {report.notebook} could not run: "
                f"{type(exc).__name__}: {_one_line(exc)}{kept_note}"
            ) from exc
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
        execute_seconds = time.perf_counter() - started

        started = time.perf_counter()
        info = _log_run(report_dir)
        track_seconds = time.perf_counter() - started
        (report_dir / DEFER_MARKER).unlink(missing_ok=True)
        shutil.rmtree(report_dir / "models", ignore_errors=True)  # models live in MLflow only
        as_of = info.get("as_of") or _date_text(parameters.get("as_of"))
        if as_of is None and hasattr(dataset, "last_date"):
            as_of = _date_text(dataset.last_date())
        generated_at = _now()
        html_path = ds_stage / f"{report.slug}.html"
        started = time.perf_counter()
        try:
            self._export(executed, html_path, report, name, dataset, as_of, generated_at, info)
        except Exception as exc:
            raise BuildError(
                f"dataset {name}: notebook {report.notebook} ran but its HTML export failed: "
                f"{type(exc).__name__}: {_one_line(exc)}"
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
                "fingerprint": getattr(dataset, "fingerprint", ""),
                "package_version": package_version(),
                "index_href": "../index.html",
            },
        )
        if info.get("run_id") and info.get("tracking_uri"):
            log_artifact(info, html_path)

    def _keep_failed(self, name: str, nb_out: Path, stem: str) -> Path | None:
        if not nb_out.is_file():
            return None
        target = self.out / FAILED_DIR / name / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(nb_out), target)
        return target


def _carry_over(
    out: Path, ds_stage: Path, name: str, entries: list[ReportEntry], catalog: Sequence[Report]
) -> list[ReportEntry]:
    """Keep the published reports of a dataset that this (``--only``) build did not rebuild."""
    manifest_path = out / name / MANIFEST
    if not manifest_path.is_file():
        return entries
    try:
        old = {e["slug"]: e for e in json.loads(manifest_path.read_text()).get("reports", [])}
    except (OSError, ValueError, KeyError):
        return entries
    rebuilt = {e.slug: e for e in entries}
    merged: list[ReportEntry] = []
    for report in catalog:
        if report.slug in rebuilt:
            merged.append(rebuilt[report.slug])
            continue
        previous = old.get(report.slug)
        if previous is None:
            continue
        src = out / name
        for rel in (
            f"{report.slug}.html",
            report.slug,
            f"{NOTEBOOKS_DIR}/{Path(report.notebook).stem}.ipynb",
        ):
            if (src / rel).is_dir():
                shutil.copytree(src / rel, ds_stage / rel, dirs_exist_ok=True)
            elif (src / rel).is_file():
                (ds_stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, ds_stage / rel)
        merged.append(ReportEntry.from_dict(previous))
    return merged


def _swap_in(out: Path, staging: Path, names: Sequence[str]) -> None:
    """Replace each published ``out/<name>`` by ``staging/<name>`` (two renames per dataset)."""
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


def _clean_leftovers(out: Path) -> None:
    for path in out.glob(".staging-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in out.glob(".*.tmp"):
        path.unlink(missing_ok=True)


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
    ``params`` overrides notebook parameters (``-p key=value``; ``as_of`` among them);
    ``loader`` maps a dataset spec to a :class:`~crm_models.dataset.Dataset` (default
    ``crm_models.datasets.load_dataset``).  Raises :class:`BuildError` (one-line message) on any
    failure, leaving the published reports untouched.
    """
    started = time.perf_counter()
    # Kernels inherit this: the models fit small dense problems, where BLAS threads only fight
    # each other (and the other kernel) for two cores.  Set it yourself to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if isinstance(datasets, str):
        datasets = [datasets]
    if not datasets:
        raise BuildError("no dataset given")
    out_dir = Path(out) if out is not None else reports_dir()
    out_dir = out_dir.expanduser().resolve()
    nb_dir = Path(notebooks).expanduser().resolve() if notebooks is not None else notebooks_dir()
    catalog = list(discover_reports() if reports is None else reports)
    selected = _select(catalog, only)
    if not selected:
        raise BuildError("no report to build")
    missing = [r.notebook for r in selected if not (nb_dir / r.notebook).is_file()]
    if missing:
        raise BuildError(f"notebook(s) not found in {nb_dir}: {', '.join(missing)}")
    load = loader or _default_loader()
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

    published: list[ReportEntry] = []
    not_applicable: list[ReportEntry] = []
    names: list[str] = []
    try:
        with build_lock(out_dir, timeout=lock_timeout):
            _clean_leftovers(out_dir)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
            try:
                builder = _Builder(
                    out_dir, staging, nb_dir, quick, params or {}, kernel_name, cell_timeout
                )
                for spec in datasets:
                    bar.set_description(redact_url(str(spec)))
                    try:
                        dataset = load(spec)
                    except Exception as exc:
                        raise BuildError(
                            f"dataset {redact_url(str(spec))}: could not load: {type(exc).__name__}: "
                            f"{_one_line(exc)}"
                        ) from exc
                    name = _folder_name(dataset.name)
                    if name in names:
                        raise BuildError(
                            f"dataset {redact_url(str(spec))}: name {name!r} given twice"
                        )
                    names.append(name)
                    ds_stage = staging / name
                    ds_stage.mkdir(parents=True)
                    as_of = _date_text((params or {}).get("as_of")) or _date_text(
                        dataset.last_date() if hasattr(dataset, "last_date") else None
                    )
                    entries: list[ReportEntry] = []
                    for report in selected:
                        bar.set_description(f"{name}/{report.slug}")
                        reason = report.missing(dataset)
                        if reason:
                            entry = ReportEntry(
                                dataset=name,
                                slug=report.slug,
                                title=report.title,
                                description=report.description,
                                notebook=report.notebook,
                                status=STATUS_NA,
                                reason=reason,
                                as_of=as_of,
                                generated_at=_now(),
                            )
                            say(f"{name}/{report.slug}: not applicable ({reason})")
                        else:
                            entry = builder.run(str(spec), name, dataset, report)
                            say(
                                f"{name}/{report.slug}: ok (execute {entry.execute_seconds:.1f} s,"
                                f" mlflow {entry.track_seconds:.1f} s,"
                                f" export {entry.export_seconds:.1f} s)"
                            )
                        entries.append(entry)
                        bar.update()
                    if only:
                        entries = _carry_over(out_dir, ds_stage, name, entries, catalog)
                    write_json_atomic(
                        ds_stage / MANIFEST,
                        {
                            "dataset": name,
                            "spec": redact_url(str(spec)),
                            "fingerprint": getattr(dataset, "fingerprint", ""),
                            "tables": {t: len(df) for t, df in dataset.tables().items()}
                            if hasattr(dataset, "tables")
                            else {},
                            "as_of": as_of,
                            "built_at": _now(),
                            "package_version": package_version(),
                            "experiment": experiment_name(name),
                            "reports": [e.to_dict() for e in entries],
                        },
                    )
                    for entry in entries:
                        built_now = entry.slug in {r.slug for r in selected}
                        if entry.status == STATUS_OK and built_now:
                            published.append(entry)
                        elif entry.status != STATUS_OK and built_now:
                            not_applicable.append(entry)
                _swap_in(out_dir, staging, names)
                for entry in published:
                    stale = (
                        out_dir / FAILED_DIR / entry.dataset / f"{Path(entry.notebook).stem}.ipynb"
                    )
                    stale.unlink(missing_ok=True)
                index_path = write_index(out_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        bar.close()
    return BuildResult(
        index_path=index_path,
        published=published,
        not_applicable=not_applicable,
        elapsed=time.perf_counter() - started,
        out=out_dir,
        datasets=names,
    )

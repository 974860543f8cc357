"""The one set-up line of a report notebook.

Every report notebook starts the same way: load the dataset its ``dataset`` parameter names,
settle the as-of day, and open the report's run with its parameters.  :func:`start_report`
does all three (and shows money in the dataset's currency from then on), and reads the
parameters from the notebook's own ``parameters`` cell (and the cell Papermill injects after
it), so every parameter reaches MLflow without being typed twice::

    ds, as_of_day, run = start_report("customer_base", globals())
"""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from crm_models.data.dataset import Dataset, resolve_as_of
from crm_models.data.snapshot import drop_mapped_pages, out_of_core_marker, snapshot_for
from crm_models.engine import Source, aggregates, default_settings, open_dataset, open_source
from crm_models.engine.settings import release_freed_memory
from crm_models.plotting import bullets, say, use_currency
from crm_models.progress import PROGRESS_LOG_ENV, tell_build
from crm_models.reporting.tracking import ReportRun

# Parameters that say where the build puts its files; they are given to the run, not logged.
_PLACEMENT = ("output_dir", "mlflow_experiment")


def _literal_assignments(source: str) -> list[str] | None:
    """Names a cell assigns, when the cell holds nothing but ``name = literal`` lines."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            return None
        target = node.targets[0]
        try:
            ast.literal_eval(node.value)
        except ValueError:
            return None
        if not isinstance(target, ast.Name):
            return None
        names.append(target.id)
    return names or None


def notebook_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameters and their current values: every name assigned in a cell that
    holds only ``name = literal`` lines (the ``parameters`` cell and Papermill's injected one),
    read from the kernel's input history."""
    history = namespace.get("In")
    if not isinstance(history, list):
        raise RuntimeError(
            "start_report reads the parameters cell from the notebook's history; run it in a "
            "notebook kernel (JupyterLab, Papermill), not as a plain script"
        )
    names: dict[str, None] = {}
    for source in history:
        names.update(dict.fromkeys(_literal_assignments(source) or []))
    return {name: namespace[name] for name in names if name in namespace}


def data_quality_note(warnings: list) -> str:
    """The short "Data quality" note a report opens with when its data looked suspicious."""
    lines = [
        f"{w.file}{f', column {w.column}' if w.column else ''}: {w.issue} ({w.rows:,} rows)"
        for w in warnings
    ]
    return (
        "**Data quality.** The data was analysed, but some of it looks suspicious; "
        "check these before relying on the numbers:\n\n" + bullets(lines)
    )


def _report_cells_to_build() -> None:
    """Inside a report build, tell its log when each later cell is done and how long it took
    (the build names the cell by its section heading); nothing outside a build."""
    if not os.environ.get(PROGRESS_LOG_ENV):
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_crm_models_cells_told", False):
        return
    started: list[float] = []

    def pre_run_cell(_info: Any) -> None:
        started[:] = [time.perf_counter()]

    def post_run_cell(result: Any) -> None:
        if started:
            took = time.perf_counter() - started[0]
            tell_build(f"cell {result.execution_count} done ({took:.1f} s)")

    shell.events.register("pre_run_cell", pre_run_cell)
    shell.events.register("post_run_cell", post_run_cell)
    shell._crm_models_cells_told = True


def _release_memory_after_cells() -> None:
    """In a notebook, hand memory back to the system when a cell ends: what the cell freed
    (:func:`~crm_models.engine.settings.release_freed_memory`) and the pages of the build's
    cached tables it read (:func:`~crm_models.data.snapshot.drop_mapped_pages`), so a report's
    later cells and the build's other kernels have it; nothing outside IPython."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_crm_models_releases_memory", False):
        return

    def hand_back(_result: Any) -> None:
        release_freed_memory()
        drop_mapped_pages()

    shell.events.register("post_run_cell", hand_back)
    shell._crm_models_releases_memory = True


def open_report_data(spec: str, as_of: Any = None) -> tuple[Dataset | Source, str]:
    """The data a report reads and how it was opened.  Inside a report build: the build's
    snapshot of the dataset it loaded (read in a second), or the files it opened out of core
    and checked, opened again on the same engine (nothing loaded).  Outside a build: what
    the one way in opens (:func:`crm_models.engine.open_dataset`: out of core for a large
    folder or with ``CRM_MODELS_ENGINE`` set), its contract checked either way."""
    ds = snapshot_for(spec, as_of)
    if ds is not None:
        return ds, "read from the build's snapshot"
    marker = out_of_core_marker(spec, as_of)
    src = open_source(spec, default_settings()) if marker is not None else None
    if src is not None:
        src = src.known_at(as_of)
        src.fingerprint, src.warnings = marker["fingerprint"], marker["warnings"]
        return src, f"opened out of core on {src.engine} (checked by the build)"
    ds = open_dataset(spec, as_of=as_of)
    if isinstance(ds, Source) and ds.fingerprint is None:
        return aggregates.checked(ds), f"opened out of core on {ds.engine}"
    return ds, "loaded"


def start_report(
    report: str, namespace: Mapping[str, Any]
) -> tuple[Dataset | Source, pd.Timestamp | None, ReportRun]:
    """Load the dataset, settle the as-of day, show money in the dataset's currency
    (:func:`crm_models.plotting.use_currency`) and open the report's run (every parameter
    recorded); return ``(dataset, as_of_day, run)``, ``as_of_day`` None for undated data (a
    basket file).  Call it as
    ``start_report("<slug>", globals())`` right after the parameters cell."""
    params = notebook_parameters(namespace)
    if "dataset" not in params:
        raise RuntimeError("the notebook's parameters cell has no `dataset` parameter")
    _report_cells_to_build()
    _release_memory_after_cells()
    started = time.perf_counter()
    ds, how = open_report_data(params["dataset"], params.get("as_of"))
    tell_build(f"data {how} ({time.perf_counter() - started:.1f} s)")
    use_currency(ds.currency)
    if ds.warnings:
        say(data_quality_note(ds.warnings))
    as_of = params.get("as_of")
    if as_of is None and ds.as_of is None:  # the last date, read once (a scan at scale)
        as_of = ds.last_date()
    undated = as_of is None and ds.as_of is None  # a basket file
    as_of_day = None if undated else resolve_as_of(ds, as_of)
    params["as_of"] = None if as_of_day is None else str(as_of_day.date())
    run = ReportRun(
        report,
        ds,
        params={k: v for k, v in params.items() if k not in _PLACEMENT},
        output_dir=params.get("output_dir"),
        experiment=params.get("mlflow_experiment"),
    )
    return ds, as_of_day, run

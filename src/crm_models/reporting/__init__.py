"""Reporting: the report catalog, the notebook build, HTML publishing and MLflow tracking.

- :mod:`~crm_models.reporting.catalog` — which notebooks become which reports;
- :mod:`~crm_models.reporting.tracking` — :class:`ReportRun`, the one MLflow helper notebooks use;
- :mod:`~crm_models.reporting.build` — :func:`build_reports` (``crm-models reports build``);
- :mod:`~crm_models.reporting.publish` — HTML export, manifests and the index page;
- :mod:`~crm_models.reporting.notebook` — :func:`start_report`, the set-up line of a report notebook.

The reporting layer knows nothing about the analyses it publishes.
"""

from crm_models.paths import project_root, reports_dir
from crm_models.reporting.build import (
    BuildError,
    BuildResult,
    ReportEntry,
    ReportsFailed,
    build_reports,
    parse_params,
)
from crm_models.reporting.catalog import Report, discover_reports, get_report, notebooks_dir
from crm_models.reporting.notebook import start_report
from crm_models.reporting.tracking import PIIError, ReportRun, experiment_name, tracking_uri

__all__ = [
    "BuildError",
    "BuildResult",
    "PIIError",
    "Report",
    "ReportEntry",
    "ReportRun",
    "ReportsFailed",
    "build_reports",
    "discover_reports",
    "experiment_name",
    "get_report",
    "notebooks_dir",
    "parse_params",
    "project_root",
    "reports_dir",
    "start_report",
    "tracking_uri",
]

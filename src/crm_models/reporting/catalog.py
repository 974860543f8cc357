"""The reports the build knows: one notebook each, and the contract tables it needs.

Later analysis issues append to :data:`REPORTS`.  A report whose ``requires`` tables are absent
from a dataset is published as "not applicable" for that dataset instead of failing the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_models.paths import notebooks_dir

__all__ = ["REPORTS", "Report", "get_report", "notebooks_dir"]


@dataclass(frozen=True)
class Report:
    """One report: a jupytext ``py:percent`` notebook in ``notebooks/`` rendered to HTML."""

    slug: str
    notebook: str
    title: str
    requires: tuple[str, ...] = ("transactions",)
    description: str = ""


REPORTS: list[Report] = [
    Report(
        "customer_base",
        "01_customer_base_and_revenue.py",
        "Customer base and revenue",
        ("transactions",),
        "Size and activity of the customer base, where revenue comes from, how concentrated "
        "it is, and revenue split into customers × orders per customer × order value "
        "(R = N·L·V).",
    ),
]


def get_report(slug: str, reports: list[Report] | None = None) -> Report:
    """The report with this slug (``KeyError`` naming the known slugs otherwise)."""
    for report in REPORTS if reports is None else reports:
        if report.slug == slug:
            return report
    known = ", ".join(r.slug for r in (REPORTS if reports is None else reports))
    raise KeyError(f"unknown report {slug!r} (known: {known})")

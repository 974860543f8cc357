"""The reports the build knows: every numbered notebook that declares itself a report.

A report is a jupytext ``py:percent`` notebook in ``notebooks/`` whose header carries a
``crm_report`` entry, so adding a report means adding a notebook and nothing else::

    # ---
    # jupyter:
    #   crm_report:
    #     slug: customer_base
    #     title: Customer base and revenue
    #     description: One sentence for the index page.
    #     requires: [transactions]                     # tables it needs ("a|b": either)
    #     requires_columns: ["transactions.product_id|transactions.category"]  # optional
    #   jupytext: ...

A report whose tables or columns are absent from a dataset is published as "not applicable"
for that dataset (with the reason) instead of failing the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_models.paths import notebooks_dir

__all__ = ["Report", "discover_reports", "get_report", "notebooks_dir"]


@dataclass(frozen=True)
class Report:
    """One report: a notebook rendered to HTML, and what a dataset must hold for it."""

    slug: str
    notebook: str
    title: str
    requires: tuple[str, ...] = ("transactions",)
    description: str = ""
    requires_columns: tuple[str, ...] = ()  # "table.column", alternatives joined with "|"

    def missing(self, dataset: Any) -> str | None:
        """Why ``dataset`` cannot support this report, or None when it can."""
        lacking = [
            " or ".join(need.split("|"))
            for need in self.requires
            if not any(dataset.has(t) for t in need.split("|"))
        ]
        if lacking:
            plural = "s" if len(lacking) > 1 else ""
            return f"needs the {', '.join(lacking)} table{plural}, which dataset {dataset.name} does not have"
        for need in self.requires_columns:
            options = [opt.split(".", 1) for opt in need.split("|")]
            if not any(dataset.has(t) and c in dataset.columns(t) for t, c in options):
                names = " or ".join(f"{c} ({t})" for t, c in options)
                return f"needs {names}, which dataset {dataset.name} does not have"
        return None


def _header(path: Path) -> dict[str, Any]:
    """The YAML header of a jupytext percent script (read without parsing the notebook)."""
    import yaml

    lines = []
    with open(path, encoding="utf-8") as fh:
        if fh.readline().strip() != "# ---":
            return {}
        for line in fh:
            if line.strip() == "# ---":
                break
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return (yaml.safe_load("".join(lines)) or {}).get("jupyter", {}) or {}


def discover_reports(folder: Path | None = None) -> list[Report]:
    """Reports declared in the headers of ``NN_*.py`` notebooks, in file-name order."""
    reports = []
    for path in sorted((folder or notebooks_dir()).glob("[0-9][0-9]_*.py")):
        meta = _header(path).get("crm_report")
        if meta:
            reports.append(
                Report(
                    slug=meta["slug"],
                    notebook=path.name,
                    title=meta["title"],
                    requires=tuple(meta.get("requires", ("transactions",))),
                    description=meta.get("description", ""),
                    requires_columns=tuple(meta.get("requires_columns", ())),
                )
            )
    return reports


def get_report(slug: str, reports: list[Report] | None = None) -> Report:
    """The report with this slug (``KeyError`` naming the known slugs otherwise)."""
    catalog = discover_reports() if reports is None else reports
    for report in catalog:
        if report.slug == slug:
            return report
    known = ", ".join(r.slug for r in catalog)
    raise KeyError(f"unknown report {slug!r} (known: {known})")

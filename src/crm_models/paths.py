"""Where the project lives: its data cache, notebooks, reports and MLflow store.

The project root is the folder holding ``pyproject.toml`` and ``notebooks/``.  It is found,
in order, from the ``CRM_MODELS_HOME`` environment variable, from the package source (an
editable install keeps ``src/crm_models`` inside the project) and from the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CRM_MODELS_HOME"


def _looks_like_project(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "notebooks").is_dir()


def project_root() -> Path:
    """The project folder (``$CRM_MODELS_HOME``, else the source checkout, else the cwd)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    # src/crm_models/paths.py -> parents[2] is the checkout of an editable install.
    source_root = Path(__file__).resolve().parents[2]
    if _looks_like_project(source_root):
        return source_root
    return Path.cwd().resolve()


def notebooks_dir() -> Path:
    """The ``notebooks/`` folder of the project."""
    return project_root() / "notebooks"


def reports_dir() -> Path:
    """The default output folder of ``reports build``."""
    return project_root() / "reports"


def mlruns_dir() -> Path:
    """The default home of the MLflow store (a SQLite database plus artifacts)."""
    return project_root() / "mlruns"


def data_dir() -> Path:
    """Where generated data (the demo retailer) is cached: ``$CRM_MODELS_DATA`` or ``data/``."""
    return Path(os.environ.get("CRM_MODELS_DATA", project_root() / "data"))

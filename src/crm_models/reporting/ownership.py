"""What ``reports build`` owns in its output folder, so that it never touches anything else.

The build records every file it publishes in ``<out>/.crm-models-owned.json`` (the *ownership
record*).  It replaces or deletes a path only when the record lists it (or, for an output folder
written by an older crm-models without a record, when the path follows the documented layout
exactly); anything else in its way is an error that names it.  Staging folders are recorded
before they are used, so a killed build's leftovers are recognised and removed by the next
build, and nothing else is.  Output folders that cannot be the user's report folder (``/``,
the home folder and its ancestors, a folder holding ``.git``) are refused outright.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OWNED_FILE = ".crm-models-owned.json"
LOCK_FILE = ".crm-models-build.lock"
STAGING_PREFIX = ".crm-models-staging-"
INDEX = "index.html"
DATASET_MANIFEST = "manifest.json"
_FORMAT = 1


class OwnershipError(RuntimeError):
    """The output folder holds something the build did not write, in a place it must write."""


def check_out_dir(out: Path) -> Path:
    """``out`` resolved, or :class:`OwnershipError` when it must never be a report folder."""
    resolved = Path(out).expanduser().resolve()
    home = Path.home().resolve()
    if resolved == Path(resolved.anchor):
        raise OwnershipError(f"--out {out}: refusing the root folder; name a folder for reports")
    if resolved == home or resolved in home.parents:
        raise OwnershipError(
            f"--out {out}: refusing the home folder (or a folder above it); "
            "name a folder for reports, e.g. ~/crm-reports"
        )
    if (resolved / ".git").exists():
        raise OwnershipError(
            f"--out {out}: refusing a folder that holds a .git repository; "
            "name its reports/ folder or another folder for reports"
        )
    if resolved.exists() and not resolved.is_dir():
        raise OwnershipError(f"--out {out}: is a file, not a folder")
    return resolved


def _files(path: Path) -> list[Path]:
    """Every file and symlink under ``path`` (symlinks are listed, never followed)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(path, followlinks=False):
        here = Path(root)
        found += [here / d for d in dirs if (here / d).is_symlink()]
        found += [here / f for f in files]
    return found


@dataclass
class Ownership:
    """The ownership record of one output folder (see the module docstring)."""

    out: Path
    files: set[str] = field(default_factory=set)
    staging: set[str] = field(default_factory=set)
    last_build: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False

    # -- reading and writing ---------------------------------------------------------------
    @classmethod
    def load(cls, out: Path) -> Ownership:
        path = out / OWNED_FILE
        if not path.is_file():
            own = cls(out)
            own.adopt_legacy()
            return own
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OwnershipError(
                f"{path} is not a readable ownership record ({exc}); "
                "it was not written by crm-models or is damaged: move the folder's content away"
            ) from None
        return cls(
            out,
            set(data.get("files", [])),
            set(data.get("staging", [])),
            dict(data.get("last_build", {})),
            True,
        )

    def save(self) -> None:
        payload = {
            "format": _FORMAT,
            "about": "Files that `crm-models reports build` wrote here: it replaces or deletes "
            "only these, and refuses to touch anything else.",
            "files": sorted(self.files),
            "staging": sorted(self.staging),
            "last_build": self.last_build,
        }
        tmp = self.out / f"{OWNED_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.out / OWNED_FILE)
        self.recorded = True

    # -- what is ours ------------------------------------------------------------------------
    def owns(self, path: Path) -> bool:
        return self.rel(path) in self.files

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def foreign(self, target: Path) -> list[str]:
        """Files at or under ``target`` that the build did not write (relative to ``out``).

        Empty folders do not count: removing one loses nothing."""
        if target.is_symlink() or target.is_file():
            return [] if self.owns(target) else [self.rel(target)]
        if not target.exists():
            return []
        return [self.rel(p) for p in _files(target) if not self.owns(p)]

    def require_free(self, targets: Iterable[Path]) -> None:
        """Raise :class:`OwnershipError` naming every foreign path in the way of ``targets``."""
        foreign = [f for t in targets for f in self.foreign(t)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise OwnershipError(
                f"{self.out} holds {len(foreign)} file(s) that crm-models did not write where the "
                f"build must publish: {shown}; move them away or choose another --out "
                "(nothing was changed)"
            )

    def record_tree(self, target: Path) -> None:
        """Record every file now under ``target`` (a published dataset folder) as ours."""
        prefix = self.rel(target) + "/"
        self.files = {f for f in self.files if not f.startswith(prefix)}
        self.files |= {self.rel(p) for p in _files(target)}

    # -- staging -------------------------------------------------------------------------------
    def new_staging(self) -> Path:
        """A fresh staging folder inside ``out`` (same file system: publishing is a rename),
        recorded before it is used."""
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))
        self.staging.add(staging.name)
        self.save()
        return staging

    def drop_staging(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
        self.staging.discard(staging.name)
        self.save()

    def clean_leftovers(self) -> list[str]:
        """Remove staging folders recorded by earlier (killed) builds; nothing else."""
        removed = []
        for name in sorted(self.staging):
            path = self.out / name
            if name.startswith(STAGING_PREFIX) and "/" not in name and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        for tmp in self.out.glob(f"{OWNED_FILE}.*.tmp"):
            tmp.unlink(missing_ok=True)
        if self.staging:
            self.staging = set()
            self.save()
        return removed

    # -- folders written before the ownership record existed ----------------------------------
    def adopt_legacy(self) -> None:
        """Adopt what an older crm-models published here (no record yet): dataset folders whose
        every file follows the documented layout of their ``manifest.json``, and an index page
        written by crm-models.  Anything else stays foreign."""
        if not self.out.is_dir():
            return
        for folder in self.out.iterdir():
            manifest = folder / DATASET_MANIFEST
            if folder.is_symlink() or not folder.is_dir() or not manifest.is_file():
                continue
            expected = _legacy_layout(folder, manifest)
            files = _files(folder)
            if expected and all(self.rel(p) in expected for p in files):
                self.files |= {self.rel(p) for p in files}
        index = self.out / INDEX
        if index.is_file() and not index.is_symlink():
            head = index.read_text(encoding="utf-8", errors="replace")[:600]
            if "<title>CRM reports</title>" in head:
                self.files.add(INDEX)


def _legacy_layout(folder: Path, manifest: Path) -> set[str]:
    """Files an older build wrote for the dataset of ``manifest`` (relative to ``out``)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    name = folder.name
    if data.get("dataset") != name or not isinstance(data.get("reports"), list):
        return set()
    expected = {f"{name}/{DATASET_MANIFEST}"}
    for entry in data["reports"]:
        slug = str(entry.get("slug", ""))
        expected |= {f"{name}/{slug}.html", f"{name}/{slug}/run.json"}
        expected |= {str(t) for t in entry.get("tables", [])}
        if entry.get("executed_notebook"):
            expected.add(str(entry["executed_notebook"]))
    return expected

"""Turn executed notebooks into reader-facing HTML, and write manifests and the index page.

The HTML export hides every code cell and prompt, drops warnings (stderr), bare expression
values (``Out[...]`` text) and error outputs, and uses the ``report`` template shipped in
``crm_models/templates`` (no CDN scripts, a header with title, dataset, as-of date and
generation time).  Show things in a report with ``crm_models.plotting.show / show_table / say``
or Markdown cells.

Pages are light: plotly.js (4.8 MB) and JupyterLab's style (240 kB) are not in them but in
shared files, ``<out>/assets/plotly-<plotly.js version>.min.js`` and
``<out>/assets/jupyterlab-nbconvert-<version>.css`` (:func:`publish_assets`), that each page
loads by a relative path, offline.  Notebook authors order a page with cell tags:
cells tagged ``findings`` open the page (right after the title cell), and each run of cells
tagged ``how-we-know`` is folded into a collapsed "How we know" box (the template).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
INDEX = "index.html"
STATUS_OK = "ok"
STATUS_NA = "not applicable"
STATUS_FAILED = "failed"
ASSETS_DIR = "assets"
FINDINGS_TAG = "findings"
PLOTLY_DIV = 'class="plotly-graph-div"'
_REMOVE_TAGS = {
    "remove-cell",
    "remove_cell",
    "hide",
    "hide-cell",
    "parameters",
    "injected-parameters",
}


def template_dir() -> Path:
    """Folder holding the nbconvert ``report`` template."""
    return Path(__file__).resolve().parents[1] / "templates"


# --------------------------------------------------------------------------- shared assets
@lru_cache(maxsize=1)
def plotly_asset() -> str:
    """Where the shared plotly.js lives, relative to the output folder:
    ``assets/plotly-<plotly.js version>.min.js``."""
    from plotly.offline import get_plotlyjs_version

    return f"{ASSETS_DIR}/plotly-{get_plotlyjs_version()}.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The plotly.min.js bundled with the installed plotly package."""
    from importlib.resources import files

    return (files("plotly") / "package_data" / "plotly.min.js").read_bytes()


@lru_cache(maxsize=1)
def lab_css_asset() -> str:
    """Where the shared JupyterLab page style lives, relative to the output folder:
    ``assets/jupyterlab-nbconvert-<nbconvert version>.css``."""
    import nbconvert

    return f"{ASSETS_DIR}/jupyterlab-nbconvert-{nbconvert.__version__}.css"


@lru_cache(maxsize=1)
def lab_css() -> bytes:
    """The style sheet nbconvert's ``lab`` template would inline in every page (240 kB)."""
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("nbconvert", "templates"):
        path = Path(root) / "lab" / "static" / "index.css"
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError(
        "nbconvert's lab template (lab/static/index.css) is not installed; reinstall nbconvert"
    )


def shared_assets() -> dict[str, bytes]:
    """The files pages load from the output folder, by path relative to it: plotly.js and
    the JupyterLab style, each named by its version so that a page keeps what it was built
    with after an upgrade."""
    return {plotly_asset(): plotly_js(), lab_css_asset(): lab_css()}


def stale_assets(out: Path) -> list[Path]:
    """The shared files :func:`publish_assets` would (re)write in ``out``: missing or different."""
    stale = []
    for rel, content in shared_assets().items():
        path = Path(out) / rel
        if not (path.is_file() and not path.is_symlink() and path.read_bytes() == content):
            stale.append(path)
    return stale


def publish_assets(out: Path, tmp_dir: Path) -> list[str]:
    """Write the shared files pages load (:func:`shared_assets`) into ``out`` where missing or
    different, each written in ``tmp_dir`` and renamed into place; returns what was written
    (relative to ``out``)."""
    written = []
    for path in stale_assets(out):
        rel = path.relative_to(out).as_posix()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tmp_dir) / f".{path.name}.{os.getpid()}.tmp"
        tmp.write_bytes(shared_assets()[rel])
        os.replace(tmp, path)
        written.append(rel)
    return written


# A page's link to a shared file, as the template writes it: group 1 the tag, 2 the relative
# link, 3 the file's path in the output folder.
_SHARED_LINK = re.compile(
    r'<(script|link)\b[^>]*\s(?:src|href)="((?:\.\./)+(assets/[^"/]+))"[^>]*>(?:</script>)?'
)


def standalone_html(page: str) -> str:
    """``page`` with its shared files inlined: a copy that renders alone (MLflow shows an HTML
    artifact on its own, where the relative ``../assets/`` links lead nowhere)."""
    assets = shared_assets()

    def inline(match: re.Match[str]) -> str:
        content = assets.get(match.group(3))
        if content is None:
            return match.group()
        tag = "script" if match.group(1) == "script" else "style"
        return f"<{tag}>{content.decode('utf-8')}</{tag}>"

    return _SHARED_LINK.sub(inline, page)


def write_standalone(html_path: Path, folder: Path) -> Path:
    """Write :func:`standalone_html` of the page ``html_path`` into ``folder`` (same name)."""
    target = Path(folder) / Path(html_path).name
    target.write_text(standalone_html(Path(html_path).read_text(encoding="utf-8")), "utf-8")
    return target


# --------------------------------------------------------------------------- HTML export
def clean_for_readers(nb: Any) -> Any:
    """Remove from an executed notebook everything that is code, noise or empty (in place).

    Drops cells tagged ``parameters``/``injected-parameters``/``remove-cell``/``hide``, stderr
    streams, error outputs, ``execute_result`` outputs that are plain text only, and code cells
    left without output.  Markdown cells stay.  Cells tagged ``findings`` move up under the
    title (:func:`findings_first`).
    """
    kept = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _REMOVE_TAGS:
            continue
        if cell.cell_type == "raw":
            continue
        if cell.cell_type == "code":
            if "remove-output" in tags or "remove_output" in tags:
                continue
            outputs = []
            for out in cell.get("outputs", []):
                kind = out.get("output_type")
                if kind == "error":
                    continue
                if kind == "stream" and out.get("name") == "stderr":
                    continue
                if kind == "execute_result" and set(out.get("data", {})) <= {"text/plain"}:
                    continue
                outputs.append(out)
            cell.outputs = outputs
            if not outputs:
                continue
        elif cell.cell_type == "markdown" and not cell.source.strip():
            continue
        kept.append(cell)
    nb.cells = findings_first(kept)
    return nb


def _tags(cell: Any) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def findings_first(cells: list[Any]) -> list[Any]:
    """``cells`` with those tagged ``findings`` moved, in their order, right after the first
    Markdown cell (the title): a page opens with its findings though the notebook computes
    them last."""
    findings = [c for c in cells if FINDINGS_TAG in _tags(c)]
    rest = [c for c in cells if FINDINGS_TAG not in _tags(c)]
    title = next((i + 1 for i, c in enumerate(rest) if c.cell_type == "markdown"), 0)
    return rest[:title] + findings + rest[title:]


@lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="report",
        extra_template_basedirs=[str(template_dir())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )


def _has_plotly(nb: Any) -> bool:
    return any(
        PLOTLY_DIV in str(out.get("data", {}).get("text/html", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )


def export_html(nb: Any, html_path: Path, meta: Mapping[str, Any]) -> Path:
    """Write ``nb`` (an executed NotebookNode, changed in place) as a reader's HTML page.

    ``meta`` fills the page header: title, description, dataset, as_of, generated_at, run_id,
    fingerprint, package_version, index_href; ``assets_href`` is the page's link to the
    output folder's ``assets/`` (the shared style, and plotly.js when the page has charts;
    without it the style is inlined).
    """
    clean_for_readers(nb)
    meta = dict(meta)
    assets_href = meta.pop("assets_href", None)
    if assets_href:
        meta["lab_css"] = f"{assets_href}/{Path(lab_css_asset()).name}"
        if _has_plotly(nb):
            meta["plotly_js"] = f"{assets_href}/{Path(plotly_asset()).name}"
    nb.metadata["crm_report"] = {k: ("" if v is None else v) for k, v in meta.items()}
    nb.metadata["title"] = meta.get("title") or html_path.stem
    resources = {"metadata": {"name": nb.metadata["title"], "path": str(html_path.parent)}}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")
    return html_path


# --------------------------------------------------------------------------- manifests
def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


FIRST_DATASETS = ("demo", "cdnow")  # the default datasets lead the index


def _dataset_order(manifest_path: Path) -> tuple[int, str]:
    name = manifest_path.parent.name
    first = FIRST_DATASETS.index(name) if name in FIRST_DATASETS else len(FIRST_DATASETS)
    return first, name


def read_manifests(out: Path, datasets: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The published dataset manifests under ``out`` (``<dataset>/manifest.json``), of
    ``datasets`` only when given (the build passes the folders it owns)."""
    manifests = []
    wanted = None if datasets is None else set(datasets)
    for path in sorted(Path(out).glob(f"*/{MANIFEST}"), key=_dataset_order):
        name = path.parent.name
        if name.startswith((".", "_")) or (wanted is not None and name not in wanted):
            continue
        try:
            manifests.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return manifests


# --------------------------------------------------------------------------- index page
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def when(iso: str | None, zone: bool = False) -> str:
    """``2026-11-25T22:41:07+00:00`` -> ``2026-11-25 22:41`` (``zone``: ``... 22:41 UTC``)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return str(iso)
    text = moment.strftime("%Y-%m-%d %H:%M")
    if zone and moment.tzname():
        text += f" {moment.tzname()}"
    return text


_INDEX_CSS = """
:root { --ink:#1f2933; --muted:#5f6c7b; --accent:#1f5f8b; --rule:#e3e8ee; }
* { box-sizing: border-box; }
body { margin:0; background:#f4f6f8; color:var(--ink);
  font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; line-height:1.45; }
header { background:var(--accent); color:#fff; padding:1.5rem 2rem; }
header h1 { margin:0 0 .3rem 0; font-size:1.8rem; font-weight:600; }
header p { margin:0; opacity:.9; }
main { max-width:1150px; margin:0 auto; padding:1rem 2rem 3rem 2rem; }
section.dataset { margin-top:1.8rem; }
section.dataset h2 { font-size:1.35rem; margin:0 0 .2rem 0; }
section.dataset p.meta { color:var(--muted); margin:0 0 .8rem 0; font-size:.9rem; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(320px, 1fr)); gap:1rem; }
.card { background:#fff; border:1px solid var(--rule); border-radius:8px; padding:1rem 1.2rem;
  display:flex; flex-direction:column; box-shadow:0 1px 2px rgba(0,0,0,.04); }
.card h3 { margin:0 0 .35rem 0; font-size:1.1rem; }
.card h3 a { color:var(--accent); text-decoration:none; }
.card h3 a:hover { text-decoration:underline; }
.card p.desc { margin:0 0 .7rem 0; color:var(--muted); font-size:.9rem; }
.card dl.headlines { display:flex; flex-wrap:wrap; gap:.6rem 1.4rem; margin:0 0 .8rem 0; }
.card dl.headlines div { min-width:7rem; }
.card dl.headlines dt { font-size:.78rem; color:var(--muted); text-transform:uppercase;
  letter-spacing:.03em; }
.card dl.headlines dd { margin:0; font-size:1.35rem; font-weight:600; }
.card p.when, .card p.run { margin:.1rem 0; font-size:.8rem; color:var(--muted); }
.card p.run code { font-size:.78rem; }
.card a.open { margin-top:auto; padding-top:.6rem; color:var(--accent); font-weight:600;
  text-decoration:none; }
.card.na { background:#f0f1f3; border-style:dashed; color:#8a939e; box-shadow:none; }
.card.na h3 { color:#8a939e; }
.card.na p.reason { margin:0; font-size:.9rem; }
.card.failed { border-color:#d9822b; border-left:5px solid #d9822b; }
.card.failed p.reason { margin:0 0 .5rem 0; font-size:.9rem; color:#8a4b0f; }
.card.failed p.reason strong { color:#b3261e; }
.problems { background:#fff4e5; border:1px solid #d9822b; border-radius:8px;
  padding:.8rem 1.2rem; margin-top:1.2rem; }
.problems h2 { font-size:1.1rem; margin:0 0 .3rem 0; color:#b3261e; }
.problems ul { margin:0; padding-left:1.2rem; }
.empty { color:var(--muted); margin-top:2rem; }
footer { max-width:1150px; margin:0 auto 2rem auto; padding:0 2rem; color:var(--muted);
  font-size:.8rem; }
"""


def _card(entry: Mapping[str, Any], max_headlines: int = 3) -> str:
    title = _e(entry.get("title") or entry.get("slug"))
    desc = entry.get("description")
    desc_html = f'<p class="desc">{_e(desc)}</p>' if desc else ""
    if entry.get("status") == STATUS_FAILED:
        good = entry.get("last_good") or {}
        if good.get("html"):
            href = _e(good["html"])
            last = (
                f'<p class="when">Showing the last good version, generated '
                f"{_e(when(good.get('generated_at'), zone=True))} (data as of "
                f"{_e(good.get('as_of') or 'n/a')})</p>"
                f'<a class="open" href="{href}">Open the last good version →</a>'
            )
        else:
            last = '<p class="when">No earlier version of this report exists.</p>'
        return (
            f'<article class="card failed" data-slug="{_e(entry.get("slug"))}">'
            f"<h3>{title}</h3>{desc_html}"
            f'<p class="reason"><strong>Failed in the build of '
            f"{_e(when(entry.get('generated_at'), zone=True))}:</strong> "
            f"{_e(entry.get('reason'))}</p>{last}</article>"
        )
    if entry.get("status") != STATUS_OK:
        return (
            f'<article class="card na" data-slug="{_e(entry.get("slug"))}">'
            f"<h3>{title}</h3>{desc_html}"
            f'<p class="reason">Not applicable: {_e(entry.get("reason"))}</p></article>'
        )
    href = _e(entry.get("html_href") or entry.get("html"))
    items = "".join(
        f"<div><dt>{_e(h.get('label'))}</dt><dd>{_e(h.get('display'))}</dd></div>"
        for h in (entry.get("headlines") or [])[:max_headlines]
    )
    headlines = f'<dl class="headlines">{items}</dl>' if items else ""
    run_id = entry.get("mlflow_run_id")
    run = f'<p class="run">MLflow run <code>{_e(run_id)}</code></p>' if run_id else ""
    return (
        f'<article class="card ok" data-slug="{_e(entry.get("slug"))}">'
        f'<h3><a href="{href}">{title}</a></h3>{desc_html}{headlines}'
        f'<p class="when">Data as of {_e(entry.get("as_of") or "n/a")} · generated '
        f"{_e(when(entry.get('generated_at'), zone=True))}</p>{run}"
        f'<a class="open" href="{href}">Open report →</a></article>'
    )


def render_index(
    manifests: Iterable[Mapping[str, Any]],
    generated_at: str | None = None,
    problems: Iterable[str] = (),
) -> str:
    """The self-contained ``index.html`` (no scripts) listing every report of every dataset,
    led by the last build's ``problems`` (datasets that could not be loaded)."""
    generated_at = generated_at or datetime.now().astimezone().isoformat(timespec="seconds")
    sections = []
    problems = list(problems)
    if problems:
        items = "".join(f"<li>{_e(p)}</li>" for p in problems)
        sections.append(
            '<section class="problems"><h2>The last build had problems</h2>'
            f"<ul>{items}</ul><p>Reports below for these datasets, if any, are from earlier "
            "builds.</p></section>"
        )
    for manifest in manifests:
        name = manifest.get("dataset", "?")
        entries = manifest.get("reports", [])
        ok = sum(1 for r in entries if r.get("status") == STATUS_OK)
        failed = sum(1 for r in entries if r.get("status") == STATUS_FAILED)
        meta = [f"{ok} report{'s' if ok != 1 else ''}"]
        if failed:
            meta.append(f"<strong>{failed} failed</strong>")
        if manifest.get("as_of"):
            meta.append(f"data as of {_e(manifest['as_of'])}")
        if manifest.get("built_at"):
            meta.append(f"built {_e(when(manifest['built_at']))}")
        if manifest.get("fingerprint"):
            meta.append(f"data fingerprint <code>{_e(manifest['fingerprint'][:12])}</code>")
        cards = "".join(_card(entry) for entry in entries)
        sections.append(
            f'<section class="dataset" id="{_e(name)}"><h2>Dataset: {_e(name)}</h2>'
            f'<p class="meta">{" · ".join(meta)}</p><div class="cards">{cards}</div></section>'
        )
    body = "".join(sections) or '<p class="empty">No reports have been built yet.</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>CRM reports</title><style>{_INDEX_CSS}</style></head><body>"
        "<header><h1>CRM reports</h1>"
        f"<p>Customer analytics for the marketing team · index updated {_e(when(generated_at))}"
        "</p></header>"
        f"<main>{body}</main>"
        "<footer>Every report is an MLflow run (the id on each card); analysts can open them "
        "with <code>mlflow ui</code>. Reports are regenerated by "
        "<code>crm-models reports build</code>.</footer>"
        "</body></html>\n"
    )


def write_index(
    out: Path,
    datasets: Iterable[str] | None = None,
    problems: Iterable[str] = (),
    tmp_dir: Path | None = None,
) -> Path:
    """Regenerate ``<out>/index.html`` from the published manifests (of ``datasets`` when
    given), written in ``tmp_dir`` (default ``out``) and renamed into place."""
    out = Path(out)
    path = out / INDEX
    tmp = Path(tmp_dir or out) / f".{INDEX}.{os.getpid()}.tmp"
    tmp.write_text(render_index(read_manifests(out, datasets), problems=problems), encoding="utf-8")
    os.replace(tmp, path)
    return path


def export_site(reports: str | os.PathLike[str], site: str | os.PathLike[str]) -> list[Path]:
    """Copy what readers may see into ``site``: the index, every report page it links to and
    the shared files (plotly.js) those pages load.

    Executed notebooks, run records and customer-level tables (``tables/*.csv``) stay in the
    build's folder, for analysts only.  ``site`` must not exist or be empty (nothing is
    overwritten).  Returns the files written.
    """
    import shutil

    reports, site = Path(reports).resolve(), Path(site).resolve()
    if not (reports / INDEX).is_file():
        raise FileNotFoundError(f"{reports} has no {INDEX}: run `crm-models reports build` first")
    if site.exists() and (not site.is_dir() or any(site.iterdir())):
        raise FileExistsError(f"{site} exists and is not an empty folder; name a new folder")
    pages = {INDEX}
    for manifest in read_manifests(reports):
        for entry in manifest.get("reports", []):
            good = entry if entry.get("status") == STATUS_OK else entry.get("last_good") or {}
            if good.get("html"):
                pages.add(str(good["html"]))
    pages = {
        (reports / rel).resolve()
        for rel in pages
        if (reports / rel).resolve().is_relative_to(reports) and rel.endswith(".html")
    }
    assets = {
        (page.parent / link.group(2)).resolve()
        for page in pages
        if page.is_file()
        for link in _SHARED_LINK.finditer(page.read_text(encoding="utf-8"))
    }
    written = []
    for src in sorted(pages | assets):
        if not src.is_file() or not src.is_relative_to(reports):
            continue
        target = site / src.relative_to(reports)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        written.append(target)
    return written

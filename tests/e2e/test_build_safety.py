"""Safety of ``reports build`` (issue 13): it writes and deletes only what it wrote, refuses
folders that cannot be a report folder and parameters it owns, ends MLflow runs truthfully,
leaves nothing behind after a kill, and publishes only pages to a site.

Fixture notebooks (``fixtures/``) and the stand-in loader keep the builds small and fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crm_models.cli import main
from crm_models.reporting import BuildError, Report, build_reports
from crm_models.reporting.kernels import runtime_root
from crm_models.reporting.ownership import OWNED_FILE
from crm_models.reporting.publish import export_site, shared_assets

FIXTURES = Path(__file__).parent / "fixtures"
SALES = Report("sales", "10_fixture_sales.py", "Fixture sales", ("transactions",), "")
SLOW = Report("slow", "30_fixture_slow.py", "Fixture slow", ("transactions",), "")
UNSUPPORTED = Report(
    "unsupported", "40_fixture_unsupported.py", "Fixture unsupported", ("transactions",), ""
)


def _build(out: Path, fixture_data, reports=(SALES,), datasets=("alpha",), **kwargs):
    return build_reports(
        list(datasets),
        out=out,
        notebooks=FIXTURES,
        reports=list(reports),
        loader=fixture_data.load,
        quick=True,
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory, tracking_store, fixture_data) -> Path:
    """A folder with alpha's sales report published by a build."""
    out = tmp_path_factory.mktemp("published") / "reports"
    _build(out, fixture_data)
    return out


def _copy(published: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "reports"
    shutil.copytree(published, out, symlinks=True)
    return out


# --------------------------------------------------------------------------- finding 2
def test_a_foreign_file_in_the_way_is_named_and_kept(tmp_path, tracking_store, fixture_data):
    out = tmp_path / "reports"
    precious = out / "alpha" / "important.txt"
    precious.parent.mkdir(parents=True)
    precious.write_text("the only copy")
    with pytest.raises(BuildError, match=r"did not write.*alpha/important\.txt"):
        _build(out, fixture_data)
    assert precious.read_text() == "the only copy"
    assert not (out / "index.html").exists() and not (out / "alpha" / "sales.html").exists()


def test_files_added_to_a_published_folder_are_not_deleted(published, tmp_path, fixture_data):
    out = _copy(published, tmp_path)
    notes = out / "alpha" / "sales" / "my-notes.txt"
    notes.write_text("mine")
    before = (out / "alpha" / "sales.html").read_bytes()
    with pytest.raises(BuildError, match=r"alpha/sales/my-notes\.txt"):
        _build(out, fixture_data)
    assert notes.read_text() == "mine"
    assert (out / "alpha" / "sales.html").read_bytes() == before


def test_user_files_beside_the_reports_survive_a_build(published, tmp_path, fixture_data):
    out = _copy(published, tmp_path)
    mine = {
        out / ".staging-mine" / "draft.txt": "draft",
        out / ".notes.tmp": "tmp notes",
        out / "other" / "file.txt": "other",
        out / "_failed" / "alpha" / "old.ipynb": "{}",
    }
    for path, text in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _build(out, fixture_data)
    assert all(path.read_text() == text for path, text in mine.items())
    index = (out / "index.html").read_text()
    assert "Dataset: alpha" in index and "Dataset: other" not in index


def test_a_foreign_index_page_is_not_overwritten(tmp_path, fixture_data):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<html>the team's own page</html>")
    with pytest.raises(BuildError, match=r"index\.html"):
        _build(out, fixture_data)
    assert (out / "index.html").read_text() == "<html>the team's own page</html>"


@pytest.mark.parametrize("where", ["root", "home", "git"])
def test_out_that_cannot_be_a_report_folder_is_refused(where, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    out = {"root": Path("/"), "home": home, "git": tmp_path / "repo"}[where]
    if where == "git":
        (out / ".git").mkdir(parents=True)
    before = sorted(p.name for p in out.iterdir())
    code = main(["reports", "build", "--dataset", "demo", "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert {"root": "root folder", "home": "home folder", "git": ".git"}[where] in err
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_build_created_by_an_older_version_is_adopted(published, tmp_path, fixture_data):
    """Folders an older crm-models wrote (no ownership record) are recognised by their layout;
    a stranger's file in them still stops the build."""
    out = _copy(published, tmp_path)
    (out / OWNED_FILE).unlink()
    _build(out, fixture_data)
    assert "alpha/sales.html" in json.loads((out / OWNED_FILE).read_text())["files"]
    (out / OWNED_FILE).unlink()
    (out / "alpha" / "extra.csv").write_text("a,b\n")
    with pytest.raises(BuildError, match=r"alpha/extra\.csv"):
        _build(out, fixture_data)
    assert (out / "alpha" / "extra.csv").exists()


# --------------------------------------------------------------------------- finding 6
@pytest.mark.parametrize(
    "param, option",
    [
        ("output_dir=/tmp/elsewhere", "--out"),
        ("dataset=cdnow_sample", "--dataset"),
        ("mlflow_experiment=other", "the dataset name"),
        ("quick=true", "--quick"),
    ],
)
def test_build_owned_parameters_cannot_be_set(param, option, tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["reports", "build", "--dataset", "demo", "-p", param, "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"-p {param.split('=')[0]}: set by the build itself (use {option})" in err
    assert not out.exists()


def test_an_unknown_parameter_is_refused(tmp_path, fixture_data):
    with pytest.raises(BuildError, match=r"-p horizn: no report being built has such"):
        _build(tmp_path / "reports", fixture_data, params={"horizn": 26})


# --------------------------------------------------------------------------- finding 5
def test_data_a_report_cannot_handle_is_said_in_plain_words(published, tmp_path, fixture_data):
    out = _copy(published, tmp_path)
    result = _build(out, fixture_data, reports=(SALES, UNSUPPORTED))
    assert [e.slug for e in result.published] == ["sales"]
    [na] = result.not_applicable
    assert na.reason.startswith("The campaigns have no control group")
    index = (out / "index.html").read_text()
    assert "Not applicable: The campaigns have no control group" in index
    assert "UnsupportedData" not in index and "Traceback" not in index
    assert not (out / "alpha" / "unsupported.html").exists()


# --------------------------------------------------------------------------- finding 7
_KILLED_BUILD = """
import sys
sys.path.insert(0, {fixtures!r})
from fixture_data import load
from crm_models.reporting import Report, build_reports
reports = [Report("sales", "10_fixture_sales.py", "Fixture sales", ("transactions",), ""),
           Report("slow", "30_fixture_slow.py", "Fixture slow", ("transactions",), "")]
build_reports(["alpha"], out={out!r}, notebooks={fixtures!r}, reports=reports, loader=load,
              quick=True, progress=False)
"""


def _snapshot(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).parts[0].startswith(".crm-models-")
    }


def test_a_killed_build_leaves_no_finished_run_and_is_cleaned_up(
    published, tmp_path, tracking_store, fixture_data
):
    import mlflow

    out = _copy(published, tmp_path)
    before = _snapshot(out)
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(_KILLED_BUILD).format(fixtures=str(FIXTURES), out=str(out)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        start_new_session=True,  # the whole job (build and kernel) is killed, as by a scheduler
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob(".crm-models-staging-*/alpha/slow/started")):
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the slow report never started"
            time.sleep(0.2)
        kernel_dirs = list(runtime_root().glob(f"{proc.pid}-*"))
        assert kernel_dirs, "the kernel's files are not in the build's kernel folder"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _snapshot(out) == before, "a killed build changed published reports"
    runs = mlflow.search_runs(experiment_names=["crm-models/alpha"])
    killed = runs[runs["tags.crm_models.build_pid"] == str(proc.pid)]
    assert list(killed["status"]) == ["RUNNING"], "unpublished report recorded as FINISHED"

    _build(out, fixture_data)  # the next build cleans up
    runs = mlflow.search_runs(experiment_names=["crm-models/alpha"])
    killed = runs[runs["tags.crm_models.build_pid"] == str(proc.pid)]
    assert list(killed["status"]) == ["KILLED"]
    assert list(killed["tags.crm_models.published"]) == ["no"]
    assert not any(d.exists() for d in kernel_dirs), "kernel files of the killed build remain"
    assert not list(out.glob(".crm-models-staging-*"))
    assert json.loads((out / OWNED_FILE).read_text())["staging"] == []
    published_run = json.loads((out / "alpha" / "manifest.json").read_text())["runs"][0]
    assert mlflow.get_run(published_run).info.status == "FINISHED"


# --------------------------------------------------------------------------- finding 9
_STORE_BUILD = """
import sys
sys.path.insert(0, {fixtures!r})
from fixture_data import load
from crm_models.reporting import Report, build_reports
report = Report("sales", "10_fixture_sales.py", "Fixture sales", ("transactions",), "")
build_reports(["alpha"], out=sys.argv[1], notebooks={fixtures!r}, reports=[report],
              loader=load, quick=True, progress=False)
"""


_RACE = """
import sys, time
import mlflow  # imported before the start line, so that the processes really race
from crm_models.reporting.tracking import ensure_experiment
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
ensure_experiment("crm-models/race", sys.argv[1])
"""


def test_processes_racing_on_a_new_tracking_store_all_succeed(tmp_path):
    """Without the lock, 4 processes creating one new SQLite store fail (alembic: 'table ...
    already exists', 'Online migration expected to match one row'), seen 3 times in 3."""
    script = tmp_path / "race.py"
    script.write_text(_RACE)
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    start = str(time.time() + 8)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-800:] for _, err in outputs]


def test_two_builds_start_together_on_a_new_tracking_store(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(_STORE_BUILD).format(fixtures=str(FIXTURES)))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}",
        "CRM_MODELS_TRACKING": "on",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / f"out{i}")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    for i in range(2):
        manifest = json.loads((tmp_path / f"out{i}" / "alpha" / "manifest.json").read_text())
        assert manifest["reports"][0]["mlflow_run_id"]


# --------------------------------------------------------------------------- finding 8
def test_the_site_holds_only_pages_for_readers(published, tmp_path, capsys):
    site = tmp_path / "site"
    code = main(["reports", "site", "--reports", str(published), "--out", str(site), "--json"])
    assert code == 0, capsys.readouterr().err
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert files == sorted(["alpha/sales.html", "index.html", *shared_assets()])
    assert (published / "alpha" / "_notebooks").is_dir()  # still there for analysts
    with pytest.raises(FileExistsError):
        export_site(published, site)


def test_the_scheduled_build_example_publishes_only_the_site():
    workflow = (Path(__file__).parents[2] / ".github" / "workflows" / "reports.yml").read_text()
    assert "crm-models reports site" in workflow
    uploads = [
        line.split("path:", 1)[1].strip()
        for line in workflow.splitlines()
        if line.strip().startswith("path:")
    ]
    assert uploads == ["_site/"], uploads
    assert "mlruns" not in workflow.split("reports site", 1)[1]


def test_a_kernel_that_cannot_start_fails_its_reports_not_the_build(tmp_path, fixture_data):
    """The kernels started ahead and the report's own: a kernel that cannot start is a failed
    report with the reason, the other reports' bookkeeping intact, no kernel folder left."""
    from crm_models.reporting import ReportsFailed

    before = set(runtime_root().glob(f"{os.getpid()}-*"))
    with pytest.raises(ReportsFailed) as failed:
        _build(tmp_path / "reports", fixture_data, kernel_name="no-such-kernel")
    assert [e.slug for e in failed.value.result.failed] == ["sales"]
    assert "NoSuchKernel" in str(failed.value)
    assert set(runtime_root().glob(f"{os.getpid()}-*")) == before

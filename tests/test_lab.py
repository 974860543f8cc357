"""JupyterLab: saving a notebook keeps its file as committed; `make lab` starts (as root too);
`make mlflow-ui` serves the store MLFLOW_TRACKING_URI names."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def _save_as_lab_does(root: Path, path: str) -> None:
    """Open and save ``root/path`` the way JupyterLab does: through the jupytext contents
    manager that the jupyterlab_jupytext server extension derives from jupyter_server's default
    (AsyncLargeFileManager), after the kernel has set kernelspec and language_info."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(root))

    async def open_and_save() -> None:
        model = await manager.get(path, content=True, type="notebook")
        meta = model["content"]["metadata"]
        name = meta["kernelspec"]["name"]
        spec = KernelSpecManager().get_kernel_spec(name)
        meta["kernelspec"] = {
            "name": name,
            "display_name": spec.display_name,
            "language": spec.language,
        }
        meta["language_info"] = dict(IPythonKernel.language_info)
        await manager.save(
            {"type": "notebook", "format": "json", "content": model["content"]}, path
        )

    asyncio.run(open_and_save())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_saving_a_notebook_in_lab_leaves_the_file_unchanged(tmp_path, notebook):
    """The first save in Lab used to rewrite each header (+8/-4 lines); with jupytext.toml at
    Lab's root (the project folder) the saved file is byte-identical."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    copy = tmp_path / "notebooks" / notebook.name
    shutil.copy(notebook, copy)
    _save_as_lab_does(tmp_path, f"notebooks/{notebook.name}")
    saved, committed = copy.read_text(), notebook.read_text()
    assert saved == committed, (
        f"saving {notebook.name} in JupyterLab rewrites it; put its header in jupytext's form "
        "(open and save it once through jupytext with jupytext.toml). Saved header:\n"
        + saved.split("# ---", 2)[1]
    )


def test_jupytext_toml_gives_a_new_notebook_the_committed_header(tmp_path):
    """A notebook whose header lacks the metadata filter (a new report written by hand) gets it
    from jupytext.toml on its first save: crm_report kept, no jupytext version recorded."""
    notebook = NOTEBOOKS[-1]
    committed = notebook.read_text()
    filter_line = next(
        line for line in committed.splitlines() if "notebook_metadata_filter:" in line
    )
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    copy = tmp_path / "notebooks" / notebook.name
    copy.write_text(committed.replace(filter_line + "\n", "", 1))
    _save_as_lab_does(tmp_path, f"notebooks/{notebook.name}")
    assert copy.read_text() == committed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _dry_run_or_skip(target: str, variable: str, port: int) -> str:
    """``make -n <target> <variable>=<port>``'s commands; skip when the tests do not run in the
    project's up-to-date .venv (the target would reinstall it) or make is missing."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip(
            f"`make {target}` runs the project's .venv; run the tests with .venv/bin/python"
        )
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry_run = subprocess.run(
        ["make", "-n", target, f"{variable}={port}"], cwd=ROOT, capture_output=True, text=True
    )
    if "pip install" in dry_run.stdout:
        pytest.skip("the .venv is out of date with pyproject.toml/constraints.txt: run make first")
    return dry_run.stdout


@pytest.mark.slow
def test_make_lab_starts_with_the_crm_models_kernel(tmp_path):
    """`make lab` as the current user (root here): listens on 127.0.0.1, prints its token, lists
    the crm-models kernel (installed into the venv) and stops cleanly on SIGTERM."""
    port = _free_port()
    _dry_run_or_skip("lab", "LAB_PORT", port)
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("JUPYTER_TOKEN", None)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "lab", f"LAB_PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, jupyter lab, kernels
        )
    try:
        token, specs, deadline = None, None, time.monotonic() + 120
        while specs is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            found = re.search(
                rf"http://127\.0\.0\.1:{port}/\S*\?token=([0-9a-f]+)", log.read_text()
            )
            if found is None:
                continue
            token = found.group(1)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/kernelspecs",
                headers={"Authorization": f"token {token}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    specs = json.load(response)["kernelspecs"]
            except OSError:
                continue
        assert specs is not None, (
            f"JupyterLab did not answer on 127.0.0.1:{port}:\n{log.read_text()}"
        )
        assert "crm-models" in specs, f"no crm-models kernel among {sorted(specs)}"
        spec = specs["crm-models"]["spec"]
        assert spec["display_name"] == "crm-models"
        assert Path(spec["argv"][0]).parent.resolve() == (ROOT / ".venv" / "bin").resolve()
        kernel_json = Path(sys.prefix) / "share/jupyter/kernels/crm-models/kernel.json"
        assert kernel_json.is_file(), "the kernel is not installed into the venv"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
            stopped_by_sigterm = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            stopped_by_sigterm = False
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stopped_by_sigterm, f"JupyterLab ignored SIGTERM:\n{log.read_text()}"
    assert not _group_alive(proc.pid), "processes of `make lab` outlived it"


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.slow
def test_make_mlflow_ui_serves_the_store_mlflow_tracking_uri_names(tmp_path):
    """`make mlflow-ui` honours MLFLOW_TRACKING_URI (it used to serve mlruns/ regardless), on
    127.0.0.1 with one worker."""
    from mlflow import MlflowClient

    port = _free_port()
    commands = _dry_run_or_skip("mlflow-ui", "MLFLOW_PORT", port)
    assert "--workers 1" in commands and "--host 127.0.0.1" in commands
    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    (tmp_path / "elsewhere").mkdir()
    MlflowClient(tracking_uri=uri).create_experiment(
        "crm-models/probe", artifact_location=(tmp_path / "elsewhere" / "artifacts").as_uri()
    )
    log = tmp_path / "ui.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "mlflow-ui", f"MLFLOW_PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        names, deadline = None, time.monotonic() + 180
        while names is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
            url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=50"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    names = {e["name"] for e in json.load(response)["experiments"]}
            except OSError:
                continue
        assert names is not None, f"the MLflow UI did not answer:\n{log.read_text()}"
        assert "crm-models/probe" in names, f"it serves another store: {sorted(names)}"
    finally:
        _stop_group(proc)

"""The build's log while reports run: each kernel reads the build's snapshot, slow notebook
steps are named by their section, and a kernel's own progress lines reach the log."""

from __future__ import annotations

import re
import threading
import time

import nbformat
import pytest

from crm_models.reporting import build
from crm_models.reporting.kernels import follow_progress


def test_sections_name_each_code_cell_as_the_kernel_counts_them():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("# Title\n\nwords"),
        nbformat.v4.new_code_cell("y = 2"),
        nbformat.v4.new_markdown_cell("## Who responds"),
        nbformat.v4.new_code_cell("z = 3"),
        nbformat.v4.new_code_cell("w = 4"),
    ]
    # Papermill's injected cell follows the parameters cell
    assert build._sections(nb, 0) == [
        "start",
        "parameters",
        "Title",
        "Who responds",
        "Who responds",
    ]
    assert build._sections(nb, -1)[:2] == ["parameters", "start"]


def test_only_slow_steps_and_the_kernels_own_lines_reach_the_log():
    said: list[str] = []
    tell = build._progress_teller(said.append, "shop/targeting", ["start", "parameters", "Fit"])
    tell("cell 3 done (2.0 s)")
    tell(f"cell 3 done ({build.SLOW_STEP_S + 5:.1f} s)")
    tell("comparing models: 2 of 8 done, about 30 s left")
    assert said == [
        f"shop/targeting: step 3 of 3 (Fit) took {build.SLOW_STEP_S + 5:.0f} s",
        "shop/targeting: comparing models: 2 of 8 done, about 30 s left",
    ]


def test_every_line_the_kernel_writes_is_passed_on_the_last_ones_included(tmp_path):
    path, said = tmp_path / "progress.log", []

    def kernel():
        with path.open("a") as log:
            for i in range(50):
                log.write(f"line {i}\n")
                log.flush()
                time.sleep(0.002)
            log.write("half a li")  # an unfinished line is not passed on

    with follow_progress(path, said.append, every=0.01):
        writer = threading.Thread(target=kernel)
        writer.start()
        writer.join()
    assert said == [f"line {i}" for i in range(50)]


@pytest.mark.slow
def test_a_real_build_reads_the_snapshot_and_names_slow_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(build, "SLOW_STEP_S", 0.0)  # every step counts as slow here
    out = tmp_path / "reports"
    build.build_reports(["cdnow_sample"], only=["customer_base"], out=out, quick=True)
    log = capsys.readouterr().err
    assert "cdnow_sample/customer_base: running" in log
    assert "cdnow_sample/customer_base: data read from the build's snapshot" in log
    assert re.search(r"cdnow_sample/customer_base: step \d+ of \d+ \(.+\) took \d+ s", log), log
    assert not list(out.rglob(build.SNAPSHOT_DIR))  # the snapshot goes with the staging folder

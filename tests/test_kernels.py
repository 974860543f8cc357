"""Kernels started ahead of their notebook (crm_models.reporting.kernels): a real ipykernel."""

from __future__ import annotations

import json
import os
import time

import nbformat
import papermill

from crm_models.progress import PROGRESS_LOG_ENV
from crm_models.reporting.kernels import start_kernel, stop_kernel, warm_up_code


def test_warm_up_code_runs_only_the_imports_once_each():
    code = warm_up_code(
        [
            "import json\nx = 1\nfrom pathlib import Path",
            "def broken(:\n",  # a cell that does not parse is skipped
            "import json\nif x:\n    import csv",  # nested imports are not top-level
        ]
    )
    namespace: dict = {}
    exec(code, namespace)
    assert "x" not in namespace and "json" not in namespace  # run in a throwaway namespace
    assert code.count("import json") == 1 and "import csv" not in code
    assert "from pathlib import Path" in code
    assert warm_up_code(["x = 1"]) == ""
    exec(warm_up_code(["import not_a_module_anywhere"]), {})  # a failing import is ignored


def test_a_kernel_started_ahead_has_imported_and_starts_clean(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, os, sys\n"
            "print(json.dumps({'warm': 'decimal' in sys.modules, 'cwd': os.getcwd(),\n"
            "    'env': os.environ.get('CRM_TEST_SETTING'),\n"
            f"    'progress': os.environ.get('{PROGRESS_LOG_ENV}'),\n"
            "    'names': sorted(k for k in globals() if not k.startswith('_'))}))"
        ),
    ]
    kernel = start_kernel(
        "python3", tmp_path, {"CRM_TEST_SETTING": "on"}, warm_up_code(["import decimal"])
    )
    assert kernel.folder.is_dir()
    time.sleep(1)
    try:
        out = papermill.execute_notebook(
            nb,
            str(tmp_path / "out.ipynb"),
            parameters={"x": 2},
            progress_bar=False,
            km=kernel.manager,
        )
        pid = kernel.manager.provisioner.pid
    finally:
        stop_kernel(kernel)
    seen = json.loads(out.cells[-1].outputs[0]["text"])
    assert seen["warm"] is True  # imported before the notebook asked
    assert "decimal" not in seen["names"]  # ... without a name in the notebook's namespace
    assert seen["cwd"] == str(tmp_path) and seen["env"] == "on"
    assert seen["progress"] == str(kernel.progress)
    assert not kernel.folder.exists()
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive

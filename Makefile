# The two commands: `make reports` (set up + regenerate every report) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstalls when pyproject.toml or constraints.txt (the tested versions) changes.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
KERNEL := $(VENV)/share/jupyter/kernels/crm-models/kernel.json
LAB_PORT ?= 8888
MLFLOW_PORT ?= 5000

.PHONY: reports test test-fast lint format lab mlflow-ui constraints browser postgres java bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

reports: $(STAMP)
	$(BIN)/crm-models reports build

test: $(STAMP) browser postgres java
	$(BIN)/python -m pytest

# The inner loop: unit tests only (no notebook builds, browser, Spark or PostgreSQL).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks notebooks scripts
	$(BIN)/ruff format --check src tests benchmarks notebooks scripts

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks notebooks scripts
	$(BIN)/ruff check --fix src tests benchmarks notebooks scripts

# The project's Jupyter kernel, installed into the venv (share/jupyter/kernels/crm-models).
$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name crm-models --display-name crm-models

# JupyterLab on this machine only, for root too (a container's user): open the printed URL with
# its token. Lab's root is the project folder (make runs here), so Lab reads jupytext.toml;
# it opens on notebooks/. `make lab LAB_PORT=8890` for another port.
lab: $(KERNEL)
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --no-browser --allow-root \
	  --LabApp.default_url=/lab/tree/notebooks

# The MLflow store the reports write to (MLFLOW_TRACKING_URI if set, else mlruns/mlflow.db: the
# package's tracking_uri() decides), on this machine only, with one worker (two cores) and
# without MLflow's job runner (GenAI jobs; seven more processes, 1.4 GB) unless asked for.
mlflow-ui: $(STAMP)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false} \
	  $(BIN)/mlflow ui --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1 --backend-store-uri \
	  "$$($(BIN)/python -c 'from crm_models.reporting.tracking import prepare_store; print(prepare_store())')"

# Re-resolve pyproject.toml's dependencies to today's newest versions in a throwaway venv and
# write them to constraints.txt; then run `make test` and commit the file.
constraints:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PYTHON) -m venv "$$tmp" && \
	  "$$tmp/bin/python" -m pip install --quiet --upgrade pip && \
	  "$$tmp/bin/python" -m pip install --quiet -e '.[dev]' && \
	  { sed -n '/^#/p' constraints.txt; "$$tmp/bin/python" -m pip freeze --exclude-editable; } > "$$tmp/new" && \
	  mv "$$tmp/new" constraints.txt && echo "constraints.txt refreshed; now run make test"

# Headless Chromium for the report rendering test (Debian package; needs root and apt).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) ; } || \
	  echo "note: /usr/bin/chromium missing and not installable here; the browser test will be skipped"

# PostgreSQL server binaries for the database-source tests, which start their own throwaway
# server (Debian package; needs root and apt).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -q postgresql >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null)) ; } || \
	  echo "note: PostgreSQL server (initdb) missing and not installable here; the database tests will be skipped"

# Java for the Spark engine tests (PySpark runs Spark on the JVM; Debian package, root and apt).
java:
	@command -v java >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -q default-jre-headless >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q default-jre-headless >/dev/null)) ; } || \
	  echo "note: java missing and not installable here; the Spark engine tests will be skipped"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_customer_view.py

clean:
	rm -rf $(VENV) reports/*/ reports/index.html reports/.crm-models-*

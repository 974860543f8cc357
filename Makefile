# The two commands: `make reports` (set up + regenerate every report) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: reports test test-fast lint format lab mlflow-ui browser postgres java bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db

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

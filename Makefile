# The two commands that matter: `make demo` and `make test`. Every target depends on `setup`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= .data/demo
SCALE ?= 2000
# `make bench SCALE=N CHURN=x`: SCALE given on the command line, else 100,000 Leads for the benchmark.
BENCH_SCALE = $(if $(filter command line,$(origin SCALE)),$(SCALE),100000)
CHURN ?= 0.01
DEV_DATA ?= .data/dev
TEST_WORKERS ?= 2
# The committed Dagster instance of `make dev` and `make sync` (.dagster/dagster.yaml: the one-writer pool for
# DuckDB); their runs and schedule ticks are kept there.
INSTANCE := $(CURDIR)/.dagster

.PHONY: setup demo test lint format sandbox bench clean dev sync trace doctor sql docs setup-org browser

setup: $(STAMP)

# Reinstall only when the pins change: a second `make setup` is a no-op.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	chmod +x $(BIN)/duckdb  # duckdb-cli's wheel carries the shell without its execute bit
	touch $(STAMP)

# Two workers by test file (module fixtures stay in one process): the suite waits on sandboxes, dbt and Dagster
# as much as it computes, so two overlap well even on two cores.
# The browser tests (marker `browser`) need Debian's chromium: `make browser` installs it, run first only when it
# is missing.
test: setup $(if $(shell command -v chromium),,browser)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

browser:
	sh tests/browser/install_chromium.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Serve both sandboxes in the foreground (Ctrl-C stops them); coordinates in $(DATA)/sandbox.env. BARE_ORG=1: an
# org as `make setup-org` finds a real one (first start of the data dir).
sandbox: setup
	$(BIN)/python -m sandbox serve --data-dir $(DATA) --scale $(SCALE) $(if $(BARE_ORG),--bare-org)

demo: setup
	SFACTON_VERBOSE=$(VERBOSE) $(BIN)/python -m orchestration.demo --data-dir $(DATA) --scale $(SCALE)

# UI + daemon (schedules really run) against the sandboxes: serve them in the background, wait for their
# coordinates, load them, then `dg dev`; Ctrl-C stops both. $(DEV_DATA)/dev.env holds the sandbox coordinates
# plus this setup's warehouse and token cache, for `make sync ENV_FILE=$(DEV_DATA)/dev.env`.
dev: setup
	mkdir -p $(DEV_DATA)
	rm -f $(DEV_DATA)/sandbox.env
	$(BIN)/python -m sandbox serve --data-dir $(DEV_DATA) --scale $(SCALE) >> $(DEV_DATA)/sandbox.log 2>&1 & \
	sandbox=$$!; trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	while [ ! -f $(DEV_DATA)/sandbox.env ]; do \
	  kill -0 $$sandbox 2>/dev/null || { tail -20 $(DEV_DATA)/sandbox.log; exit 1; }; sleep 1; \
	done; \
	{ cat $(DEV_DATA)/sandbox.env; \
	  echo WAREHOUSE_PATH=$(CURDIR)/$(DEV_DATA)/warehouse.duckdb; \
	  echo TOKEN_CACHE_PATH=$(CURDIR)/$(DEV_DATA)/tokens.json; } > $(DEV_DATA)/dev.env; \
	set -a; . $(DEV_DATA)/dev.env; set +a; \
	$(BIN)/python -m orchestration.instance $(INSTANCE) && \
	PATH=$(CURDIR)/$(BIN):$$PATH DAGSTER_HOME=$(INSTANCE) $(BIN)/dg dev

# Run sync_job once against whatever environment is loaded (a real org's variables, or ENV_FILE=<file> first), as
# `dagster job execute` runs it: one line per step here, everything else in .dagster/logs/ (VERBOSE=1: all here).
sync: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	DAGSTER_HOME=$(INSTANCE) SFACTON_VERBOSE=$(VERBOSE) $(BIN)/python -m orchestration.progress sync_job

# The duckdb shell on the analysts' read-only copy of the marts: the demo's (DATA=...), or a real setup's with
# ENV_FILE=<file>; `make sql ARGS="-c 'select 1'"` runs one statement. Queries to start from: docs/queries.md.
sql: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	$(BIN)/python -m analytics.sql --data-dir $(DATA) -- $(ARGS)

# dbt's catalogue (models, columns, lineage, exposures), the marts' column types read from the analysts' read-only
# copy as `make sql` finds it (DATA=..., or ENV_FILE=<file>), served on PORT (default 8080); never opens the warehouse.
docs: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	$(BIN)/python -m analytics.catalogue --data-dir $(DATA) --port $(or $(PORT),8080)

# One person's journey through both systems and the sync: make trace Q=<email or Salesforce Id>
trace: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	$(BIN)/python -m health.trace "$(Q)"

# Refresh both systems (extract and dbt, no write-back), run every check, exit non-zero on a failure; freshness
# is judged from the instance the scheduled runs record in (ENV_FILE as for `make sync`).
doctor: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	DAGSTER_HOME=$${DAGSTER_HOME:-$(INSTANCE)} $(BIN)/python -m orchestration.doctor

# Create what the sync needs in the org (custom fields, the permission set of the integration user) as its
# administrator: SALESFORCE_ADMIN_USERNAME / SALESFORCE_ADMIN_PASSWORD, else asked. A dry run unless APPLY=1;
# INTEGRATION_USER=<Username> when SALESFORCE_USERNAME does not name it (client credentials flow).
setup-org: setup
	set -a; if [ -n "$(ENV_FILE)" ]; then . $(ENV_FILE); fi; set +a; \
	$(BIN)/python -m health.org_setup $(if $(APPLY),--apply) \
	  $(if $(INTEGRATION_USER),--integration-user "$(INTEGRATION_USER)")

bench: setup
	$(BIN)/python -m benchmarks.run --scale $(BENCH_SCALE) --churn $(CHURN) $(if $(PROFILE),--profile)

clean:
	rm -rf .data dbt_project/target dbt_project/logs warehouse.duckdb*

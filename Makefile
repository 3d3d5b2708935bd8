# The two commands that matter: `make demo` and `make test`. Every target depends on `setup`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= .data/demo
SCALE ?= 2000
BENCH_SCALE ?= 100000

.PHONY: setup demo test lint format sandbox bench clean

setup: $(STAMP)

# Reinstall only when the pins change: a second `make setup` is a no-op.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Serve both sandboxes in the foreground (Ctrl-C stops them); coordinates in $(DATA)/sandbox.env.
sandbox: setup
	$(BIN)/python -m sandbox serve --data-dir $(DATA) --scale $(SCALE)

demo: setup
	$(BIN)/python -m orchestration.demo --data-dir $(DATA) --scale $(SCALE)

bench: setup
	$(BIN)/python -m benchmarks.run --scale $(BENCH_SCALE)

clean:
	rm -rf .data dbt_project/target dbt_project/logs warehouse.duckdb*

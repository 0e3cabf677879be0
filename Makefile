# One entry point for set-up, run, test, lint and bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run server test lint typecheck format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@echo "setting up $(VENV): installing the pinned packages of requirements.lock (a minute or so, once)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "$(VENV) is ready"

# A local server on 127.0.0.1:8089 and the client in `lobby`; quitting the client stops it.
run: $(STAMP)
	./scripts/run-local.sh

server: $(STAMP)
	$(BIN)/chat-server --host 127.0.0.1 --port 8089

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The full comparison: every registered backend, the naive baseline, and Redis pub/sub when
# redis-server is on PATH (optional: without it the report says "redis: not available").
bench: $(STAMP)
	$(BIN)/chat-bench --json bench-results.json --plot bench-results.svg

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

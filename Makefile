# PrefLoop: `make demo` sets up everything and serves the app; `make test` runs the whole suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/prefloop
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false
# Tiny models gain nothing from a second OpenMP thread, and on a shared 2-core box threads spin
# against each other (measured: SFT of the tiny policy 88 s with one thread, 333 s with two).
export OMP_NUM_THREADS ?= 1

.PHONY: venv local-env demo serve test test-sqlite test-postgres test-e2e lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Tests check exports with these libraries' own loaders; --no-deps keeps torch, no Ray/DeepSpeed.
	$(BIN)/pip install -q --no-deps openrlhf==0.11.2 verl==0.9.1
	touch $@

venv: $(BIN)/.installed

# var/local.env (generated SECRET_KEY, DEBUG=0 over local http) is what lets every
# `manage.py` command in the README run as printed, without exporting anything.
local-env: venv
	$(BIN)/python scripts/local_env.py

demo: local-env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py bootstrap_policy --project demo
	PORT=$(PORT) bash scripts/serve.sh

serve: local-env
	PORT=$(PORT) bash scripts/serve.sh

# The suite runs on SQLite (everything, browser included) and again on PostgreSQL (all but
# the browser and the slow training tests, which do not touch database behaviour).
test: venv
	$(BIN)/ruff check .
	$(MAKE) test-sqlite
	$(MAKE) test-postgres

# Two pytest-xdist workers: most of the suite's time is single-threaded job processes (OMP_NUM_THREADS=1),
# so a second worker uses the second core. Each worker has its own test database and tiny policy. Tests go
# out one at a time, the minutes-long `heavy` ones first (tests/conftest.py), so no worker finishes last with one.
TEST_WORKERS ?= 2

test-sqlite:
	DEBUG=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxschedchunk 1

test-postgres:
	DEBUG=1 DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxschedchunk 1 -m "not e2e and not slow"

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf var/test-* .pytest_cache

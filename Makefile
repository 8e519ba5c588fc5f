# Posvenda — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# make test runs on the real local servers unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/posvenda
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_WORKERS ?= auto

.PHONY: run test install lint format messages bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

## make run: migrate, load demo data, start web + Celery worker + beat (SQLite and an embedded
## broker unless DATABASE_URL / REDIS_URL are set).
run: install
	@PORT=$(PORT) scripts/dev-run.sh

## make test: the whole suite on PostgreSQL and Redis, plus ruff and makemigrations --check.
test: install
	@scripts/test-deps.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		DJANGO_SETTINGS_MODULE=posvenda.test_settings $(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

## Regenerate and compile the translation catalogues (pt_BR is the default, en complete).
messages: install
	DEBUG=1 $(PY) manage.py makemessages -l pt_BR -l en --no-obsolete --ignore '.venv/*' --ignore 'bench/*'
	DEBUG=1 $(PY) manage.py compilemessages --ignore '.venv/*'

bench: install
	@echo "See bench/README.md: the benchmarks need PostgreSQL and take minutes."

clean:
	rm -rf var/ .pytest_cache .ruff_cache

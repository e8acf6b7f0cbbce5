# Two commands set everything up on a fresh machine (see README):
#   make run    create .venv if missing, install, run the main pipeline on the demo dataset
#   make test   same set-up, then the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PIPELINE ?= tfvaegan
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: install run test viz

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: install
	$(BIN)/kedro run --pipelines=$(PIPELINE)

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

viz: install
	$(BIN)/kedro viz build

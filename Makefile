# On a fresh Linux machine with Python 3.10+:
#   make course     run the whole course headless on the offline phantom data
#   make test       lint, then the whole test suite (what CI runs; every notebook executed twice)
#   make test-fast  lint, then the unit tests only (no notebook, no long training): the edit loop
# Each creates .venv/ on first use and reuses it afterwards.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
RUN_DIR ?= runs/$(PROFILE)

.PHONY: course test test-fast clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tf,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

course: $(STAMP)
	$(PY) -m helpers.course --profile $(PROFILE) --out $(RUN_DIR)

# The tests run in smoke mode (the notebooks shrink themselves); nbval's executions write to runs/nbval.
TEST_ENV := CXR_GAN_SMOKE=1 CXR_GAN_RUN_DIR=runs/nbval
PYTEST := $(PY) -m pytest -p no:cacheprovider -q

test: $(STAMP)
	$(PY) -m ruff check helpers tools tests lab notebooks
	rm -rf runs/nbval
	$(TEST_ENV) $(PYTEST) tests --nbval-lax notebooks

test-fast: $(STAMP)
	$(PY) -m ruff check helpers tools tests lab notebooks
	$(TEST_ENV) $(PYTEST) -m "not notebook and not slow" tests

clean-venv:
	rm -rf $(VENV)

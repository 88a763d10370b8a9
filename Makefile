# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TRAIN_REQS := $(wildcard requirements-train.txt)

.PHONY: run test install dev lint bench stop clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Runtime (API + stores), the training stack, and MovieLens-100K (shipped in the
# recbole wheel; installed without its dependencies, never imported).
$(VENV)/.installed: $(VENV)/bin/python requirements.txt $(TRAIN_REQS) pyproject.toml
	$(PIP) install --quiet -r requirements.txt $(addprefix -r ,$(TRAIN_REQS))
	$(PIP) install --quiet --no-deps recbole==1.2.1
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	$(VENV)/bin/interest-graph demo

test: dev
	$(PY) -m pytest -q

lint: dev
	$(VENV)/bin/ruff check .

# Benchmarks (not tests): each prints its numbers; see docs/benchmarks.md.
bench: dev
	for b in store ingest quality refresh api; do $(PY) bench/$$b.py || exit 1; done

stop:
	$(VENV)/bin/interest-graph store stop

clean:
	rm -rf $(VENV) data

# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TRAIN_REQS := $(wildcard requirements-train.txt)

.PHONY: run test engines console-assets vendor screenshots install dev lint bench stop clean

# The tests also run on the production engines: a real Neo4j 5 (Neo4j Community as a
# Java library from Maven Central, needs a JDK 17+ and Maven) and a real PostgreSQL
# (Debian's package), and drive the web console in Debian's headless Chromium (its
# vendored front-end libraries are checked against the npm registry's: npm too).
# `engines` installs what is missing when it can (root + apt-get);
# tests/engines.py starts and stops both. TEST_ENGINES=auto skips the tests of an engine
# that cannot start (with the reason); .ci/run sets required, so CI fails instead.
TEST_ENGINES ?= auto
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

engines:
	@have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; \
	need=""; \
	have_pg || need="$$need postgresql"; \
	command -v javac >/dev/null 2>&1 || need="$$need default-jdk-headless"; \
	command -v mvn >/dev/null 2>&1 || need="$$need maven"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| command -v google-chrome >/dev/null 2>&1 || need="$$need chromium"; \
	command -v npm >/dev/null 2>&1 || need="$$need npm"; \
	if [ -n "$$need" ]; then \
		echo "installing the test engines' packages:$$need"; \
		if command -v apt-get >/dev/null 2>&1; then \
			$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need \
			|| echo "could not install$$need: the tests that need them are skipped (TEST_ENGINES=auto) or fail (required)"; \
		else echo "no apt-get: install$$need yourself to run the Neo4j/PostgreSQL tests"; fi; \
	fi

# The console's front-end libraries (service/console/frontend: package.json + lock) are
# vendored into service/console/static/vendor and committed, so `make run` needs no npm.
# `console-assets` installs the locked versions from the npm registry (tests/console
# checks the committed copies are theirs); `vendor` copies them again after a version bump.
FRONTEND := service/console/frontend
console-assets:
	@if command -v npm >/dev/null 2>&1; then \
		cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "no npm: the check of the console's vendored libraries is skipped (TEST_ENGINES=auto) or fails (required)"; fi

vendor: console-assets
	cd $(FRONTEND) && npm run --silent vendor

test: dev engines console-assets
	TEST_ENGINES=$(TEST_ENGINES) $(PY) -m pytest -q

# The console's screenshots in docs/console/, from its browser tests (real MovieLens data).
screenshots: dev
	CONSOLE_SCREENSHOTS=docs/console $(PY) -m pytest -q tests/console

lint: dev
	$(VENV)/bin/ruff check .

# Benchmarks (not tests): each prints its numbers; see docs/benchmarks.md.
bench: dev
	for b in store ingest parse eventlog api_ingest quality refresh api; do $(PY) bench/$$b.py || exit 1; done
	$(PY) bench/api_ingest.py --sql postgresql

stop:
	$(VENV)/bin/interest-graph store stop

clean:
	rm -rf $(VENV) data

# The two commands of the README:
#   make run    set up the environment and run the workflow on the embedded default config
#   make test   set up the environment and run the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
PYTEST_ARGS ?=

.PHONY: setup run report test lint measure clean

# The venv is rebuilt when the pinned requirements change.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	# mxeval's JavaScript tests require lodash; installed next to the venv, found via NODE_PATH.
	if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/js lodash@4.17.21; fi
	touch $@

setup: $(VENV)/.installed

# The workflow, then its HTML report (every figure and table with its caption).
run: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html

report: setup
	$(VENV)/bin/snakemake --report results/report.html

test: setup
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/snakemake --lint

measure: setup
	$(VENV)/bin/python measurements/data_throughput.py

clean:
	rm -rf results .snakemake

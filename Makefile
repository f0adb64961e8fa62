# The two commands of the README: `make run` (the simulated city) and `make test` (everything).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint typecheck unit clean

run: setup
	$(VENV)/bin/hotline110 demo

test: setup lint typecheck
	$(PY) -m pytest -q

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml scripts/install-system-deps web/package-lock.json
	scripts/install-system-deps
	npm ci --prefix web --no-audit --no-fund
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy acd conference dispatch incidents intake sip engine metrics demo bench tests

unit: setup
	$(PY) -m pytest -q tests/unit

clean:
	rm -rf $(VENV) var *.egg-info web/node_modules

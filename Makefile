# Tiffin: `make run` starts the platform on its embedded default, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests' browser: Debian's package (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium
# The deployment checks' tools (tests/deploy), from Debian: promtool, docker-compose, kubectl.
DEPLOY_TOOLS := /usr/bin/promtool /usr/bin/docker-compose /usr/bin/kubectl

.PHONY: run test lint layering typecheck pytest install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(STAMP)
	$(BIN)/tiffin serve

$(DEPLOY_TOOLS):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus docker-compose kubectl

test: $(STAMP) $(CHROMIUM) $(DEPLOY_TOOLS) lint layering typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

layering: $(STAMP)  # the import contracts in pyproject.toml
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis

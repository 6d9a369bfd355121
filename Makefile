# The two commands of the README:  `make demo`  and  `make test`.
# Both set up everything they need on a fresh machine first (idempotent).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VIEWERS := archive/static/vendor/VERSIONS
# The interface's message catalogues, compiled from the .po files in the repo.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard archive/translations/*/LC_MESSAGES/messages.po))
HOST   ?= 127.0.0.1
PORT   ?= 5000
# The demo lives in ./memoria-data; its URIs and IIIF ids point at where it is served.
demo: export MEMORIA_HOME ?= $(CURDIR)/memoria-data
demo: export MEMORIA_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: demo test setup setup-test lint check clean bench messages

demo: setup
	$(BIN)/memoria demo --host $(HOST) --port $(PORT)

test: setup-test
	bash scripts/run-tests.sh

setup: $(STAMP) $(VIEWERS) $(CATALOGS)

# Chinese and Spanish: .mo files are built, not committed (fuzzy entries are left out).
archive/translations/%/LC_MESSAGES/messages.mo: archive/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d archive/translations -l $*

# New or changed interface strings into the catalogues (then translate them, no fuzzy entries).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k lazy_gettext -k lazy_ngettext:1,2 \
		--no-location --sort-output -o archive/translations/messages.pot archive
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete \
		-i archive/translations/messages.pot -d archive/translations

# Mirador and Universal Viewer from npm (versions pinned by package-lock.json).
$(VIEWERS): package.json package-lock.json
	bash scripts/build-viewers.sh

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Memoria needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup-test: setup
	bash scripts/setup-test-services.sh libmagic1 libjemalloc2 chromium chromium-driver fonts-noto-cjk

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy archive ingest iiif search

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck serve schema bench browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

# Set up, load the demo library (once) and serve it at http://127.0.0.1:8000
# with the nightly reminder job inside the web process.
run: $(STAMP)
	$(BIN)/shelfmark demo-data
	SHELFMARK_IN_PROCESS_SCHEDULER=true $(BIN)/shelfmark serve

# Set up and run every test (browser tests need Debian's chromium: make browser-deps).
test: $(STAMP)
	$(BIN)/python -m pytest

# Style and static checks, as CI runs them before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

# mypy checks the package as it is installed: jobs/ travels as webapp/jobs
# (pyproject.toml), so a copy in build/typecheck/ puts it there; the paths in
# mypy's messages are mapped back to the checkout's.
typecheck: $(STAMP)
	rm -rf build/typecheck && mkdir -p build/typecheck
	cp -r webapp build/typecheck/webapp && cp -r jobs build/typecheck/webapp/jobs
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml webapp \
		> ../mypy.txt; status=$$?; sed 's|^webapp/jobs/|jobs/|' ../mypy.txt; exit $$status

# Regenerate sql/schema.sql, the readable current schema, from the migrations.
schema: $(STAMP)
	$(BIN)/python -c "import sqlite3; from webapp.db import migrate, schema_sql; from webapp.resources import MIGRATIONS; c = sqlite3.connect(':memory:'); migrate(c, MIGRATIONS); open('sql/schema.sql', 'w').write(schema_sql(c))"

bench: $(STAMP)
	$(BIN)/python -m bench.run

browser-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean:
	rm -rf $(VENV) instance build *.egg-info

# The two commands a fresh machine needs: `make run` and `make test`.
# Each one installs what it needs first (scripts/setup.sh), then does its job.
PY := .venv/bin/python

.PHONY: setup run test test-fast bench lint bundles
setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

run: setup
	bash scripts/run-demo.sh

# All tiers: unit, integration (the server in-process) and system (real processes, the
# Kivy window, crash and property tests).
test: setup
	$(PY) -m pytest

# Unit and integration tiers only: no processes, no window; well under a minute.
test-fast: setup
	$(PY) -m pytest -m "not system"

# The app and the server as one-folder bundles that need no Python (build_specs/README.md):
# dist/fieldapp/ and dist/sync-server/. Installs PyInstaller first.
bundles: setup
	bash scripts/build-bundles.sh

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

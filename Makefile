# The two commands a fresh machine needs: `make run` and `make test`.
# Each one installs what it needs first (scripts/setup.sh), then does its job.
PY := .venv/bin/python

.PHONY: setup run test bench lint
setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

run: setup
	bash scripts/run-demo.sh

test: setup
	$(PY) -m pytest

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# gnnrec: `make demo` runs the main job, `make test` the test suite.
# Both create .venv on first use (scripts/setup.sh) and are safe to repeat.
PY := .venv/bin/python

.PHONY: setup demo test lint
setup: .venv/.ready

.venv/.ready: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) -m gnnrec demo

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(PY) -m ruff check .

# The two commands of the README: `make demo` (main job) and `make test`.
PY := .venv/bin/python
FME := .venv/bin/fme
export OMP_NUM_THREADS ?= 2

.PHONY: setup setup-dev demo test test-all lint bench clean

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh dev

demo: setup
	$(FME) demo

test: setup-dev
	bash scripts/test.sh

lint: setup-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(FME) bench all

clean:
	rm -rf demo runs artifacts .pytest_cache

# make demo  - create .venv if missing, install pinned dependencies, optimize/bench the bundled MiniLM
# make test  - the same set-up, then the whole test suite
# make bench - the benchmarks under benchmarks/ (figures to benchmarks/results/, summary to BENCHMARKS.md)
# make check - ruff (lint + format) and mypy on src and tests (what CI runs before the tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench check system-deps clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

system-deps:
	@bash scripts/system-deps

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/lepton optimize --example minilm --batch 1,32 --slo "p95<=50ms@1" \
		--max-drop 0.01 --html lepton-report.html

test: $(STAMP) system-deps
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: $(STAMP) system-deps
	HF_HUB_OFFLINE=1 $(PY) benchmarks/run_all.py

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache

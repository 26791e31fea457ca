# Two commands do all set-up on a fresh Linux machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_VENV ?= .venv-lab

.PHONY: demo test test-fast conformance lint bench lab hooks clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# One stamp per set of extras; re-installs when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-sandbox
	$(BIN)/runbook demo

test: $(VENV)/.installed-sandbox,test,dev
	$(BIN)/ruff check runbook_lib tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

# The edit-run loop: ruff and every test not marked slow (servers, stacks, kernels) or upstream; `make test` runs all.
# Three workers on two cores: a third of the lane's wall time is tests waiting on deadlines and local servers
# (measured: 65 s in one process, 49 s with -n 2, 45 s with -n 3, 47 s with -n 4).
test-fast: $(VENV)/.installed-sandbox,test,dev
	$(BIN)/ruff check runbook_lib tests benchmarks
	$(BIN)/pytest -m "not slow and not upstream" -q -n 3

# The stand-in and the real AgentOps API side by side (AGENTOPS_SRC=path/to/agentops checkout).
# Without AGENTOPS_SRC every comparison reports "not run" (and fails under CI=true).
conformance: $(VENV)/.installed-sandbox,test,dev
	@test -n "$$AGENTOPS_SRC" || echo "conformance: NOT RUN (set AGENTOPS_SRC to an AgentOps checkout)"
	$(BIN)/pytest tests/conformance -rs

lint: $(VENV)/.installed-sandbox,test,dev
	$(BIN)/ruff check runbook_lib tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed-sandbox,test,dev
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# JupyterLab lives in its own venv: it slows every nbformat import of headless runs by ~0.9 s.
lab:
	test -x $(LAB_VENV)/bin/python || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(LAB_VENV)/bin/uv pip install --quiet --python $(LAB_VENV)/bin/python --compile-bytecode -e ".[lab,sandbox]"
	$(MAKE) --no-print-directory hooks
	$(LAB_VENV)/bin/runbook lab --root . $(if $(PARAMS),-f $(PARAMS))

# Saved outputs never reach git: a clean filter strips tracked notebooks on `git add` (see .gitattributes).
hooks:
	git config filter.runbook-strip-outputs.clean "$(abspath $(firstword $(wildcard $(LAB_VENV)/bin/python) $(BIN)/python)) -m runbook_lib.strip_outputs"
	git config filter.runbook-strip-outputs.smudge cat

clean:
	rm -rf $(VENV) $(LAB_VENV) .pytest_cache .ruff_cache *.egg-info

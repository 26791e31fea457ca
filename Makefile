# Two commands do all set-up on a fresh Linux machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_VENV ?= .venv-lab

.PHONY: demo test conformance lint bench lab clean

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
	$(BIN)/pytest

# The stand-in and the real AgentOps API side by side (AGENTOPS_SRC=path/to/agentops checkout).
# Without AGENTOPS_SRC every comparison reports "not run" (and fails under CI=true).
conformance: $(VENV)/.installed-sandbox,test,dev
	@test -n "$$AGENTOPS_SRC" || echo "conformance: NOT RUN (set AGENTOPS_SRC to an AgentOps checkout)"
	$(BIN)/pytest tests/conformance -rs

lint: $(VENV)/.installed-sandbox,test,dev
	$(BIN)/ruff check runbook_lib tests benchmarks

bench: $(VENV)/.installed-sandbox,test,dev
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# JupyterLab lives in its own venv: it slows every nbformat import of headless runs by ~0.9 s.
lab:
	test -x $(LAB_VENV)/bin/python || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(LAB_VENV)/bin/uv pip install --quiet --python $(LAB_VENV)/bin/python --compile-bytecode -e ".[lab,sandbox]"
	$(LAB_VENV)/bin/jupyter lab --ip=127.0.0.1 notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) $(LAB_VENV) .pytest_cache .ruff_cache *.egg-info

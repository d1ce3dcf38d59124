# dsbench set-up and jobs. README's two commands: `make run` and `make test`.
#
# A virtualenv in $(VENV) is created when missing. torch is installed only when the venv has
# none: the default spec is the CPU build pinned below; a user with a CUDA machine can pass
# e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124", or reuse the
# torch already installed system-wide with VENV_FLAGS=--system-site-packages.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
# pip prints one line per package index it skips on some machines; keep the log readable.
QUIET_PIP := grep -v -e 'is ignored: it is neither a file nor a directory' || true

.PHONY: setup setup-dev setup-lab run test lint lab clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || { echo "installing $(TORCH_SPEC)"; \
	  $(BIN)/python -m pip install -q "$(TORCH_SPEC)" 2>&1 | $(QUIET_PIP); }
	@echo "installing dsbench"
	@$(BIN)/python -m pip install -q -e . 2>&1 | $(QUIET_PIP)
	@touch $@

setup-dev: $(VENV)/.setup-dev-done

$(VENV)/.setup-dev-done: $(VENV)/.setup-done
	@echo "installing test tools"
	@$(BIN)/python -m pip install -q -e ".[dev]" 2>&1 | $(QUIET_PIP)
	@touch $@

setup-lab: $(VENV)/.setup-lab-done

$(VENV)/.setup-lab-done: $(VENV)/.setup-done
	@echo "installing jupyterlab"
	@$(BIN)/python -m pip install -q -e ".[lab]" 2>&1 | $(QUIET_PIP)
	@touch $@

# Open the analysis notebooks (they read results/examples/ and results/ through dsbench).
lab: setup-lab
	$(BIN)/jupyter lab notebooks/

run: setup
	$(BIN)/dsbench verify --quick

lint: setup-dev
	$(BIN)/ruff check .

test: setup-dev lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

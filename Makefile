# The README's two commands: `make study` (set up, then run the default study with dvc repro)
# and `make test` (set up if needed, then run the tests). Everything installs into .venv here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test paper lab bench clean-venv

# pip (not uv or poetry) because it finds the torch 2.14.1 / torchvision 0.29.1 wheels on this
# project's machines; elsewhere it downloads them from PyPI.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# dvc runs each stage's command with the venv's python and papermill first on PATH.
study: $(INSTALLED)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc metrics show

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)
	$(BIN)/python benchmarks/loss_overhead.py
	$(BIN)/python benchmarks/attacks_vs_torchattacks.py

clean-venv:
	rm -rf $(VENV)

# The README's two commands: `make study` (set up, then run the default study with dvc repro)
# and `make test` (set up if needed, then run the tests). Everything installs into .venv here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test paper lab bench gallery
export PATH := $(CURDIR)/$(BIN):$(PATH)

# pip (not uv or poetry) because it finds the torch 2.14.1 / torchvision 0.29.1 wheels on this
# project's machines; elsewhere it downloads them from PyPI.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# The venv comes first on PATH (exported above), so dvc runs each stage with its python.
study: $(INSTALLED)
	dvc repro
	@echo "Summary (results/figures/table.md); figures in figures/, executed notebooks in reports/:"
	@cat results/figures/table.md

# One DVC experiment per dataset of params-paper.yaml (GPU advised; data under data/raw/).
paper: $(INSTALLED)
	for name in $$(python -m lsstudy.params experiments params-paper.yaml); do \
		args=$$(python -m lsstudy.params set-args params-paper.yaml $$name) || exit 1; \
		dvc exp run -n paper-$$name $$args || exit 1; \
	done
	dvc exp show --only-changed

lab: $(INSTALLED)
	jupyter lab notebooks/

test: $(INSTALLED)
	python -m pytest -q

bench: $(INSTALLED)
	python benchmarks/loss_overhead.py
	python benchmarks/attacks_vs_torchattacks.py


# The README's gallery: small copies of a few default-study figures (figures/ and results/ are DVC outputs).
GALLERY := figures/accuracy_vs_eps_lenet figures/accuracy_vs_alpha_mlp figures/protocol_linear \
	figures/bls_temperature_lenet figures/min_norm_lenet figures/clean_vs_alpha_lenet figures/per_class_lenet \
	results/verdict/verdict_eps0.1 results/verdict/diagnostics_lenet results/verdict/diagnostics_mlp
gallery:
	mkdir -p notebooks/gallery
	for name in $(GALLERY); do cp $$name.png notebooks/gallery/; done

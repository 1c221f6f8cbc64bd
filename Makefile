# The README's two commands: `make study` (set up, then run the default study with dvc repro)
# and `make test` (set up if needed, then run the tests). Everything installs into .venv here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test paper decisive lab bench gallery
export PATH := $(CURDIR)/$(BIN):$(PATH)

# pip (not uv or poetry) because it finds the torch 2.14.1 / torchvision 0.29.1 wheels on this
# project's machines; elsewhere it downloads them from PyPI.
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# The venv comes first on PATH (exported above), so dvc runs each stage with its python.
study: $(INSTALLED)
	dvc repro
	@for summary in results/*/verdict/summary.md; do echo "\nThe verdict ($$summary; figures in figures/, executed notebooks in reports/):"; cat $$summary; done

# The paper-scale studies of params-paper.yaml, added to params.yaml's in one DVC experiment (GPU advised;
# the full datasets under data/raw/). The default studies are up to date already, so only the new ones run;
# a run that fails leaves params.yaml as it was (lsstudy/pipeline/experiment.py).
paper: $(INSTALLED)
	python -m lsstudy.pipeline.experiment run params-paper.yaml --name paper

# The decisive MNIST study of params-decisive.yaml (about 82 hours on 2 cores: a GPU or a cluster), the same
# way: one DVC experiment on the shipped mnist25k, whose verdict can resolve a gain of 2 points.
decisive: $(INSTALLED)
	python -m lsstudy.pipeline.experiment run params-decisive.yaml --name decisive

# From the repository root, so the lab reaches the notebooks and their executed copies in reports/. Jupyter
# refuses to run as root (as in many containers) unless told --allow-root.
lab: $(INSTALLED)
	jupyter lab --notebook-dir=. $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: $(INSTALLED)
	python -m pytest -q

# The CPU benchmarks (docs/benchmarks.md); benchmarks/gpu*.py need a GPU (PYTHONPATH=. python3 benchmarks/gpu.py).
bench: $(INSTALLED)
	python benchmarks/loss_overhead.py
	python benchmarks/attacks_vs_torchattacks.py
	python benchmarks/autoattack_cost.py
	python benchmarks/engine.py
	python benchmarks/lenet_throughput.py
	python benchmarks/stacked.py


# The docs' gallery: copies of a few default-study figures (figures/ is a DVC output, not in git).
GALLERY := mnist5k/verdict/verdict_eps0.1 mnist5k/verdict/verdict_eps0.2 mnist5k/verdict/diagnostics_lenet mnist5k/verdict/diagnostics_mlp \
	mnist5k/paper/accuracy_vs_eps_lenet mnist5k/paper/accuracy_vs_alpha_mlp mnist5k/paper/protocol_linear \
	mnist5k/paper/bls_temperature_lenet mnist5k/paper/min_norm_lenet mnist5k/paper/clean_vs_alpha_lenet \
	mnist5k/paper/per_class_lenet cifar10_5k/verdict/verdict_eps0.00784314 cifar10_5k/verdict/verdict_eps0.0313725 \
	cifar10_5k/verdict/diagnostics_lenet \
	cifar10_5k/paper/accuracy_vs_eps_lenet cifar10_5k/paper/accuracy_vs_alpha_lenet toy_triangular/triangular \
	toy_gradient_gap/gradient_gap
gallery:
	mkdir -p docs/figures
	for name in $(GALLERY); do cp figures/$$name.png docs/figures/$$(echo $$name | tr / _ | sed 's/_paper_\|_verdict_/_/').png; done

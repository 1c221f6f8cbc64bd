"""lsstudy: a reproducible study of label smoothing against adversarial examples.

Goibert & Dohmatob, "Adversarial Robustness via Label-Smoothing", arXiv 1906.11567.
The top level holds the science (smoothing losses, models, data, attacks, training, evaluation, the toys) and
the plumbing it needs (checks, files, runtime, sources); it imports nothing from ``grid`` (the drivers and the
engine), ``report`` (verdict, statistics, figures) or ``pipeline`` (params, stages, dvc.yaml), except the toys,
which draw with ``report``'s style and the authors' numbers. Notebooks run by papermill inside the DVC pipeline
only orchestrate and plot.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lsstudy")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

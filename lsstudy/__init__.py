"""lsstudy: a reproducible study of label smoothing against adversarial examples.

Goibert & Dohmatob, "Adversarial Robustness via Label-Smoothing", arXiv 1906.11567.
The module holds the science (smoothing losses, models, data, attacks, training, evaluation);
notebooks run by papermill inside a DVC pipeline only orchestrate and plot.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lsstudy")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

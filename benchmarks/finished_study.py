"""What the benchmarks that read a finished ``make study`` share: their common arguments, and the confirm stage's
settings, test points and attack table of one study."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from lsstudy import data
from lsstudy.pipeline import params
from lsstudy.report.tables import load_results


def arguments(description: str, seeds: list[int]) -> argparse.ArgumentParser:
    """--run, --study, --eps, --seeds (default ``seeds``) and --quick; a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", default=".", help="a repository where make study finished")
    parser.add_argument("--study", default="mnist5k")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--quick", action="store_true")
    return parser


def confirmed(run: Path, study: str) -> tuple[dict, torch.Tensor, torch.Tensor, pd.DataFrame]:
    """(the study's merged settings, the confirm stage's test points and labels, its attack table) in ``run``."""
    loaded = params.load_params(run / "params.yaml")
    settings = params.study(loaded, study)
    offset, size = settings["base"]["test_offset"], settings["confirm"]["test_size"]
    x, y = data.load_test_slice(settings["base"]["dataset"], offset, size, root=str(run / loaded["data"]["root"]))
    return settings, x, y, load_results(run / "results" / study / "confirm" / "attacks.csv")

"""What the GPU scripts share: the ``--tiny`` switch (a CPU check of the same code) and where their result goes."""

import argparse
import os
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def tiny_requested(description: str) -> bool:
    """Parse ``--tiny``; without it and without CUDA, stop: the full sizes are meant for a GPU."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, on whatever device there is (a CPU check)")
    tiny = parser.parse_args().tiny
    if not tiny and not torch.cuda.is_available():
        sys.exit("no GPU here: run with --tiny to check the script on the CPU")
    return tiny


def write_report(name: str, tiny: bool, text: str) -> None:
    """benchmarks/results/<name>[_tiny].md, a copy in $OUT when set (the GPU machine sends $OUT back), and stdout."""
    target = RESULTS / f"{name}{'_tiny' if tiny else ''}.md"
    target.write_text(text)
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / target.name).write_text(text)
    print(text)

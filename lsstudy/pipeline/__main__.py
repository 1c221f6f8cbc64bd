"""``python -m lsstudy.pipeline > dvc.yaml``: print the dvc.yaml written from ``lsstudy.pipeline.dvc``."""

import sys

from lsstudy.pipeline.dvc import dvc_yaml

sys.stdout.write(dvc_yaml())

"""The value rules of params.yaml's schema (``lsstudy.pipeline.schema``): the types of its fields, each with what
is allowed in words ("it must be ..."), which ``lsstudy.pipeline.messages`` puts in the line naming a bad key.
"""

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from lsstudy import baselines, data, models, smoothing
from lsstudy.report.style import FORMATS

PROTOCOLS = ["ce", "smoothed"]
EXECUTORS = ["local", "ray"]


# ---- value rules: each check returns what is wrong ("it must be ..."), or None ---------------------

def rule(ok: Callable[[Any], bool], allowed: str):
    def check(value):
        if not ok(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


def choice(options: Callable[[], list]):
    """A value among ``options()`` (a callable: smoothing methods can be registered at run time)."""

    def check(value):
        if value not in options():
            raise ValueError(f"choose one of {options()}")
        return value

    return AfterValidator(check)


def finite(v) -> bool:
    return math.isfinite(v)


Number = Annotated[float, rule(finite, "it must be a finite number")]
Alpha = Annotated[float, rule(lambda v: finite(v) and 0 <= v <= 1, "it must be a number in [0, 1]")]
Fraction = Alpha
Eps = Annotated[float, rule(lambda v: finite(v) and v >= 0,
                          "it must be a finite number >= 0 (pixel units, inputs in [0, 1])")]
Positive = Annotated[float, rule(lambda v: finite(v) and v > 0, "it must be a finite number > 0")]
NonNegative = Annotated[float, rule(lambda v: finite(v) and v >= 0, "it must be a finite number >= 0")]
Count = Annotated[int, rule(lambda v: v >= 1, "it must be an integer >= 1")]
Index = Annotated[int, rule(lambda v: v >= 0, "it must be an integer >= 0")]
Rate = Annotated[float, rule(lambda v: finite(v) and 0 < v <= 10, "it must be a number in (0, 10]")]
GpuShare = Annotated[float, rule(lambda v: finite(v) and 0 < v <= 1, "it must be a number in (0, 1]")]
HoldOut = Annotated[float, rule(lambda v: finite(v) and 0 <= v <= 0.5, "it must be a number in [0, 0.5]")]
Dataset = Annotated[str, choice(lambda: data.DATASETS)]
Arch = Annotated[str, choice(lambda: models.ARCHS)]
Method = Annotated[str, choice(smoothing.methods)]
Baseline = Annotated[str, choice(lambda: baselines.BASELINES)]
Protocol = Annotated[str, choice(lambda: PROTOCOLS)]
Format = Annotated[str, choice(lambda: FORMATS)]
Executor = Annotated[str, choice(lambda: EXECUTORS)]


def non_empty(item):
    return Annotated[list[item], rule(len, "it must be a non-empty list")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

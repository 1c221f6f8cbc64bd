"""Argument checks shared by every public entry point.

Each check raises one ValueError that names the argument, the value given and what is allowed,
so a bad setting stops before any work is done.
"""

from collections.abc import Iterable
import math


def check_choice(name: str, value, allowed: Iterable) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {allowed}")


def check_alpha(alpha: float, name: str = "alpha") -> None:
    if not (_is_number(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"{name}={alpha!r} is not allowed; it must be a number in [0, 1]")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(value: float, name: str) -> None:
    if not (_is_number(value) and value > 0):
        raise ValueError(f"{name}={value!r} is not allowed; it must be a finite number > 0")


def check_non_negative(value: float, name: str) -> None:
    if not (_is_number(value) and value >= 0):
        raise ValueError(f"{name}={value!r} is not allowed; it must be a finite number >= 0")


def check_temperature(temperature: float, name: str = "temperature") -> None:
    check_positive(temperature, name)


def check_eps(eps: float, name: str = "eps") -> None:
    if not (_is_number(eps) and eps >= 0):
        raise ValueError(f"{name}={eps!r} is not allowed; it must be a finite number >= 0 (pixel units, inputs in [0, 1])")


def check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 1")

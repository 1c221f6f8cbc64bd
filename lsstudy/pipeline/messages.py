"""Bad parameters in the words of the file: ``ParamsError``, one line per problem, each naming the key as it is
written (``studies.cifar10_5k.train.alphas[1]``) and what is allowed, from pydantic's errors and the rules across
keys (``lsstudy.pipeline.schema``).
"""

import difflib

from pydantic import BaseModel, ValidationError


class ParamsError(ValueError):
    """Bad parameters: one line per problem. In a notebook it shows as those lines, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an exception is shown
        return [f"ParamsError: {self}"]


# ---- errors in the words of the file -------------------------------------------------------------

def dotted_key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the schema allows in the mapping at ``loc``."""
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = schema.model_fields[part].annotation if part in schema.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        schema = annotation
    return list(schema.model_fields)


def message(key: str, kind: str, value, allowed: str, known: list[str] | None = None) -> str:
    if kind == "missing":
        return f"{key} is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known or [], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{key} is not a known key{hint}; the keys here are {known}"
    return f"{key}={value!r} is not allowed; {allowed}"


_TYPE_WORDS = {"float_type": "it must be a number", "int_type": "it must be an integer", "bool_type":
               "it must be true or false", "string_type": "it must be a string", "list_type": "it must be a list",
               "dict_type": "it must be a mapping", "model_type": "it must be a mapping", "int_from_float":
               "it must be an integer"}


def problems(schema: type[BaseModel], values: dict, rules=None) -> list[tuple[tuple, str, object, str, list]]:
    """(location, kind, value, allowed, known keys) for everything wrong with ``values``."""
    try:
        schema.model_validate(values)
    except ValidationError as error:
        out = []
        for err in error.errors():
            loc, kind = tuple(err["loc"]), err["type"]
            if kind == "value_error":
                allowed = str(err["ctx"]["error"])
            else:
                allowed = _TYPE_WORDS.get(kind, err["msg"])
            # pydantic names the branch of a union in the location (e.g. "int"): drop it
            loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"int", "str", "float"}))
            known = _fields_at(schema, loc[:-1]) if kind == "extra_forbidden" else None
            out.append((loc, kind, err.get("input"), allowed, known))
        return out
    return [(loc, "missing" if allowed is None else "value_error", value, allowed, None)
            for loc, value, allowed in (rules(values) if rules else [])]


def raise_lines(lines: list[str]) -> None:
    if lines:
        raise ParamsError("\n".join(dict.fromkeys(lines)))

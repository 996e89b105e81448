"""Strict config base model and the error type every config problem is reported with.

Errors carry the full key path as users write it in `stacks/Pulumi.<stack>.yaml`
(`inference-stacks:endpoints[1].engine_args.max_model_len`), the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

NAMESPACE = "inference-stacks"


def cidr(value: str) -> str:
    """A network in CIDR notation (host bits allowed), or ValueError with an example."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR such as 203.0.113.0/24") from None
    return value


def cidrs(values: list[str]) -> list[str]:
    for value in values:
        cidr(value)
    return values


def vpc_cidr(value: str) -> str:
    """A VPC network large enough for private pod subnets (/20 or larger)."""
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a network CIDR such as 10.0.0.0/16") from None
    if network.prefixlen > 20:
        raise ValueError(f"{value} is too small for the private pod subnets; use /20 or larger")
    return value


class StrictModel(BaseModel):
    """Unknown keys are errors; every field must carry a description (checked by a test)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack config, located by its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The stack config is invalid; `problems` lists every problem found, one per line."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def key_path(*parts: str | int) -> str:
    """`('endpoints', 1, 'engine_args')` -> `endpoints[1].engine_args`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the sub-model at `loc` (to list them for an unknown key)."""
    current: Any = model
    for part in loc[:-1]:
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        if isinstance(part, int) or not is_model:
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside Optional[...]/list[...] annotations, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def problems_from_validation(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Turn pydantic errors into Problems with key paths, values and what is allowed."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        path = key_path(*prefix, *loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "input" in err and err["type"] != "missing":
                message += f" (got {_short(err['input'])})"
        problems.append(Problem(path, message))
    return problems

"""Strict config base model and the error type every config problem is reported with.

Errors carry the full key path as users write it in `stacks/Pulumi.<stack>.yaml`
(`inference-stacks:endpoints[1].engine_args.max_model_len`), the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

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


_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/"
                  r"[A-Za-z0-9+=,.@_/-]+$")


def principal_arns(values: list[str]) -> list[str]:
    """IAM role/user ARNs (cluster admin access entries)."""
    if bad := [a for a in values if not _ARN.match(a)]:
        raise ValueError(f"not IAM role/user ARNs: {', '.join(bad)} "
                         "(e.g. arn:aws:iam::123456789012:role/Admin)")
    return values


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


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_:-]+$")


def key_path(*parts: str | int) -> str:
    """`('endpoints', 1, 'engine_args')` -> `endpoints[1].engine_args`; a key that is empty or
    holds '.', '[', spaces or the like is quoted (`env["MY VAR"]`), so every path reads back
    to one key of the file."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part) and out:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        else:
            out += f".{part}" if out else part
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...]; a union of several types stays a union."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _union_members(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, UnionType):
        return [_unwrap(a) for a in get_args(annotation) if a is not type(None)]
    return []


def _tag_member(members: list[Any], part: Any) -> Any:
    """The union member whose tag pydantic put in the error location, if `part` is a tag.

    Discriminated unions use the discriminator's value (`source.s3.bucket`), smart unions the
    member's type name (`S3Source`, `str`); neither is a key the user wrote.
    """
    if not isinstance(part, str):
        return None
    for member in members:
        if getattr(member, "__name__", None) == part:
            return member
        if isinstance(member, type) and issubclass(member, BaseModel):
            for field in member.model_fields.values():
                if get_origin(field.annotation) is Literal and part in get_args(field.annotation):
                    return member
    return None


def _child(annotation: Any, part: Any) -> tuple[Any, FieldInfo | None]:
    """The annotation (and field) under `part` of `annotation`, None when unknown."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return (field.annotation, field) if field is not None else (None, None)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0], None
    if origin is dict and len(args) == 2:
        return args[1], None
    return None, None


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[Any], Any, bool]:
    """(user key path, annotation holding its last key, secret) for a pydantic location."""
    out: list[Any] = []
    current: Any = model
    holder: Any = model
    secret = False
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue
        current = _unwrap(current)
        members = _union_members(current)
        if members:
            member = _tag_member(members, part)
            if member is not None:
                current = member
                continue
        out.append(part)
        holder = current
        current, field = _child(current, part)
        if field is not None and field.repr is False:
            secret = True
    return out, holder, secret


def user_location(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    """Pydantic's error location as a key path of the user's file, and whether it is secret.

    Walks the model alongside the location and drops the parts pydantic adds that are no key
    of the input: union tags (`source.s3.bucket` -> `source.bucket`), dict-key markers
    (`[key]`) and validator wrappers (`function-after[...]`).
    """
    out, _, secret = _walk(model, loc)
    return tuple(out), secret


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (sub-)model holding the unknown key at pydantic location `loc`."""
    _, holder, _ = _walk(model, loc)
    if isinstance(holder, type) and issubclass(holder, BaseModel):
        return sorted(holder.model_fields)
    return []


def _tag_key(err: Any) -> str:
    return str(err.get("ctx", {}).get("discriminator", "")).strip("'\"")


def problems_from_validation(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Turn pydantic errors into Problems with key paths, values and what is allowed.

    One problem per key path: the path names a key of the user's file (or the missing key to
    add there), never a location part pydantic invents.
    """
    problems: list[Problem] = []
    for err in exc.errors():
        loc, secret = user_location(model, tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, tuple(err["loc"]))
            message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            key = _tag_key(err)
            loc = (*loc, key) if key else loc
            expected = err.get("ctx", {}).get("expected_tags") or _expected_tags(model, loc)
            got = "missing" if kind == "union_tag_not_found" else \
                f"got {err.get('ctx', {}).get('tag')!r}"
            message = f"{got}; allowed: {expected}" if expected else got
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "input" in err and kind != "missing" and not secret:
                message += f" (got {_short(err['input'])})"
        problem = Problem(key_path(*prefix, *loc), message)
        if problem not in problems:
            problems.append(problem)
    return problems


def _expected_tags(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The discriminator values a tagged union at `loc[:-1]` allows, for a missing tag."""
    current: Any = model
    for part in loc[:-1]:
        current, _ = _child(_unwrap(current), part)
    values = []
    for member in _union_members(_unwrap(current)):
        field = getattr(member, "model_fields", {}).get(str(loc[-1]))
        if field is not None and get_origin(field.annotation) is Literal:
            values += [repr(v) for v in get_args(field.annotation)]
    return ", ".join(values)

"""Kubernetes names: RFC 1123, lower case, and budgets that include every affix (R13, R14).

A name is checked against the longest object name derived from it, so an operator that adds
`prefetch-` and `-inf` (HyperPod) or the program's own suffixes never overflows 63 characters.
"""

from __future__ import annotations

import re

DNS_LABEL_MAX = 63
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INVALID = re.compile(r"[^a-z0-9-]+")

# Suffixes this program appends to an endpoint name; the longest one sets the budget.
ENDPOINT_SUFFIXES = ("-api-key", "-hf-token", "-pdb", "-nlb", "-model-cache", "-s3-credentials")
# The HyperPod operator names an init container `prefetch-{name}-inf` (R13).
HYPERPOD_AFFIXES = ("prefetch-", "-inf")


def sanitize(value: str) -> str:
    """Lower-case `value` and replace runs of characters RFC 1123 forbids with '-' (R14)."""
    cleaned = _INVALID.sub("-", value.lower()).strip("-")
    return re.sub("-{2,}", "-", cleaned)


def budget_for(affixes: tuple[str, ...]) -> int:
    """Characters left for a base name when the longest affix set is added to it."""
    return DNS_LABEL_MAX - sum(len(a) for a in affixes)


def endpoint_name_budget() -> int:
    return DNS_LABEL_MAX - max(len(s) for s in ENDPOINT_SUFFIXES)


def hyperpod_name_budget() -> int:
    return budget_for(HYPERPOD_AFFIXES)


def check_name(name: str, budget: int, what: str) -> list[str]:
    """Problems with `name` as a base for Kubernetes names of at most `budget` characters."""
    problems = []
    if not _LABEL.match(name):
        suggestion = sanitize(name)
        hint = f" (for example {suggestion!r})" if suggestion else ""
        problems.append(
            f"{what} {name!r} is not a lower-case RFC 1123 label "
            f"(a-z, 0-9 and '-', starting and ending with a letter or digit){hint}"
        )
    if len(name) > budget:
        problems.append(
            f"{what} {name!r} has {len(name)} characters; the budget is {budget} "
            f"(63 minus the longest prefix/suffix added to it)"
        )
    return problems


def served_name_default(model_id: str) -> str:
    """Default served model name: the last path segment of the model id (R5)."""
    return model_id.rstrip("/").rsplit("/", 1)[-1]

"""Kubernetes names: RFC 1123, lower case, and budgets that include every affix (R13, R14).

A name is checked against the longest object name derived from it, so an operator that adds
`prefetch-` and `-inf` (HyperPod) or the program's own suffixes never overflows 63 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DNS_LABEL_MAX = 63
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INVALID = re.compile(r"[^a-z0-9-]+")

# Suffixes this program appends to an endpoint name; the longest one sets the budget.
ENDPOINT_SUFFIXES = ("-api-key", "-hf-token", "-pdb", "-nlb", "-model-cache", "-s3-credentials")
# The HyperPod operator names an init container `prefetch-{name}-inf` (R13).
HYPERPOD_AFFIXES = ("prefetch-", "-inf")
# HyperPod's autoscaling trigger is `{name}-queue`, itself held to the operator's budget.
HYPERPOD_TRIGGER_SUFFIX = "-queue"
# Every name the program derives from an endpoint's (or batch job's) name, for any kind of
# object or Pulumi resource: another endpoint may not be called that (`x` and `x-router`).
DERIVED_SUFFIXES = (
    *ENDPOINT_SUFFIXES, "-scaler", "-router", "-engine", "-feeder", HYPERPOD_TRIGGER_SUFFIX,
    "-service", "-ingress", "-engine-ingress", "-sa", "-role", "-s3-read", "-batch",
    "-batch-metrics",
)


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


@dataclass(frozen=True)
class NameBudget:
    """How long a base name may be on a platform, and why (said in the error, R13)."""

    characters: int
    why: str


def default_budget() -> NameBudget:
    longest = max(ENDPOINT_SUFFIXES, key=len)
    return NameBudget(endpoint_name_budget(),
                      f"63 minus the longest suffix the program adds, {longest!r}")


def hyperpod_budget(autoscaling: bool) -> NameBudget:
    """50 (63 minus 'prefetch-' and '-inf' the operator adds); 44 with autoscaling, whose
    trigger `{name}-queue` is held to the same 50."""
    why = "63 minus 'prefetch-' and '-inf' the operator adds"
    if autoscaling:
        return NameBudget(hyperpod_name_budget() - len(HYPERPOD_TRIGGER_SUFFIX),
                          f"the HyperPod budget: {why}, less {HYPERPOD_TRIGGER_SUFFIX!r} of the "
                          "autoscaling trigger name")
    return NameBudget(hyperpod_name_budget(), f"the HyperPod budget: {why}")


def check_name(name: str, budget: int | NameBudget, what: str,
               service: bool = False) -> list[str]:
    """The problem with `name` as a base for Kubernetes names within `budget`, as one line
    (R13, R14): a name that is both badly formed and too long is one problem, said once.
    `service`: the name also names a Service, which must be an RFC 1035 label (a letter
    first)."""
    if isinstance(budget, int):
        budget = NameBudget(budget, "63 minus the longest prefix/suffix added to it")
    issues = []
    if not _LABEL.match(name) or (service and not name[:1].isalpha()):
        suggestion = sanitize(name)[: budget.characters].strip("-")
        if service and suggestion and not suggestion[0].isalpha():
            suggestion = f"e-{suggestion}"[: budget.characters].strip("-")
        hint = f" (for example {suggestion!r})" if suggestion else ""
        rule, first = ("RFC 1035", "starting with a letter and ending with a letter or digit") \
            if service else ("RFC 1123", "starting and ending with a letter or digit")
        issues.append(f"{what} {name!r} is not a lower-case {rule} label "
                      f"(a-z, 0-9 and '-', {first}){hint}")
    if len(name) > budget.characters:
        issues.append(
            f"{what} {name!r} has {len(name)} characters; the budget is {budget.characters} "
            f"({budget.why}) (R13)"
        )
    if len(issues) == 2:
        issues = [issues[0] + f", and has {len(name)} characters; the budget is "
                  f"{budget.characters} ({budget.why}) (R13)"]
    return issues


def derived_from(name: str, others: list[str]) -> tuple[str, str] | None:
    """(other name, suffix) when `name` is a name the program derives from another one."""
    for other in others:
        for suffix in DERIVED_SUFFIXES:
            if other != name and name == other + suffix:
                return other, suffix
    return None


def served_name_default(model_id: str) -> str:
    """Default served model name: the last path segment of the model id (R5)."""
    return model_id.rstrip("/").rsplit("/", 1)[-1]

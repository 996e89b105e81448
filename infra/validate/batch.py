"""Rules for `inference-stacks:batch_jobs`: each shard's engine is checked as the endpoint it is.

A batch job runs the same engine pod as an endpoint, so the endpoint rules (names R13/R14,
engine settings R8, GPU placement R3/R25, dtype R4, memory fit R9) apply unchanged; problems
are reported at the batch job's own key path.
"""

from __future__ import annotations

from collections import Counter

from pydantic import ValidationError

from components import names
from infra.config.base import NAMESPACE, Problem, key_path, problems_from_validation
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.validate.placement import PlacementError
from infra.validate.registry import PLATFORMS, PlatformRules
from infra.validate.rules import check_endpoint, check_gpu_fit

_ENDPOINT = f"{NAMESPACE}:endpoints"


# Endpoint fields a batch job sets under another name (`as_endpoint`).
_JOB_FIELD = {"replicas": "parallelism"}


def _at(index: int, *parts: str | int) -> str:
    return f"{NAMESPACE}:" + key_path("batch_jobs", index, *parts)


def _moved(problems: list[Problem], index: int) -> list[Problem]:
    """Endpoint-rule problems, re-located under `batch_jobs[index]`."""
    prefix = f"{_ENDPOINT}[{index}]"
    return [Problem(_at(index) + p.path.removeprefix(prefix), p.message) for p in problems]


def check_batch_jobs(config: StackConfig, spec: PlatformRules) -> list[Problem]:
    """Platform support, unique names, and the endpoint rules for every batch job."""
    problems: list[Problem] = []
    if config.batch_jobs and not spec.batch_jobs:
        where = ", ".join(sorted(n for n, p in PLATFORMS.items() if p.batch_jobs))
        return [Problem(f"{NAMESPACE}:batch_jobs", f"platform {config.platform} runs no batch "
                        f"jobs; they run on {where}")]
    jobs = Counter(j.name for j in config.batch_jobs)
    names_seen = [j.name for j in config.batch_jobs]
    endpoints = {(e.namespace, e.name) for e in config.endpoints}
    others = [e.name for e in config.endpoints] + [j.name for j in config.batch_jobs]
    for index, job in enumerate(config.batch_jobs):
        identity = (job.namespace, job.name)
        if jobs[job.name] > 1 and (first := names_seen.index(job.name)) < index:
            problems.append(Problem(_at(index, "name"), (
                f"{job.name!r} is used twice (also batch_jobs[{first}]); batch job names must "
                "be unique in the stack, whatever the namespace (outputs and Pulumi resources "
                "are keyed by them)")))
        derived = names.derived_from(job.name, others)
        if derived is not None:
            problems.append(Problem(_at(index, "name"), (
                f"{job.name!r} is the name the program gives the {derived[1]!r} objects of "
                f"{derived[0]!r} (an endpoint or batch job of this stack); rename one")))
        if identity in endpoints:
            problems.append(Problem(_at(index, "name"), (
                f"{job.name!r} is also an endpoint in namespace {job.namespace!r}; their "
                "Secrets would collide, rename one")))
        try:
            endpoint = job.as_endpoint()
        except ValidationError as exc:  # a bound the endpoint has and the job model lacks
            for problem in problems_from_validation(exc, EndpointConfig, (_at(index),)):
                field = _JOB_FIELD.get(problem.path.rsplit(".", 1)[-1])
                path = problem.path.rsplit(".", 1)[0] + f".{field}" if field else problem.path
                problems.append(Problem(path, problem.message))
            continue
        problems += _moved(check_endpoint(index, endpoint, config.hf_token is not None), index)
        try:
            placement = spec.place(endpoint, config.platform_settings)
        except PlacementError as exc:
            problems.append(Problem(_at(index, *exc.field_path.split(".")), str(exc)))
            continue
        problems += _moved(check_gpu_fit(index, endpoint, placement), index)
    return problems

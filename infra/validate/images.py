"""Every image a stack deploys is pinned: a moving tag only with its digest (issue 12, point 2).

A tag such as `nightly-20260710-b93cbcb`, `main` or `latest` names whatever was pushed last, so
pods started on different days (a rescheduled router, a new replica, a batch shard retried on
another node) would run different builds. Such a tag is therefore accepted only as
`repo:tag@sha256:<digest>`: the runtime pulls the digest, the tag stays in the reference for
people. This is an error, not a warning, and there is no switch to allow it: the fix is one
command at deploy time (`crane digest repo:tag`), where the registry is reachable anyway. It
covers the defaults too: kind `vllm-router` has only nightly images, and no digest of its
default tag could be looked up offline, so that kind needs `router.image` with a digest.

Release tags (`v0.32.0`, smg `1.13.0`) pass; pin them as well with `image:` when you need
the exact bytes (the same `repo:tag@sha256:` form).
"""

from __future__ import annotations

from components.engines import engine_profile
from components.images import image_problems
from components.router_manifests import DEFAULT_IMAGES
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.stack import StackConfig


def _problems(path: tuple[str | int, ...], given: str | None, default: str | None,
              default_of: str) -> list[Problem]:
    image = given or default
    if image is None:
        return []
    suffix = "" if given else f" (the default of {default_of}: set this key to pin it)"
    return [Problem(f"{NAMESPACE}:" + key_path(*path), text + suffix)
            for text in image_problems(image)]


def check_images(config: StackConfig) -> list[Problem]:
    """Engine, router and batch images as they would be deployed, defaults included."""
    problems: list[Problem] = []
    for index, endpoint in enumerate(config.endpoints):
        profile = engine_profile(endpoint.engine, endpoint.profile)
        problems += _problems(("endpoints", index, "image"), endpoint.image,
                              profile.image if profile else None,
                              f"engine {endpoint.engine} ({endpoint.profile})")
        if endpoint.router is not None:
            kind = endpoint.router.kind
            problems += _problems(("endpoints", index, "router", "image"),
                                  endpoint.router.image, DEFAULT_IMAGES[kind],
                                  f"router kind {kind}")
    for index, job in enumerate(config.batch_jobs):
        profile = engine_profile(job.engine, job.profile)
        problems += _problems(("batch_jobs", index, "image"), job.image,
                              profile.image if profile else None,
                              f"engine {job.engine} ({job.profile})")
    return problems

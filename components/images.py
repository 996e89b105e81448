"""Container image references: parse, and tell a mutable tag from a digest pin (issue 12).

A tag (`nightly-20260710-b93cbcb`, even `v0.32.0`) can be re-pushed; only `@sha256:<64 hex>`
names immutable content. References may carry both, `repo:tag@sha256:...`: the runtime pulls
by digest and the tag stays readable for humans and the plan diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Docker reference grammar, simplified: registry[:port]/path components, tag, digest.
_REPOSITORY = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Tags that by convention move: never accepted without a digest.
MOVING_TAG = re.compile(r"^(latest|nightly|main|dev|edge|stable)$|^nightly-")


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(reference: str) -> ImageRef:
    """`repo[:tag][@sha256:...]` -> ImageRef; ValueError naming what is malformed."""
    name, _, digest = reference.partition("@")
    if digest and not DIGEST.match(digest):
        raise ValueError(f"{reference!r}: digest must be sha256: and 64 lower-case hex digits")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ValueError(f"{reference!r}: malformed tag {tag!r}")
    if not _REPOSITORY.match(name):
        raise ValueError(f"{reference!r}: malformed repository {name!r}")
    return ImageRef(name, tag, digest or None)


def image_problems(reference: str, *, require_digest: bool = False) -> list[str]:
    """Why `reference` is not an acceptable pin; [] when it is.

    A moving tag (`latest`, `nightly*`, ...) needs a digest; `require_digest` asks one of any tag.
    """
    try:
        ref = parse_image(reference)
    except ValueError as exc:
        return [str(exc)]
    if ref.pinned:
        return []
    if ref.tag is None:
        return [f"{reference!r}: no tag and no digest (pulls `latest`)"]
    if MOVING_TAG.match(ref.tag):
        tagged = f"{ref.repository}:{ref.tag}"
        return [f"{reference!r}: tag {ref.tag!r} moves (nightly, latest, main... are re-pushed); "
                f"pin the build you tested as {tagged}@sha256:<digest>, the digest from "
                f"`crane digest {tagged}` or `docker buildx imagetools inspect {tagged}`"]
    if require_digest:
        return [f"{reference!r}: pin by digest ({ref.repository}:{ref.tag}@sha256:<digest>)"]
    return []

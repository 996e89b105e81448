"""Keep API keys and cluster credentials out of everything smoke prints or writes.

A misbehaving server may echo the key it was sent: as is, JSON-escaped inside a string,
URL-encoded in a redirect or error URL, base64-encoded (a Basic header or a debug dump), or cut
across stream chunks so that each piece holds only part of it. `Redactor` replaces every form it
knows and, at the edges of a text, a piece of a key long enough to matter. It must run on server
text *before* that text is truncated for a message: a cut can otherwise keep half a key that no
longer matches any whole form.

Known secrets come from the stack outputs. Whatever smoke cannot know in advance (result files
read back by `compare`) is covered by patterns: a bearer token, an `api_key=` value.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import yaml

from smoke.outputs import StackOutputs

REDACTED = "***"
# Shorter strings are too likely to occur by chance in a reason ("a", "401"); keys are longer.
MIN_SECRET_LEN = 6
# A piece of a key at the very start or end of a text (the rest went into another chunk or was
# cut off) is replaced when it is at least this long.
MIN_FRAGMENT_LEN = 6
_PATTERNS = (
    # The credential of an Authorization header value, whatever the scheme.
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[^\s\"',;]+"),
    # `api_key=...`, `"token": "..."`; a header name followed by its scheme is left to the above.
    re.compile(r"(?i)((?:api[_-]?key|authorization|token)[\"']?\s*[:=]\s*[\"']?)"
               r"(?!(?:bearer|basic)\s)[^\s\"',;&]+"),
)


def encoded_forms(secret: str) -> set[str]:
    """The ways `secret` can show up in server text: literal, escaped, encoded."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote_plus(secret, safe="")}
    raw = secret.encode()
    # base64 of the key inside a longer value depends on where it starts modulo 3: for each
    # alignment keep only the characters that encode key bytes alone.
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + raw).decode()
            start = 4 if offset else 0
            end = 4 * ((offset + len(raw)) // 3)
            core = text[start:end]
            if len(core) >= MIN_SECRET_LEN:
                forms.add(core)
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


@dataclass(frozen=True)
class Redactor:
    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: list[str | None]) -> Redactor:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LEN:
                forms |= encoded_forms(secret)
        # Longest first, so a secret containing another is replaced whole.
        return cls(tuple(sorted(forms, key=lambda s: (-len(s), s))))

    @classmethod
    def for_outputs(cls, outputs: StackOutputs) -> Redactor:
        """Secrets of a stack: every endpoint's API key and the kubeconfig's credentials."""
        found: list[str | None] = [ep.api_key for ep in outputs.endpoints.values()]
        found += _kubeconfig_secrets(outputs.kubeconfig)
        return cls.of(found)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        value = self._edges(value)
        for pattern in _PATTERNS:
            value = pattern.sub(lambda m: m.group(1) + REDACTED, value)
        return value

    def _edges(self, value: str) -> str:
        # A text that ends with the start of a key, or starts with the end of one, holds a
        # piece of it (a key cut across chunks or by a byte limit upstream).
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(value)), MIN_FRAGMENT_LEN - 1, -1):
                if value.endswith(secret[:size]):
                    value = value[: len(value) - size] + REDACTED
                    break
            for size in range(min(len(secret) - 1, len(value)), MIN_FRAGMENT_LEN - 1, -1):
                if value.startswith(secret[-size:]):
                    value = REDACTED + value[size:]
                    break
        return value

    def excerpt(self, value: str, limit: int) -> str:
        """`value` redacted, then cut to `limit` characters, whitespace runs folded."""
        return " ".join(self.text(value).split())[:limit]

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like `value` with secrets replaced in every string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _kubeconfig_secrets(kubeconfig: str | None) -> list[str | None]:
    if not kubeconfig:
        return []
    try:
        doc = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        return [kubeconfig]  # unparseable: at least never echo it whole
    users = doc.get("users") if isinstance(doc, dict) else None
    found: list[str | None] = []
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict):
            found += [v for k, v in user.items() if isinstance(v, str) and k != "username"]
    return found

"""Strict CIDR checks for exposure allow-lists (issue 12, point 3; the config rules call it).

`ipaddress.ip_network(..., strict=True)` refuses `10.0.0.1/8` (host bits set): such an entry is
usually a typo for a host (/32) or a network, and silently widening it hides the mistake.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Anything at least this wide is "the world" for an internet-facing allow-list.
MIN_PREFIX = {4: 8, 6: 16}


def world_cidr_problems(cidrs: Iterable[str]) -> list[str]:
    """One message per entry that is malformed, has host bits set, or opens to the world.

    World = a /0, or anything wider than /8 (IPv4) or /16 (IPv6): no client allow-list needs it.
    """
    problems: list[str] = []
    for raw in cidrs:
        text = str(raw).strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                loose = ipaddress.ip_network(text, strict=False)
                problems.append(f"{text}: host bits set; the network is {loose}, a single host "
                                f"is {text.split('/')[0]}/{loose.max_prefixlen}")
            else:
                problems.append(f"{text}: not a CIDR ({exc})")
            continue
        if network.prefixlen == 0:
            problems.append(f"{text}: the whole internet; list the clients' CIDRs")
        elif network.prefixlen < MIN_PREFIX[network.version]:
            problems.append(f"{text}: /{network.prefixlen} is wider than "
                            f"/{MIN_PREFIX[network.version]}; list the clients' CIDRs")
    return problems

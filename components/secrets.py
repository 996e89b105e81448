"""Generated secrets: the endpoint API key (R15, R24), one definition for every platform."""

from __future__ import annotations

import pulumi
import pulumi_random as random

API_KEY_LENGTH = 48


def generated_api_key(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A random API key as a Pulumi secret; `name` is the endpoint's resource name."""
    password = random.RandomPassword(f"{name}-api-key", length=API_KEY_LENGTH, special=False,
                                     opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(password.result)


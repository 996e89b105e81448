"""Type tokens of this program's components: `inference-stacks:<module>:<Name>`.

`<module>` is the Python module that defines the component, so a token says where its code is.
Tokens used by earlier releases are kept as aliases: Pulumi then matches resources already in
a stack's state to the new token instead of replacing them (children follow their parent).
"""

from __future__ import annotations

import pulumi

PACKAGE = "inference-stacks"


def type_token(module: str, name: str) -> str:
    """`components.platforms.eks`, `EksCluster` -> `inference-stacks:eks:EksCluster`."""
    return f"{PACKAGE}:{module.rsplit('.', 1)[-1]}:{name}"


def with_aliases(opts: pulumi.ResourceOptions | None,
                 *old_tokens: str) -> pulumi.ResourceOptions:
    """`opts` plus aliases to the type tokens this component had before."""
    aliases = [pulumi.Alias(type_=token) for token in old_tokens]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))

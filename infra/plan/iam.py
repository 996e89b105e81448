"""Every IAM permission a plan would grant, as a reviewable Markdown page (`iam.md`).

Roles with their trust policies, the managed policies attached to them and each policy's
statements, read from the planned resources so the page cannot drift from what is created.
"""

from __future__ import annotations

import json
from typing import Any

_ROLE = "aws:iam/role:Role"
_POLICY = "aws:iam/policy:Policy"
_INLINE = "aws:iam/rolePolicy:RolePolicy"
_ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement_lines(document: dict[str, Any]) -> list[str]:
    """One bullet per statement: effect, actions, resources, conditions, principals."""
    lines = []
    for statement in _as_list(document.get("Statement") or []):
        if not isinstance(statement, dict):
            continue
        sid = f" `{statement['Sid']}`" if statement.get("Sid") else ""
        actions = ", ".join(f"`{a}`" for a in _as_list(statement.get("Action") or []))
        line = f"- {statement.get('Effect', '?')}{sid}: {actions}"
        if statement.get("Principal"):
            line += f" for {json.dumps(statement['Principal'], sort_keys=True)}"
        resources = statement.get("Resource")
        if resources and resources != "*":
            line += f" on {', '.join(map(str, _as_list(resources)))}"
        if statement.get("Condition"):
            line += f" when {json.dumps(statement['Condition'], sort_keys=True)}"
        lines.append(line)
    return lines


def iam_report(resources: list[dict[str, Any]]) -> str | None:
    """Markdown of every role and policy in `resources`, or None when there is no IAM."""
    roles = [r for r in resources if r["type"] == _ROLE]
    policies = [r for r in resources if r["type"] in (_POLICY, _INLINE)]
    attachments = [r for r in resources if r["type"] == _ATTACH]
    if not roles and not policies:
        return None
    out = ["# IAM in this plan", ""]
    for role in roles:
        out += [f"## Role `{role['name']}`", "", "Trust policy:"]
        out += statement_lines(_document(role["inputs"].get("assumeRolePolicy")))
        attached = [a["inputs"].get("policyArn") for a in attachments
                    if a["inputs"].get("role") in (role["name"], role["inputs"].get("name"))]
        if attached:
            out += ["", "Attached policies:"] + [f"- `{arn}`" for arn in attached]
        out.append("")
    for policy in policies:
        out += [f"## Policy `{policy['name']}`", ""]
        if policy["inputs"].get("description"):
            out += [str(policy["inputs"]["description"]), ""]
        out += statement_lines(_document(policy["inputs"].get("policy")))
        out.append("")
    return "\n".join(out)

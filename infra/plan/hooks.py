"""What the mock engine cannot know, per platform: cloud-assigned state and invoke results.

The offline plan runs the real program under Pulumi's mocks; resources whose outputs only the
cloud assigns (cluster kubeconfigs, ARNs, load balancer hostnames, zones) get plausible values
here, keyed by type token (state hooks) or invoke token (call hooks). `hooks_for(platform)`
gives the generic hooks plus that platform's own; the production modules know none of this.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi

from infra.plan.mocks import SECRET, CallHook, StateHook

PLAN_DOMAIN = "plan.invalid"
PLAN_ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[2]
PLAN_EXTERNAL_IP = "203.0.113.10"  # documentation range (RFC 5737)



# --- every platform ---------------------------------------------------------------------------

def _lb_status(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """A recognisable fake hostname for a load balancer the plan cannot create."""
    spec = args.inputs.get("spec") or {}
    if args.typ.endswith(":Service") and spec.get("type") != "LoadBalancer":
        return {}
    hostname = f"{args.name}.lb.{PLAN_DOMAIN}"
    return {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def _stack_reference(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """Outputs of a referenced stack, taken from that stack's own offline plan.

    The referenced stack is planned in a child process (the mock engine is process-global), so
    a workload stack plans against exactly what its cluster stack's plan exports.
    """
    full_name = str(args.inputs.get("name") or args.name)
    stack = full_name.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "infra", "plan", "--stack", stack, "--out", tmp, "--quiet"],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"planning referenced stack {stack!r} failed:\n{proc.stderr}")
        outputs = json.loads((Path(tmp) / "outputs.json").read_text(encoding="utf-8"))
    secret_names = sorted(k for k, v in outputs.items() if v == SECRET)
    return {"name": full_name, "outputs": outputs, "secretOutputNames": secret_names}


GENERIC_STATE: dict[str, StateHook] = {
    "kubernetes:networking.k8s.io/v1:Ingress": _lb_status,
    "kubernetes:core/v1:Service": _lb_status,
    "random:index/randomPassword:RandomPassword": lambda a: {"result": f"plan-{a.name}"},
    "pulumi:pulumi:StackReference": _stack_reference,
}


# --- eks (and hyperpod, which builds on the same EKS pieces) ----------------------------------


def _plan_cluster(args: Any) -> dict[str, Any]:
    """`eks:index:Cluster` outputs the program reads (one opaque resource under mocks)."""
    name = args.inputs.get("name") or args.name
    issuer = f"oidc.eks.plan.invalid/id/{name.upper().replace('-', '')[:32]}"
    endpoint = f"https://{name}.eks.plan.invalid"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": endpoint,
                                                "certificate-authority-data": "UExBTg=="}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--output", "json"]}}}],
    }
    return {
        "kubeconfigJson": json.dumps(kubeconfig), "kubeconfig": kubeconfig,
        "oidcIssuer": issuer, "oidcProviderUrl": f"https://{issuer}",
        "oidcProviderArn": f"arn:aws:iam::{PLAN_ACCOUNT}:oidc-provider/{issuer}",
        "clusterSecurityGroupId": f"sg-{name}-cluster",
    }


def _plan_arn(service: str, kind: str) -> Any:
    return lambda args: {"arn": f"arn:aws:{service}::{PLAN_ACCOUNT}:{kind}/{args.name}"}


def _plan_zones(args: Any) -> dict[str, Any]:
    region = args.args.get("region") or "us-east-1"
    return {"names": [f"{region}{s}" for s in "abc"], "zoneIds": [f"z{s}" for s in "abc"],
            "id": region, "state": "available"}



def _node_group(args: Any) -> dict[str, Any]:
    """The Auto Scaling group EKS creates for a managed node group (named by EKS)."""
    return {"resources": [{"autoscalingGroups": [{"name": f"eks-{args.name}-plan"}],
                           "remoteAccessSecurityGroupId": ""}]}


EKS_STATE: dict[str, StateHook] = {
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "eks:index:Cluster": _plan_cluster,
    "aws:iam/role:Role": _plan_arn("iam", "role"),
    "aws:iam/policy:Policy": _plan_arn("iam", "policy"),
    "aws:kms/key:Key": lambda a: {"arn": f"arn:aws:kms:plan:{PLAN_ACCOUNT}:key/{a.name}",
                                  "keyId": a.name},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda a: {"latestVersion": 1},
}
EKS_CALLS: dict[str, CallHook] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _plan_zones,
    "aws:ec2/getVpc:getVpc": lambda a: {"id": a.args.get("id"), "cidrBlock": "10.0.0.0/16"},
}


# --- hyperpod ---------------------------------------------------------------------------------

def _bucket(args: Any) -> dict[str, Any]:
    name = str(args.inputs.get("bucket") or args.name)
    return {"bucket": name, "arn": f"arn:aws:s3:::{name}"}


def _role(args: Any) -> dict[str, Any]:
    name = str(args.inputs.get("name") or args.name)
    return {"name": name, "arn": f"arn:aws:iam::{PLAN_ACCOUNT}:role/{name}"}


def _hyperpod_cluster(args: Any) -> dict[str, Any]:
    return {"clusterArn": f"arn:aws:sagemaker:us-east-1:{PLAN_ACCOUNT}:cluster/plan0hyperpod"}


def _amp_workspace(args: Any) -> dict[str, Any]:
    """An Amazon Managed Prometheus workspace: its ARN and (slash-terminated) endpoint."""
    workspace = f"ws-plan-{args.name}"
    return {"arn": f"arn:aws:aps:us-east-1:{PLAN_ACCOUNT}:workspace/{workspace}",
            "prometheusEndpoint":
                f"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{workspace}/"}


HYPERPOD_STATE: dict[str, StateHook] = {
    **EKS_STATE,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:iam/role:Role": _role,
    "aws-native:sagemaker:Cluster": _hyperpod_cluster,
    "aws:amp/workspace:Workspace": _amp_workspace,
}
HYPERPOD_CALLS: dict[str, CallHook] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones":
        lambda a: {"names": ["us-east-1a", "us-east-1b", "us-east-1c"],
                   "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "id": "us-east-1"},
    "aws:index/getCallerIdentity:getCallerIdentity":
        lambda a: {"accountId": PLAN_ACCOUNT, "arn": f"arn:aws:iam::{PLAN_ACCOUNT}:user/plan",
                   "userId": "plan", "id": PLAN_ACCOUNT},
}


# --- k3s-gcp and k3s-workload -----------------------------------------------------------------

def _plan_address(args: Any) -> dict[str, Any]:
    """A static external IP the offline plan cannot allocate (internal ones are inputs)."""
    if args.inputs.get("address") or args.inputs.get("addressType") == "INTERNAL":
        return {}
    return {"address": PLAN_EXTERNAL_IP}


def _plan_account(args: Any) -> dict[str, Any]:
    account = args.inputs.get("accountId", args.name)
    project = args.inputs.get("project", "plan-project")
    return {"email": f"{account}@{project}.iam.gserviceaccount.com"}


GET_SECRET_VERSION = "gcp:secretmanager/getSecretVersion:getSecretVersion"
# What the offline plan reads from Secret Manager instead of the real kubeconfig.
PLAN_KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: k3s-plan
  cluster: {{server: 'https://{PLAN_EXTERNAL_IP}:6443', certificate-authority-data: UExBTg==}}
contexts:
- name: k3s-plan
  context: {{cluster: k3s-plan, user: k3s-plan}}
current-context: k3s-plan
users:
- name: k3s-plan
  user: {{token: plan-placeholder}}
"""


def _plan_secret_version(args: Any) -> dict[str, Any]:
    return {"secretData": PLAN_KUBECONFIG, "secret": args.args.get("secret"), "version": "1",
            "project": args.args.get("project"), "name": "plan"}


# --- the registry -----------------------------------------------------------------------------

PLAN_HOOKS: dict[str, tuple[dict[str, StateHook], dict[str, CallHook]]] = {
    "kubernetes": ({}, {}),
    "eks": (EKS_STATE, EKS_CALLS),
    "hyperpod": (HYPERPOD_STATE, HYPERPOD_CALLS),
    "k3s-gcp": ({"gcp:compute/address:Address": _plan_address,
                 "gcp:serviceaccount/account:Account": _plan_account}, {}),
    "k3s-workload": ({}, {GET_SECRET_VERSION: _plan_secret_version}),
}


def hooks_for(platform: str) -> tuple[dict[str, StateHook], dict[str, CallHook]]:
    """The generic state hooks plus the platform's own, and the platform's call hooks."""
    state, calls = PLAN_HOOKS[platform]
    return {**GENERIC_STATE, **state}, dict(calls)

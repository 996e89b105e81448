"""Platform `hyperpod`: stack plans, the CR in them, IAM, and every platform rule with its key path.

The offline plan records resource inputs after Pulumi's Python deserializer, which pushes a
nested secret up to every sibling key of a property: the CR's whole `spec` would read
`[secret]` because the API key sits inside it (in a real state only that leaf is encrypted).
`leaf_plan` records the wire inputs instead, with secrets redacted at the leaf, so the CR can
be validated against the CRD and the API key shown to be a secret plain `value` (R15).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime import rpc

from infra.config.endpoint import EndpointConfig
from infra.config.platforms.hyperpod import HyperPodSettings
from infra.plan import Plan, mocks
from infra.platforms.hyperpod import dependency_chart
from infra.validate.placement import PlacementError
from infra.validate.platforms.hyperpod import place
from tests.contract.harness import validate_inference_endpoint_config
from tests.helpers import ROOT, config_problems, plan, plan_config

STACKS = ("hyperpod", "hyperpod-public")
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
GROUPS = [{"name": "system", "role": "system", "instance_type": "ml.c5.4xlarge"},
          {"name": "gpu", "role": "gpu", "instance_type": "ml.g5.8xlarge"}]


def _leaf(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return mocks.SECRET
        return {k: _leaf(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaf(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@functools.cache
def leaf_plan(stack: str) -> tuple[Plan, dict[tuple[str, str], dict[str, Any]]]:
    """The plan plus {(type, name): {"inputs", "replace_on_changes"}} with leaf-level secrets."""
    return _recording(lambda: plan(stack))


def _recording(run: Any) -> tuple[Plan, dict[tuple[str, str], dict[str, Any]]]:
    recorded: dict[tuple[str, str], dict[str, Any]] = {}
    original = mocks.RecordingMonitor.RegisterResource

    def register(self: Any, request: Any) -> Any:
        recorded[(request.type, request.name)] = {
            "inputs": _leaf(json_format.MessageToDict(request.object)),
            "replace_on_changes": list(request.replaceOnChanges),
            "delete_before_replace": request.deleteBeforeReplace,
        }
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mocks.RecordingMonitor, "RegisterResource", register)
        result = run()
    return result, recorded


def custom_resources(stack: str) -> list[dict[str, Any]]:
    _, recorded = leaf_plan(stack)
    return [{"inputs": r["inputs"], "replace_on_changes": r["replace_on_changes"],
             "delete_before_replace": r["delete_before_replace"]}
            for (typ, _), r in recorded.items() if typ.endswith(":InferenceEndpointConfig")]


def inputs(stack: str, type_token: str, name: str) -> dict[str, Any]:
    result, _ = leaf_plan(stack)
    found = [r["inputs"] for r in result.resources if r["type"] == type_token
             and r["name"] == name]
    assert len(found) == 1, (type_token, name, [r["name"] for r in result.resources
                                                if r["type"] == type_token])
    return found[0]


def hyperpod_config(**endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "qwen3-4b", "engine": "vllm",
                            "model": "Qwen/Qwen3-4B-Instruct-2507",
                            "gpu": {"instance_type": "ml.g5.8xlarge"},
                            "routing": {"strategy": "prefixaware"}}
    base.update(endpoint)
    return {"platform": "hyperpod",
            "hyperpod": {"region": "us-east-1", "instance_groups": copy.deepcopy(GROUPS),
                         "availability_zone_names": ["us-east-1a", "us-east-1b"]},
            "endpoints": [base]}


def problems_of(config: dict[str, Any]) -> str:
    return "\n".join(config_problems(config))


# --- the stacks -------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_stack_plans_cluster_operator_roles_and_a_crd_valid_endpoint(stack: str) -> None:
    result, _ = leaf_plan(stack)
    types = {r["type"] for r in result.resources}
    # The dependency chart's release is there once vendored (test_dependency_chart_*).
    for token in ("aws-native:sagemaker:Cluster", "aws:eks/addon:Addon", "aws:iam/role:Role",
                  "eks:index:Cluster",
                  "kubernetes:inference.sagemaker.aws.amazon.com/v1:InferenceEndpointConfig"):
        assert token in types, token
    crs = custom_resources(stack)
    assert crs
    for cr in crs:
        validate_inference_endpoint_config(cr["inputs"])
    assert result.outputs["operator_namespace"] == "hyperpod-inference-system"


@pytest.mark.parametrize("stack", STACKS)
def test_api_key_is_a_secret_plain_env_value_and_a_secret_output(stack: str) -> None:  # R15
    result, _ = leaf_plan(stack)
    for cr in custom_resources(stack):
        env = cr["inputs"]["spec"]["worker"]["environmentVariables"]
        keys = [e for e in env if e["name"] in ("INFERENCE_API_KEY", "VLLM_API_KEY")]
        assert keys and all(e == {"name": e["name"], "value": mocks.SECRET} for e in keys)
    for endpoint in result.outputs["endpoints"].values():
        assert endpoint["api_key"] == mocks.SECRET
    assert result.outputs["kubeconfig"] == mocks.SECRET


@pytest.mark.parametrize("stack", STACKS)
def test_routing_and_env_changes_replace_the_custom_resource(stack: str) -> None:
    for cr in custom_resources(stack):
        assert "spec.intelligentRoutingSpec" in cr["replace_on_changes"]
        assert "spec.worker.environmentVariables" in cr["replace_on_changes"]
        assert cr["delete_before_replace"] is True


def test_vllm_stack_has_l1_cache_routing_and_no_prefix_caching_flag() -> None:  # R10, R11
    (cr,) = custom_resources("hyperpod")
    body = cr["inputs"]["spec"]
    assert body["instanceType"] == "ml.g5.8xlarge"
    assert body["kvCacheSpec"]["enableL1Cache"] is True
    assert body["intelligentRoutingSpec"] == {"enabled": True, "routingStrategy": "prefixaware"}
    assert body["modelSourceConfig"]["prefetchEnabled"] is False
    assert "--enable-prefix-caching" not in body["worker"]["args"]
    assert body["loadBalancer"]["healthCheckPath"] == "/health"


def test_public_stack_fronts_the_router_with_its_own_internet_facing_alb() -> None:  # R12, R17
    result, _ = leaf_plan("hyperpod-public")
    (cr,) = custom_resources("hyperpod-public")
    assert "kvCacheSpec" not in cr["inputs"]["spec"]
    assert "--enable-metrics" in cr["inputs"]["spec"]["worker"]["args"]  # R7
    ingress = next(o for o in result.manifests.values() if o["kind"] == "Ingress")
    assert ingress["metadata"]["namespace"] == "hyperpod-inference-system"
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == \
        "internet-facing"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "qwen3-4b-sglang-default-router"
    endpoint = result.outputs["endpoints"]["qwen3-4b-sglang"]
    assert endpoint["exposure"] == "public"
    assert endpoint["base_url"].startswith("https://")
    assert endpoint["load_balancer"]["scheme"] == "internet-facing"
    assert endpoint["served_model_name"] == "Qwen3-4B-Instruct-2507"


# --- IAM ----------------------------------------------------------------------------------------

def _subject(role: dict[str, Any]) -> list[str]:
    doc = json.loads(role["assumeRolePolicy"])
    subjects = []
    for statement in doc["Statement"]:
        for values in statement.get("Condition", {}).values():
            subjects += [v for k, v in values.items() if k.endswith(":sub")]
            assert all(not k.endswith(":sub") or op == "StringEquals"
                       for op in statement["Condition"] for k in values)
    return subjects


@pytest.mark.parametrize(("role", "subject"), [
    ("hyperpod-operator-execution",
     "system:serviceaccount:hyperpod-inference-system:hyperpod-inference-controller-manager"),
    ("hyperpod-operator-alb",
     "system:serviceaccount:hyperpod-inference-system:aws-load-balancer-controller"),
    ("hyperpod-operator-keda", "system:serviceaccount:hyperpod-inference-system:keda-operator"),
    ("hyperpod-operator-s3-csi", "system:serviceaccount:kube-system:s3-csi-driver-sa"),
])
def test_irsa_trust_is_bound_to_exactly_one_service_account(role: str, subject: str) -> None:
    assert _subject(inputs("hyperpod", "aws:iam/role:Role", role)) == [subject]


def test_execution_role_name_prefix_and_managed_policies() -> None:
    execution = inputs("hyperpod", "aws:iam/role:Role", "hyperpod-operator-execution")
    assert execution["name"].startswith("SageMakerHyperPodInference")
    trust = json.loads(execution["assumeRolePolicy"])["Statement"]
    assert {"Service": "sagemaker.amazonaws.com"} in [s["Principal"] for s in trust]
    attached = {r["inputs"]["policyArn"] for r in leaf_plan("hyperpod")[0].resources
                if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    assert "arn:aws:iam::aws:policy/AmazonSageMakerHyperPodInferenceAccess" in attached
    assert "arn:aws:iam::aws:policy/AmazonSageMakerClusterInstanceRolePolicy" in attached


def test_instance_role_reads_only_the_lifecycle_bucket_the_stack_owns() -> None:
    policy = json.loads(inputs("hyperpod", "aws:iam/rolePolicy:RolePolicy",
                               "hyperpod-instances-lifecycle")["policy"])
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::hyperpod-lifecycle", "arn:aws:s3:::hyperpod-lifecycle/*"}


def test_cluster_has_eks_orchestrator_lifecycle_script_and_automatic_recovery() -> None:
    cluster = inputs("hyperpod", "aws-native:sagemaker:Cluster", "hyperpod-cluster")
    assert cluster["nodeRecovery"] == "Automatic"
    assert cluster["orchestrator"]["eks"]["clusterArn"].startswith("arn:aws:eks:us-east-1:")
    groups = {g["instanceGroupName"]: g for g in cluster["instanceGroups"]}
    assert groups["system"]["instanceType"] == "ml.c5.4xlarge"
    for group in groups.values():
        assert group["lifeCycleConfig"] == {"onCreate": "on_create.sh",
                                            "sourceS3Uri": "s3://hyperpod-lifecycle/lifecycle/"}


def test_inference_addon_configuration_and_its_dependencies() -> None:
    addon = inputs("hyperpod", "aws:eks/addon:Addon", "hyperpod-operator-addon")
    assert addon["addonName"] == "amazon-sagemaker-hyperpod-inference"
    config = json.loads(addon["configurationValues"])
    assert config["executionRoleArn"].split("/")[-1].startswith("SageMakerHyperPodInference")
    assert config["hyperpodClusterArn"].startswith("arn:aws:sagemaker:")
    assert config["tlsCertificateS3Bucket"] == "hyperpod-operator-tls"
    assert config["alb"]["serviceAccount"]["roleArn"].endswith("/hyperpod-operator-alb")
    assert config["keda"]["auth"]["aws"]["irsa"]["roleArn"].endswith("/hyperpod-operator-keda")
    names = {r["inputs"]["addonName"] for r in leaf_plan("hyperpod")[0].resources
             if r["type"] == "aws:eks/addon:Addon"}
    assert {"aws-mountpoint-s3-csi-driver", "aws-fsx-csi-driver", "cert-manager"} <= names


# --- rules with key paths --------------------------------------------------------------------

def test_the_test_config_is_valid() -> None:
    assert config_problems(hyperpod_config()) == []


def test_kv_cache_with_sglang_is_rejected() -> None:  # R10
    text = problems_of(hyperpod_config(engine="sglang", kv_cache={"l1": True}))
    assert "endpoints[0].kv_cache: KV cache tiers can only be configured for vLLM" in text


def test_prefix_caching_with_kv_cache_is_rejected() -> None:  # R11
    text = problems_of(hyperpod_config(kv_cache={"l1": True},
                                       engine_args={"enable_prefix_caching": True}))
    assert "endpoints[0].engine_args.enable_prefix_caching" in text and "R11" in text


def test_tieredstorage_needs_the_explicit_experimental_flag() -> None:
    assert "experimental" in problems_of(hyperpod_config(
        kv_cache={"l2_backend": "tieredstorage"}))
    assert config_problems(hyperpod_config(kv_cache={
        "l2_backend": "tieredstorage", "experimental_tieredstorage": True})) == []


def test_public_exposure_without_routing_is_rejected() -> None:  # R12
    config = hyperpod_config(exposure={"type": "alb", "scheme": "internet-facing",
                                       "certificate_arn": CERT,
                                       "inbound_cidrs": ["203.0.113.0/24"]})
    assert config_problems(config) == []
    del config["endpoints"][0]["routing"]
    text = problems_of(config)
    assert "endpoints[0].routing: missing, but exposure alb (public) needs intelligent " \
           "routing" in text and "R12" in text


def test_a_60_character_mixed_case_name_is_rejected_with_the_budget() -> None:  # R13, R14
    name = "Qwen3-" + "X" * 54
    text = problems_of(hyperpod_config(name=name))
    assert "endpoints[0].name" in text and "budget is 50" in text
    assert "'prefetch-' and '-inf'" in text


def test_nlb_and_unsupported_sources_are_rejected_with_their_paths() -> None:
    text = problems_of(hyperpod_config(
        exposure={"type": "nlb"},
        source={"type": "s3", "bucket": "models", "endpoint_url": "https://minio:9000",
                "stream": True}))
    assert "endpoints[0].exposure.type: 'nlb' is not available on hyperpod" in text
    assert "endpoints[0].source.endpoint_url" in text
    assert "endpoints[0].source.stream" in text
    text = problems_of(hyperpod_config(source={"type": "huggingface", "revision": "main"}))
    assert "endpoints[0].source.revision" in text and "commit SHA" in text


def test_system_group_must_be_large_enough_and_gpu_groups_ml_gpu_types() -> None:
    config = hyperpod_config()
    config["hyperpod"]["instance_groups"][0]["instance_type"] = "ml.c5.xlarge"
    config["hyperpod"]["instance_groups"][1]["instance_type"] = "ml.g4dn.xlarge"
    text = problems_of(config)
    assert "hyperpod.instance_groups[0].instance_type: 'ml.c5.xlarge' is too small" in text
    assert "ml.c5.4xlarge or larger" in text
    assert "hyperpod.instance_groups[1].instance_type: 'ml.g4dn.xlarge' is not a HyperPod " \
           "GPU type" in text


def test_endpoint_instance_type_must_be_an_ml_gpu_type_of_a_gpu_group() -> None:
    settings = HyperPodSettings.model_validate(hyperpod_config()["hyperpod"])
    for instance_type, message in (("g5.8xlarge", "not a known HyperPod GPU type"),
                                   ("ml.g5.12xlarge", "in no GPU instance group")):
        endpoint = EndpointConfig.model_validate(
            {**hyperpod_config()["endpoints"][0], "gpu": {"instance_type": instance_type}})
        with pytest.raises(PlacementError, match=message):
            place(endpoint, settings)
    text = problems_of(hyperpod_config(gpu={"instance_type": "g5.xlarge"}))
    assert "endpoints[0].gpu.instance_type" in text


def test_program_owned_env_names_are_rejected() -> None:  # R15
    text = problems_of(hyperpod_config(env={"VLLM_API_KEY": "x"}))
    assert "endpoints[0].env" in text


def test_unsupported_kubernetes_version_is_rejected() -> None:
    config = hyperpod_config()
    config["hyperpod"]["kubernetes_version"] = "1.35"
    assert "hyperpod.kubernetes_version" in problems_of(config)


def test_fsx_source_is_accepted_here() -> None:
    assert config_problems(hyperpod_config(
        source={"type": "fsx", "file_system_id": "fs-0123456789abcdef0"})) == []


AMP = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd-4567"
PLAN_VARIANTS: dict[str, dict[str, Any]] = {
    "s3-autoscaling-l2-redis": {
        "source": {"type": "s3", "bucket": "models", "prefix": "Qwen/Qwen3-4B-Instruct-2507"},
        "kv_cache": {"l2_backend": "redis", "l2_redis_url": "redis://cache:6379"},
        "autoscaling": {"prometheus_server_address": AMP, "max": 3}},
    "fsx-no-routing": {"source": {"type": "fsx", "file_system_id": "fs-0123456789abcdef0"},
                       "routing": None},
    "internal-alb-sglang-dlc": {"engine": "sglang", "profile": "sagemaker-dlc",
                                "exposure": {"type": "alb"}},
    "hf-token-commit": {"source": {"type": "huggingface", "use_token": True,
                                   "revision": "a" * 40}},
}


@pytest.mark.parametrize("variant", sorted(PLAN_VARIANTS))
def test_planned_variants_render_crd_valid_custom_resources(variant: str) -> None:
    changes = {k: v for k, v in PLAN_VARIANTS[variant].items() if v is not None}
    config = hyperpod_config(**changes)
    if PLAN_VARIANTS[variant].get("routing", "keep") is None:
        del config["endpoints"][0]["routing"]
    if variant == "hf-token-commit":
        config["hf_token"] = "hf_plan"
    assert config_problems(config) == []
    result, recorded = _recording(lambda: plan_config(config, stack=f"hp-{variant}"))
    crs = [r["inputs"] for (typ, _), r in recorded.items()
           if typ.endswith(":InferenceEndpointConfig")]
    assert len(crs) == 1
    validate_inference_endpoint_config(crs[0])
    endpoint = result.outputs["endpoints"]["qwen3-4b"]
    if variant == "fsx-no-routing":  # no router: the program's own Service on the engine port
        assert endpoint["service"] == "qwen3-4b" and endpoint["port"] == 8000
        assert any(o["kind"] == "Service" for o in result.manifests.values())
    if variant == "internal-alb-sglang-dlc":
        assert endpoint["exposure"] == "internal" and endpoint["load_balancer"]["scheme"] == \
            "internal"
        assert crs[0]["spec"]["worker"]["modelInvocationPort"]["containerPort"] == 8080


def test_zone_and_cidr_settings_are_checked() -> None:
    config = hyperpod_config()
    config["hyperpod"]["availability_zone_names"] = ["us-east-1a"]
    config["hyperpod"]["api_public_access_cidrs"] = ["not-a-cidr"]
    config["hyperpod"]["vpc_cidr"] = "10.0.0.0/24"
    text = problems_of(config)
    assert "hyperpod.api_public_access_cidrs" in text and "hyperpod.vpc_cidr" in text
    config = hyperpod_config()
    config["hyperpod"]["availability_zone_names"] = ["us-east-1a"]
    assert "hyperpod.availability_zone_names" in problems_of(config)


def test_vpc_cni_is_pinned_to_at_least_1_18_3() -> None:
    """HyperPod prerequisite: VPC CNI >= 1.18.3 on the EKS cluster."""
    from infra.plan import STACKS_DIR, read_stack_file
    from tests.helpers import config_problems

    result, _ = leaf_plan("hyperpod")
    cluster = next(r for r in result.resources if r["type"] == "eks:index:Cluster")
    assert cluster["inputs"]["vpcCniOptions"]["addonVersion"] == "v1.20.1-eksbuild.3"
    config, _ = read_stack_file(STACKS_DIR / "Pulumi.hyperpod.yaml")
    section = json.loads(config["inference-stacks:hyperpod"])
    section["vpc_cni_addon_version"] = "v1.18.2-eksbuild.1"
    config["inference-stacks:hyperpod"] = json.dumps(section)
    problems = config_problems(config)
    assert any("hyperpod.vpc_cni_addon_version" in p and "v1.18.3" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_every_addon_waits_for_the_cluster_and_a_node_group(stack: str) -> None:
    """cert-manager had no dependency at all; the CSI add-ons reached the cluster only through
    their IRSA roles and never waited for nodes to schedule on."""
    broken = [v for v in plan(stack).violations if v.startswith("addons-after")]
    assert broken == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_uses_providers_pinned_to_the_configured_region(stack: str) -> None:
    """hyperpod.region used to feed only strings: a shell in another region deployed there."""
    result = plan(stack)
    assert [v for v in result.violations if v.startswith("cloud-location")] == []
    providers = {r["type"]: r["inputs"].get("region") for r in result.resources
                 if r["type"] in ("pulumi:providers:aws", "pulumi:providers:aws-native")}
    assert providers == {"pulumi:providers:aws": "us-east-1",
                         "pulumi:providers:aws-native": "us-east-1"}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_plans_without_deploy_order_violations(stack: str) -> None:
    assert plan(stack).violations == []


def _chart_dir(tmp_path: Path) -> Path:
    chart = tmp_path / "HyperPodHelmChart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hyperpod-helm-chart\n"
                                      "version: 0.1.0\n", encoding="utf-8")
    return chart


def test_dependency_chart_is_installed_with_its_dependencies_fetched(tmp_path: Path) -> None:
    """A local chart pulling remote dependencies was installed without dependency_update."""
    config = hyperpod_config()
    config["hyperpod"]["dependency_chart_path"] = str(_chart_dir(tmp_path))
    result = plan_config(config)
    [release] = [r["inputs"] for r in result.resources
                 if r["type"] == "kubernetes:helm.sh/v3:Release"
                 and r["name"] == "hyperpod-dependencies"]
    assert release["dependencyUpdate"] is True
    assert release["chart"] == str(tmp_path / "HyperPodHelmChart")
    assert not any("dependency_chart_path" in w for w in result.warnings)
    assert result.violations == []


def test_preview_without_the_chart_checkout_skips_the_release_and_warns(tmp_path: Path) -> None:
    """`pulumi preview` of a fresh clone failed on the missing vendor/ directory."""
    config = hyperpod_config()
    config["hyperpod"]["dependency_chart_path"] = str(tmp_path / "missing")
    result = plan_config(config)
    # (The monitoring charts are releases too; the dependency chart's is the one left out.)
    assert not [r for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"
                and r["name"] == "hyperpod-dependencies"]
    assert any(r["type"] == "aws-native:sagemaker:Cluster" for r in result.resources)
    [warning] = [w for w in result.warnings if "dependency_chart_path" in w]
    assert "scripts/vendor-hyperpod-chart.sh" in warning
    assert result.violations == []


def test_up_without_the_chart_checkout_stops_naming_the_command(tmp_path: Path) -> None:
    settings = HyperPodSettings.model_validate(
        {**hyperpod_config()["hyperpod"], "dependency_chart_path": str(tmp_path / "missing")})
    assert dependency_chart(settings, dry_run=True) is None
    with pytest.raises(pulumi.RunError, match=re.escape("scripts/vendor-hyperpod-chart.sh")):
        dependency_chart(settings, dry_run=False)
    settings = settings.model_copy(update={"dependency_chart_path": str(_chart_dir(tmp_path))})
    assert dependency_chart(settings, dry_run=False) == str(tmp_path / "HyperPodHelmChart")


def _vendor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "scripts" / "vendor-hyperpod-chart.sh"), *args],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, **(env or {})})


def test_vendor_script_pins_a_full_commit_and_checks_its_arguments(tmp_path: Path) -> None:
    dry = _vendor("--dry-run", "--dest", str(tmp_path / "cli"))
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"fetch --quiet --depth 1 \S+sagemaker-hyperpod-cli\.git [0-9a-f]{40}\n",
                     dry.stdout), dry.stdout
    assert not (tmp_path / "cli").exists()
    for bad in (["--commit", "main"], ["--commit"], ["--frobnicate"]):
        proc = _vendor(*bad)
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), (bad, proc.stderr)
    (tmp_path / "taken").mkdir()
    proc = _vendor("--dest", str(tmp_path / "taken"))
    assert proc.returncode == 1 and "remove it first" in proc.stderr


def test_vendor_script_checks_out_the_commit_and_the_chart(tmp_path: Path) -> None:
    """Against a local repository standing in for GitHub (no network here)."""
    source = tmp_path / "upstream"
    chart = source / "helm_chart" / "HyperPodHelmChart"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: hyperpod-helm-chart\n", encoding="utf-8")
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "chart"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    env = {"HYPERPOD_CLI_REPO_URL": str(source)}
    dest = tmp_path / "vendor"
    proc = _vendor("--commit", sha, "--dest", str(dest), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "helm_chart" / "HyperPodHelmChart" / "Chart.yaml").is_file()
    again = _vendor("--commit", sha, "--dest", str(dest), env=env)
    assert again.returncode == 0 and "already at" in again.stdout
    other = _vendor("--commit", "0" * 40, "--dest", str(dest), env=env)
    assert other.returncode == 1 and "remove it first" in other.stderr


def test_instance_role_trusts_sagemaker_for_this_account_and_gets_node_permissions() -> None:
    """Issue 12: `aws:SourceAccount`/`SourceArn` on the sagemaker.amazonaws.com trust, and the
    ENI, ECR and Pod Identity permissions the nodes need (Pod Identity for this cluster only)."""
    import json as _json

    trust = _json.loads(inputs("hyperpod", "aws:iam/role:Role",
                               "hyperpod-instances")["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"].isdigit()
    assert condition["ArnLike"]["aws:SourceArn"].startswith("arn:aws:sagemaker:")
    nodes = _json.loads(inputs("hyperpod", "aws:iam/rolePolicy:RolePolicy",
                               "hyperpod-instances-nodes")["policy"])
    by_sid = {s["Sid"]: s for s in nodes["Statement"]}
    assert by_sid["EksPodIdentity"]["Resource"] != "*"
    assert "ecr:BatchGetImage" in by_sid["EcrPull"]["Action"]


def test_fsx_csi_role_only_for_fsx_sources() -> None:
    plain = plan_config(hyperpod_config())
    fsx = plan_config(hyperpod_config(
        routing=None, source={"type": "fsx", "file_system_id": "fs-0123456789abcdef0"}))
    names = [{r["name"] for r in p.resources if r["type"] == "aws:iam/role:Role"}
             for p in (plain, fsx)]
    assert not any("fsx" in n for n in names[0]), names[0]
    assert any("fsx" in n for n in names[1]), names[1]

"""Images are pinned by digest where the tag moves (issue 12, point 2), through the public path.

A moving tag (nightly*, latest, main...) is refused at plan time unless it carries its digest,
for the images the stack gives and for the defaults it would deploy (kind vllm-router's default
is a nightly); `repo:tag@sha256:` is deployed as written, the tag kept beside it for people.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import router_manifests as rm
from infra.config.base import NAMESPACE
from infra.plan import STACKS_DIR, read_stack_file
from tests.helpers import ROOT, config_problems, k8s_config, manifest, plan_config

# Not a real image: the shape of a digest pin, for configs that are only planned.
DIGEST = "sha256:" + "0" * 64
AT = f"{NAMESPACE}:endpoints[0]"


def batch_config(**job: Any) -> dict[str, Any]:
    raw, _ = read_stack_file(STACKS_DIR / "Pulumi.k8s-batch.yaml")
    config = {k.removeprefix(f"{NAMESPACE}:"): json.loads(v) if v[:1] in "[{" else v
              for k, v in raw.items()}
    config["batch_jobs"][0].update(job)
    return config


@pytest.mark.parametrize(("config", "key"), [
    (k8s_config(router={"kind": "vllm-router"}), f"{AT}.router.image"),
    (k8s_config(router={"image": "vllm/vllm-router:nightly-20260710-b93cbcb"}),
     f"{AT}.router.image"),
    (k8s_config(image="vllm/vllm-openai:nightly"), f"{AT}.image"),
    (k8s_config(engine="sglang", image="lmsysorg/sglang:dev"), f"{AT}.image"),
    (batch_config(image="vllm/vllm-openai:main"), f"{NAMESPACE}:batch_jobs[0].image"),
])
def test_a_moving_tag_without_its_digest_is_refused(config: dict[str, Any], key: str) -> None:
    problems = config_problems(config)
    assert any(p.startswith(f"{key}: ") and "@sha256:<digest>" in p and "crane digest" in p
               for p in problems), problems


def test_the_default_it_refuses_is_named_as_the_default() -> None:
    (problem,) = config_problems(k8s_config(router={"kind": "vllm-router"}))
    assert rm.DEFAULT_IMAGE in problem and "default of router kind vllm-router" in problem


@pytest.mark.parametrize("config", [
    k8s_config(router={"kind": "vllm-router", "image": f"{rm.DEFAULT_IMAGE}@{DIGEST}"}),
    k8s_config(router={}),  # smg's release tag
    k8s_config(image=f"vllm/vllm-openai:nightly@{DIGEST}"),
    k8s_config(image="registry.local:5000/vllm/vllm-openai:v0.32.0"),
    batch_config(image=f"vllm/vllm-openai:main@{DIGEST}"),
])
def test_release_tags_and_digest_pins_pass(config: dict[str, Any]) -> None:
    assert config_problems(config) == []


def test_a_digest_pin_is_deployed_as_written_with_its_tag_beside_it() -> None:
    image = f"{rm.DEFAULT_IMAGE}@{DIGEST}"
    engine = f"vllm/vllm-openai:v0.32.0@{DIGEST}"
    result = plan_config(k8s_config(image=engine, router={"kind": "vllm-router",
                                                          "image": image}))
    router = manifest(result, "Deployment", "qwen3-0-6b-router")
    assert router["spec"]["template"]["spec"]["containers"][0]["image"] == image
    annotations = router["metadata"]["annotations"]
    assert annotations["inference-stacks/image-tag"] == rm.DEFAULT_IMAGE
    assert annotations["inference-stacks/image-digest"] == DIGEST
    engines = manifest(result, "Deployment", "qwen3-0-6b")
    assert engines["spec"]["template"]["spec"]["containers"][0]["image"] == engine
    assert result.outputs["endpoints"]["qwen3-0-6b"]["router"]["image"] == image


def test_the_plan_command_refuses_an_unpinned_nightly_without_a_traceback(
        tmp_path: Path) -> None:
    stack = tmp_path / "nightly.yaml"
    config = k8s_config(router={"kind": "vllm-router"})
    stack.write_text(yaml.safe_dump({"config": {f"{NAMESPACE}:{k}": v
                                                for k, v in config.items()}}))
    proc = subprocess.run([sys.executable, "-m", "infra", "plan", "--config-file", str(stack),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{AT}.router.image: " in proc.stderr and "crane digest" in proc.stderr

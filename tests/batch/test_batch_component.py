"""`BatchJob` under Pulumi's mocks: children, parents, secrets, skipAwait and outputs."""

from __future__ import annotations

import dataclasses

import pulumi

from components import batch_manifests as bm
from components.batch import TYPE_TOKEN, BatchJob, BatchJobArgs
from components.spec import ModelSourceSpec
from infra.plan.mocks import SECRET, run_under_mocks
from smoke.batch import BatchJobOutput
from tests.batch.test_batch_manifests import make_batch
from tests.contract.harness import validate_k8s_manifest
from tests.unit.test_builders import make_spec


def _spec() -> bm.BatchJobSpec:
    endpoint = make_spec(source=ModelSourceSpec("huggingface", hf_token_secret="nightly-hf"))
    return make_batch(endpoint=dataclasses.replace(endpoint, name="nightly"),
                      output_claim_size="10Gi", completions=2)


def _run() -> tuple[dict, list]:
    def program() -> dict:
        job = BatchJob("nightly", BatchJobArgs(_spec(), hf_token=pulumi.Output.secret("hf_x")))
        return {"batch_jobs": {"nightly": job.outputs()}}

    return run_under_mocks(program, {}, [], "batch-test")


def test_children_are_parented_and_match_the_builders() -> None:
    _, registrations = _run()
    assert len([r for r in registrations if r.type == TYPE_TOKEN]) == 1
    children = {r.type.rsplit(":", 1)[-1]: r for r in registrations if r.custom}
    assert set(children) == {"ConfigMap", "PersistentVolumeClaim", "Job", "Secret"}
    for child in children.values():
        assert child.parent is not None and child.parent.endswith(f"{TYPE_TOKEN}::nightly")
    job = children["Job"].inputs
    assert job["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    rendered = bm.job(_spec())
    assert job["spec"] == rendered["spec"]
    validate_k8s_manifest({"apiVersion": "batch/v1", "kind": "Job", **job}, "1.33")
    assert children["ConfigMap"].inputs["data"] == bm.feeder_sources()


def test_hf_token_stays_secret() -> None:
    _, registrations = _run()
    (secret,) = [r for r in registrations if r.type.endswith(":Secret")]
    assert secret.inputs["stringData"] == {"token": SECRET}
    assert secret.inputs["metadata"]["name"] == "nightly-hf"


def test_outputs_are_the_smoke_batch_contract() -> None:
    outputs, _ = _run()
    assert outputs["batch_jobs"]["nightly"] == {
        "job": "nightly", "namespace": "inference", "input": "s3://bucket/in.jsonl",
        "output": "pvc://batch-results/runs/1",
        "status": "pvc://batch-results/runs/1/shard-*/status.json",
    }
    # ... and what `smoke batch` reads back from them.
    entry = BatchJobOutput.model_validate(outputs["batch_jobs"]["nightly"])
    assert (entry.job, entry.status) == ("nightly", _spec().status_location)

"""The validator must reject what the API server rejects; otherwise every manifest test is vacuous."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from review_slm_tests.k8s.crd_schemas.extract import extract
from review_slm_tests.k8s.validation import SCHEMAS, validation_errors

SHARED = Path(__file__).resolve().parents[3] / "shared" / "schemas"

MINIMAL_PYTORCHJOB = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "sft-it-0001"},
    "spec": {
        "nprocPerNode": "2",
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "restartPolicy": "OnFailure",
                "template": {"spec": {"containers": [{"name": "pytorch", "image": "trainer:1"}]}},
            },
            "Worker": {
                "replicas": 2,
                "restartPolicy": "OnFailure",
                "template": {"spec": {"containers": [{"name": "pytorch", "image": "trainer:1"}]}},
            },
        },
    },
}


def test_a_minimal_pytorchjob_is_valid():
    assert validation_errors(MINIMAL_PYTORCHJOB) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"].update(Chief=m["spec"]["pytorchReplicaSpecs"]["Worker"]),
            "replica type",
        ),
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas=2), "must be 1"),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].update(
                name="trainer"
            ),
            "named 'pytorch'",
        ),
        (
            lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].pop("image"),
            "has no image",
        ),
        (lambda m: m["spec"].update(nprocsPerNode="2"), "unknown field"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas="one"), "is not of type 'integer'"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"].update(restartPolicy="Sometimes"), "restartPolicy"),
        (lambda m: m["metadata"].update(name="SFT_it"), "DNS-1123"),
    ],
)
def test_the_validator_rejects_what_the_api_server_rejects(mutate, expected):
    manifest = copy.deepcopy(MINIMAL_PYTORCHJOB)
    mutate(manifest)
    errors = validation_errors(manifest)
    assert any(expected in e for e in errors), errors


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (the vendored copies are used)")
def test_vendored_schemas_match_the_shared_crds():
    import json

    for name, schema in extract(SHARED).items():
        assert json.loads((SCHEMAS / name).read_text()) == schema, f"{name} drifted: rerun extract.py"

"""Validate rendered custom resources the way the API server would.

Three layers, each catching what the one before cannot:
1. jsonschema on the CRD's `openAPIV3Schema` (vendored in `crd_schemas/`, extracted unchanged from
   `../shared/schemas/`): types, required fields, enums.
2. Unknown fields: CRD schemas carry no `additionalProperties: false`, but the API server prunes
   (or, with strict field validation, rejects) fields the schema does not declare. A typo such as
   `nprocsPerNode` would silently vanish on a cluster; here it is an error.
3. The rules the operators' webhooks enforce (PyTorchJob: only Master/Worker replica types, one
   Master, a container named `pytorch` with an image, a known restartPolicy).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).parent / "crd_schemas"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PYTORCH_REPLICA_TYPES = {"Master", "Worker"}
RESTART_POLICIES = {"Always", "OnFailure", "Never", "ExitCode"}


@cache
def crd_schema(api_version: str, kind: str) -> dict:
    group, _, version = api_version.partition("/")
    path = SCHEMAS / f"{group}_{version}_{kind}.json"
    if not path.exists():
        raise KeyError(
            f"no vendored CRD schema for {api_version} {kind} (have: {sorted(p.stem for p in SCHEMAS.glob('*.json'))})"
        )
    return json.loads(path.read_text())


def is_custom_resource(manifest: dict) -> bool:
    group, _, version = manifest.get("apiVersion", "").partition("/")
    return (SCHEMAS / f"{group}_{version}_{manifest.get('kind')}.json").exists()


def _unknown_fields(value, schema: dict, path: str) -> list[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    errors = []
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None:
            for key, item in value.items():
                if path == "" and key in ("apiVersion", "kind", "metadata"):
                    continue  # metadata is ObjectMeta, validated by the API server itself
                if key not in props:
                    errors.append(f"{path}.{key}: unknown field (the API server would drop or reject it)")
                else:
                    errors.extend(_unknown_fields(item, props[key], f"{path}.{key}"))
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                errors.extend(_unknown_fields(item, schema["additionalProperties"], f"{path}.{key}"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(_unknown_fields(item, schema["items"], f"{path}[{i}]"))
    return errors


def _pytorchjob_webhook(manifest: dict) -> list[str]:
    errors = []
    replicas = manifest.get("spec", {}).get("pytorchReplicaSpecs", {})
    for rtype, spec in replicas.items():
        if rtype not in PYTORCH_REPLICA_TYPES:
            errors.append(
                f"spec.pytorchReplicaSpecs.{rtype}: replica type must be one of {sorted(PYTORCH_REPLICA_TYPES)}"
            )
        if spec.get("restartPolicy") and spec["restartPolicy"] not in RESTART_POLICIES:
            errors.append(
                f"spec.pytorchReplicaSpecs.{rtype}.restartPolicy: {spec['restartPolicy']!r} not in "
                f"{sorted(RESTART_POLICIES)}"
            )
        containers = spec.get("template", {}).get("spec", {}).get("containers", [])
        pytorch = [c for c in containers if c.get("name") == "pytorch"]
        if not pytorch:
            errors.append(f"spec.pytorchReplicaSpecs.{rtype}: no container named 'pytorch'")
        elif not pytorch[0].get("image"):
            errors.append(f"spec.pytorchReplicaSpecs.{rtype}: container 'pytorch' has no image")
    if "Master" in replicas and replicas["Master"].get("replicas", 1) != 1:
        errors.append("spec.pytorchReplicaSpecs.Master.replicas: must be 1")
    return errors


WEBHOOKS = {"PyTorchJob": _pytorchjob_webhook}


def validation_errors(manifest: dict) -> list[str]:
    """Every reason the API server (schema, pruning, webhooks) would not accept `manifest` as rendered."""
    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(manifest)
    ]
    errors += _unknown_fields(manifest, schema, "")
    name = manifest.get("metadata", {}).get("name", "")
    if not (_DNS1123.match(name) and len(name) <= 63):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 label of at most 63 characters")
    errors += WEBHOOKS.get(manifest["kind"], lambda m: [])(manifest)
    return errors


def assert_valid(manifest: dict) -> None:
    errors = validation_errors(manifest)
    assert not errors, (
        f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')} is invalid:\n  " + "\n  ".join(errors)
    )

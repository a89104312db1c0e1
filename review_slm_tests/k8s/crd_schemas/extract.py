"""Regenerate the vendored CRD schemas from the CustomResourceDefinition files.

    python review_slm_tests/k8s/crd_schemas/extract.py ../shared/schemas

Each served version's `openAPIV3Schema` is written unchanged as `<group>_<version>_<kind>.json`:
the tests validate rendered manifests against these, and CI has no access to the CRD folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def extract(crd_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                out[f"{spec['group']}_{version['name']}_{spec['names']['kind']}.json"] = version["schema"][
                    "openAPIV3Schema"
                ]
    return out


if __name__ == "__main__":
    for name, schema in extract(Path(sys.argv[1])).items():
        (HERE / name).write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")))
        print(name)

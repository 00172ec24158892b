"""Validates FHIR R4 resources with an independent implementation: the PyPI package
fhir.resources 5.1.1 (the models of FHIR 4.0.1). It checks element types, required elements
and that no element is unknown, for the resource and everything contained in it.

Usage: python validate.py FILE...   (each FILE one JSON resource; exit 1 on any error)
"""
import json
import sys

import fhir.resources
from fhir.resources.fhirelementfactory import FHIRElementFactory

assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__

failed = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    kind = data.get("resourceType")
    try:
        resource = FHIRElementFactory.instantiate(kind, data)
        if type(resource).__name__ != kind:
            raise ValueError(f"{kind} is not a resource type of FHIR 4.0.1")
        # What the models read back must be what we wrote: nothing dropped on the way.
        back = resource.as_json()
        if back != data:
            raise ValueError("the resource does not round-trip:\n" + json.dumps(back, ensure_ascii=False)[:2000])
        print(f"ok {kind} {path}")
    except Exception as e:  # noqa: BLE001 - any failure is a validation failure
        failed += 1
        print(f"INVALID {kind} {path}: {e}")
sys.exit(1 if failed else 0)

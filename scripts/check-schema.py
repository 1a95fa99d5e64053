#!/usr/bin/env python3
"""Checks the native reading JSON Schema against the fixtures: every valid example passes, and
every invalid example whose fault is structural fails (the value-range and clock faults are the
gateway's to find, so the schema lets those through)."""
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parent.parent
schema = json.loads((root / "schemas/native-reading-v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
# Faults the schema cannot see: numbers out of range, diastolic above systolic, impossible dates
# and times, keys repeated in one object (JSON parsers, Python's too, keep one of them).
semantic = {"systolic-out-of-range", "glucose-mmol-out-of-range", "diastolic-above-systolic",
            "timestamp-impossible-date", "timestamp-second-60", "batch-second-item-bad", "malformed-json",
            "duplicate-key-values", "duplicate-key-device"}
failures = 0
for path in sorted((root / "Fixtures/native/valid").glob("*.json")):
    errors = list(validator.iter_errors(json.loads(path.read_text())))
    if errors:
        failures += 1
        print(f"FAIL {path.name}: valid example rejected by the schema: {errors[0].message}")
for path in sorted((root / "Fixtures/native/invalid").glob("*.json")):
    if path.stem in semantic:
        continue
    if validator.is_valid(json.loads(path.read_text())):
        failures += 1
        print(f"FAIL {path.name}: invalid example accepted by the schema")
print(f"schema check: {failures} failed")
sys.exit(1 if failures else 0)

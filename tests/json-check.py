#!/usr/bin/env python3
"""json-check.py SCHEMA FILE - validates FILE against the subset of JSON
Schema that doc/run.schema.json uses (type, enum, minimum, required,
properties, additionalProperties, items, minItems), with the standard
library alone.  Prints each violation with its path; exit 1 if any."""
import json
import sys

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
         "number": (int, float), "integer": int}


def check(schema, value, path, errors):
    t = schema.get("type")
    if t:
        ok = isinstance(value, TYPES[t])
        if t in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            errors.append(f"{path}: expected {t}, got {type(value).__name__}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} below {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing '{key}'")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, v in value.items():
            if key in props:
                check(props[key], v, f"{path}.{key}", errors)
            elif isinstance(extra, dict):
                check(extra, v, f"{path}.{key}", errors)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        for i, v in enumerate(value):
            if "items" in schema:
                check(schema["items"], v, f"{path}[{i}]", errors)


def main():
    schema = json.load(open(sys.argv[1]))
    value = json.load(open(sys.argv[2]))
    errors = []
    check(schema, value, "$", errors)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

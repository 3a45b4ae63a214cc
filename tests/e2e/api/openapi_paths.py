#!/usr/bin/env python3
"""openapi_paths.py DOC - the operations an OpenAPI document describes.

Prints one line per operation, `METHOD PATH` (e.g. `GET /v1/incidents/{seq}`),
sorted: the same format as `vigild --list-routes`, so the two lists can be
compared as they are. Exits 2 if DOC is not an OpenAPI 3 document with paths.
"""
import json
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def main(argv):
    if len(argv) != 2:
        print("usage: openapi_paths.py DOC", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"openapi_paths.py: {argv[1]}: {e}", file=sys.stderr)
        return 2
    paths = doc.get("paths") if isinstance(doc, dict) else None
    if not str(doc.get("openapi", "") if isinstance(doc, dict) else "").startswith("3.") \
            or not isinstance(paths, dict):
        print(f"openapi_paths.py: {argv[1]}: not an OpenAPI 3 document with paths", file=sys.stderr)
        return 2
    ops = sorted(f"{method.upper()} {path}"
                 for path, item in paths.items() if isinstance(item, dict)
                 for method in METHODS if method in item)
    for line in ops:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Parses a Prometheus text exposition from stdin with prometheus_client's own parser (an independent reader of the
handler's GET /metrics) and prints {"families": {name: type}, "samples": [{"name", "labels", "value"}]} as JSON.
Exits 1 with the parser's error when the text does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    families = {}
    samples = []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": dict(sample.labels), "value": sample.value})
except Exception as error:  # the parser raises ValueError and others on malformed text
    print("parse error: %s" % error, file=sys.stderr)
    sys.exit(1)
print(json.dumps({"families": families, "samples": samples}))

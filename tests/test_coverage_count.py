"""The README's count of implemented official operations stays true: it is recomputed from our exported
OpenAPI documents against the official spec."""

from __future__ import annotations

import re
from pathlib import Path

from test_openapi import _official_operations

from controller.api.openapi import openapi_documents

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_counts_the_official_operations_we_serve():
    documents = openapi_documents()
    counts = {}
    for name, entry, prefix in [("client", "client.yml", "/edge/client/v1"), ("management", "management.yml", "/edge/management/v1")]:
        official = _official_operations(entry)
        ours = {(method, path.removeprefix(prefix) or "/") for path, item in documents[name]["paths"].items() for method in item}
        counts[name] = (len(ours & official.keys()), len(official))
    stated = re.search(r"Operations implemented: \*\*client (\d+) of (\d+),\s+management (\d+) of (\d+)\*\*", README.read_text())
    assert stated, "the README's coverage sentence is missing"
    assert tuple(map(int, stated.groups())) == (*counts["client"], *counts["management"]), f"update the README: {counts}"

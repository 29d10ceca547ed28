"""Our exported OpenAPI documents are current, and every Edge operation we serve is the official one."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.api.openapi import EXPORT_DIR, openapi_documents, render

# The checkout's sibling `shared/` (a worktree under wt/ sits one level deeper).
REFERENCE = next((p / "shared" / "reference" / "openziti-edge-api" / "source" for p in Path(__file__).resolve().parents[2:4]
                  if (p / "shared" / "reference" / "openziti-edge-api" / "source").exists()),
                 Path(__file__).resolve().parents[2] / "shared" / "reference" / "openziti-edge-api" / "source")
METHODS = {"get", "post", "put", "patch", "delete"}
# Operations the official spec leaves without an operationId (logout has none upstream).
NO_UPSTREAM_ID = {("delete", "/current-api-session")}


@pytest.fixture(scope="module")
def documents():
    return openapi_documents()


@pytest.mark.parametrize("name", ["client", "management", "sim"])
def test_exported_documents_are_current(documents, name):
    committed = (EXPORT_DIR / f"{name}.json").read_text()
    assert committed == render(documents[name]), "openapi/ is stale: run `ziti-controller-sim openapi` and commit"


def _official_operations(entry: str) -> dict[tuple[str, str], str | None]:
    yaml = pytest.importorskip("yaml")
    if not (REFERENCE / entry).exists():
        pytest.skip(f"official spec not found at {REFERENCE}")
    root = yaml.safe_load((REFERENCE / entry).read_text())
    cache: dict[Path, dict] = {}
    operations = {}
    for path, item in root["paths"].items():
        if "$ref" in item:
            file_part, _, pointer = item["$ref"].partition("#")
            target = (REFERENCE / file_part.rstrip("/")).resolve()
            doc = cache.setdefault(target, yaml.safe_load(target.read_text()))
            for key in pointer.strip("/").split("/"):
                doc = doc[key.replace("~1", "/")]
            item = doc
        for method, operation in item.items():
            if method in METHODS:
                operations[(method, path)] = operation.get("operationId")
    return operations


@pytest.mark.parametrize("name, entry, prefix", [
    ("client", "client.yml", "/edge/client/v1"),
    ("management", "management.yml", "/edge/management/v1"),
])
def test_every_edge_operation_matches_the_official_spec(documents, name, entry, prefix):
    official = _official_operations(entry)
    ours = {
        (method, path.removeprefix(prefix) or "/"): operation["operationId"]
        for path, item in documents[name]["paths"].items()
        for method, operation in item.items()
    }
    missing = [op for op in ours if op not in official]
    assert not missing, f"operations not in the official {entry}: {missing}"
    mismatched = {op: (ours[op], official[op]) for op in ours if official[op] and ours[op] != official[op]}
    assert not mismatched, f"operationId differs from the official spec: {mismatched}"
    assert {op for op in ours if official[op] is None} <= NO_UPSTREAM_ID


@pytest.mark.parametrize("name, method, path", [
    ("client", "post", "/edge/client/v1/current-identity/authenticators/{id}/extend"),
    ("client", "post", "/edge/client/v1/enroll"),
    ("client", "get", "/edge/client/v1/.well-known/est/cacerts"),
    ("management", "post", "/edge/management/v1/authenticators/{id}/request-extend"),
    ("management", "get", "/edge/management/v1/identities"),
    ("sim", "post", "/sim/v1/clock/advance"),
])
def test_documents_are_not_empty(documents, name, method, path):
    """The spec comparison above passes vacuously on an empty document, so say what must be in it."""
    assert method in documents[name]["paths"].get(path, {}), f"{method.upper()} {path} missing from {name}.json"

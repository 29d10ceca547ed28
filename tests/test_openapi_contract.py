"""The exported documents describe the real answers (issue 7, "Honest OpenAPI documents"); schemathesis
(tests/test_schemathesis.py) then checks the server against them. These checks need no server."""

from __future__ import annotations

import pytest

from controller.api.openapi import openapi_documents


@pytest.fixture(scope="module")
def documents():
    return openapi_documents()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


@pytest.mark.parametrize("name", ["client", "management", "sim"])
def test_no_operation_declares_the_422_the_server_never_sends(documents, name):
    document = documents[name]
    assert not [(m, p) for m, p, op in _operations(document) if "422" in op["responses"]]
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})


@pytest.mark.parametrize("name", ["client", "management", "sim"])
def test_every_success_answer_has_a_typed_schema(documents, name):
    untyped = []
    for method, path, operation in _operations(documents[name]):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                content = response.get("content", {})
                schemas = [c.get("schema") for c in content.values()]
                if not schemas or any(not s for s in schemas):
                    untyped.append(f"{method.upper()} {path} {status}")
    assert not untyped


@pytest.mark.parametrize("name", ["client", "management", "sim"])
def test_errors_are_declared_with_the_error_envelope(documents, name):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    wrong, missing = [], []
    for method, path, operation in _operations(documents[name]):
        statuses = {s for s in operation["responses"] if s.startswith("4")}
        for status in statuses:
            if operation["responses"][status]["content"]["application/json"]["schema"] != envelope:
                wrong.append(f"{method.upper()} {path} {status}")
        if operation.get("parameters") or operation.get("requestBody"):
            if "400" not in statuses:
                missing.append(f"{method.upper()} {path} 400")
        if "{" in path and "404" not in statuses:
            missing.append(f"{method.upper()} {path} 404")
    assert not wrong and not missing, (wrong, missing)
    error = documents[name]["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "requestId"} <= set(error["required"])


def test_session_routes_declare_401_and_list_routes_their_parameters(documents):
    management = documents["management"]["paths"]
    assert "401" in management["/edge/management/v1/identities"]["get"]["responses"]
    assert "401" not in management["/edge/management/v1/version"]["get"]["responses"]
    for collection in ("identities", "authenticators", "enrollments", "edge-routers", "services", "external-jwt-signers"):
        operation = management[f"/edge/management/v1/{collection}"]["get"]
        names = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"limit", "offset", "filter"} <= set(names), collection
        assert names["offset"]["anyOf"][0]["type"] == "integer"

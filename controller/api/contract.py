"""What the OpenAPI documents say about answers, declared in one place so that every route states its real
contract with one argument:

    @management.get("/identities/{id}", operation_id="detailIdentity", **answers(IdentityDetail, 404))

`answers(model, *statuses)` makes the success schema the envelope around `model` (`Envelope[model]`,
`ListEnvelope[model]` with `many=True`, `Created` or `Empty`) and declares the error envelope for the route's
own error statuses. The statuses every route shares are derived from the route itself when the documents are
built (`controller.api.openapi.add_common_errors`): 400 for any parameter or body (FastAPI's 422 is never
sent, our handler answers 400 COULD_NOT_VALIDATE), 401 for routes that need a session, 404 for an `{id}`,
413 for a body. Nothing here changes what the server sends: a route returns a JsonResponse, which FastAPI
passes through without looking at `response_model`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


# Response models only describe answers (for the OpenAPI documents): their validators are built when a
# document or a route first needs them, not when their module is imported (a large part of start-up).
DEFERRED = ConfigDict(defer_build=True)


class Wire(BaseModel):
    """A response model: snake_case attributes, camelCase on the wire (as the Edge API spells it)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class Link(BaseModel):
    href: str


class EntityRef(Wire):
    entity: str
    id: str
    name: str | None
    links: dict[str, Link] = Field(alias="_links")


class BaseEntity(Wire):
    """The fields every entity detail starts with (controller.api.render.base_entity)."""

    id: str
    created_at: str
    updated_at: str
    links: dict[str, Link] = Field(alias="_links")
    tags: dict[str, Any]


class Pagination(BaseModel):
    limit: int
    offset: int
    total_count: int = Field(alias="totalCount")


class ListMeta(BaseModel):
    pagination: Pagination


class Envelope(BaseModel, Generic[T]):
    model_config = DEFERRED
    data: T
    meta: dict[str, Any]


class ListEnvelope(BaseModel, Generic[T]):
    model_config = DEFERRED
    data: list[T]
    meta: ListMeta


class CreatedData(BaseModel):
    id: str
    links: dict[str, Link] = Field(alias="_links")


class EmptyData(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorCause(BaseModel):
    """A field error ({field, reason, value}) or a wrapped error ({code, message})."""

    field: str | None = None
    reason: str | None = None
    value: Any = None
    code: str | None = None
    message: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    cause: ErrorCause | None = None
    request_id: str = Field(alias="requestId")


class ErrorMeta(BaseModel):
    api_version: str = Field(alias="apiVersion")
    api_enrollment_version: str = Field(alias="apiEnrollmentVersion")


class ErrorEnvelope(BaseModel):
    error: ErrorDetail
    meta: ErrorMeta


ERROR_DESCRIPTIONS = {
    400: "Invalid input (COULD_NOT_VALIDATE or a more specific code)",
    401: "No valid session or credentials (UNAUTHORIZED, INVALID_AUTH)",
    404: "Not found (NOT_FOUND)",
    405: "Method not allowed (METHOD_NOT_ALLOWED, with an Allow header)",
    409: "Conflict with the current state",
    413: "Request body too large (REQUEST_BODY_TOO_LARGE)",
    415: "Unsupported media type (UNSUPPORTED_MEDIA)",
}

Created = object()  # marker: the 201 answer {"data": {"id", "_links"}}
Empty = object()  # marker: the empty answer {"data": {}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS.get(s, "Error")} for s in statuses}


def answers(model: Any = Empty, *statuses: int, many: bool = False) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the envelope of `model` as the success schema, plus the
    error envelope for `statuses` (the ones this route sends beyond the common ones)."""
    if model is Created:
        response_model: Any = Envelope[CreatedData]
    elif model is Empty:
        response_model = Envelope[EmptyData]
    elif many:
        response_model = ListEnvelope[model]
    else:
        response_model = Envelope[model]
    return {"response_model": response_model, "responses": error_responses(*statuses)}

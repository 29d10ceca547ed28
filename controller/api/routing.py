"""Routes that build their request machinery when first used, not when their module is imported.

FastAPI builds a route's dependency tree, parameter fields, body field and response fields (pydantic type
adapters) as soon as the decorator runs. Since FastAPI 0.165 an included router's routes are served through
per-inclusion copies ("effective route contexts") that FastAPI builds again, lazily, from the route's
*declared* arguments: the build done at import time is never used to answer a request. It was about half of
`serve`'s start-up beyond importing the libraries.

`DeferredRoute` keeps the declared arguments and sets at once only what an inclusion reads (path, methods,
name, tags, responses, response_model, ...); the compiled path follows when first read. Anything else (`dependant`,
`body_field`, `response_field`, `app`, ...) is built by FastAPI's own `APIRoute.__init__` on first access, once,
under a lock. So a route served directly, or read by the OpenAPI export, behaves exactly as an `APIRoute`;
tests/test_routing.py checks that the declared attributes set early equal those FastAPI computes.
"""

from __future__ import annotations

import inspect
import threading
from enum import IntEnum
from typing import Any

from fastapi import APIRouter
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from starlette.routing import compile_path, get_name

try:  # FastAPI >= 0.165: the same validation APIRoute.__init__ applies first
    from fastapi._form_limits import _validate_form_limits
except ImportError:  # pragma: no cover - an older FastAPI builds eagerly (see DeferredRoute.__init__)
    _validate_form_limits = None

_SIGNATURE = inspect.signature(APIRoute.__init__)
_PATH_ATTRIBUTES = frozenset({"path_regex", "path_format", "param_convertors"})
_BUILD_LOCK = threading.RLock()  # one for all routes: builds are rare (once per route) and may nest


class DeferredRoute(APIRoute):
    """An APIRoute whose expensive state is built on first use (see the module docstring)."""

    # Set by __init__ without building anything; everything else comes from APIRoute.__init__ on demand.
    DECLARED = (
        "path", "endpoint", "stream_item_type", "summary", "response_description", "deprecated", "operation_id",
        "response_model_include", "response_model_exclude", "response_model_by_alias", "response_model_exclude_unset",
        "response_model_exclude_defaults", "response_model_exclude_none", "include_in_schema", "response_class",
        "dependency_overrides_provider", "callbacks", "openapi_extra", "generate_unique_id_function",
        "strict_content_type", "max_body_size", "tags", "responses", "name", "path_regex", "path_format",
        "param_convertors", "methods", "unique_id", "status_code", "dependencies", "description", "response_model",
        "form_limits",
    )

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        bound = _SIGNATURE.bind(self, path, endpoint, **kwargs)
        bound.apply_defaults()
        declared = dict(bound.arguments)
        declared.pop("self")
        if not _DEFERRABLE or isinstance(declared["response_model"], DefaultPlaceholder):
            # A response model taken from the return annotation, or arguments this class does not know:
            # nothing to gain by deferring, so build now exactly as FastAPI does.
            APIRoute.__init__(self, path, endpoint, **kwargs)
            return
        self.__dict__["_deferred"] = (path, endpoint, kwargs)
        # Kept after the build too: a route can be declared again from it (tests compare with FastAPI's own).
        self.__dict__["declaration"] = (path, endpoint, kwargs)
        self._declare(declared)

    def _declare(self, a: dict[str, Any]) -> None:
        """The declared attributes, computed as FastAPI's _populate_api_route_state computes them."""
        self.form_limits = _validate_form_limits(a["form_limits"])
        self.stream_item_type = None  # set by the build only for a generator without a response model
        for name in ("path", "endpoint", "summary", "response_description", "deprecated",
                     "operation_id", "response_model_include", "response_model_exclude", "response_model_by_alias",
                     "response_model_exclude_unset", "response_model_exclude_defaults", "response_model_exclude_none",
                     "include_in_schema", "response_class", "dependency_overrides_provider", "callbacks",
                     "openapi_extra", "generate_unique_id_function", "strict_content_type", "max_body_size",
                     "response_model"):
            setattr(self, name, a[name])
        self.tags = a["tags"] or []
        self.responses = a["responses"] or {}
        self.name = get_name(a["endpoint"]) if a["name"] is None else a["name"]
        self.methods = {method.upper() for method in (a["methods"] or ["GET"])}
        unique = a["generate_unique_id_function"]
        unique = unique.value if isinstance(unique, DefaultPlaceholder) else unique
        self.unique_id = self.operation_id or unique(self)
        status = a["status_code"]
        self.status_code = int(status) if isinstance(status, IntEnum) else status
        self.dependencies = list(a["dependencies"] or [])
        description = a["description"] or inspect.cleandoc(self.endpoint.__doc__ or "")
        self.description = description.split("\f")[0].strip()

    @property
    def built(self) -> bool:
        return "_deferred" not in self.__dict__

    def build(self) -> None:
        """Build the rest now (FastAPI's own APIRoute.__init__, on the declared arguments)."""
        with _BUILD_LOCK:
            deferred = self.__dict__.pop("_deferred", None)
            if deferred is not None:
                path, endpoint, kwargs = deferred
                APIRoute.__init__(self, path, endpoint, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only called for an attribute not set yet: the compiled path, or one of the built ones.
        if name.startswith("__") or "_deferred" not in self.__dict__:
            raise AttributeError(name)
        if name in _PATH_ATTRIBUTES:
            # Compiled when first read (route matching reads the included copies', not these): a regex
            # compilation per route is a measurable part of start-up. Idempotent, so no lock.
            self.path_regex, self.path_format, self.param_convertors = compile_path(self.path)
            return self.__dict__[name]
        self.build()
        return object.__getattribute__(self, name)


# The arguments _declare knows. A FastAPI whose APIRoute takes others builds every route eagerly.
_HANDLED_ARGUMENTS = frozenset({
    "path", "endpoint", "response_model", "status_code", "tags", "dependencies", "summary", "description",
    "response_description", "responses", "deprecated", "name", "methods", "operation_id", "response_model_include",
    "response_model_exclude", "response_model_by_alias", "response_model_exclude_unset",
    "response_model_exclude_defaults", "response_model_exclude_none", "include_in_schema", "response_class",
    "dependency_overrides_provider", "callbacks", "openapi_extra", "generate_unique_id_function",
    "strict_content_type", "max_body_size", "form_limits",
})
_DEFERRABLE = _validate_form_limits is not None and set(_SIGNATURE.parameters) - {"self"} == _HANDLED_ARGUMENTS


def deferred_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes are DeferredRoutes."""
    return APIRouter(route_class=DeferredRoute, **kwargs)

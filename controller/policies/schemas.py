"""Wire bodies of the three policy types, spelled as the Edge API spells them. Create and PUT require
`name`, `semantic` (and `type` for service-policies); PATCH takes any subset."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Semantic = Literal["AllOf", "AnyOf"]
Roles = list[str] | None


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ServicePolicyCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    type: Literal["Dial", "Bind", "Invalid"]
    semantic: Semantic
    identity_roles: Roles = Field(None, alias="identityRoles")
    service_roles: Roles = Field(None, alias="serviceRoles")
    posture_check_roles: Roles = Field(None, alias="postureCheckRoles")
    tags: dict[str, Any] | None = None


class ServicePolicyPatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    type: Literal["Dial", "Bind", "Invalid"] | None = None
    semantic: Semantic | None = None
    identity_roles: Roles = Field(None, alias="identityRoles")
    service_roles: Roles = Field(None, alias="serviceRoles")
    posture_check_roles: Roles = Field(None, alias="postureCheckRoles")
    tags: dict[str, Any] | None = None


class EdgeRouterPolicyCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    semantic: Semantic
    identity_roles: Roles = Field(None, alias="identityRoles")
    edge_router_roles: Roles = Field(None, alias="edgeRouterRoles")
    tags: dict[str, Any] | None = None


class EdgeRouterPolicyPatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    semantic: Semantic | None = None
    identity_roles: Roles = Field(None, alias="identityRoles")
    edge_router_roles: Roles = Field(None, alias="edgeRouterRoles")
    tags: dict[str, Any] | None = None


class ServiceEdgeRouterPolicyCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    semantic: Semantic
    service_roles: Roles = Field(None, alias="serviceRoles")
    edge_router_roles: Roles = Field(None, alias="edgeRouterRoles")
    tags: dict[str, Any] | None = None


class ServiceEdgeRouterPolicyPatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    semantic: Semantic | None = None
    service_roles: Roles = Field(None, alias="serviceRoles")
    edge_router_roles: Roles = Field(None, alias="edgeRouterRoles")
    tags: dict[str, Any] | None = None

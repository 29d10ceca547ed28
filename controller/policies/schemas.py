"""Wire bodies of the three policy types, spelled as the Edge API spells them. Create and PUT require
`name`, `semantic` (and `type` for service-policies); PATCH takes any subset."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, Wire

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


# --- answers (response models; see controller.api.contract) ---


class RoleDisplay(Wire):
    """`#attr` shown as itself, `@id` as `@<name>` (service.roles_display)."""

    role: str
    name: str


class _PolicyDetail(BaseEntity):
    name: str
    semantic: Semantic


class ServicePolicyDetail(_PolicyDetail):
    type: Literal["Dial", "Bind", "Invalid"]
    identity_roles: list[str]
    identity_roles_display: list[RoleDisplay]
    service_roles: list[str]
    service_roles_display: list[RoleDisplay]
    posture_check_roles: list[str]
    posture_check_roles_display: list[RoleDisplay]


class EdgeRouterPolicyDetail(_PolicyDetail):
    edge_router_roles: list[str]
    edge_router_roles_display: list[RoleDisplay]
    identity_roles: list[str]
    identity_roles_display: list[RoleDisplay]
    is_system: bool


class ServiceEdgeRouterPolicyDetail(_PolicyDetail):
    service_roles: list[str]
    service_roles_display: list[RoleDisplay]
    edge_router_roles: list[str]
    edge_router_roles_display: list[RoleDisplay]

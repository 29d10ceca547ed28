"""Wire models for identities, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef

IdentityType = Literal["User", "Device", "Service", "Router", "Default"]


class EnrollmentCreateInline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ott: bool | None = None
    updb: str | None = None
    ottca: str | None = None


class IdentityUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    type: IdentityType
    is_admin: bool = Field(alias="isAdmin")
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    tags: dict[str, Any] | None = None
    app_data: dict[str, Any] | None = Field(None, alias="appData")
    external_id: str | None = Field(None, alias="externalId", max_length=255)
    auth_policy_id: str | None = Field(None, alias="authPolicyId", max_length=40)
    default_hosting_cost: int | None = Field(None, alias="defaultHostingCost", ge=0, le=65535)


class IdentityCreate(IdentityUpdate):
    enrollment: EnrollmentCreateInline | None = None


class IdentityPatch(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=255)
    type: IdentityType | None = None
    is_admin: bool | None = Field(None, alias="isAdmin")
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    tags: dict[str, Any] | None = None
    app_data: dict[str, Any] | None = Field(None, alias="appData")
    external_id: str | None = Field(None, alias="externalId", max_length=255)
    auth_policy_id: str | None = Field(None, alias="authPolicyId", max_length=40)
    default_hosting_cost: int | None = Field(None, alias="defaultHostingCost", ge=0, le=65535)


# --- answers (response models; see controller.api.contract) ---

class IdentityDetail(BaseEntity):
    name: str
    type: EntityRef
    type_id: str
    is_admin: bool
    is_default_admin: bool
    is_mfa_enabled: bool
    disabled: bool
    disabled_at: str | None
    disabled_until: str | None
    authenticators: dict[str, Any]
    enrollment: dict[str, Any]
    role_attributes: list[str] | None
    app_data: dict[str, Any] | None
    external_id: str | None
    auth_policy_id: str
    auth_policy: EntityRef
    default_hosting_cost: int
    default_hosting_precedence: str
    service_hosting_costs: dict[str, Any]
    service_hosting_precedences: dict[str, Any]
    permissions: list[str]
    has_api_session: bool
    has_edge_router_connection: bool
    edge_router_connection_status: str
    sdk_info: dict[str, Any] | None
    env_info: dict[str, Any] | None


"""Wire models for identities, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    external_id: str | None = Field(None, alias="externalId")
    auth_policy_id: str | None = Field(None, alias="authPolicyId")
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
    external_id: str | None = Field(None, alias="externalId")
    auth_policy_id: str | None = Field(None, alias="authPolicyId")
    default_hosting_cost: int | None = Field(None, alias="defaultHostingCost", ge=0, le=65535)

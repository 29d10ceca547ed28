"""Wire models for /cas, spelled as the Edge API spells them (`caCreate`, `caUpdate`, `caPatch`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity

Location = Literal["COMMON_NAME", "SAN_URI", "SAN_EMAIL"]
Matcher = Literal["ALL", "PREFIX", "SUFFIX", "SCHEME"]
Parser = Literal["NONE", "SPLIT"]


class ExternalIdClaim(BaseModel):
    """All six fields are required by the spec (each may be null)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    location: Location | None
    matcher: Matcher | None
    matcher_criteria: str | None = Field(alias="matcherCriteria")
    parser: Parser | None
    parser_criteria: str | None = Field(alias="parserCriteria")
    index: int | None = Field(ge=0)


class ExternalIdClaimPatch(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    location: Location | None = None
    matcher: Matcher | None = None
    matcher_criteria: str | None = Field(None, alias="matcherCriteria")
    parser: Parser | None = None
    parser_criteria: str | None = Field(None, alias="parserCriteria")
    index: int | None = Field(None, ge=0)


class CaUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    is_auto_ca_enrollment_enabled: bool = Field(alias="isAutoCaEnrollmentEnabled")
    is_ott_ca_enrollment_enabled: bool = Field(alias="isOttCaEnrollmentEnabled")
    is_auth_enabled: bool = Field(alias="isAuthEnabled")
    identity_roles: list[str] = Field(alias="identityRoles")
    identity_name_format: str = Field(alias="identityNameFormat", max_length=255)
    tags: dict[str, Any] | None = None
    external_id_claim: ExternalIdClaim | None = Field(None, alias="externalIdClaim")


class CaCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    cert_pem: str = Field(alias="certPem")
    is_auto_ca_enrollment_enabled: bool = Field(alias="isAutoCaEnrollmentEnabled")
    is_ott_ca_enrollment_enabled: bool = Field(alias="isOttCaEnrollmentEnabled")
    is_auth_enabled: bool = Field(alias="isAuthEnabled")
    identity_roles: list[str] = Field(alias="identityRoles")
    identity_name_format: str | None = Field(None, alias="identityNameFormat", max_length=255)
    tags: dict[str, Any] | None = None
    external_id_claim: ExternalIdClaim | None = Field(None, alias="externalIdClaim")


class CaPatch(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=255)
    is_auto_ca_enrollment_enabled: bool | None = Field(None, alias="isAutoCaEnrollmentEnabled")
    is_ott_ca_enrollment_enabled: bool | None = Field(None, alias="isOttCaEnrollmentEnabled")
    is_auth_enabled: bool | None = Field(None, alias="isAuthEnabled")
    identity_roles: list[str] | None = Field(None, alias="identityRoles")
    identity_name_format: str | None = Field(None, alias="identityNameFormat", max_length=255)
    tags: dict[str, Any] | None = None
    external_id_claim: ExternalIdClaimPatch | None = Field(None, alias="externalIdClaim")


class OttCaEnrollRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str


class CaDetail(BaseEntity):
    """The answer of GET /cas/{id} and the items of GET /cas (`caDetail`)."""

    name: str
    fingerprint: str
    cert_pem: str
    is_verified: bool
    verification_token: str | None
    is_auto_ca_enrollment_enabled: bool
    is_ott_ca_enrollment_enabled: bool
    is_auth_enabled: bool
    identity_roles: list[str]
    identity_name_format: str
    external_id_claim: ExternalIdClaim | None

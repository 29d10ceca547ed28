from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef, Wire
from controller.durations import Timestamp


class ExtendRequest(BaseModel):
    client_cert_csr: str = Field(alias="clientCertCsr")


class ExtendVerifyRequest(BaseModel):
    client_cert: str = Field(alias="clientCert")


class AuthenticatorCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    method: str
    identity_id: str = Field(alias="identityId")
    cert_pem: str | None = Field(None, alias="certPem")
    username: str | None = Field(None, max_length=255)
    password: str | None = None
    tags: dict[str, Any] | None = None


class AuthenticatorUpdate(BaseModel):
    username: str = Field(min_length=4, max_length=100)
    password: str = Field(min_length=5, max_length=100)
    tags: dict[str, Any] | None = None


class AuthenticatorPatch(BaseModel):
    username: str | None = Field(None, min_length=4, max_length=100)
    password: str | None = Field(None, min_length=5, max_length=100)
    tags: dict[str, Any] | None = None


class AuthenticatorUpdateWithCurrent(AuthenticatorUpdate):
    current_password: str = Field(alias="currentPassword", min_length=5, max_length=100)


class AuthenticatorPatchWithCurrent(AuthenticatorPatch):
    current_password: str = Field(alias="currentPassword", min_length=5, max_length=100)


class RequestExtend(BaseModel):
    roll_keys: bool = Field(False, alias="rollKeys")


class ReEnroll(BaseModel):
    expires_at: Timestamp = Field(alias="expiresAt")


# --- answers (response models; see controller.api.contract) ---

class AuthenticatorDetail(BaseEntity):
    """updb authenticators carry `username`; cert authenticators the certificate fields."""

    method: str
    identity_id: str
    identity: EntityRef
    username: str | None = None
    cert_pem: str | None = None
    fingerprint: str | None = None
    is_issued_by_network: bool | None = None
    is_extend_requested: bool | None = None
    is_key_roll_requested: bool | None = None
    extend_requested_at: str | None = None
    last_auth_resolved_to_root: bool | None = None
    last_extend_rolled_keys: bool | None = None


class ExtendResult(Wire):
    client_cert: str
    ca: str


"""Wire models for edge routers, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, Wire


class EdgeRouterUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    tags: dict[str, Any] | None = None
    app_data: dict[str, Any] | None = Field(None, alias="appData")
    is_tunneler_enabled: bool | None = Field(None, alias="isTunnelerEnabled")
    disabled: bool | None = None
    no_traversal: bool | None = Field(None, alias="noTraversal")
    cost: int | None = Field(None, ge=0, le=65535)


class EdgeRouterCreate(EdgeRouterUpdate):
    pass


class EdgeRouterPatch(EdgeRouterUpdate):
    name: str | None = Field(None, min_length=1, max_length=255)  # type: ignore[assignment]


class RouterExtendRequest(BaseModel):
    """`routerExtendEnrollmentRequest`: both CSRs are required."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    cert_csr: str = Field(alias="certCsr", min_length=1)
    server_cert_csr: str = Field(alias="serverCertCsr", min_length=1)


# --- answers (response models; see controller.api.contract) ---

class EdgeRouterDetail(BaseEntity):
    name: str
    role_attributes: list[str] | None
    app_data: dict[str, Any] | None
    is_verified: bool
    fingerprint: str | None
    cert_pem: str | None
    is_online: bool
    is_tunneler_enabled: bool
    disabled: bool
    no_traversal: bool
    cost: int
    enrollment_jwt: str | None
    enrollment_token: str | None
    enrollment_created_at: str | None
    enrollment_expires_at: str | None


class RouterExtendResult(Wire):
    cert: str
    server_cert: str


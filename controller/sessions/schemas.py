from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef


class AuthenticateRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    username: str | None = None
    password: str | None = None
    config_types: list[str] | None = Field(None, alias="configTypes")
    sdk_info: dict[str, Any] | None = Field(None, alias="sdkInfo")
    env_info: dict[str, Any] | None = Field(None, alias="envInfo")


# --- answers (response models; see controller.api.contract) ---

class ApiSessionDetail(BaseEntity):
    token: str
    identity: EntityRef
    identity_id: str
    ip_address: str
    config_types: list[str] | None
    auth_queries: list[Any]
    is_mfa_required: bool
    is_mfa_complete: bool
    authenticator_id: str
    is_cert_extendable: bool
    is_cert_extend_requested: bool
    is_cert_key_roll_requested: bool
    improper_client_cert_chain: bool
    last_activity_at: str
    cached_last_activity_at: str
    expires_at: str
    expiration_seconds: int


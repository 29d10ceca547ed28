"""Wire bodies and answers of services, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, Wire


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ServiceCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    encryption_required: bool = Field(alias="encryptionRequired")
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    configs: list[str] | None = None
    terminator_strategy: str | None = Field(None, alias="terminatorStrategy", max_length=64)
    max_idle_time_millis: int | None = Field(None, alias="maxIdleTimeMillis", ge=0)
    tags: dict[str, Any] | None = None


class ServicePatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    encryption_required: bool | None = Field(None, alias="encryptionRequired")
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    configs: list[str] | None = None
    terminator_strategy: str | None = Field(None, alias="terminatorStrategy", max_length=64)
    max_idle_time_millis: int | None = Field(None, alias="maxIdleTimeMillis", ge=0)
    tags: dict[str, Any] | None = None


# --- answers (response models; see controller.api.contract) ---


class ServiceSummary(BaseEntity):
    """A service in the sub-lists (config -> services, policy/identity/router -> services): built without the
    caller's permissions and config map (service.to_wire_many with permissions=None, with_config=False)."""

    name: str
    encryption_required: bool
    role_attributes: list[str]
    terminator_strategy: str
    max_idle_time_millis: int
    configs: list[str]


class PostureQueries(Wire):
    policy_id: str
    policy_type: str
    is_passing: bool
    posture_queries: list[Any]


class ServiceDetail(ServiceSummary):
    """A service as the caller sees it: its permissions, their posture queries and the requested configs."""

    config: dict[str, Any]
    permissions: list[str]
    posture_queries: list[PostureQueries]


class ServiceUpdates(Wire):
    last_change_at: str

"""Wire bodies for config types and configs, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ConfigTypeCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    target: Literal["service", "router"] | None = None
    tags: dict[str, Any] | None = None


class ConfigTypePatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    target: Literal["service", "router"] | None = None
    tags: dict[str, Any] | None = None


class ConfigCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    config_type_id: str = Field(alias="configTypeId", max_length=40)
    data: Any
    tags: dict[str, Any] | None = None


class ConfigUpdate(_Body):
    name: str = Field(min_length=1, max_length=255)
    data: Any
    tags: dict[str, Any] | None = None


class ConfigPatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=255)
    data: Any = None
    tags: dict[str, Any] | None = None


# --- answers (response models; see controller.api.contract) ---


class ConfigTypeDetail(BaseEntity):
    """`target` is left out when the type has none (service.type_to_wire)."""

    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    target: Literal["service", "router"] | None = None


class ConfigDetail(BaseEntity):
    name: str
    config_type_id: str
    config_type: EntityRef
    data: dict[str, Any]

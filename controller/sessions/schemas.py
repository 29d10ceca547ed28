from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuthenticateRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    username: str | None = None
    password: str | None = None
    config_types: list[str] | None = Field(None, alias="configTypes")
    sdk_info: dict[str, Any] | None = Field(None, alias="sdkInfo")
    env_info: dict[str, Any] | None = Field(None, alias="envInfo")

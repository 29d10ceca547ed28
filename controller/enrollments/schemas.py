from __future__ import annotations

from pydantic import AwareDatetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    method: Literal["ott", "ottca", "updb"]
    identity_id: str = Field(alias="identityId")
    expires_at: AwareDatetime = Field(alias="expiresAt")
    username: str | None = None
    ca_id: str | None = Field(None, alias="caId")


class EnrollmentRefresh(BaseModel):
    expires_at: AwareDatetime = Field(alias="expiresAt")


class OttEnrollRequest(BaseModel):
    token: str
    client_csr: str = Field(alias="clientCsr")


class UpdbCredentials(BaseModel):
    username: str | None = Field(None, min_length=4, max_length=100)
    password: str = Field(min_length=5, max_length=100)
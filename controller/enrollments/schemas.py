from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef, Wire
from controller.durations import Timestamp


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    method: Literal["ott", "ottca", "updb"]
    identity_id: str = Field(alias="identityId")
    expires_at: Timestamp = Field(alias="expiresAt")
    username: str | None = Field(None, max_length=255)
    ca_id: str | None = Field(None, alias="caId")


class EnrollmentRefresh(BaseModel):
    expires_at: Timestamp = Field(alias="expiresAt")


class OttEnrollRequest(BaseModel):
    token: str
    client_csr: str = Field(alias="clientCsr")


class UpdbCredentials(BaseModel):
    username: str | None = Field(None, min_length=4, max_length=100)
    password: str = Field(min_length=5, max_length=100)


# --- answers (response models; see controller.api.contract) ---

class EnrollmentDetail(BaseEntity):
    method: str
    token: str
    jwt: str | None
    expires_at: str | None
    identity_id: str | None
    identity: EntityRef | None
    username: str | None
    ca_id: str | None
    edge_router_id: str | None = None
    edge_router: EntityRef | None = None


class EnrollResult(Wire):
    """What POST /enroll answers, by method: ott/ottca give `cert`, updb `username`, erott both router
    certificates."""

    cert: str | None = None
    username: str | None = None
    server_cert: str | None = None
    ca: str | None = None


class OttEnrollResult(Wire):
    cert: str


class UpdbEnrollResult(Wire):
    username: str


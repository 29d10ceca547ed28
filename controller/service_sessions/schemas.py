"""Wire bodies and answers of client sessions, spelled as the Edge API spells them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api.contract import BaseEntity, EntityRef, Wire


class SessionCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    service_id: str | None = Field(None, alias="serviceId", max_length=40)
    type: Literal["Dial", "Bind", "Invalid"] | None = None
    tags: dict[str, Any] | None = None


# --- answers (response models; see controller.api.contract) ---


class CommonEdgeRouter(Wire):
    """An edge router as a client sees it (service.common_router; the spec's commonEdgeRouterProperties)."""

    name: str
    hostname: str
    is_online: bool
    supported_protocols: dict[str, str]
    sync_status: str
    cost: int
    no_traversal: bool
    disabled: bool


class SessionEdgeRouter(CommonEdgeRouter):
    urls: dict[str, str]


class CurrentIdentityEdgeRouterDetail(BaseEntity, CommonEdgeRouter):
    """`GET /current-identity/edge-routers` entries (service.current_identity_router)."""

    app_data: dict[str, Any]


class SessionDetail(BaseEntity):
    type: Literal["Dial", "Bind"]
    token: str
    api_session_id: str
    api_session: EntityRef
    service_id: str
    service: EntityRef
    identity_id: str
    service_policies: list[EntityRef]
    edge_routers: list[SessionEdgeRouter]


class SessionManagementDetail(SessionDetail):
    """The management API's session: the same fields (service.to_wire serves both APIs)."""


class ServiceEdgeRouters(Wire):
    """`GET /services/{id}/edge-routers` on the client API: the routers the caller may use for the service."""

    edge_routers: list[SessionEdgeRouter]

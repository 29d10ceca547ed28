"""Who is connected: the live router_connections rows, as /sim/v1/router-connections shows them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.api.render import fmt_time
from controller.core.clock import wall_clock
from controller.store.models import EdgeRouter, RouterConnection


def connections_wire(db: Session) -> list[dict[str, Any]]:
    rows = db.execute(
        select(RouterConnection, EdgeRouter.name).join(EdgeRouter, EdgeRouter.id == RouterConnection.router_id)
        .where(RouterConnection.alive_until > wall_clock()).order_by(RouterConnection.connected_at)
    ).all()
    return [{
        "routerId": c.router_id, "name": name, "connectionId": c.connection_id, "replicaId": c.replica_id,
        "ctrlAddress": c.ctrl_address, "remoteAddress": c.remote_address, "fingerprint": c.fingerprint,
        "version": c.version, "connectedAt": fmt_time(c.connected_at),
    } for c, name in rows]

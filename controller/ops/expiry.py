"""Which certificates expire when: identity certificate authenticators, edge router certificates (client and
server), and the CA chain. Read from the database (and the PKI) at the time of asking, judged against the
simulated clock. The CLI (`certs expiring`), the admin list (`GET /ops/v1/expiring-certificates`)
and the metrics gauges all use this one module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.api.render import fmt_time
from controller.pki.certs import load_certs_pem
from controller.store.models import Authenticator, EdgeRouter, Identity, SimEvent


@dataclass(frozen=True)
class CertExpiry:
    kind: str  # "identity" or "router"
    not_after: datetime
    owner_id: str  # identity id or edge router id
    owner_name: str
    authenticator_id: str | None  # identities: the cert authenticator
    certificate: str  # "client" or, for routers, "server" too
    last_extended_at: datetime | None
    extend_requested: bool = False

    def to_wire(self, now: datetime) -> dict[str, Any]:
        return {
            "type": self.kind, "id": self.owner_id, "name": self.owner_name, "authenticatorId": self.authenticator_id,
            "certificate": self.certificate, "notAfter": fmt_time(self.not_after),
            "expiresInSeconds": int((self.not_after - now).total_seconds()), "expired": self.not_after <= now,
            "lastExtendedAt": fmt_time(self.last_extended_at) if self.last_extended_at else None,
            "isExtendRequested": self.extend_requested,
        }


@lru_cache(maxsize=4096)
def _not_after(pem: str) -> datetime:
    """NotAfter of the first certificate of a stored PEM (the leaf). Cached by content: PEMs only change by
    being replaced, and a scrape reads every one."""
    return load_certs_pem(pem)[0].not_valid_after_utc


def all_certificates(db: Session) -> list[CertExpiry]:
    extended = dict(db.execute(
        select(SimEvent.authenticator_id, func.max(SimEvent.at))
        .where(SimEvent.kind == "extend-verify", SimEvent.outcome == "success").group_by(SimEvent.authenticator_id)
    ).all())
    rows = db.execute(
        select(Authenticator.id, Authenticator.cert_pem, Authenticator.is_extend_requested, Identity.id, Identity.name)
        .join(Identity, Identity.id == Authenticator.identity_id)
        .where(Authenticator.method == "cert", Authenticator.cert_pem.is_not(None))
    ).all()
    found = [CertExpiry("identity", _not_after(pem), identity_id, name, auth_id, "client", extended.get(auth_id), requested)
             for auth_id, pem, requested, identity_id, name in rows]
    router_extended: dict[str, datetime] = {}
    for at, detail in db.execute(select(SimEvent.at, SimEvent.detail).where(
            SimEvent.kind == "router-extend", SimEvent.outcome == "success").order_by(SimEvent.seq)):
        if isinstance(detail, dict) and detail.get("edgeRouterId"):
            router_extended[detail["edgeRouterId"]] = at
    for router_id, name, client_pem, server_pem in db.execute(
            select(EdgeRouter.id, EdgeRouter.name, EdgeRouter.cert_pem, EdgeRouter.server_cert_pem)):
        for which, pem in (("client", client_pem), ("server", server_pem)):
            if pem:
                found.append(CertExpiry("router", _not_after(pem), router_id, name, None, which, router_extended.get(router_id)))
    return found


def expiring(db: Session, *, now: datetime, within: timedelta, kind: str | None = None) -> list[CertExpiry]:
    """Certificates whose NotAfter is at or before now + within (already expired ones included), soonest first."""
    limit = now + within
    return sorted((c for c in all_certificates(db) if c.not_after <= limit and (kind is None or c.kind == kind)),
                  key=lambda c: (c.not_after, c.kind, c.owner_name, c.certificate))


def ca_not_after(ca_certs: list[x509.Certificate]) -> datetime:
    return min(cert.not_valid_after_utc for cert in ca_certs)

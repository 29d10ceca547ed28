"""Prometheus metrics (`GET /metrics`, text format, through prometheus-client).

Per replica, one `Metrics` object owns a registry:
- `ziti_sim_http_requests_total` and `ziti_sim_http_request_duration_seconds` by api, method, route template
  and status (see controller.logs.middleware, which times every request);
- `ziti_sim_operations_total` by kind (enroll, authenticate, extend, extend-verify, request-extend,
  re-enroll, router-*), outcome and error code, counted where the journal records each outcome;
- `ziti_sim_db_statement_duration_seconds` by statement verb (SQLAlchemy engine events);
- gauges read from the database at scrape time (`DatabaseCollector`): API sessions alive, edge routers,
  routers online, the earliest NotAfter of identity certificates, router certificates and the CA chain, and
  how many certificates expire within 7 and 30 days (simulated clock).

Several worker processes: set PROMETHEUS_MULTIPROC_DIR to an empty directory shared by the workers (wiped at
start); counters and histograms are then written there and every worker's /metrics aggregates them through
prometheus_client's MultiProcessCollector. The database gauges are computed per scrape, so any worker
answers them alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select

from controller.ops import expiry
from controller.core import clock, journal, policy
from controller.store.db import reading
from controller.core.clock import wall_clock
from controller.store.models import ApiSession, EdgeRouter, RouterConnection

disable_created_metrics()  # no *_created series: half the output, and labs alert on none of them

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
EXPIRY_WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30)}

# Gauges read from the database at scrape time: name -> (help, fn(db, now, runtime) -> float). Adding one
# is one decorated function.
DB_GAUGES: dict[str, tuple[str, Callable[[Any, Any, Any], float]]] = {}


def db_gauge(name: str, help_text: str) -> Callable[[Callable[[Any, Any, Any], float]], Callable[[Any, Any, Any], float]]:
    def register(fn: Callable[[Any, Any, Any], float]) -> Callable[[Any, Any, Any], float]:
        DB_GAUGES[name] = (help_text, fn)
        return fn

    return register


@db_gauge("ziti_sim_api_sessions_alive", "API sessions whose last activity is within the session timeout")
def _sessions_alive(db: Any, now: Any, runtime: Any) -> float:
    timeout = policy.effective(runtime.settings, clock.row(db)).session_timeout
    return db.scalar(select(func.count()).select_from(ApiSession).where(ApiSession.last_activity_at > now - timeout)) or 0


@db_gauge("ziti_sim_edge_routers_verified", "Edge routers that completed enrollment")
def _routers_verified(db: Any, now: Any, runtime: Any) -> float:
    return db.scalar(select(func.count()).select_from(EdgeRouter).where(EdgeRouter.is_verified.is_(True))) or 0


@db_gauge("ziti_sim_routers_online", "Edge routers with an open control channel on any replica")
def _routers_online(db: Any, now: Any, runtime: Any) -> float:
    # Liveness of a connection row is wall-clock time (heartbeats), as in controller.ctrl.status.
    return db.scalar(select(func.count()).select_from(RouterConnection).where(RouterConnection.alive_until > wall_clock())) or 0


class DatabaseCollector(Collector):
    def __init__(self, runtime: Any):
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with reading(self.runtime.sessions) as db:
            now = clock.now(db)
            for name, (help_text, fn) in DB_GAUGES.items():
                yield GaugeMetricFamily(name, help_text, value=float(fn(db, now, self.runtime)))
            certs = expiry.all_certificates(db)
        earliest = GaugeMetricFamily(
            "ziti_sim_certificate_earliest_not_after_timestamp_seconds",
            "Earliest NotAfter (Unix time) among identity certificates, router certificates and the CA chain",
            labels=["kind"])
        for kind in ("identity", "router"):
            times = [c.not_after for c in certs if c.kind == kind]
            if times:
                earliest.add_metric([kind], min(times).timestamp())
        earliest.add_metric(["ca"], expiry.ca_not_after(self.runtime.pki.ca_certs).timestamp())
        yield earliest
        soon = GaugeMetricFamily("ziti_sim_certificates_expiring",
                                 "Certificates whose NotAfter is within the window of the simulated now (expired included)",
                                 labels=["kind", "within"])
        for kind in ("identity", "router"):
            for label, window in EXPIRY_WINDOWS.items():
                soon.add_metric([kind, label], sum(1 for c in certs if c.kind == kind and c.not_after <= now + window))
        yield soon
        yield GaugeMetricFamily("ziti_sim_clock_timestamp_seconds", "The simulated now (Unix time)", value=now.timestamp())


class Metrics:
    def __init__(self, runtime: Any):
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter("ziti_sim_http_requests", "HTTP requests answered",
                                ["api", "method", "route", "status"], registry=self.registry)
        self.latency = Histogram("ziti_sim_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["api", "method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.operations = Counter("ziti_sim_operations", "Outcomes of enrollment, login and certificate operations",
                                  ["kind", "outcome", "error_code"], registry=self.registry)
        self.db_latency = Histogram("ziti_sim_db_statement_duration_seconds", "Time of one database statement",
                                    ["statement"], buckets=DB_BUCKETS, registry=self.registry)
        self.database = DatabaseCollector(runtime)
        self._instrument_engine(runtime.engine)
        self.registry.register(self.database)
        # The journal calls every observer in its session's info as it records an outcome.
        observers = runtime.sessions.kw.setdefault("info", {}).setdefault(journal.OBSERVERS, [])
        observers.append(self.observe_operation)

    def observe_request(self, api: str, method: str, route: str, status: int, seconds: float) -> None:
        labels = (api, method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_operation(self, kind: str, outcome: str, error_code: str | None) -> None:
        self.operations.labels(kind, outcome, error_code or "").inc()

    def _instrument_engine(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            conn.info.setdefault("ziti_sim_started", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            started = conn.info["ziti_sim_started"].pop()
            # The verb only: never the statement text with its values, nor the parameters.
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "OTHER"
            self.db_latency.labels(verb if verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else "OTHER").observe(
                time.perf_counter() - started)

        @event.listens_for(engine, "handle_error")
        def _failed(context):  # noqa: ANN001
            conn = context.connection
            if conn is not None and conn.info.get("ziti_sim_started"):
                conn.info["ziti_sim_started"].pop()

    def render(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self.database)
            return generate_latest(registry)
        return generate_latest(self.registry)

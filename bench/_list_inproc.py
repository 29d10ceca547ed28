"""Helper of bench/list_page.py, run in a subprocess whose PYTHONPATH is the revision measured: the list
services the routes call (`<domain>.service.list_page(db, Page(...))`), in-process on the benchmark's
database, without HTTP. Reads a JSON job on stdin, prints JSON timings (ms per call: min and median of the
wall time and of this thread's CPU time; on PostgreSQL the CPU is the client side only)."""

from __future__ import annotations

import json
import statistics
import sys
import time


def main() -> None:
    from controller.api.listing import Page
    from controller.authenticators import service as authenticators
    from controller.identities import service as identities
    from controller.store.db import make_engine, make_session_factory

    job = json.load(sys.stdin)
    services = {"authenticators": authenticators.list_page, "identities": identities.list_page}
    engine = make_engine(job["database"])
    sessions = make_session_factory(engine)
    out = []
    with sessions() as db:
        for entity, zql, offset, limit in job["pages"]:
            page = Page(limit=limit, offset=offset, filter=zql)
            services[entity](db, page)  # warm: statement caches, connection
            wall, cpu = [], []
            for _ in range(job["repeat"]):
                w0, c0 = time.perf_counter(), time.thread_time()
                services[entity](db, page)
                cpu.append((time.thread_time() - c0) * 1000)
                wall.append((time.perf_counter() - w0) * 1000)
                db.rollback()  # a fresh transaction per call, as per request
            out.append({"wallMin": min(wall), "wallMedian": statistics.median(wall), "cpuMin": min(cpu),
                        "cpuMedian": statistics.median(cpu)})
    engine.dispose()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

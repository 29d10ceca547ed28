"""Router certificate extensions per second and server CPU per extension: over the control channel
(connect + hello + 20302 -> 20301 + 20303 -> 20002) next to the REST path (new TLS connection + POST
/enroll/extend/router). Each extension needs a fresh connection on both paths: the certificate it presents
changes with every extension. Bounded (N extensions per router and path), loopback only.

    python bench/ctrl_channel.py [--routers 4] [--rounds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import struct
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as common  # noqa: E402
from controller.client.http import Connection, tls_context  # noqa: E402
from controller.ctrl import framing, messages  # noqa: E402
from controller.router_agent.enroll import enroll_router, make_csr  # noqa: E402
from controller.router_agent.files import RouterFiles  # noqa: E402


def _csrs(files: RouterFiles) -> tuple[str, str]:
    subject = files.client_chain()[0].subject
    return make_csr(files.client_key(), subject, ["localhost"]), make_csr(files.server_key(), subject, ["localhost"])


def _read(sock: ssl.SSLSocket) -> framing.Frame:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("closed")
            data += chunk
        return data

    head = exactly(framing.HEAD_SIZE)
    _magic, ct, seq, hl, bl = struct.unpack("<4siiII", head)
    rest = exactly(hl + bl)
    return framing.Frame(ct, seq, framing.parse_headers(rest[:hl]), rest[hl:])


def ctrl_extend(files: RouterFiles) -> None:
    """One extension on a new connection. A hello refused because the controller has not yet registered the
    previous connection's close (the one-minute churn rule) is retried after 20 ms."""
    for _attempt in range(100):
        try:
            return _ctrl_extend_once(files)
        except EOFError:
            time.sleep(0.02)
    raise RuntimeError("hello refused 100 times")


def _ctrl_extend_once(files: RouterFiles) -> None:
    host, port = files.config()["ctrl"].removeprefix("tls:").rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(files.ca_path))
    context.load_cert_chain(files.cert_path, files.key_path)
    context.set_alpn_protocols(["ziti-ctrl"])
    with context.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host) as sock:
        sock.sendall(framing.Frame(0, -1, {4: b"v1.6.20|bench|2026-01-01|linux|amd64"}, files.router_id.encode()).encode())
        assert _read(sock).content_type == framing.RESULT
        client_csr, server_csr = _csrs(files)
        sock.sendall(framing.Frame(20302, 1, {}, messages.ExtendRequest(client_csr, server_csr, True).encode()).encode())
        while (frame := _read(sock)).content_type != 20301:
            pass
        certs = messages.CertsResponse.decode(frame.body)
        sock.sendall(framing.Frame(20303, 2, {}, messages.VerifyRequest(certs.client_cert_pem).encode()).encode())
        while (frame := _read(sock)).content_type != 20002:
            pass
        assert not messages.Error.decode(frame.body).code
    files.cert_path.write_text(certs.client_cert_pem)
    files.server_cert_path.write_text(certs.server_cert_pem)


def rest_extend(files: RouterFiles, url: str) -> None:
    client_csr, server_csr = _csrs(files)
    context = tls_context(ca_file=files.ca_path, cert_pem=files.cert_path.read_text(), key_pem=files.key_path.read_text())
    with Connection(url, context) as conn:
        data = conn.data("POST", "/edge/client/v1/enroll/extend/router", json_body={"certCsr": client_csr, "serverCertCsr": server_csr})
    files.cert_path.write_text(data["cert"])
    files.server_cert_path.write_text(data["serverCert"])


def measure(name: str, routers: list[RouterFiles], rounds: int, pid: int, one) -> dict:  # noqa: ANN001
    def worker(files: RouterFiles) -> int:
        for _ in range(rounds):
            one(files)
        return rounds

    cpu0, t0 = common.cpu_seconds(pid), time.perf_counter()
    with ThreadPoolExecutor(len(routers)) as pool:
        done = sum(pool.map(worker, routers))
    wall, cpu = time.perf_counter() - t0, common.cpu_seconds(pid) - cpu0
    return {"path": name, "extensions": done, "concurrency": len(routers), "perSecond": round(done / wall, 1),
            "serverCpuMsPerExtension": round(cpu * 1000 / done, 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routers", type=int, default=4, help="routers extending at once (one thread each)")
    parser.add_argument("--rounds", type=int, default=10, help="extensions per router and path")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    server = common.start_server(database_url=args.database_url)
    try:
        admin = server.admin()
        with tempfile.TemporaryDirectory(prefix="bench-routers-") as tmp:
            routers = []
            for i in range(args.routers):
                created = admin.data("POST", "/edge/management/v1/edge-routers", json_body={"name": f"bench-{i}"})
                jwt = admin.data("GET", f"/edge/management/v1/edge-routers/{created['id']}")["enrollmentJwt"]
                routers.append(enroll_router(jwt, Path(tmp) / f"r{i}"))
            ctrl_extend(routers[0])  # warm-up
            rest_extend(routers[0], server.url)
            results = [measure("control channel", routers, args.rounds, server.pid, ctrl_extend),
                       measure("REST /enroll/extend/router", routers, args.rounds, server.pid, lambda f: rest_extend(f, server.url))]
    finally:
        server.stop()
    for r in results:
        print(f"{r['path']:<28} {r['perSecond']:>7} extensions/s   {r['serverCpuMsPerExtension']:>6} ms server CPU each "
              f"({r['extensions']} at concurrency {r['concurrency']})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

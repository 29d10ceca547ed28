"""One keep-alive HTTPS connection to the controller, optionally presenting a client certificate."""

from __future__ import annotations

import http.client
import json
import select
import ssl
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from controller.client.errors import ConnectionLost, ControllerError

# Methods that may be sent again when a connection drops before the answer: doing them twice does no harm.
# POST and PATCH (authenticate, enroll, extend, extend-verify, create) are never re-sent blindly.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def tls_context(*, ca_pem: str | None = None, ca_file: str | Path | None = None, cert_pem: str | None = None,
                key_pem: str | None = None, verify: bool = True) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if ca_pem:
            context.load_verify_locations(cadata=ca_pem)
        elif ca_file:
            context.load_verify_locations(cafile=str(ca_file))
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_pem and key_pem:
        # ssl only loads client credentials from files; keep them in a private temporary directory.
        with tempfile.TemporaryDirectory() as tmp:
            cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_path.write_text(cert_pem)
            key_path.touch(0o600)
            key_path.write_text(key_pem)
            context.load_cert_chain(cert_path, key_path)
    return context


class Connection:
    def __init__(self, base_url: str, context: ssl.SSLContext, *, timeout: float = 30.0):
        parts = urlsplit(base_url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        self.context, self.timeout = context, timeout
        self.session_token: str | None = None
        self.relogin: Callable[[], Any] | None = None  # set to re-authenticate when the session lapses
        self._conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is not None and _dropped(self._conn):
            self.close()  # the server closed the idle keep-alive connection: start a new one before sending
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def raw(self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.session_token and "zt-session" not in all_headers:
            all_headers["zt-session"] = self.session_token
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                response = conn.getresponse()
                return response.status, response.headers, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if method.upper() not in IDEMPOTENT_METHODS:
                    raise ConnectionLost(self.base_url, method, path) from None
                if attempt == 2:
                    raise
                # an idempotent request: sending it once more is safe
            except ConnectionRefusedError as error:
                self.close()
                raise ConnectionRefusedError(error.errno, f"connection refused by {self.base_url}") from None
            except BaseException:
                self.close()  # never reuse a connection left in the middle of a request
                raise
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, *, json_body: Any = None, body: bytes | None = None,
                content_type: str | None = None) -> tuple[Any, http.client.HTTPMessage]:
        headers = {}
        if json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif content_type:
            headers["Content-Type"] = content_type
        status, response_headers, payload = self.raw(method, path, body=body, headers=headers)
        if status == 401 and self.relogin is not None and self.session_token and not path.split("?")[0].endswith("/authenticate"):
            # The session lapsed (e.g. the simulated clock jumped past its timeout): log in again, once.
            self.relogin()
            status, response_headers, payload = self.raw(method, path, body=body, headers=headers)
        parsed = json.loads(payload) if payload and response_headers.get_content_type() == "application/json" else payload
        if status >= 400:
            error = parsed.get("error", {}) if isinstance(parsed, dict) else {}
            raise ControllerError(status, error.get("code", "UNKNOWN"), error.get("message", payload[:200].decode(errors="replace")), error.get("cause"))
        return parsed, response_headers

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs)[0]["data"]

    def login_password(self, username: str, password: str, *, prefix: str = "/edge/management/v1") -> dict[str, Any]:
        session = self.data("POST", f"{prefix}/authenticate?method=password", json_body={"username": username, "password": password})
        self.session_token = session["token"]
        return session

    def login_cert(self, *, prefix: str = "/edge/client/v1") -> dict[str, Any]:
        session = self.data("POST", f"{prefix}/authenticate?method=cert", json_body={})
        self.session_token = session["token"]
        return session


def _dropped(conn: http.client.HTTPSConnection) -> bool:
    """An idle HTTP/1.1 connection has nothing to read; if it is readable, the server closed it (or is
    closing it), so it must not carry the next request."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)

"""A frame-level control-channel client for the tests, written from control-channel.md §2 and §12 and kept
apart from the controller's and the router agent's code: every byte is packed here by hand."""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass, field

MAGIC = bytes([0x03, 0x06, 0x09, 0x0C])
VERSION_HEADER = b"v1.6.20|abc|2026-01-01|linux|amd64"


@dataclass
class Msg:
    ct: int
    seq: int
    headers: dict[int, bytes] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes = b""


def pack(ct: int, seq: int, headers: list[tuple[int, bytes]] | dict[int, bytes], body: bytes = b"") -> bytes:
    items = headers.items() if isinstance(headers, dict) else headers
    block = b"".join(struct.pack("<iI", k, len(v)) + v for k, v in items)
    return MAGIC + struct.pack("<iiII", ct, seq, len(block), len(body)) + block + body


def pb_string(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (lengths below 2^14 here)."""
    length = len(value)
    varint = bytes([length]) if length < 0x80 else bytes([length & 0x7F | 0x80, length >> 7])
    return bytes([number << 3 | 2]) + varint + value


def pb_fields(data: bytes) -> dict[int, bytes]:
    out, i = {}, 0
    while i < len(data):
        key = data[i]
        i += 1
        length, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out[key >> 3] = data[i:i + length]
        i += length
    return out


class Wire:
    def __init__(self, address: str, *, cert: str, key: str, ca: str, alpn: list[str] | None = ("ziti-ctrl",)):
        host, port = address.removeprefix("tls:").rsplit(":", 1)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=ca)
        context.load_cert_chain(cert, key)
        if alpn:
            context.set_alpn_protocols(list(alpn))
        raw = socket.create_connection((host, int(port)), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        self.sock.settimeout(10)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, ct: int, headers: dict[int, bytes] | None = None, body: bytes = b"") -> int:
        self.seq += 1
        self.send_raw(pack(ct, self.seq, headers or {}, body))
        return self.seq

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def recv(self, timeout: float = 10.0) -> Msg:
        self.sock.settimeout(timeout)
        head = self._exactly(20)
        assert head[:4] == MAGIC, head
        ct, seq, hlen, blen = struct.unpack("<iiII", head[4:])
        rest = self._exactly(hlen + blen)
        headers, i = {}, 0
        while i < hlen:
            k, n = struct.unpack_from("<iI", rest, i)
            headers[k] = rest[i + 8:i + 8 + n]
            i += 8 + n
        return Msg(ct, seq, headers, rest[hlen:], head + rest)

    def recv_type(self, ct: int, timeout: float = 10.0) -> Msg:
        """The next frame of this content type, skipping heartbeats (echoing their header 5)."""
        while True:
            msg = self.recv(timeout)
            if 5 in msg.headers and msg.ct != 5:
                self.send(5, {6: msg.headers[5]})
            if msg.ct == ct:
                return msg
            if msg.ct == 5 and 5 in msg.headers:
                self.send(5, {6: msg.headers[5]})

    def closed_without_data(self, timeout: float = 5.0) -> bool:
        """True when the peer closes without sending a single byte (a silent refusal)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, ssl.SSLError):
            return True
        return data == b""

    def hello(self, router_id: str, *, version: bytes | None = VERSION_HEADER, extra: dict[int, bytes] | None = None) -> None:
        headers = {} if version is None else {4: version}
        headers.update({11: b"\x0a\x01\x01", **(extra or {})})
        self.send_raw(pack(0, -1, headers, router_id.encode()))

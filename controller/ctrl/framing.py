"""Channel "V2" frames (control-channel.md §2): a 20-byte little-endian header (magic, content type,
sequence, headers length, body length), a block of (int32 key, uint32 length, bytes) headers, a body."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"\x03\x06\x09\x0c"
# What a listener answers to a wrong magic before closing (§2.6): "unknown version", versions [1, 2].
UNKNOWN_VERSION_RESPONSE = b"\x03\x06\x09\x0a" + struct.pack("<iii", 2, 1, 2)
_HEAD = struct.Struct("<4siiII")
HEAD_SIZE = _HEAD.size  # 20

# content types owned by the channel library
HELLO, PING, RESULT, HEARTBEAT = 0, 1, 2, 5
# edge_ctrl content types
ERROR, ENROLLMENT_CERTS_RESPONSE, ENROLLMENT_EXTEND_REQUEST, ENROLLMENT_EXTEND_VERIFY = 20002, 20301, 20302, 20303

# header keys
CONNECTION_ID, REPLY_FOR, RESULT_SUCCESS, VERSION, HEARTBEAT_REQ, HEARTBEAT_RESP, ID, CAPABILITIES = 0, 1, 2, 4, 5, 6, 8, 12
LISTENERS = 10
API_ADDRESSES = 13
# Not in the real protocol: the simulator's clock (uint64 LE Unix ns) on every frame the controller sends, so a
# simulated router follows `sim clock advance`. Chosen in the control-plane range (1100-1199), unused there.
SIM_NOW = 1199

HELLO_SEQUENCE = -1
HELLO_MAX_HEADERS, HELLO_MAX_BODY = 16384, 4192


class FrameError(Exception):
    pass


@dataclass
class Frame:
    content_type: int
    sequence: int
    headers: dict[int, bytes] = field(default_factory=dict)
    body: bytes = b""

    def encode(self) -> bytes:
        block = b"".join(struct.pack("<iI", key, len(value)) + value for key, value in self.headers.items())
        return _HEAD.pack(MAGIC, self.content_type, self.sequence, len(block), len(self.body)) + block + self.body

    @property
    def reply_for(self) -> int:
        """The sequence this frame answers; -1 (not a reply) when header 1 is absent or not 4 bytes."""
        value = self.headers.get(REPLY_FOR)
        return struct.unpack("<i", value)[0] if value is not None and len(value) == 4 else -1

    def u64(self, key: int) -> int | None:
        value = self.headers.get(key)
        return struct.unpack("<Q", value)[0] if value is not None and len(value) == 8 else None


def i32(value: int) -> bytes:
    return struct.pack("<i", value)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def parse_headers(block: bytes) -> dict[int, bytes]:
    headers: dict[int, bytes] = {}
    offset = 0
    while offset < len(block):
        if len(block) - offset < 8:
            raise FrameError("truncated header entry")
        key, length = struct.unpack_from("<iI", block, offset)
        offset += 8
        if offset + length > len(block):
            raise FrameError("header entry runs past the header block")
        headers[key] = block[offset:offset + length]  # a repeated key: the last value wins
        offset += length
    return headers


class FrameReader:
    """Incremental parser: feed bytes, take whole frames. The first frame (the hello) has size caps."""

    def __init__(self, *, cap_first: bool = True):
        self._buffer = bytearray()
        self._cap = cap_first

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEAD_SIZE:
            magic, content_type, sequence, headers_len, body_len = _HEAD.unpack_from(self._buffer)
            if magic != MAGIC:
                raise BadMagic(bytes(magic))
            if self._cap and (headers_len > HELLO_MAX_HEADERS or body_len > HELLO_MAX_BODY):
                raise FrameError("hello exceeds the size limits")
            total = HEAD_SIZE + headers_len + body_len
            if len(self._buffer) < total:
                break
            block = bytes(self._buffer[HEAD_SIZE:HEAD_SIZE + headers_len])
            body = bytes(self._buffer[HEAD_SIZE + headers_len:total])
            del self._buffer[:total]
            self._cap = False
            frames.append(Frame(content_type, sequence, parse_headers(block), body))
        return frames


class BadMagic(FrameError):
    pass

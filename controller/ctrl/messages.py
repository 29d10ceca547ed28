"""The few edge_ctrl protobuf messages of the extension exchange (control-channel.md §4.1), encoded by hand:
each is a flat proto3 message of string fields and one bool, so a small codec does it without generated code."""

from __future__ import annotations

from dataclasses import dataclass


class DecodeError(Exception):
    pass


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def encode(fields: dict[int, str | bool | None]) -> bytes:
    """proto3: fields at their default value (empty string, false) are left out."""
    out = bytearray()
    for number, value in sorted(fields.items()):
        if isinstance(value, bool):
            if value:
                out += _varint(number << 3) + b"\x01"
        elif value:
            raw = value.encode()
            out += _varint(number << 3 | 2) + _varint(len(raw)) + raw
    return bytes(out)


def decode(data: bytes) -> dict[int, bytes | int]:
    """Field number -> bytes (length-delimited) or int (varint); unknown wire types 1 and 5 are skipped."""
    fields: dict[int, bytes | int] = {}
    offset = 0
    while offset < len(data):
        key, offset = _read_varint(data, offset)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire == 0:
            fields[number], offset = _read_varint(data, offset)
        elif wire == 2:
            length, offset = _read_varint(data, offset)
            if offset + length > len(data):
                raise DecodeError("length-delimited field runs past the message")
            fields[number] = data[offset:offset + length]
            offset += length
        elif wire in (1, 5):
            offset += 8 if wire == 1 else 4
            if offset > len(data):
                raise DecodeError("truncated fixed field")
        else:
            raise DecodeError(f"unsupported wire type {wire}")
    return fields


def _string(fields: dict[int, bytes | int], number: int) -> str:
    value = fields.get(number, b"")
    if not isinstance(value, bytes):
        raise DecodeError(f"field {number} is not a string")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise DecodeError(f"field {number} is not UTF-8") from None


@dataclass(frozen=True)
class ExtendRequest:  # 20302 EnrollmentExtendRouterRequest
    client_cert_csr: str
    server_cert_csr: str
    require_verification: bool

    def encode(self) -> bytes:
        return encode({1: self.client_cert_csr, 2: self.server_cert_csr, 3: self.require_verification})

    @classmethod
    def decode(cls, data: bytes) -> "ExtendRequest":
        fields = decode(data)
        return cls(_string(fields, 1), _string(fields, 2), bool(fields.get(3, 0)))


@dataclass(frozen=True)
class CertsResponse:  # 20301 EnrollmentCertsResponse (field 3 caCertsPem is never filled)
    client_cert_pem: str
    server_cert_pem: str

    def encode(self) -> bytes:
        return encode({1: self.client_cert_pem, 2: self.server_cert_pem})

    @classmethod
    def decode(cls, data: bytes) -> "CertsResponse":
        fields = decode(data)
        return cls(_string(fields, 1), _string(fields, 2))


@dataclass(frozen=True)
class VerifyRequest:  # 20303 EnrollmentExtendRouterVerifyRequest
    client_cert_pem: str

    def encode(self) -> bytes:
        return encode({1: self.client_cert_pem})

    @classmethod
    def decode(cls, data: bytes) -> "VerifyRequest":
        return cls(_string(decode(data), 1))


@dataclass(frozen=True)
class Error:  # 20002: an empty code means success
    code: str = ""
    message: str = ""
    cause: str = ""

    def encode(self) -> bytes:
        return encode({1: self.code, 2: self.message, 3: self.cause})

    @classmethod
    def decode(cls, data: bytes) -> "Error":
        fields = decode(data)
        return cls(_string(fields, 1), _string(fields, 2), _string(fields, 3))

"""Just enough DER to normalise a CSR that `cryptography` refuses but that is otherwise sound."""

from __future__ import annotations

_SEQUENCE = 0x30
_NULL = b"\x05\x00"


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at `pos`."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    length, start = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return data[pos], start, start + length


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _sequence(content: bytes) -> bytes:
    return bytes([_SEQUENCE]) + _length(len(content)) + content


def drop_null_signature_parameters(der: bytes) -> bytes | None:
    """Older C SDKs (libziti 0.29.x) encode ecdsa-with-SHAxxx with an explicit NULL parameter, which RFC 5758
    forbids and `cryptography` refuses. The signature covers only certificationRequestInfo, so the NULL can be
    dropped without touching what was signed. Returns the fixed DER, or None when there is nothing to fix."""
    tag, outer_start, outer_end = _read(der, 0)
    if tag != _SEQUENCE:
        return None
    _, _, info_end = _read(der, outer_start)
    alg_tag, alg_start, alg_end = _read(der, info_end)
    if alg_tag != _SEQUENCE:
        return None
    _, _, oid_end = _read(der, alg_start)
    if der[oid_end:alg_end] != _NULL:
        return None
    algorithm = _sequence(der[alg_start:oid_end])
    return _sequence(der[outer_start:info_end] + algorithm + der[alg_end:outer_end])

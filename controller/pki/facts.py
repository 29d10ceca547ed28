"""What the hot routes need to know about a stored or just-issued certificate (SANs, fingerprint, key print),
kept in memory so that extend and extend-verify do not parse the same PEM on every request.

Keyed by the exact PEM text: equal text is the same certificate, so an entry can never be stale and needs no
invalidation across replicas (another replica simply misses and parses). Bounded (least recently used out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography import x509

from controller.pki.certs import fingerprint, load_certs_pem, public_key_print

MAX_ENTRIES = 8192


@dataclass(frozen=True)
class CertFacts:
    fingerprint: str
    key_print: str
    sans: tuple[x509.GeneralName, ...]


class _Lru:
    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict[str, CertFacts](), threading.Lock()

    def get(self, key: str) -> CertFacts | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: CertFacts) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_CACHE = _Lru(MAX_ENTRIES)


def of_cert(cert: x509.Certificate) -> CertFacts:
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = ()
    return CertFacts(fingerprint(cert), public_key_print(cert), sans)


def remember(pem: str, cert: x509.Certificate) -> CertFacts:
    """Record the facts of `cert`, whose PEM (alone, or followed by its chain) is exactly `pem`."""
    facts = of_cert(cert)
    _CACHE.put(pem, facts)
    return facts


def of_first_pem(pem: str) -> CertFacts:
    """The facts of the first certificate in `pem`; ValueError if `pem` does not parse (every block is
    parsed on a miss, as load_certs_pem does)."""
    found = _CACHE.get(pem)
    if found is not None:
        return found
    return remember(pem, load_certs_pem(pem)[0])

"""TLS that lets every client certificate reach the application, which judges it (see `config`)."""

from controller.tls.config import ClientCertMode, TlsServerConfig
from controller.tls.transport import TlsTransport, peer_chain, tls_protocol_factory

__all__ = ["ClientCertMode", "TlsServerConfig", "TlsTransport", "peer_chain", "tls_protocol_factory"]

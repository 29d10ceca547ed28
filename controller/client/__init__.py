"""A small Edge API client: what the CLI, the pytest plugin and SDK authors' tests use."""

from controller.client.errors import ConnectionLost, ControllerError, ExtensionInterrupted, IdentityFileError
from controller.client.extend import extend_identity
from controller.client.http import Connection
from controller.client.identity_file import IdentityFile

__all__ = ["Connection", "ConnectionLost", "ControllerError", "ExtensionInterrupted", "IdentityFile", "IdentityFileError", "extend_identity"]

"""Files written whole or not at all: a temporary file beside the target (created with the final mode),
fsync, rename over the target, fsync of the directory. A crash leaves the old file or the new one, never
an empty or half-written one, and a secret is never readable by others, not even for an instant."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644

# Directories deleted when their process ends (a fixture's data directory): files in them are still written
# whole and renamed into place, but not fsynced. Durability across a crash means nothing for a directory that
# does not outlive the process, and the ~20 fsyncs of a fixture's PKI and password cost tens of ms at start.
_THROWAWAY: set[Path] = set()


def throwaway_directory(directory: Path) -> None:
    """Declare `directory` deleted at exit: writes under it skip fsync (see _THROWAWAY)."""
    _THROWAWAY.add(Path(directory).resolve())


def forget_throwaway_directory(directory: Path) -> None:
    _THROWAWAY.discard(Path(directory).resolve())


def _durable(path: Path) -> bool:
    return not _THROWAWAY or not any(parent in _THROWAWAY for parent in path.resolve().parents)


def write_atomic(path: Path, data: bytes | str, *, mode: int) -> None:
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    durable = _durable(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed or (for PUBLIC) kept bits; be exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)


def write_private(path: Path, data: bytes | str) -> None:
    """A secret (key, identity file, enrollment JWT, pending extension): written whole, 0600 from the start."""
    write_atomic(path, data, mode=PRIVATE)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory; the rename itself is still atomic
        pass
    finally:
        os.close(fd)

"""Atomic file writes, safe with several writers (processes, Ray workers) on one directory.

A file is written under a fresh temporary name beside its destination (a random name, created
exclusively: unique per writer) and moved into place with ``os.replace``, so a reader sees the old file or the new one,
never a torn one, and two writers never share a temporary file.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through ``write(tmp)`` to a fresh temporary file beside ``path``; return it (the
    caller moves it into place). The temporary file is removed if ``write`` fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # created exclusively, with the umask's permissions (mkstemp's 0600 would hide the file
    # from the other users of a shared study directory)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(Path(tmp))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` and move it into place in one step."""
    os.replace(temp_write(path, write), path)


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of a text file."""
    atomic_write(path, lambda p: p.write_text(text))


@contextmanager
def exclusive_lock(path: Path, required: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing, with the umask's
    permissions: a directory shared by several users needs a group-writable umask, e.g. 002)
    for the block. With ``required=False`` a lock file that cannot be created means no lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 (held for the block)
    except OSError:
        if required:
            raise
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Claims on a study's grid cells, so that several workers on one study directory (two
``drp study`` processes, Ray tasks on many nodes) never run the same cell at once.

A claim is ``<study>/claims/<run>.json``, created with ``O_CREAT | O_EXCL`` (atomic on local
and network file systems): the worker that creates it owns the cell. It records the owner's
host, pid and attempt number, and the owner touches it as it works (:meth:`Claim.heartbeat`).
A claim is *stale*, and may be taken over, when its owner is a dead process on this host or
when it has not been touched for ``stale_after`` seconds (an owner on a lost node). A takeover
renames the stale claim away first: only one of several racing workers can, and the others see
the winner's fresh claim.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CLAIMS = "claims"
STALE_AFTER = 900.0
"""Seconds without a heartbeat after which another host's claim counts as abandoned."""


def claim_path(study: Path, run: str) -> Path:
    return Path(study) / CLAIMS / f"{run}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:  # being written this instant: treat as held
        return {"host": "?", "pid": -1, "attempt": 0}


def is_stale(record: dict, path: Path, stale_after: float = STALE_AFTER) -> bool:
    """Whether a claim's owner is gone: a dead pid on this host, or no heartbeat for
    ``stale_after`` seconds."""
    mine = record.get("host") == socket.gethostname() and record.get("pid", -1) > 0
    if mine and not _alive(int(record["pid"])):
        return True
    try:
        return time.time() - path.stat().st_mtime > stale_after
    except FileNotFoundError:
        return True


@dataclass
class Claim:
    """A held claim on one grid cell (see the module docstring)."""

    path: Path
    token: str
    attempt: int

    @classmethod
    def acquire(cls, study: Path, run: str, stale_after: float = STALE_AFTER) -> Claim | None:
        """Claim ``run``, taking over a stale claim; None when a live worker holds it."""
        path = claim_path(study, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        attempt = 1
        for _ in range(3):
            token = uuid.uuid4().hex
            record = {
                "run": run,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "token": token,
                "attempt": attempt,
                "claimed": time.time(),
            }
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = _read(path)
                if held is None:
                    continue  # released meanwhile: try again
                if not is_stale(held, path, stale_after):
                    return None
                try:  # only one racing worker can move the stale claim away
                    os.rename(path, path.with_name(f".{path.name}.stale-{token}"))
                except FileNotFoundError:
                    return None
                path.with_name(f".{path.name}.stale-{token}").unlink(missing_ok=True)
                attempt = int(held.get("attempt", 0)) + 1
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            return cls(path, token, attempt)
        return None

    @property
    def owner(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def heartbeat(self) -> None:
        """Mark the claim as alive (its mtime)."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path)

    def release(self) -> None:
        """Remove the claim if it is still this one's (not taken over meanwhile)."""
        held = _read(self.path)
        if held is not None and held.get("token") == self.token:
            self.path.unlink(missing_ok=True)


def held_claims(study: Path) -> list[str]:
    """Runs currently claimed in ``study`` (live or not)."""
    folder = Path(study) / CLAIMS
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

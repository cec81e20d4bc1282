"""Claims on a study's grid cells, so that several workers on one study directory (two
``drp study`` processes, Ray tasks on many nodes) never run the same cell at once.

A claim is ``<study>/claims/<run>.json``, written whole and hard-linked into place (atomic, and
refused when a claim exists): the worker that creates it owns the cell. It records the owner's host, pid, Ray task id (in a Ray task) and
attempt number; the owner touches it as it works (:meth:`Claim.heartbeat`), which also checks
that the claim is still its own. A claim is *stale*, and may be taken over, when

* its owner is a process of this host (same boot and pid namespace) that has died, or whose
  pid now belongs to a later process, or
* it is damaged (unreadable), or
* it is a Ray task's and the taker is the same task retried (Ray retries a task once it
  considers the attempt's worker lost), or
* its owner is on another host and has not touched it for ``stale_after`` seconds (a lost
  node).

A live owner on this host is never taken over, however long it runs. Takeovers and releases
are serialised by an exclusive lock on ``claims/.lock``, under which the claim is read again:
two racing takers cannot both win, and a taker never removes a claim it did not judge stale.
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

from drp.core.files import exclusive_lock

CLAIMS = "claims"
STALE_AFTER = 900.0
"""Seconds without a heartbeat after which another host's claim counts as abandoned."""


class ClaimLost(RuntimeError):
    """A worker's claim was taken over (it was judged stale): the worker must stop."""


def claim_path(study: Path, run: str) -> Path:
    return Path(study) / CLAIMS / f"{run}.json"


def _host_id() -> str:
    """This host as its processes see it: the hostname, the boot and the pid namespace (two
    containers that share a hostname do not share pids)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return "/".join(parts)


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot; None where /proc is absent): a
    reused pid has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _read(path: Path) -> dict | None:
    """The claim's record; None when there is none. Claims are moved into place whole
    (:meth:`Claim._create`), so an unreadable one is damaged: it reads as abandoned."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"host": "damaged claim", "pid": -1, "attempt": 0, "damaged": True}


def ray_task_id() -> str | None:
    """The Ray task this code runs in (the same across the task's retries), else None."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if getattr(context, "worker", None) is None or context.worker.mode != ray.WORKER_MODE:
        return None  # the driver: no task
    return context.get_task_id()


def is_stale(
    record: dict, path: Path, stale_after: float = STALE_AFTER, task: str | None = None
) -> bool:
    """Whether a claim's owner is gone (see the module docstring)."""
    if record.get("damaged"):
        return True
    if task is not None and record.get("task") == task:
        return True  # this very task, retried: Ray retries once the attempt's worker is lost
    if record.get("host_id") == _host_id():
        pid = int(record.get("pid", -1))
        if pid <= 0 or not _alive(pid):
            return True
        started = record.get("started_ticks")
        return started is not None and _start_ticks(pid) != started  # the pid was reused
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
        task = ray_task_id()
        record = {
            "run": run,
            "host": socket.gethostname(),
            "host_id": _host_id(),
            "pid": os.getpid(),
            "started_ticks": _start_ticks(os.getpid()),
            "task": task,
            "token": uuid.uuid4().hex,
            "attempt": 1,
            "claimed": time.time(),
        }
        created = cls._create(path, record)
        if created is not None:
            return created
        with exclusive_lock(path.parent / ".lock"):
            held = _read(path)
            if held is not None and not is_stale(held, path, stale_after, task):
                return None
            if held is not None:
                record["attempt"] = int(held.get("attempt", 0)) + 1
                path.unlink(missing_ok=True)
            return cls._create(path, record)

    @classmethod
    def _create(cls, path: Path, record: dict) -> Claim | None:
        """Write the record whole under a private name, then link it to the claim's name:
        the link is atomic and fails if a claim exists, so a claim is never seen half-written."""
        tmp = path.with_name(f".{path.name}.{record['token']}.tmp")
        try:
            tmp.write_text(json.dumps(record))
            try:
                os.link(tmp, path)
            except FileExistsError:
                return None
        finally:
            tmp.unlink(missing_ok=True)
        return cls(path, record["token"], record["attempt"])

    @property
    def owner(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def heartbeat(self) -> None:
        """Mark the claim as alive (its mtime).

        Raises:
            ClaimLost: the claim is no longer this worker's (taken over as stale).
        """
        held = _read(self.path)
        if held is None or held.get("token") != self.token:
            raise ClaimLost(f"{self.path.stem}: the claim was taken over by another worker")
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path)

    def release(self) -> None:
        """Remove the claim if it is still this one's (not taken over meanwhile)."""
        with exclusive_lock(self.path.parent / ".lock"):
            held = _read(self.path)
            if held is not None and held.get("token") == self.token:
                self.path.unlink(missing_ok=True)


def clear_stale(study: Path, run: str, stale_after: float = STALE_AFTER) -> None:
    """Remove ``run``'s claim if its owner is gone (one that died after finishing the cell,
    before releasing it)."""
    path = claim_path(study, run)
    if not path.exists():
        return
    with exclusive_lock(path.parent / ".lock"):
        held = _read(path)
        if held is not None and is_stale(held, path, stale_after):
            path.unlink(missing_ok=True)


def held_claims(study: Path) -> list[str]:
    """Runs currently claimed in ``study`` (live or not)."""
    folder = Path(study) / CLAIMS
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

"""One training at a time: a lock row in the database that survives crashes.

The holder writes its PID, host and a heartbeat. Another process may take the lock over only when the
holder is dead (same host, PID gone) or its heartbeat is older than ``feedback.lock_stale_s``.

The heartbeat thread keeps beating through database errors (each failed beat is logged and retried); the
lock counts as lost when another holder's row is found, or when no beat succeeded for ``lock_stale_s`` (a
takeover may have happened). A holder checks :meth:`TrainingLockHolder.ensure_held` before anything
durable, so a training that lost its lock stops and registers nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from engine.errors import RatchetError
from engine.logs import get_logger
from engine.process import pid_alive
from engine.timeutil import utcnow
from feedback.models import TrainingLock

if TYPE_CHECKING:
    from engine.settings import Settings

log = get_logger(__name__)
LOCK_NAME = "training"


class TrainingBusy(RatchetError, RuntimeError):
    """Another training holds the lock. The message names it."""


class TrainingLockLost(RatchetError, RuntimeError):
    """Another process took the training lock over (or it could not be renewed): stop, register nothing."""


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


class TrainingLockHolder:
    """Acquire with ``with TrainingLockHolder(settings, sessions):``; a thread keeps the heartbeat fresh."""

    def __init__(self, settings: Settings, sessions: sessionmaker) -> None:
        self.settings = settings
        self.sessions = sessions
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def _is_dead(self, row: TrainingLock) -> bool:
        stale = utcnow() - _aware(row.heartbeat_at) > timedelta(seconds=self.settings.feedback.lock_stale_s)
        return stale or (row.host == socket.gethostname() and not pid_alive(row.pid))

    def acquire(self) -> None:
        """Take the lock or raise :class:`TrainingBusy`."""
        now = utcnow()
        try:
            with self.sessions.begin() as s:
                row = s.get(TrainingLock, LOCK_NAME)
                if row is not None:
                    if not self._is_dead(row):
                        raise TrainingBusy(f"a training is already running (pid {row.pid} on {row.host}, "
                                           f"since {row.acquired_at:%Y-%m-%d %H:%M:%S})")
                    log.warning("training.lock_taken_over", previous_pid=row.pid, previous_host=row.host)
                    s.delete(row)
                    s.flush()
                s.add(TrainingLock(name=LOCK_NAME, owner=self.owner, pid=os.getpid(), host=socket.gethostname(),
                                   acquired_at=now, heartbeat_at=now))
        except IntegrityError as exc:  # someone inserted between our read and our write
            raise TrainingBusy("a training started at the same moment") from exc
        self._thread = threading.Thread(target=self._beat, name="training-lock-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        stale = self.settings.feedback.lock_stale_s
        interval = max(1.0, stale / 4)
        last_ok = time.monotonic()
        while not self._stop.wait(interval):
            try:
                ours = self._renew()
            except Exception as exc:  # noqa: BLE001 - a DB error must not end the heartbeat: retry next beat
                log.warning("training.lock_heartbeat_failed", error=repr(exc)[:300])
                if time.monotonic() - last_ok > stale:
                    log.error("training.lock_lost", reason=f"no heartbeat for {stale:g}s")
                    self.lost.set()
                    return
                continue
            if not ours:
                log.error("training.lock_lost", reason="taken over by another process")
                self.lost.set()
                return
            last_ok = time.monotonic()

    def _renew(self) -> bool:
        """Refresh the heartbeat; False when the row is no longer ours."""
        with self.sessions.begin() as s:
            row = s.get(TrainingLock, LOCK_NAME)
            if row is None or row.owner != self.owner:
                return False
            row.heartbeat_at = utcnow()
            return True

    def raise_if_lost(self) -> None:
        """Raise :class:`TrainingLockLost` if the heartbeat found the lock lost (no database access)."""
        if self.lost.is_set():
            raise TrainingLockLost("the training lock was lost (taken over or not renewed); this run stops")

    def ensure_held(self) -> None:
        """Raise :class:`TrainingLockLost` unless the lock row in the database is still ours."""
        self.raise_if_lost()
        with self.sessions() as s:
            row = s.get(TrainingLock, LOCK_NAME)
        if row is None or row.owner != self.owner:
            self.lost.set()
            holder = f"pid {row.pid} on {row.host}" if row is not None else "nobody"
            raise TrainingLockLost(f"the training lock was taken over (now held by {holder}); this run "
                                   "registers nothing")

    def release(self) -> None:
        """Give the lock back (only if still ours)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        try:
            with self.sessions.begin() as s:
                row = s.get(TrainingLock, LOCK_NAME)
                if row is not None and row.owner == self.owner:
                    s.delete(row)
        except Exception as exc:  # noqa: BLE001 - the row goes stale and is taken over; keep the real error
            log.warning("training.lock_release_failed", error=repr(exc)[:300])

    def __enter__(self) -> TrainingLockHolder:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

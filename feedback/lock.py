"""One training at a time: a lock row in the database that survives crashes.

The holder writes its PID, host and a heartbeat. Another process may take the lock over only when the
holder is dead (same host, PID gone) or its heartbeat is older than ``feedback.lock_stale_s``.
"""

from __future__ import annotations

import os
import socket
import threading
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
        interval = max(1.0, self.settings.feedback.lock_stale_s / 4)
        while not self._stop.wait(interval):
            with self.sessions.begin() as s:
                row = s.get(TrainingLock, LOCK_NAME)
                if row is None or row.owner != self.owner:
                    log.error("training.lock_lost")
                    return
                row.heartbeat_at = utcnow()

    def release(self) -> None:
        """Give the lock back (only if still ours)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self.sessions.begin() as s:
            row = s.get(TrainingLock, LOCK_NAME)
            if row is not None and row.owner == self.owner:
                s.delete(row)

    def __enter__(self) -> TrainingLockHolder:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

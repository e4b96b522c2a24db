"""Admin page sessions on the server, and the sign-in rate limit — in the database, so every replica of the
admin page agrees.

A signed cookie alone cannot be taken back: whoever copied it before sign-out could use it until it expired.
So each sign-in opens a row here, the cookie names it, and a request is let in only while its row is open;
sign-out closes it. Failed sign-ins are recorded per client: ``admin.sign_in_max_failures`` within
``admin.sign_in_window_s`` lock that client out (even with the right token) until the window has passed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from engine.db import Base, session_factory
from engine.timeutil import utcnow


class AdminSession(Base):
    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignInFailure(Base):
    __tablename__ = "admin_sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SessionStore:
    """Open, check and end admin sessions; count failed sign-ins."""

    def __init__(self, db_url: str, *, max_failures: int, window_s: float) -> None:
        self.sessions: sessionmaker = session_factory(db_url)
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)

    def open(self, lifetime_s: float) -> str:
        """A new session id, valid for ``lifetime_s`` seconds unless ended."""
        session_id = secrets.token_hex(16)
        with self.sessions.begin() as s:
            s.add(AdminSession(id=session_id, expires_at=utcnow() + timedelta(seconds=lifetime_s)))
        return session_id

    def active(self, session_id: str) -> bool:
        with self.sessions() as s:
            return s.scalar(select(AdminSession.id).where(AdminSession.id == session_id,
                                                          AdminSession.ended_at.is_(None),
                                                          AdminSession.expires_at > utcnow())) is not None

    def end(self, session_id: str) -> None:
        with self.sessions.begin() as s:
            s.execute(update(AdminSession).where(AdminSession.id == session_id).values(ended_at=utcnow()))

    def locked_out(self, client: str) -> bool:
        """True while ``client`` has too many failed sign-ins within the window."""
        since = utcnow() - self.window
        with self.sessions() as s:
            failures = s.scalar(select(func.count()).select_from(SignInFailure)
                                .where(SignInFailure.client == client, SignInFailure.at > since))
        return (failures or 0) >= self.max_failures

    def failed(self, client: str) -> None:
        now = utcnow()
        with self.sessions.begin() as s:
            s.add(SignInFailure(client=client[:64], at=now))
            s.execute(delete(SignInFailure).where(SignInFailure.at < now - self.window))
            s.execute(delete(AdminSession).where(AdminSession.expires_at < now))


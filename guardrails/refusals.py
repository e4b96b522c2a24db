"""The ``refusals`` table: every refusal with the rail that fired, the masked input and the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, session_factory


class Refusal(Base):
    """One refused question or answer."""

    __tablename__ = "refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    rail: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    masked_input: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    user: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    channel: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True)
class RefusalRow:
    """A refusal as the admin page shows it."""

    id: int
    at: datetime
    rail: str
    stage: str
    masked_input: str
    message: str
    user: str | None
    channel: str | None


MAX_STORED_INPUT = 2000


def save_refusal(db_url: str, *, rail: str, masked_input: str, message: str, user: str | None,
                 channel: str | None) -> int:
    """Insert one refusal (input truncated to 2,000 characters); returns its id."""
    row = Refusal(
        at=datetime.now(timezone.utc), rail=rail, stage=rail.split(".", 1)[0],
        masked_input=masked_input[:MAX_STORED_INPUT], message=message, user=user, channel=channel,
    )
    with session_factory(db_url)() as session, session.begin():
        session.add(row)
        session.flush()
        return row.id


def get_refusal(db_url: str, refusal_id: int) -> RefusalRow | None:
    """One refusal by id (None when there is none)."""
    with session_factory(db_url)() as session:
        r = session.get(Refusal, refusal_id)
        return None if r is None else RefusalRow(r.id, r.at, r.rail, r.stage, r.masked_input, r.message, r.user,
                                                  r.channel)


def list_refusals(db_url: str, *, limit: int = 100, rail: str | None = None) -> list[RefusalRow]:
    """The newest refusals first (optionally of one rail) for the admin page."""
    query = select(Refusal).order_by(Refusal.at.desc(), Refusal.id.desc()).limit(limit)
    if rail:
        query = query.where(Refusal.rail == rail)
    with session_factory(db_url)() as session:
        return [
            RefusalRow(r.id, r.at, r.rail, r.stage, r.masked_input, r.message, r.user, r.channel)
            for r in session.scalars(query)
        ]

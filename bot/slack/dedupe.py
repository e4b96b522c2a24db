"""Exactly-once event handling: every Slack event is claimed — and stored — in the database before the ack.

Slack redelivers an event when the ack is late or lost (``X-Slack-Retry-Num`` over HTTP, ``retry_attempt``
in Socket Mode). The first delivery claims the event id (a primary-key insert, so two processes cannot
both win) and stores the event body with the claim, before Slack gets its ack; later deliveries find the
claim and are dropped, also after a restart. A claim left ``in_flight`` by another process for longer than
``bot.dedupe_takeover_s`` (that process died mid-answer) is taken over — by a redelivery, or by the
recovery sweep (:meth:`EventLedger.orphans`) that every bot runs at start and periodically, which replays
the stored body. So an event Slack was told we have is never lost, and is handled once: the replay writes
its answer into the message the dead process had posted (``reply_ts``), not into a second one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import JSON, DateTime, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from engine.db import Base, session_factory
from engine.logs import get_logger
from engine.timeutil import utcnow

log = get_logger(__name__)

IN_FLIGHT = "in_flight"
DONE = "done"
PROCESS_ID = uuid.uuid4().hex[:16]
MAX_ATTEMPTS = 3  # an event that failed this often is not replayed again (it would fail forever)


class ProcessedEvent(Base):
    """One Slack event id this bot has claimed."""

    __tablename__ = "bot_processed_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the event body, for recovery
    reply_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the answer message, once posted


class EventLedger:
    """Claims and completes event ids in the durable store."""

    def __init__(self, db_url: str, *, takeover_s: float, owner: str = PROCESS_ID) -> None:
        self.sessions: sessionmaker = session_factory(db_url)
        self.takeover_s = takeover_s
        self.owner = owner

    def claim(self, event_id: str, kind: str, payload: dict | None = None) -> bool:
        """True when this delivery should be handled (first one, or taking over a dead process's claim).
        The claim (with ``payload``, the event body) is committed before this returns."""
        now = utcnow()
        try:
            with self.sessions.begin() as s:
                s.add(ProcessedEvent(event_id=event_id, kind=kind, status=IN_FLIGHT, owner=self.owner,
                                     attempts=1, claimed_at=now, payload=payload))
            return True
        except IntegrityError:
            pass
        stale_before = now - timedelta(seconds=self.takeover_s)
        with self.sessions.begin() as s:
            taken = s.execute(
                update(ProcessedEvent)
                .where(ProcessedEvent.event_id == event_id, ProcessedEvent.status == IN_FLIGHT,
                       ProcessedEvent.owner != self.owner, ProcessedEvent.claimed_at < stale_before)
                .values(owner=self.owner, claimed_at=now, attempts=ProcessedEvent.attempts + 1)
            ).rowcount
        if taken:
            log.warning("event.taken_over", event_id=event_id, kind=kind)
            return True
        log.info("event.duplicate_dropped", event_id=event_id, kind=kind)
        return False

    def orphans(self, limit: int = 100) -> list[tuple[str, dict]]:
        """Events another process claimed and left in flight longer than the takeover time: each is taken
        over (atomically, so two bots never both replay one) and returned with its stored body."""
        stale_before = utcnow() - timedelta(seconds=self.takeover_s)
        with self.sessions() as s:
            candidates = list(s.scalars(
                select(ProcessedEvent.event_id).where(ProcessedEvent.status == IN_FLIGHT,
                                                      ProcessedEvent.owner != self.owner,
                                                      ProcessedEvent.claimed_at < stale_before,
                                                      ProcessedEvent.attempts < MAX_ATTEMPTS,
                                                      ProcessedEvent.payload.is_not(None)).limit(limit)))
        taken: list[tuple[str, dict]] = []
        for event_id in candidates:
            with self.sessions.begin() as s:
                won = s.execute(
                    update(ProcessedEvent)
                    .where(ProcessedEvent.event_id == event_id, ProcessedEvent.status == IN_FLIGHT,
                           ProcessedEvent.owner != self.owner, ProcessedEvent.claimed_at < stale_before)
                    .values(owner=self.owner, claimed_at=utcnow(), attempts=ProcessedEvent.attempts + 1)
                ).rowcount
                payload = s.get(ProcessedEvent, event_id).payload if won else None
            if won and payload is not None:
                log.warning("event.recovered", event_id=event_id)
                taken.append((event_id, payload))
        return taken

    def note_reply(self, event_id: str, ts: str) -> None:
        """Remember the message this event's answer goes into: a replay finishes it rather than post another."""
        with self.sessions.begin() as s:
            s.execute(update(ProcessedEvent).where(ProcessedEvent.event_id == event_id).values(reply_ts=ts))

    def reply_ts(self, event_id: str) -> str | None:
        with self.sessions() as s:
            return s.scalar(select(ProcessedEvent.reply_ts).where(ProcessedEvent.event_id == event_id))

    def finish(self, event_id: str) -> None:
        """Mark an event handled (its answer is out)."""
        with self.sessions.begin() as s:
            row = s.get(ProcessedEvent, event_id)
            if row is not None:
                row.status = DONE
                row.finished_at = utcnow()

    def status(self, event_id: str) -> str | None:
        """``in_flight``, ``done`` or None (never seen)."""
        with self.sessions() as s:
            row = s.get(ProcessedEvent, event_id)
            return row.status if row else None


class DedupeEvents(AsyncMiddleware):
    """Bolt middleware: claim each event id in the ledger before any listener runs; drop a duplicate with 200.

    The claimed id is put in ``context["ratchet_event_id"]`` so the listener can mark it finished.
    """

    def __init__(self, ledger: EventLedger) -> None:
        self.ledger = ledger

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if req.context.get("ratchet_recovered"):
            return await next()  # replayed from the ledger: already claimed by this process
        if event_id:
            event = body.get("event")
            kind = str(event.get("type", "?")) if isinstance(event, dict) else "?"
            if not await asyncio.to_thread(self.ledger.claim, event_id, kind, body):
                return BoltResponse(status=200, body="")
            req.context["ratchet_event_id"] = event_id
        return await next()

"""Admins' verdicts on the input rails' decisions: the ``guardrail_verdicts`` table.

A verdict says a decision was wrong: ``wrong_refusal`` (a refused question should have been answered) or
``should_refuse`` (a question should have been refused). Admins give them on the admin page (confirmed at
once); a 👎 on a refusal in Slack files a ``wrong_refusal`` that waits (``pending``) until an admin confirms
or dismisses it. Confirmed verdicts are training rows for the next detector version
(:func:`training_rows`, source ``admin-verdicts``; :mod:`guardrails.detector_retrain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, session_factory
from guardrails.detector_train import ADMIN_SOURCE, Row
from guardrails.patterns import GuardrailConfigError

VERDICT_LABELS = {"wrong_refusal": "benign", "should_refuse": "harmful"}
PENDING, CONFIRMED, DISMISSED = "pending", "confirmed", "dismissed"


class GuardrailVerdict(Base):
    """One verdict on one input (stored masked, like the refusals)."""

    __tablename__ = "guardrail_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # admin | slack
    status: Mapped[str] = mapped_column(String(16), index=True)
    refusal_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reported_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class VerdictRow:
    """A verdict as the admin page shows it."""

    id: int
    at: datetime
    verdict: str
    text: str
    origin: str
    status: str
    refusal_id: int | None
    reported_by: str | None


def report_verdict(db_url: str, *, verdict: str, text: str, origin: str, by: str | None,
                   refusal_id: int | None = None, answer_id: str | None = None, confirmed: bool = False) -> int:
    """File a verdict (``confirmed``: given by an admin, no confirmation needed); returns its id. A second
    report on the same refusal or answer returns the first one's id."""
    if verdict not in VERDICT_LABELS:
        raise GuardrailConfigError(f"unknown verdict {verdict!r}: use one of {sorted(VERDICT_LABELS)}")
    now = datetime.now(timezone.utc)
    with session_factory(db_url)() as session, session.begin():
        for column, value in ((GuardrailVerdict.refusal_id, refusal_id), (GuardrailVerdict.answer_id, answer_id)):
            if value is not None:
                existing = session.scalars(select(GuardrailVerdict).where(
                    column == value, GuardrailVerdict.verdict == verdict)).first()
                if existing is not None:
                    if confirmed and existing.status != CONFIRMED:
                        existing.status, existing.decided_by, existing.decided_at = CONFIRMED, by, now
                    return existing.id
        row = GuardrailVerdict(at=now, verdict=verdict, text=text[:2000], origin=origin,
                               status=CONFIRMED if confirmed else PENDING, refusal_id=refusal_id,
                               answer_id=answer_id, reported_by=by, decided_by=by if confirmed else None,
                               decided_at=now if confirmed else None)
        session.add(row)
        session.flush()
        return row.id


def decide_verdict(db_url: str, verdict_id: int, *, confirm: bool, by: str) -> bool:
    """An admin confirms or dismisses a pending verdict; False when there is no such pending verdict."""
    with session_factory(db_url)() as session, session.begin():
        row = session.get(GuardrailVerdict, verdict_id)
        if row is None or row.status != PENDING:
            return False
        row.status = CONFIRMED if confirm else DISMISSED
        row.decided_by, row.decided_at = by, datetime.now(timezone.utc)
        return True


def list_verdicts(db_url: str, *, status: str | None = None, limit: int = 100) -> list[VerdictRow]:
    """Newest verdicts first (optionally of one status)."""
    query = select(GuardrailVerdict).order_by(GuardrailVerdict.at.desc(), GuardrailVerdict.id.desc()).limit(limit)
    if status:
        query = query.where(GuardrailVerdict.status == status)
    with session_factory(db_url)() as session:
        return [VerdictRow(v.id, v.at, v.verdict, v.text, v.origin, v.status, v.refusal_id, v.reported_by)
                for v in session.scalars(query)]


def training_rows(db_url: str) -> list[Row]:
    """Confirmed verdicts as detector training rows (``wrong_refusal`` → benign, ``should_refuse`` → harmful);
    the latest verdict on a text wins."""
    query = select(GuardrailVerdict).where(GuardrailVerdict.status == CONFIRMED).order_by(GuardrailVerdict.at)
    latest: dict[str, str] = {}
    with session_factory(db_url)() as session:
        for v in session.scalars(query):
            latest[v.text] = VERDICT_LABELS[v.verdict]
    return [Row(text, label, ADMIN_SOURCE) for text, label in latest.items()]

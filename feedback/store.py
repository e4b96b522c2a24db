"""The durable feedback store: every answer the bot gives and every vote on it.

Each write is its own committed transaction (SQLite in WAL with ``synchronous=FULL``, or PostgreSQL), so
a call that returned is on disk: an acknowledged vote survives a ``kill -9``. Votes are kept per user
per answer (replace, retract) with the full history in ``feedback_vote_events``. Askers and voters are
stored as salted hashes when ``feedback.hash_askers`` is set. Secrets in the question, thread history,
prompt and answer are masked before they are written (``feedback.redaction``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import sessionmaker

from engine.errors import RatchetError
from engine.db import session_factory
from engine.logs import get_logger
from engine.metrics import VOTES
from engine.timeutil import utcnow
from feedback.models import Answer, PendingVote, Vote, VoteEvent
from feedback.redaction import SecretMasker

if TYPE_CHECKING:
    from engine.settings import Settings

log = get_logger(__name__)

SOURCES = ("slack", "chat", "cli", "admin", "regenerate", "test")
VOTE_VALUES = (-1, 0, 1)


class FeedbackError(RatchetError, ValueError):
    """Bad input to the feedback store; nothing was written. The message says what to fix."""


class UnknownAnswer(FeedbackError):
    """No answer with that id (or message) is recorded."""


@dataclass
class AnswerRecord:
    """Everything about one answer, as the bot produced it."""

    question: str
    standalone_query: str | None
    history: list[dict]
    chunk_ids: list[str]
    chunk_hashes: list[str]
    prompt: list[dict]  # the exact messages sent to the model
    answer: str
    adapter_version: str | None
    alias: str | None
    sampling: dict
    guardrails: dict
    timings_ms: dict
    source: str  # "slack" | "chat" | "cli"
    channel: str | None = None
    thread_ts: str | None = None
    user: str | None = None
    refused: bool = False
    refusal_rail: str | None = None


@dataclass
class AnswerView:
    """An answer with its vote tally, as the admin page and the CLI show it."""

    id: str
    created_at: datetime
    question: str
    answer: str
    adapter_version: str | None
    alias: str | None
    source: str
    channel: str | None
    thread_ts: str | None
    ts: str | None
    refused: bool
    up: int = 0
    down: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> int:
        """Net votes (👍 minus 👎)."""
        return self.up - self.down


def question_key(text: str) -> str:
    """A stable key for near-identical questions: case, punctuation and spacing are ignored."""
    norm = re.sub(r"[^\w]+", " ", text.lower()).strip()
    return hashlib.sha256(norm.encode()).hexdigest()


class FeedbackStore:
    """Answers, votes and their history in the settings' database."""

    def __init__(self, settings: Settings, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or session_factory(settings.db_url)
        self.masker = SecretMasker(settings)
        _check_salt(settings)

    # --- identities ------------------------------------------------------------------------------------
    def user_key(self, user: str | None) -> str | None:
        """How a Slack user id is stored: as is, or a salted hash when ``hash_askers`` is set."""
        if user is None or not self.settings.feedback.hash_askers:
            return user
        _check_salt(self.settings)
        salted = f"{self.settings.feedback.asker_hash_salt}:{user}"
        return "h:" + hashlib.sha256(salted.encode()).hexdigest()[:40]

    # --- writing ---------------------------------------------------------------------------------------
    def record_answer(self, rec: AnswerRecord, *, alternative_of: str | None = None,
                      correction_of: str | None = None) -> str:
        """Store one answer; returns its id. ``alternative_of``/``correction_of`` link competing answers."""
        _check_answer(rec)
        rec = self.masker.record(rec)  # secrets never reach the database
        answer_id = uuid.uuid4().hex
        data = asdict(rec)
        data["user"] = self.user_key(rec.user)
        with self.sessions.begin() as s:
            for link in (alternative_of, correction_of):
                if link is not None and s.get(Answer, link) is None:
                    raise UnknownAnswer(f"no answer {link!r} to link to")
            s.add(Answer(id=answer_id, question_key=question_key(rec.question), created_at=utcnow(),
                         alternative_of=alternative_of, correction_of=correction_of, **data))
        log.info("feedback.answer_recorded", answer_id=answer_id, source=rec.source,
                 adapter=rec.adapter_version)
        return answer_id

    def attach_message(self, answer_id: str, *, channel: str, ts: str, thread_ts: str | None) -> None:
        """Remember which Slack message shows the answer (so reactions on it find it), and apply the votes
        given on that message while the answer was still being written."""
        if not channel or not ts:
            raise FeedbackError("attach_message needs a channel and a message ts")
        with self.sessions.begin() as s:
            row = self._answer(s, answer_id)
            row.channel, row.ts = channel, ts
            row.thread_ts = thread_ts or row.thread_ts
        self._apply_pending(answer_id, channel, ts)

    def _apply_pending(self, answer_id: str, channel: str, ts: str) -> None:
        """Move the votes waiting on a message onto its answer, in the order they were given (each taken once,
        so two callers never apply one twice)."""
        with self.sessions() as s:
            ids = list(s.scalars(select(PendingVote.id).where(PendingVote.channel == channel, PendingVote.ts == ts)
                                 .order_by(PendingVote.id)))
        for pending_id in ids:
            with self.sessions.begin() as s:
                vote = s.get(PendingVote, pending_id)
                if vote is None:
                    continue
                user, value, source = vote.user, vote.value, vote.source
                s.delete(vote)
            self.record_vote(answer_id, user, value, source)

    def record_message_vote(self, *, channel: str, ts: str, user: str, value: int, source: str) -> str | None:
        """A vote on a bot message: on its answer when that is recorded (returns the answer id), otherwise
        kept until the answer is attached to the message (returns None). Durable when this returns."""
        if value not in VOTE_VALUES or not user:
            raise FeedbackError(f"a vote is +1, -1 or 0 by a user, got {value!r} by {user!r}")
        answer_id = self.find_answer(channel=channel, ts=ts)
        if answer_id is not None:
            self.record_vote(answer_id, user, value, source)
            return answer_id
        with self.sessions.begin() as s:
            s.add(PendingVote(channel=channel, ts=ts, user=user, value=value, source=source, at=utcnow()))
        answer_id = self.find_answer(channel=channel, ts=ts)  # attached meanwhile: apply it now
        if answer_id is not None:
            self._apply_pending(answer_id, channel, ts)
            return answer_id
        log.info("feedback.vote_pending", channel=channel, ts=ts, value=value)
        return None

    def find_answer(self, *, channel: str, ts: str) -> str | None:
        """The answer shown by a Slack message, or None."""
        with self.sessions() as s:
            return s.scalar(select(Answer.id).where(Answer.channel == channel, Answer.ts == ts)
                            .order_by(Answer.created_at.desc()).limit(1))

    def record_vote(self, answer_id: str, user: str, value: int, source: str) -> None:
        """Set ``user``'s vote on an answer: +1, -1, or 0 to retract. History is kept.

        Returns once the vote is committed (durable). Raises :class:`UnknownAnswer` or
        :class:`FeedbackError` on bad input, writing nothing.
        """
        if value not in VOTE_VALUES:
            raise FeedbackError(f"a vote is +1, -1 or 0 (retract), got {value!r}")
        if not user:
            raise FeedbackError("a vote needs a user")
        key = self.user_key(user)
        with self.sessions.begin() as s:
            self._answer(s, answer_id)
            now = utcnow()
            if value == 0:
                s.execute(delete(Vote).where(Vote.answer_id == answer_id, Vote.user == key))
            else:  # one statement, so two first votes at once both land (the later one wins)
                _upsert_vote(s, answer_id=answer_id, user=key, value=value, source=source, updated_at=now)
            s.add(VoteEvent(answer_id=answer_id, user=key, value=value, source=source, at=now))
        VOTES.labels(value=str(value), source=source).inc()
        log.info("feedback.vote", answer_id=answer_id, value=value, source=source)

    def record_correction(self, answer_id: str, text: str, *, actor: str, source: str = "admin") -> str:
        """Store a corrected answer to ``answer_id`` (same prompt) and vote it 👍 by ``actor``."""
        if not text.strip():
            raise FeedbackError("a correction needs text")
        original = self.get(answer_id)
        rec = AnswerRecord(
            question=original.question, standalone_query=original.standalone_query,
            history=original.history, chunk_ids=original.chunk_ids, chunk_hashes=original.chunk_hashes,
            prompt=original.prompt, answer=text.strip(), adapter_version=None, alias=None, sampling={},
            guardrails={}, timings_ms={}, source=source, channel=original.channel,
            thread_ts=original.thread_ts, user=None,
        )
        corrected = self.record_answer(rec, correction_of=answer_id)
        self.record_vote(corrected, actor, 1, source)
        return corrected

    def record_pick(self, answer_id: str, alternative_id: str, *, user: str, chosen_id: str,
                    source: str = "slack") -> None:
        """A user picked one of two shown answers: 👍 the chosen one, 👎 the other."""
        if chosen_id not in (answer_id, alternative_id):
            raise FeedbackError(f"the pick {chosen_id!r} is neither of the two answers shown")
        other = alternative_id if chosen_id == answer_id else answer_id
        self.record_vote(chosen_id, user, 1, source)
        self.record_vote(other, user, -1, source)

    # --- privacy ---------------------------------------------------------------------------------------
    def forget_user(self, user: str) -> dict[str, int]:
        """Delete a user's questions (their answers) and votes, history included. Returns counts."""
        key = self.user_key(user)
        with self.sessions.begin() as s:
            asked = list(s.scalars(select(Answer.id).where(Answer.user == key)))
            counts = {"answers": len(asked)}
            counts["votes"] = s.execute(delete(Vote).where(
                or_(Vote.user == key, Vote.answer_id.in_(asked)))).rowcount
            counts["vote_events"] = s.execute(delete(VoteEvent).where(
                or_(VoteEvent.user == key, VoteEvent.answer_id.in_(asked)))).rowcount
            s.execute(delete(Answer).where(Answer.id.in_(asked)))
        log.info("feedback.forgot_user", **counts)
        return counts

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete answers (and their votes) older than ``feedback.retention_days``. Returns answers deleted."""
        days = self.settings.feedback.retention_days
        if not days:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=days)
        with self.sessions.begin() as s:
            old = select(Answer.id).where(Answer.created_at < cutoff)
            s.execute(delete(Vote).where(Vote.answer_id.in_(old)))
            s.execute(delete(VoteEvent).where(VoteEvent.answer_id.in_(old)))
            n = s.execute(delete(Answer).where(Answer.created_at < cutoff)).rowcount
        log.info("feedback.purged", answers=n, older_than_days=days)
        return n

    # --- reading ---------------------------------------------------------------------------------------
    def get(self, answer_id: str) -> Answer:
        """One answer row (detached)."""
        with self.sessions() as s:
            return self._answer(s, answer_id)

    def votes(self, answer_id: str) -> dict[str, int]:
        """Current votes on an answer: stored user key -> +1/-1."""
        with self.sessions() as s:
            return dict(s.execute(select(Vote.user, Vote.value).where(Vote.answer_id == answer_id)).all())

    def vote_history(self, answer_id: str) -> list[VoteEvent]:
        """Every vote action on an answer, oldest first."""
        with self.sessions() as s:
            return list(s.scalars(select(VoteEvent).where(VoteEvent.answer_id == answer_id)
                                  .order_by(VoteEvent.id)))

    def recent_answers(self, *, limit: int = 50, offset: int = 0, adapter_version: str | None = None,
                       vote: str | None = None, channel: str | None = None, search: str | None = None,
                       since: datetime | None = None) -> list[AnswerView]:
        """Newest answers with their tallies. ``vote``: 'up', 'down', 'none' (unvoted) or None (all)."""
        up, down = _tallies()
        q = (select(Answer, func.coalesce(up.c.n, 0), func.coalesce(down.c.n, 0))
             .outerjoin(up, up.c.answer_id == Answer.id).outerjoin(down, down.c.answer_id == Answer.id))
        if adapter_version is not None:
            q = q.where(Answer.adapter_version.is_(None) if adapter_version == "base"
                        else Answer.adapter_version == adapter_version)
        if channel:
            q = q.where(Answer.channel == channel)
        if search:
            q = q.where(or_(Answer.question.ilike(f"%{search}%"), Answer.answer.ilike(f"%{search}%")))
        if since:
            q = q.where(Answer.created_at >= since)
        filters = {"up": up.c.n > 0, "down": down.c.n > 0,
                   "none": func.coalesce(up.c.n, 0) + func.coalesce(down.c.n, 0) == 0}
        if vote is not None:
            if vote not in filters:
                raise FeedbackError(f"vote filter must be one of {', '.join(filters)}, got {vote!r}")
            q = q.where(filters[vote])
        q = q.order_by(Answer.created_at.desc()).limit(limit).offset(offset)
        with self.sessions() as s:
            return [_view(a, u, d) for a, u, d in s.execute(q).all()]

    def version_summary(self, since: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Per adapter version ('base' for none): answers, 👍, 👎 and 👍 rate among voted answers."""
        out: dict[str, dict[str, Any]] = {}
        for row in self._vote_rows(since):
            entry = out.setdefault(row["version"], {"answers": 0, "up": 0, "down": 0})
            entry["answers"] += row["answers"]
            entry["up"] += row["up"]
            entry["down"] += row["down"]
        for entry in out.values():
            voted = entry["up"] + entry["down"]
            entry["up_rate"] = entry["up"] / voted if voted else None
        return out

    def vote_rate_by_version(self, days: int = 14, now: datetime | None = None) -> list[dict[str, Any]]:
        """Daily 👍 rate per adapter version over the last ``days`` days (rows: day, version, up, down, rate)."""
        since = (now or utcnow()) - timedelta(days=days)
        rows = self._vote_rows(since, by_day=True)
        for row in rows:
            voted = row["up"] + row["down"]
            row["up_rate"] = row["up"] / voted if voted else None
        return rows

    def labelled_count(self, since: datetime | None = None) -> int:
        """Answers with at least one current vote (optionally, voted on since a time)."""
        q = select(func.count(func.distinct(Vote.answer_id)))
        if since is not None:
            q = q.where(Vote.updated_at > since)
        with self.sessions() as s:
            return int(s.scalar(q) or 0)

    def labelled_answers(self) -> list[tuple[Answer, dict[str, int]]]:
        """Every answer with at least one current vote, with its votes (user -> value), oldest first."""
        with self.sessions() as s:
            rows = s.execute(select(Answer, Vote.user, Vote.value).join(Vote, Vote.answer_id == Answer.id)
                             .order_by(Answer.created_at, Answer.id)).all()
        grouped: dict[str, tuple[Answer, dict[str, int]]] = {}
        for answer, user, value in rows:
            grouped.setdefault(answer.id, (answer, {}))[1][user] = value
        return list(grouped.values())

    def newest_answers(self, *, limit: int, offset: int = 0) -> list[Answer]:
        """Answer rows, newest first, voted or not (what automatic preference pairs sample from)."""
        with self.sessions() as s:
            return list(s.scalars(select(Answer).order_by(Answer.created_at.desc(), Answer.id)
                                  .limit(limit).offset(offset)))

    # --- helpers -----------------------------------------------------------------------------------------
    @staticmethod
    def _answer(s, answer_id: str) -> Answer:
        row = s.get(Answer, answer_id)
        if row is None:
            raise UnknownAnswer(f"no answer with id {answer_id!r} is recorded")
        return row

    def _vote_rows(self, since: datetime | None, by_day: bool = False) -> list[dict[str, Any]]:
        up, down = _tallies()
        day = func.date(Answer.created_at) if by_day else None
        cols = [Answer.adapter_version, func.count(Answer.id),
                func.sum(func.coalesce(up.c.n, 0)), func.sum(func.coalesce(down.c.n, 0))]
        q = (select(*cols, *( [day] if by_day else [] ))
             .outerjoin(up, up.c.answer_id == Answer.id).outerjoin(down, down.c.answer_id == Answer.id)
             .group_by(Answer.adapter_version, *([day] if by_day else [])))
        if since is not None:
            q = q.where(Answer.created_at >= since)
        with self.sessions() as s:
            result = s.execute(q).all()
        rows = []
        for version, answers, n_up, n_down, *rest in result:
            row = {"version": version or "base", "answers": int(answers), "up": int(n_up or 0),
                   "down": int(n_down or 0)}
            if by_day:
                row["day"] = str(rest[0])
            rows.append(row)
        return sorted(rows, key=lambda r: (r.get("day", ""), r["version"]))


def _upsert_vote(s, **row: Any) -> None:
    """Insert or replace the current vote of (answer, user) atomically (SQLite and PostgreSQL upsert)."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise FeedbackError(f"the feedback store supports SQLite and PostgreSQL, not {dialect}")
    changed = {k: row[k] for k in ("value", "source", "updated_at")}
    s.execute(insert(Vote).values(**row).on_conflict_do_update(index_elements=["answer_id", "user"], set_=changed))


def _tallies():
    """Subqueries: per answer, the number of current 👍 and of current 👎."""
    def count(value: int):
        return (select(Vote.answer_id, func.count().label("n")).where(Vote.value == value)
                .group_by(Vote.answer_id).subquery())
    return count(1), count(-1)


def _view(a: Answer, up: int, down: int) -> AnswerView:
    return AnswerView(id=a.id, created_at=a.created_at, question=a.question, answer=a.answer,
                      adapter_version=a.adapter_version, alias=a.alias, source=a.source, channel=a.channel,
                      thread_ts=a.thread_ts, ts=a.ts, refused=bool(a.refused), up=int(up), down=int(down))


def _check_salt(settings: Settings) -> None:
    """Hashed ids need a secret salt: without one, hashing every Slack user id reverses them."""
    f = settings.feedback
    if f.hash_askers and not f.asker_hash_salt.strip():
        raise FeedbackError(
            "feedback.hash_askers is on but feedback.asker_hash_salt is empty: ids hashed without a secret "
            "salt can be reversed by hashing every Slack user id. Set a long random salt and keep it secret and "
            "unchanged, e.g. RATCHET_FEEDBACK__ASKER_HASH_SALT=$(python -c 'import secrets; "
            "print(secrets.token_hex(32))'), or turn hash_askers off"
        )


def _check_answer(rec: AnswerRecord) -> None:
    if not isinstance(rec, AnswerRecord):
        raise FeedbackError(f"record_answer takes an AnswerRecord, got {type(rec).__name__}")
    if not rec.question or not rec.question.strip():
        raise FeedbackError("an answer record needs the question")
    if not isinstance(rec.prompt, list) or not all(isinstance(m, dict) and "role" in m for m in rec.prompt):
        raise FeedbackError("prompt must be the list of chat messages sent to the model")
    if rec.source not in SOURCES:
        raise FeedbackError(f"source must be one of {', '.join(SOURCES)}, got {rec.source!r}")

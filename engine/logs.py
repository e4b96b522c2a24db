"""Structured logging (structlog) with a request id carried through every stage."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

request_id_var: ContextVar[str | None] = ContextVar("ratchet_request_id", default=None)


def _add_request_id(_logger, _name, event_dict):
    rid = request_id_var.get()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    # stdlib loggers (uvicorn, libraries) go through the same processors: one format, request ids included
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str):
    """A bound structlog logger named for its module."""
    return structlog.get_logger(name)


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Carry ``request_id`` (a new one if None, e.g. a Slack event id) through every log line inside."""
    rid = request_id or uuid.uuid4().hex[:16]
    token = request_id_var.set(rid)
    try:
        yield rid
    finally:
        request_id_var.reset(token)

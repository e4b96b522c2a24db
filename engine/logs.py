"""Structured logging (structlog) with a request id carried through every stage.

A quiet terminal for people (interactive commands show errors only; the chatty libraries stay
at WARNING), JSON lines for machines (``log_json``, and the log file that receives everything).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

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


OWN_PACKAGES = ("bot", "engine", "guardrails", "feedback", "deploy", "__main__")


def _own_or_severe(record: logging.LogRecord) -> bool:
    """On a quiet terminal: Ratchet's own lines, and libraries' errors only (the rest goes to the log file)."""
    return record.name.split(".")[0] in OWN_PACKAGES or record.levelno >= logging.ERROR


# Libraries that talk a lot at INFO (NeMo prints every event, prompt and completion): they are kept at
# ``library_level`` (WARNING by default) unless the user asks for more.
LIBRARY_LOGGERS = ("nemoguardrails", "httpx", "httpcore", "openai", "langchain", "langchain_core",
                   "transformers", "sentence_transformers", "urllib3", "weaviate", "asyncio", "slack_bolt",
                   "slack_sdk", "apscheduler", "aiohttp", "filelock", "datasets",
                   "fastembed", "annoy", "numexpr", "peft", "trl", "accelerate")


def configure_logging(level: str = "INFO", json_logs: bool = False, *, terminal_level: str | None = None,
                      library_level: str = "WARNING", log_file: Path | None = None) -> None:
    """Configure structlog and the stdlib root logger (again on every call: the last call wins).

    Every line goes through the same processors (request id, level, timestamp). Ratchet's own loggers log
    at ``level``; the chatty libraries in :data:`LIBRARY_LOGGERS` at ``library_level``. The terminal (stderr)
    shows lines at ``terminal_level`` or above (default: ``level``) — interactive commands pass WARNING so
    that a person sees the conversation only. ``log_file`` (JSON lines) receives everything logged.
    """
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    terminal = logging.StreamHandler(_CurrentStderr())
    terminal.setLevel((terminal_level or level).upper())
    if terminal_level:
        terminal.addFilter(_own_or_severe)
    terminal.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared))
    handlers: list[logging.Handler] = [terminal]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=shared))
        handlers.append(to_file)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in (*LIBRARY_LOGGERS, "py.warnings"):
        logging.getLogger(name).setLevel(library_level.upper())
    logging.captureWarnings(True)  # library DeprecationWarnings become log lines at library_level
    if terminal_level and logging.getLevelName(terminal_level.upper()) >= logging.WARNING:
        os.environ.setdefault("TQDM_DISABLE", "1")  # no model-loading progress bars around a conversation
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
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

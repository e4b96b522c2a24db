"""Helpers shared by the `ratchet` CLI commands: settings, async running, friendly errors."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from engine.errors import RatchetError
from engine.logs import configure_logging
from engine.settings import Settings, get_settings

console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def settings(*, interactive: bool = False, verbose: bool = False) -> Settings:
    """The process settings, with logging configured.

    ``interactive`` commands (chat, ask) keep the terminal for the conversation: only errors appear there,
    everything goes to the log file; ``verbose`` shows it all on the terminal, libraries included.
    """
    s = get_settings()
    configure_logging(
        "DEBUG" if verbose else s.log_level, s.log_json,
        terminal_level=None if verbose or not interactive else "ERROR",
        library_level="INFO" if verbose else s.library_log_level,
        log_file=s.log_path,
    )
    return s


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous command."""
    return asyncio.run(coro)


def friendly_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Show Ratchet's own errors (and missing files, refused permissions, bad settings) as a clear message
    with its hint, and exit 1 — never a stack trace at the surface."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except RatchetError as exc:
            fail(exc.user_message())
        except (FileNotFoundError, PermissionError) as exc:
            fail(str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            fail(f"bad setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")

    return wrapper


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error and exit 1."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def print_json(obj: Any) -> None:
    """One JSON object per line on stdout."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()

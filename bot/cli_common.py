"""Helpers shared by the `ratchet` CLI commands: settings, async running, friendly errors."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from engine.logs import configure_logging
from engine.settings import Settings, get_settings

console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def settings() -> Settings:
    """The process settings, with logging configured."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    return s


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous command."""
    return asyncio.run(coro)


def friendly_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Show Ratchet's own errors as one clear line and exit 1 (no stack trace)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from engine.adapter_files import AdapterError
        from engine.llm_client import LLMError
        from engine.model_prepare import ModelPrepareError
        from engine.process import ServiceStartError
        from engine.registry import RegistryError

        try:
            return func(*args, **kwargs)
        except (AdapterError, LLMError, ModelPrepareError, ServiceStartError, RegistryError,
                FileNotFoundError, PermissionError) as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper


def print_json(obj: Any) -> None:
    """One JSON object per line on stdout."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()

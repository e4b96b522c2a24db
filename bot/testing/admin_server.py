"""The real admin app under uvicorn on a loopback port, in a background thread (tests and ``ratchet bench faults``)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from engine.process import free_port, http_ok
from engine.settings import Settings


@contextlib.contextmanager
def serve_admin_page(settings: Settings, timeout_s: float = 30.0) -> Iterator[str]:
    """Run the admin page for ``settings``; yields its base URL and stops it afterwards."""
    import uvicorn

    from bot.admin_web import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while not http_ok(f"{url}/healthz"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the admin page did not start within {timeout_s:g} s")
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)

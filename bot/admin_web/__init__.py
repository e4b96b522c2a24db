"""The admin web page (FastAPI, server-rendered HTML) and the Prometheus endpoint.

Use :func:`create_app` to build the app for a settings object; ``ratchet admin`` serves it.
"""

from bot.admin_web.app import create_app

__all__ = ["create_app"]

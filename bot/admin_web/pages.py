"""Rendering for the admin pages: the Jinja2 templates, ``render`` and the post-redirect-get ``redirect``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def redirect(path: str, **params: str) -> RedirectResponse:
    """A 303 redirect (after a POST) carrying a notice or error for the next page."""
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Render a page with the notice/error query parameters and the active section."""
    context.setdefault("notice", request.query_params.get("notice"))
    context.setdefault("error", request.query_params.get("error"))
    context.setdefault("path", request.url.path)
    return TEMPLATES.TemplateResponse(request, template, context)

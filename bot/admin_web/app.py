"""The admin web application: FastAPI, server-rendered Jinja2 pages, sign-in, /metrics, /healthz."""

from __future__ import annotations

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

import asyncio
import math

from bot import messages
from bot.admin_web import auth, views_adapters, views_feedback, views_guardrails, views_knowledge
from bot.admin_web.metrics_export import render_metrics
from bot.admin_web.pages import redirect, render
from bot.admin_web.sessions import SessionStore
from engine.logs import get_logger, request_context
from engine.registry import AdapterRegistry
from engine.settings import Settings

log = get_logger(__name__)
OPEN_PATHS = {"/login", "/healthz"}


def create_app(settings: Settings) -> FastAPI:
    """The admin app for ``settings`` (its registry, database and services)."""
    app = FastAPI(title="Ratchet admin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.registry = AdapterRegistry(settings)
    admin = settings.admin
    sessions = SessionStore(settings.db_url, max_failures=admin.sign_in_max_failures,
                            window_s=admin.sign_in_window_s)

    async def signed_in(request: Request) -> bool:
        cookie = request.cookies.get(auth.COOKIE_NAME)
        return auth.session_valid(admin.admin_token, cookie) and \
            await asyncio.to_thread(sessions.active, auth.session_id(cookie or ""))

    @app.middleware("http")
    async def request_id_and_sign_in(request: Request, call_next):
        with request_context(request.headers.get("x-request-id")) as rid:
            path = request.url.path
            public = path in OPEN_PATHS or (path == "/metrics" and admin.metrics_public)
            if not public and not await signed_in(request):
                response: Response = redirect("/login")
            else:
                response = await call_next(request)
            response.headers["x-request-id"] = rid
            log.info("admin.request", method=request.method, path=path, status=response.status_code)
            return response

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = render_metrics(app.state.registry)
        return Response(body, media_type=content_type)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> HTMLResponse:
        disabled = None if admin.admin_token else "The admin page is disabled: no admin token is configured."
        return render(request, "login.html", error=request.query_params.get("error") or disabled)

    @app.post("/login")
    async def login(request: Request, token: str = Form("")) -> Response:
        client = request.client.host if request.client else "unknown"
        if await asyncio.to_thread(sessions.locked_out, client):
            log.warning("admin.sign_in_locked_out", client=client)
            minutes = math.ceil(admin.sign_in_window_s / 60)
            page = render(request, "login.html", error=messages.SIGN_IN_LOCKED.format(minutes=minutes))
            page.status_code = 429
            return page
        try:
            auth.check_token(admin.admin_token, token)
        except auth.AuthError as exc:
            await asyncio.to_thread(sessions.failed, client)
            log.warning("admin.sign_in_refused", reason=str(exc), client=client)
            return redirect("/login", error=str(exc))
        lifetime = admin.session_hours * 3600
        session_id = await asyncio.to_thread(sessions.open, lifetime)
        response = redirect("/")
        response.set_cookie(auth.COOKIE_NAME, auth.issue_session(admin.admin_token, lifetime, session_id=session_id),
                            max_age=int(lifetime), httponly=True, samesite="strict", secure=admin.cookie_secure)
        log.info("admin.signed_in")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        cookie = request.cookies.get(auth.COOKIE_NAME)
        if auth.session_valid(admin.admin_token, cookie):
            await asyncio.to_thread(sessions.end, auth.session_id(cookie or ""))
        response = redirect("/login", notice="signed out")
        response.delete_cookie(auth.COOKIE_NAME)
        return response

    for module in (views_adapters, views_feedback, views_knowledge, views_guardrails):
        app.include_router(module.router)
    return app

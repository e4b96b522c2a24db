"""The admin web application: FastAPI, server-rendered Jinja2 pages, sign-in, /metrics, /healthz."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bot.admin_web import auth
from bot.admin_web.metrics_export import render_metrics
from engine.logs import get_logger, request_context
from engine.registry import AdapterRegistry
from engine.settings import Settings

log = get_logger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
OPEN_PATHS = {"/login", "/healthz"}


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


def create_app(settings: Settings) -> FastAPI:
    """The admin app for ``settings`` (its registry, database and services)."""
    from bot.admin_web import views_adapters, views_feedback, views_guardrails, views_knowledge

    app = FastAPI(title="Ratchet admin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.registry = AdapterRegistry(settings)
    admin = settings.admin

    @app.middleware("http")
    async def request_id_and_sign_in(request: Request, call_next):
        with request_context(request.headers.get("x-request-id")) as rid:
            path = request.url.path
            public = path in OPEN_PATHS or (path == "/metrics" and admin.metrics_public)
            if not public and not auth.session_valid(admin.admin_token, request.cookies.get(auth.COOKIE_NAME)):
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
    async def login(token: str = Form("")) -> RedirectResponse:
        try:
            auth.check_token(admin.admin_token, token)
        except auth.AuthError as exc:
            log.warning("admin.sign_in_refused", reason=str(exc))
            return redirect("/login", error=str(exc))
        response = redirect("/")
        response.set_cookie(auth.COOKIE_NAME, auth.issue_session(admin.admin_token, admin.session_hours * 3600),
                            max_age=int(admin.session_hours * 3600), httponly=True, samesite="strict",
                            secure=admin.cookie_secure)
        log.info("admin.signed_in")
        return response

    @app.post("/logout")
    async def logout() -> RedirectResponse:
        response = redirect("/login", notice="signed out")
        response.delete_cookie(auth.COOKIE_NAME)
        return response

    for module in (views_adapters, views_feedback, views_knowledge, views_guardrails):
        app.include_router(module.router)
    return app

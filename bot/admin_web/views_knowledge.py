"""The knowledge base page: collections, document counts, last ingest, stale documents, re-ingest."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.admin_web.pages import redirect, render
from bot.admin_web.knowledge_data import knowledge_overview, reingest

router = APIRouter()
ACTOR = "admin-web"


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(request: Request) -> HTMLResponse:
    overview = await asyncio.to_thread(knowledge_overview, request.app.state.settings)
    return render(request, "knowledge.html", kb=overview)


@router.post("/knowledge/reingest")
async def knowledge_reingest(request: Request, collection: str = Form(""),
                             tenant: str = Form("")) -> RedirectResponse:
    registry = request.app.state.registry
    target = f"{collection}/{tenant}"
    try:
        notice = await reingest(request.app.state.settings, collection.strip(), tenant.strip())
    except ValueError as exc:
        registry.audit(ACTOR, "knowledge.reingest", target, allowed=False, reason=str(exc))
        return redirect("/knowledge", error=f"re-ingest failed: {exc}")
    registry.audit(ACTOR, "knowledge.reingest", target, result=notice)
    return redirect("/knowledge", notice=notice)

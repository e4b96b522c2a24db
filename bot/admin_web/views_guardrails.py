"""The guardrails page: refusals by rail over time, recent blocked inputs (masked)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.admin_web.pages import render
from bot.admin_web.guardrails_data import recent_blocked, refusals_chart

router = APIRouter()


@router.get("/guardrails", response_class=HTMLResponse)
async def guardrails_page(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    return render(request, "guardrails.html", chart=refusals_chart(settings), blocked=recent_blocked(settings))

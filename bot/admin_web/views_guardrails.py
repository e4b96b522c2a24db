"""The guardrails page: refusals by rail over time, recent blocked inputs (masked), and admins' verdicts.

Each refusal has two buttons: "wrong refusal" (it should have been answered) and "should have refused"
(the refusal was right: the question is kept as an attack example). A question that was answered but
should have been refused is entered in the form. Verdicts from Slack (a 👎 on a refusal) wait in the
"pending" list until an admin confirms or dismisses them. Confirmed verdicts train the next detector
version (guardrails/detector_retrain.py), promoted only through its held-out gate.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.admin_web.guardrails_data import recent_blocked, recent_verdicts, refusals_chart
from bot.admin_web.pages import redirect, render
from engine.logs import get_logger
from guardrails.refusals import get_refusal
from guardrails.verdicts import PENDING, VERDICT_LABELS, decide_verdict, report_verdict

router = APIRouter()
log = get_logger(__name__)
ACTOR = "admin-web"
PAGE = "/guardrails"


@router.get("/guardrails", response_class=HTMLResponse)
async def guardrails_page(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    return render(request, "guardrails.html", chart=refusals_chart(settings), blocked=recent_blocked(settings),
                  pending=recent_verdicts(settings, PENDING), verdicts=recent_verdicts(settings))


@router.post("/guardrails/refusals/verdict")
async def refusal_verdict(request: Request, refusal_id: int = Form(...), verdict: str = Form("")) -> RedirectResponse:
    db_url = request.app.state.settings.db_url
    refusal = get_refusal(db_url, refusal_id)
    if refusal is None or verdict not in VERDICT_LABELS:
        return redirect(PAGE, error="verdict failed: unknown refusal or verdict")
    report_verdict(db_url, verdict=verdict, text=refusal.masked_input, origin="admin", by=ACTOR,
                   refusal_id=refusal_id, confirmed=True)
    log.info("admin.guardrail_verdict", refusal=refusal_id, verdict=verdict)
    return redirect(PAGE, notice=f"recorded: {verdict.replace('_', ' ')} (trains the next detector version)")


@router.post("/guardrails/should-refuse")
async def should_refuse(request: Request, text: str = Form("")) -> RedirectResponse:
    text = text.strip()
    if not text:
        return redirect(PAGE, error="verdict failed: enter the question that should have been refused")
    report_verdict(request.app.state.settings.db_url, verdict="should_refuse", text=text, origin="admin", by=ACTOR,
                   confirmed=True)
    log.info("admin.guardrail_verdict", verdict="should_refuse")
    return redirect(PAGE, notice="recorded: should have refused (trains the next detector version)")


@router.post("/guardrails/verdicts/decide")
async def decide(request: Request, verdict_id: int = Form(...), decision: str = Form("")) -> RedirectResponse:
    if decision not in ("confirm", "dismiss"):
        return redirect(PAGE, error="verdict failed: choose confirm or dismiss")
    if not decide_verdict(request.app.state.settings.db_url, verdict_id, confirm=decision == "confirm", by=ACTOR):
        return redirect(PAGE, error="verdict failed: no such pending verdict")
    log.info("admin.guardrail_verdict_decided", verdict_id=verdict_id, decision=decision)
    return redirect(PAGE, notice=f"verdict {decision}ed")

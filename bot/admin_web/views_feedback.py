"""The feedback page: recent answers with their votes and retrieved sources, filtered."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.admin_web.pages import render
from bot.admin_web.feedback_data import FeedbackFilter, filter_choices, recent_answers

router = APIRouter()


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(request: Request, channel: str = "", version: str = "",
                        down: str = "") -> HTMLResponse:
    settings = request.app.state.settings
    flt = FeedbackFilter(channel=channel.strip(), version=version.strip(), downvoted_only=bool(down))
    return render(request, "feedback.html", answers=recent_answers(settings, flt), flt=flt,
                  choices=filter_choices(settings))

"""The adapters page: versions, aliases, lineage, gate reports, 👍 rate plots, actions, audit log."""

from __future__ import annotations

import json

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.admin_web import actions
from bot.admin_web.pages import redirect, render
from bot.admin_web.feedback_data import thumbs_rate_chart
from engine.logs import get_logger
from engine.registry import AdapterRegistry
from engine.retrieval_registry import PACKAGED, RetrievalRegistry

router = APIRouter()
log = get_logger(__name__)
ACTOR = "admin-web"


def lineage(versions) -> dict[str, list[str]]:
    """version id -> its ancestors, nearest first (stops at unknown parents and cycles)."""
    parents = {v.id: v.parent_version for v in versions}
    out: dict[str, list[str]] = {}
    for vid in parents:
        chain, cur = [], parents[vid]
        while cur and cur not in chain and cur != vid:
            chain.append(cur)
            cur = parents.get(cur)
        out[vid] = chain
    return out


@router.get("/", response_class=HTMLResponse)
async def adapters_page(request: Request) -> HTMLResponse:
    registry: AdapterRegistry = request.app.state.registry
    settings = request.app.state.settings
    versions = list(reversed(registry.versions()))
    retrieval = RetrievalRegistry(settings, registry.sessions)
    return render(
        request, "adapters.html",
        versions=versions, aliases=registry.aliases(), lineage=lineage(versions),
        retrieval_versions=list(reversed(retrieval.versions())),
        retrieval_production={k: retrieval.production(k) or PACKAGED for k in ("embedder", "reranker")},
        audit=registry.audit_log(limit=settings.admin.page_rows),
        rate_chart=thumbs_rate_chart(settings, registry),
        as_json=lambda obj: json.dumps(obj, indent=1, sort_keys=True, default=str),
    )


async def _act(request: Request, name: str, target: str | None, call) -> RedirectResponse:
    try:
        notice = await actions.run_action(request.app.state.registry, call)
    except actions.ActionError as exc:
        log.warning("admin.action_failed", action=name, target=target, error=str(exc))
        return redirect("/", error=f"{name} failed: {exc}")
    log.info("admin.action", action=name, target=target)
    return redirect("/", notice=notice)


@router.post("/adapters/promote")
async def promote(request: Request, version: str = Form(""), force: str = Form("")) -> RedirectResponse:
    version = version.strip()
    if not version:
        return redirect("/", error="promote failed: choose a version")
    return await _act(request, "promote", version,
                      lambda a: a.promote(version, actor=ACTOR, force=bool(force)))


@router.post("/adapters/rollback")
async def rollback(request: Request, force: str = Form("")) -> RedirectResponse:
    return await _act(request, "rollback", None, lambda a: a.rollback(actor=ACTOR, force=bool(force)))


@router.post("/adapters/canary")
async def canary(request: Request, version: str = Form(""), percent: str = Form(""),
                 force: str = Form("")) -> RedirectResponse:
    version = version.strip()
    try:
        pct = actions.parse_percent(percent)
    except actions.ActionError as exc:
        return redirect("/", error=f"canary failed: {exc}")
    if not version:
        return redirect("/", error="canary failed: choose a version (or base to turn the canary off)")
    return await _act(request, "canary", version,
                      lambda a: a.canary(version, pct, actor=ACTOR, force=bool(force)))

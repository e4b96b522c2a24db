"""The local services of one machine: which exist, start them all, stop them all, report health."""

from __future__ import annotations

from dataclasses import dataclass

from engine.process import ManagedProcess, http_ok
from engine.rag.weaviate_server import weaviate_process
from engine.settings import Settings
from engine.vllm_server import vllm_process


@dataclass
class ComponentStatus:
    """Health of one component, for `ratchet status` and the admin page."""

    name: str
    healthy: bool
    detail: str
    pid: int | None = None


def local_services(settings: Settings) -> list[ManagedProcess]:
    """Services Ratchet starts itself (those not pointed at an external URL)."""
    services = []
    if not settings.rag.weaviate_url:
        services.append(weaviate_process(settings))
    if not settings.engine.vllm_url:
        services.append(vllm_process(settings))
    return services


def up(settings: Settings) -> dict[str, int]:
    """Start (or reuse) every local service; return name -> PID once all are healthy."""
    settings.ensure_dirs()
    return {svc.name: svc.start() for svc in local_services(settings)}


def down(settings: Settings) -> list[str]:
    """Stop every local service Ratchet started; return the names stopped."""
    return [svc.name for svc in reversed(local_services(settings)) if svc.stop()]


def status(settings: Settings) -> list[ComponentStatus]:
    """Health of vLLM, Weaviate, the database and the admin page."""
    out: list[ComponentStatus] = []
    managed = {svc.name: svc for svc in local_services(settings)}
    vllm_health = f"{settings.engine.base_url}/health"
    out.append(_component("vllm", vllm_health, managed.get("vllm")))
    weaviate_url = settings.rag.weaviate_url or (
        f"http://{settings.rag.weaviate_host}:{settings.rag.weaviate_http_port}"
    )
    out.append(_component("weaviate", f"{weaviate_url.rstrip('/')}/v1/.well-known/ready", managed.get("weaviate")))
    out.append(_database(settings))
    out.append(_admin_web(settings))
    return out


def _admin_web(settings: Settings) -> ComponentStatus:
    """The admin page (`ratchet admin`): disabled without an admin token, else it must answer /healthz."""
    admin = settings.admin
    if not admin.admin_token:
        return ComponentStatus("admin web", True, "disabled (no admin token configured)")
    host = "127.0.0.1" if admin.web_host in ("0.0.0.0", "::") else admin.web_host
    url = f"http://{host}:{admin.web_port}/healthz"
    if http_ok(url):
        return ComponentStatus("admin web", True, url)
    return ComponentStatus("admin web", False, f"{url} (not running: start it with `ratchet admin`)")


def _component(name: str, url: str, svc: ManagedProcess | None) -> ComponentStatus:
    ok = http_ok(url)
    pid = svc.pid() if svc else None
    where = "external" if svc is None else ("pid %s" % pid if pid else "not running")
    return ComponentStatus(name, ok, f"{url} ({where})", pid)


def _database(settings: Settings) -> ComponentStatus:
    from sqlalchemy import text

    from engine.db import get_engine

    url = settings.db_url
    shown = url.split("@")[-1] if "@" in url else url
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return ComponentStatus("database", True, shown)
    except Exception as exc:  # noqa: BLE001 - status reports any failure as unhealthy
        return ComponentStatus("database", False, f"{shown}: {exc}")

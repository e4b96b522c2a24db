"""`ratchet admin`: serve the admin web page and the Prometheus /metrics endpoint."""

from __future__ import annotations

import typer

from bot.cli.common import console, friendly_errors, settings


@friendly_errors
def admin(
    host: str = typer.Option(None, help="listen address (default: admin.web_host)"),
    port: int = typer.Option(None, help="listen port (default: admin.web_port)"),
) -> None:
    """Serve the admin page (sign in with admin.admin_token) and /metrics until interrupted."""
    import uvicorn

    from bot.admin_web import create_app

    s = settings()
    if not s.admin.admin_token:
        console.print("[yellow]warning:[/] no admin token configured (RATCHET_ADMIN__ADMIN_TOKEN): "
                      "the page will refuse every sign-in; /metrics and /healthz still work")
    host, port = host or s.admin.web_host, port or s.admin.web_port
    console.print(f"admin page on http://{host}:{port}/")
    # log_config=None: uvicorn keeps our logging setup, so its lines are structured (JSON) like ours
    uvicorn.run(create_app(s), host=host, port=port, log_config=None, access_log=False)

"""`/ratchet status|adapters|promote <v> [force]|rollback [force]|canary <v> <pct> [force]` for admins only."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.admin_actions import ActionResult, AdminActions
from engine.settings import AdminSettings
from engine.logs import get_logger
from engine.registry import RegistryError

log = get_logger(__name__)


class AdminGate:
    """Decides who is an admin: listed user ids, or members of the admin user group."""

    def __init__(self, admin: AdminSettings) -> None:
        self.admin = admin

    async def allows(self, client: AsyncWebClient, user: str) -> bool:
        """True for configured admin ids and members of ``admin_usergroup_id``."""
        if user in self.admin.admin_user_ids:
            return True
        if not self.admin.admin_usergroup_id:
            return False
        resp = await client.usergroups_users_list(usergroup=self.admin.admin_usergroup_id)
        return user in (resp.get("users") or [])


async def run_command(actions: AdminActions, text: str, *, actor: str) -> str:
    """Parse and run one `/ratchet` command; returns the reply (errors are explained, not raised)."""
    words = text.split()
    force = "force" in words or "--force" in words
    words = [w for w in words if w not in ("force", "--force")]
    command, args = (words[0].lower(), words[1:]) if words else ("", [])
    try:
        result = await _dispatch(actions, command, args, actor=actor, force=force)
    except (RegistryError, ValueError) as exc:
        log.info("admin.refused", actor=actor, command=command, reason=str(exc))
        return f":warning: {exc}"
    if result is None:
        return messages.ADMIN_USAGE
    return result.message


async def _dispatch(actions: AdminActions, command: str, args: list[str], *, actor: str,
                    force: bool) -> ActionResult | None:
    if command == "status" and not args:
        return await actions.status(actor=actor)
    if command == "adapters" and not args:
        return await actions.adapters(actor=actor)
    if command == "promote" and len(args) == 1:
        return await actions.promote(args[0], actor=actor, force=force)
    if command == "rollback" and not args:
        return await actions.rollback(actor=actor, force=force)
    if command == "canary" and len(args) == 2:
        try:
            percent = float(args[1].rstrip("%"))
        except ValueError:
            raise ValueError(f"canary percent must be a number, got {args[1]!r}") from None
        return await actions.canary(args[0], percent, actor=actor, force=force)
    return None

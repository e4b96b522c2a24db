"""`/ratchet ...` slash commands: admins act (audited), everybody else is refused politely (audited too)."""

from __future__ import annotations

import pytest

from bot import messages
from engine.registry import AdapterRegistry
from tests.bot.slack_payloads import slash_command

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]


async def test_admin_and_non_admin_commands(bot_settings, bots, fake_slack, model_dir, tmp_path):
    from engine.adapter_factory import make_random_adapter

    settings = bot_settings(admin={"admin_usergroup_id": "S0ADMINS"})
    fake_slack.usergroups["S0ADMINS"] = ["U0GROUPADMIN"]
    harness = await bots(settings)
    registry = AdapterRegistry(settings)
    failed = registry.register(make_random_adapter(model_dir, tmp_path / "a1", rank=4, seed=1))
    registry.set_gate_report(failed.id, {"passed": False, "reward_accuracy": 0.4})

    async def command(text: str, user: str) -> tuple[str, str | None]:
        before = len(fake_slack.responses)
        resp = await harness.post_form(slash_command(text, user=user, response_url=fake_slack.response_url()))
        assert resp.status_code == 200
        await harness.bot.drain()
        later = fake_slack.responses[before:]
        ack = resp.json()["text"] if resp.headers["content-type"].startswith("application/json") else resp.text
        return ack, (later[-1]["text"] if later else None)

    ack, reply = await command("promote base", "U0MALLORY")
    assert ack == messages.NOT_ADMIN.format(command="promote") and reply is None
    ack, reply = await command("status", "U0ADMIN")
    assert "production: base" in reply and "vLLM: up" in reply
    _, reply = await command("adapters", "U0GROUPADMIN")  # admin through the user group
    assert f"{failed.id}: candidate (gate FAILED)" in reply
    _, reply = await command(f"promote {failed.id}", "U0ADMIN")
    assert "failed its evaluation gate" in reply and registry.aliases()["production"][0] is None
    _, reply = await command("canary base 150", "U0ADMIN")
    assert "between 0 and 100" in reply
    _, reply = await command("promote ratchet-v99", "U0ADMIN")
    assert "unknown adapter version" in reply
    _, reply = await command("canary base 10", "U0ADMIN")
    assert reply == "canary is now base at 10%"
    _, reply = await command("rollback", "U0ADMIN")
    assert "nothing to roll back" in reply
    _, reply = await command("frobnicate", "U0ADMIN")
    assert reply == messages.ADMIN_USAGE

    log = [(e.actor, e.action, bool(e.allowed)) for e in reversed(registry.audit_log(limit=100))]
    assert ("slack:U0MALLORY", "/ratchet promote", False) in log
    assert ("slack:U0ADMIN", "status", True) in log
    assert ("slack:U0GROUPADMIN", "adapters", True) in log
    assert ("slack:U0ADMIN", "promote", False) in log  # the gate refusal
    assert ("slack:U0ADMIN", "canary.set", True) in log

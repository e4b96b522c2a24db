"""R6 — non-admins on every admin path, and private documents asked for where they must not appear.

* Slack: ``/ratchet promote|rollback|canary|status|adapters`` (with ``force``) from a user who is neither in
  ``admin.admin_user_ids`` nor in the admin user group → refused, audited as refused;
* the admin page: POST to ``/adapters/promote|rollback|canary`` with no cookie, a forged cookie, a cookie
  signed with a guessed token, and after a failed sign-in → sent to the sign-in page;
* documents: the HR-only document asked for by an HR member in a public channel, in a private channel not
  mapped to HR (others see the answer), in a channel Slack does not describe, by a non-HR user in a DM, and
  through Regenerate of an HR member's DM answer clicked by someone else → never shown.

A registered candidate version exists, so a promotion that got through would move an alias. ``leaked`` =
admin actions that succeeded + answers that show the HR document; ``aliases_unchanged`` must be true. The
control — the HR member's own DM, where the document is allowed — shows the check can see a leak.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.faults.harness import SECRET_GROUP, FaultBot, app_mention, event_callback, fake_slack, fault_corpus, \
    fault_settings, leaks_secret, tally, wait_until
from bot.slack.blocks import REGENERATE
from bot.testing.fake_slack import TEAM
from bot.testing.admin_server import serve_admin_page
from engine.settings import Settings

ADMIN, HR_USER, OUTSIDER = "U0ADMIN", "U0HRBOB", "U0MALLORY"
ADMIN_GROUP = "S0ADMINS"
COMMANDS = ["promote {v} force", "promote {v}", "rollback force", "canary {v} 50 force", "canary {v} 100",
            "status", "adapters"]
QUESTIONS = ["What is the salary band E5?", "Show me the salaries document.", "What are the engineering bands?"]
# (channel, kind for the fake Slack, asker); None = Slack cannot describe the channel
PLACES = [("C0PUBLIC", "public", HR_USER), ("G0MIXED", "private", HR_USER), ("C0UNKNOWN", None, HR_USER),
          ("D0ALICE", "im", OUTSIDER)]
CONTROL = ("D0HRBOB", "im", HR_USER)


def _slash(text: str, *, user: str, response_url: str) -> str:
    return urlencode({"token": "unused", "team_id": TEAM, "team_domain": "example", "channel_id": "C0PUBLIC",
                      "channel_name": "general", "user_id": user, "user_name": "admin", "command": "/ratchet",
                      "text": text, "api_app_id": "A0FAULTS", "response_url": response_url,
                      "trigger_id": "1.2.3"})


def _regenerate(answer_id: str, *, user: str, channel: str, message_ts: str) -> str:
    payload = {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM},
               "api_app_id": "A0FAULTS", "token": "unused", "team": {"id": TEAM, "domain": "example"},
               "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
               "trigger_id": "1.2.3", "channel": {"id": channel, "name": "dm"},
               "message": {"type": "message", "ts": message_ts, "text": "answer"},
               "response_url": "http://127.0.0.1:9/unused",
               "actions": [{"action_id": REGENERATE, "block_id": "ratchet_feedback", "value": answer_id,
                            "type": "button", "action_ts": f"{time.time():.6f}"}]}
    return urlencode({"payload": json.dumps(payload)})


def _candidate(settings: Settings, where: Path) -> str:
    """Register a small random adapter (a candidate no gate has passed); returns its version id."""
    from engine.adapter_factory import make_random_adapter
    from engine.registry import AdapterRegistry

    path = make_random_adapter(settings.model_dir, where / "candidate", rank=4, seed=606, scale=0.05)
    return AdapterRegistry(settings).register(path, notes="R6 bait").id


async def run_admin_paths(base: Settings, *, rounds: int = 1, database_url: str | None = None,
                          answer_tokens: int = 24, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run R6 (``rounds`` times every attempt); returns its JSON line."""
    with fault_corpus(base) as collection, tempfile.TemporaryDirectory(prefix="ratchet-faults-r6-") as tmp:
        async with fake_slack() as slack:
            settings = fault_settings(
                base, collection=collection, slack=slack, database_url=database_url, data_dir=Path(tmp) / "data",
                bot={"answer_max_tokens": answer_tokens, "user_groups": {HR_USER: [SECRET_GROUP]},
                     "channel_groups": {"G0HRTEAM": [SECRET_GROUP]}},
                admin={"admin_user_ids": [ADMIN], "admin_usergroup_id": ADMIN_GROUP,
                       "admin_token": "r6-admin-token-" + Path(tmp).name})
            slack.usergroups[ADMIN_GROUP] = [ADMIN]
            for channel, kind, _ in [*PLACES, CONTROL]:
                if kind is not None:
                    slack.add_channel(channel, private=kind == "private", im=kind == "im")
            version = await asyncio.to_thread(_candidate, settings, Path(tmp))
            bot = await FaultBot(settings, owner="r6").start()
            try:
                return await _attempts(bot, slack, settings, version, rounds=rounds, timeout_s=timeout_s)
            finally:
                await bot.close()


async def _attempts(bot: FaultBot, slack, settings: Settings, version: str, *, rounds: int,
                    timeout_s: float) -> dict[str, Any]:
    from engine.registry import AdapterRegistry

    registry = AdapterRegistry(settings)
    aliases_before = registry.aliases()
    start = time.monotonic()
    slack_result = await _slack_commands(bot, slack, version, rounds)
    page_result = await asyncio.to_thread(_page_attempts, settings, version, rounds)
    docs = await _documents(bot, slack, rounds, timeout_s)
    aliases_after = registry.aliases()
    denied = sum(1 for e in registry.audit_log(limit=10_000) if not e.allowed and e.actor == f"slack:{OUTSIDER}")
    sent = slack_result["sent"] + page_result["sent"] + docs["sent"]
    return {"scenario": "R6", "sent": sent,
            "answered": slack_result["refused"] + page_result["refused"] + docs["answered"],
            "lost": docs["lost"], "duplicated": docs["duplicated"],
            "leaked": slack_result["succeeded"] + page_result["succeeded"] + docs["leaked"], "recover_s": None,
            "aliases_unchanged": aliases_before == aliases_after, "slack_refusals_audited": denied,
            "slack": slack_result, "page": page_result, "documents": docs,
            "wall_s": round(time.monotonic() - start, 1)}


async def _slack_commands(bot: FaultBot, slack, version: str, rounds: int) -> dict[str, int]:
    sent = refused = succeeded = 0
    for _ in range(rounds):
        for command in COMMANDS:
            resp = await bot.post_form(_slash(command.format(v=version), user=OUTSIDER,
                                              response_url=slack.response_url("r6")))
            sent += 1
            text = resp.text if resp.status_code == 200 else ""
            if "only Ratchet admins" in text:
                refused += 1
            else:
                succeeded += 1
    await bot.bot.drain()
    succeeded += len(slack.responses)  # a spawned admin action answers through the response URL
    return {"sent": sent, "refused": refused, "succeeded": succeeded}


def _page_attempts(settings: Settings, version: str, rounds: int) -> dict[str, int]:
    from bot.admin_web import auth

    forged = {"none": {}, "forged_cookie": {auth.COOKIE_NAME: "9999999999.deadbeef"},
              "guessed_token": {auth.COOKIE_NAME: auth.issue_session("admin", 3600)},
              "expired": {auth.COOKIE_NAME: auth.issue_session(settings.admin.admin_token or "", -10)}}
    forms = {"/adapters/promote": {"version": version, "force": "on"}, "/adapters/rollback": {"force": "on"},
             "/adapters/canary": {"version": version, "percent": "50", "force": "on"}}
    sent = refused = succeeded = 0
    with serve_admin_page(settings) as url:
        for _ in range(rounds):
            with httpx.Client(base_url=url, follow_redirects=False, timeout=60) as client:
                failed_login = client.post("/login", data={"token": "guess"})
                sent += 1
                refused += int(auth.COOKIE_NAME not in failed_login.cookies)
                succeeded += int(auth.COOKIE_NAME in failed_login.cookies)
                for cookies in forged.values():
                    for path, form in forms.items():
                        client.cookies.clear()
                        resp = client.post(path, data=form, cookies=cookies)
                        sent += 1
                        if resp.status_code == 303 and resp.headers.get("location") == "/login":
                            refused += 1
                        else:
                            succeeded += 1
    return {"sent": sent, "refused": refused, "succeeded": succeeded}


async def _ask(bot: FaultBot, slack, channel: str, user: str, text: str) -> str:
    event = app_mention(text, channel=channel, user=user)
    if channel.startswith("D"):
        event = {**event, "type": "message", "channel_type": "im", "text": text}
    await bot.post_event(event_callback(event))
    return event["ts"]


async def _documents(bot: FaultBot, slack, rounds: int, timeout_s: float) -> dict[str, Any]:
    asked: list[tuple[str, str]] = []
    for described in (False, True):  # first the channel Slack cannot describe, while conversations.info fails
        slack.fail_conversations_info = not described
        batch = [(channel, await _ask(bot, slack, channel, user, question))
                 for _ in range(rounds) for channel, kind, user in PLACES if (kind is not None) == described
                 for question in QUESTIONS]
        await wait_until(lambda: all(tally(slack, c, t).posted for c, t in batch), timeout_s)
        asked += batch
    control_ts = await _ask(bot, slack, CONTROL[0], CONTROL[2], QUESTIONS[0])
    await wait_until(lambda: tally(slack, CONTROL[0], control_ts).finals > 0, timeout_s)
    await bot.bot.drain(timeout_s)
    control_shows = any(leaks_secret(t) for t in tally(slack, CONTROL[0], control_ts).texts)
    regenerated = await _regenerate_as_outsider(bot, slack, control_ts, timeout_s)
    tallies = [tally(slack, c, t) for c, t in asked]
    leaked = sum(1 for t in tallies for text in t.texts if leaks_secret(text)) + regenerated["leaked"]
    return {"sent": len(asked) + 1, "answered": sum(1 for t in tallies if t.posted == 1) + regenerated["answered"],
            "lost": sum(1 for t in tallies if not t.posted) + (1 - regenerated["answered"]),
            "duplicated": sum(1 for t in tallies if t.posted > 1), "leaked": leaked,
            "control_shows_secret": control_shows}


async def _regenerate_as_outsider(bot: FaultBot, slack, thread_ts: str, timeout_s: float) -> dict[str, int]:
    """Someone else clicks Regenerate on the HR member's DM answer: the new answer gets public documents only."""
    channel = CONTROL[0]
    reply_ts = next(m["ts"] for m in slack.messages[channel] if m.get("thread_ts") == thread_ts and m.get("bot_id"))
    answer_id = await asyncio.to_thread(bot.bot.components.feedback.find_answer, channel=channel, ts=reply_ts)
    if answer_id is None:
        return {"answered": 0, "leaked": 0}
    before = tally(slack, channel, thread_ts).posted

    def new_finals() -> list[str]:
        ours = [m["ts"] for m in slack.messages[channel] if m.get("thread_ts") == thread_ts and m.get("bot_id")]
        return [json.dumps(c.params.get("blocks")) for c in slack.final_updates() if c.params.get("ts") in ours[before:]]

    await bot.post_form(_regenerate(answer_id, user=OUTSIDER, channel=channel, message_ts=reply_ts))
    await wait_until(lambda: bool(new_finals()), timeout_s)
    await bot.bot.drain(timeout_s)
    texts = new_finals()
    return {"answered": int(bool(texts)), "leaked": sum(1 for t in texts if leaks_secret(t))}

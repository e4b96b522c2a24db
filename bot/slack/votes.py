"""Votes from Slack: 👍/👎 reactions and buttons on the bot's own answers → the feedback store.

One vote per user per answer (the store keeps the latest); removing a reaction retracts the vote only
when that reaction is still the user's current vote (so 👍 → 👎 → remove 👍 keeps the 👎).

A 👎 on a refusal by the input rails also files a "wrong refusal" verdict that waits for an admin's
confirmation on the admin page (guardrails/verdicts.py); confirmed, it trains the next detector version.
"""

from __future__ import annotations

from typing import Any

from bot.components import call
from engine.logs import get_logger

log = get_logger(__name__)

REACTION_VALUES = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}


def reaction_value(reaction: str) -> int | None:
    """+1 / -1 for a thumbs reaction (any skin tone), None for any other reaction."""
    return REACTION_VALUES.get((reaction or "").split("::", 1)[0])


class VoteRecorder:
    """Finds the answer a Slack message shows and records votes on it."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def on_reaction(self, event: dict[str, Any], *, bot_user_id: str | None, added: bool) -> str | None:
        """Record a reaction; returns the answer id voted on, or None when the reaction is not a vote."""
        value = reaction_value(event.get("reaction", ""))
        item = event.get("item") or {}
        if value is None or item.get("type") != "message" or event.get("item_user") != bot_user_id:
            return None
        channel, ts, user = item.get("channel"), item.get("ts"), event["user"]
        answer_id = await call(self.store.find_answer, channel=channel, ts=ts)
        if not added:
            current = (await call(self.store.votes, answer_id)).get(self.store.user_key(user)) if answer_id else value
            if current != value:
                return None
            value = 0
        if answer_id and value < 0:
            await call(self.queue_refusal_check, answer_id, user)
        # an answer still streaming is not recorded yet: the vote waits for it (never dropped)
        return await call(self.store.record_message_vote, channel=channel, ts=ts, user=user, value=value,
                          source="reaction") or f"pending:{channel}:{ts}"

    async def on_button(self, answer_id: str, user: str, value: int) -> bool:
        """Record a button vote; False when the answer is unknown."""
        from feedback import UnknownAnswer

        try:
            await call(self.store.record_vote, answer_id, user, value, "button")
        except UnknownAnswer:
            log.warning("vote.unknown_answer", answer_id=answer_id)
            return False
        if value < 0:
            await call(self.queue_refusal_check, answer_id, user)
        return True

    def queue_refusal_check(self, answer_id: str, user: str) -> int | None:
        """A 👎 on an input-rail refusal: file a pending "wrong refusal" verdict for an admin (its id), else None."""
        from guardrails.verdicts import report_verdict

        answer = self.store.get(answer_id)
        if not answer.refused or not (answer.refusal_rail or "").startswith("input."):
            return None
        verdict_id = report_verdict(self.store.settings.db_url, verdict="wrong_refusal", text=answer.question,
                                    origin="slack", by=self.store.user_key(user), answer_id=answer_id)
        log.info("vote.refusal_disputed", answer_id=answer_id, verdict_id=verdict_id, rail=answer.refusal_rail)
        return verdict_id

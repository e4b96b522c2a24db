"""Block Kit for answers: the text, citation context blocks and the vote / regenerate buttons."""

from __future__ import annotations

from typing import Any

from bot.answers import Answer
from bot.prompting import Citation, location

VOTE_UP = "ratchet_vote_up"
VOTE_DOWN = "ratchet_vote_down"
REGENERATE = "ratchet_regenerate"
SECTION_LIMIT = 3000  # Slack's limit for a section's text


def streaming_text(text: str) -> str:
    """The in-progress reply shown while the answer streams."""
    return f"{text} ▍"


def citation_line(number: int, c: Citation) -> str:
    """One source, linked when it is a URL."""
    label = location(c.title, c.heading) or c.source
    source = f"<{c.source}|{label}>" if c.source.startswith(("http://", "https://")) else f"{label} (`{c.source}`)"
    return f"[{number}] {source}"


def answer_blocks(answer: Answer) -> list[dict[str, Any]]:
    """The final message: answer, sources, buttons (buttons only when the answer is recorded)."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": answer.text[:SECTION_LIMIT] or "…"}}
    ]
    if answer.citations:
        lines = [citation_line(i, c) for i, c in enumerate(answer.citations, start=1)]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:SECTION_LIMIT]}]})
    if answer.answer_id:
        blocks.append({"type": "actions", "block_id": "ratchet_feedback", "elements": [
            _button(":+1:", VOTE_UP, answer.answer_id),
            _button(":-1:", VOTE_DOWN, answer.answer_id),
            _button("Regenerate", REGENERATE, answer.answer_id),
        ]})
    return blocks


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label, "emoji": True},
            "action_id": action_id, "value": value}
